"""Tokens: format checks, verification, and the token files shared with huggingface_hub.

Two files, both huggingface_hub's own (``huggingface_hub/utils/_auth.py``, 2.4):

* ``token`` (``HF_TOKEN_PATH``, default ``$HF_HOME/token``): the active token, alone, mode 0600.
* ``stored_tokens`` (``HF_STORED_TOKENS_PATH``: always next to the token file): an INI file, one
  section per token name, the token under the ``hf_token`` key (OAuth logins add
  ``refresh_token`` and ``expires_at``, kept as they are), sections sorted by name, written
  by :class:`configparser.ConfigParser` without interpolation, UTF-8, mode 0600.

We write the same bytes huggingface_hub writes, so ``hf auth list/switch`` and
``hubcli auth list/switch`` see and switch each other's tokens.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hubcli.errors import AuthError, LocalFileError, NotFoundError, UsageError

if TYPE_CHECKING:
    from hubcli.config import Settings
    from hubcli.http import HubSession


def check_token_format(token: str) -> None:
    if any(c.isspace() for c in token) or not token.isprintable():
        raise UsageError("That token contains spaces or control characters.")
    if token.startswith("api_org"):
        raise UsageError("Organisation API tokens (api_org_...) cannot be used to log in.")


def verify_token(settings: Settings, session: HubSession) -> str:
    """Return the user name the token belongs to; AuthError if the Hub refuses it."""
    from hubcli.client import HubClient

    data = HubClient(session).whoami()
    name = data.get("name")
    if not name:
        raise AuthError("The Hub did not accept that token.")
    return str(name)


def _write_secret(path: Path, text: str, what: str) -> Path:
    """Write ``text`` with mode 0600 (a new folder gets 0700), atomically: a reader sees the old
    file or the new one, never half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise LocalFileError(f"Cannot write the {what} {path}: {exc.strerror}.") from exc
    return path


def save_token(path: Path, token: str) -> Path:
    """Write the token alone (no newline) with mode 0600, in a 0700 folder, atomically."""
    return _write_secret(path, token, "token file")


def delete_token(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise LocalFileError(f"Cannot remove the token file {path}: {exc.strerror}.") from exc
    return True


# -- named tokens (huggingface_hub's ``stored_tokens``) ------------------------------------------
STORED_TOKENS_NAME = "stored_tokens"
TOKEN_KEY = "hf_token"


def stored_tokens_path(token_path: Path) -> Path:
    """huggingface_hub's ``HF_STORED_TOKENS_PATH``: ``stored_tokens`` next to the token file
    (it follows ``HF_TOKEN_PATH`` and ``HF_HOME``; there is no variable of its own)."""
    return token_path.parent / STORED_TOKENS_NAME


@dataclass(frozen=True)
class StoredToken:
    """One named token; ``masked`` is all of the token that is ever shown."""

    name: str
    masked: str | None
    active: bool
    expires_at: int | None = None


def check_token_name(name: str) -> str:
    """A name huggingface_hub can read back: one line, no brackets, not configparser's
    ``DEFAULT`` section, no surrounding spaces (the INI reader would not keep them)."""
    if not name or name != name.strip():
        raise UsageError(f"Token name {name!r}: use a non-empty name without surrounding spaces.")
    if not name.isprintable() or "[" in name or "]" in name:
        raise UsageError(f"Token name {name!r}: no brackets or control characters.")
    if name == configparser.DEFAULTSECT:
        raise UsageError(f"Token name {name!r} is reserved by the stored tokens file format.")
    return name


def _parser() -> configparser.ConfigParser:
    # As huggingface_hub: no interpolation (a `%` in a token is a `%`), default option handling.
    return configparser.ConfigParser(interpolation=None)


def read_stored_tokens(path: Path) -> dict[str, dict[str, str]]:
    """Every section of the stored tokens file with all its fields; {} when there is none.

    A file that does not parse is an error naming it (huggingface_hub ignores it and overwrites
    it on the next login; we never overwrite what we could not read)."""
    parser = _parser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:
        raise LocalFileError(
            f"The stored tokens file {path} is not UTF-8 text.",
            hint="Fix or remove it, then log in again.",
        ) from exc
    except OSError as exc:
        raise LocalFileError(f"Cannot read the stored tokens file {path}: {exc.strerror}.") from exc
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        # Not chained: the parser's message quotes the offending line, which may be a token.
        raise LocalFileError(
            f"The stored tokens file {path} does not parse ({type(exc).__name__}).",
            hint="Fix or remove it, then log in again.",
        ) from None
    return {name: dict(parser.items(name)) for name in parser.sections()}


def render_stored_tokens(tokens: dict[str, dict[str, str]]) -> str:
    """The file's text exactly as huggingface_hub writes it: sections sorted by name."""
    parser = _parser()
    for name in sorted(tokens):
        parser.add_section(name)
        for key, value in tokens[name].items():
            parser.set(name, key, value)
    buf = io.StringIO()
    parser.write(buf)
    return buf.getvalue()


def store_token(token_path: Path, name: str, token: str) -> Path:
    """Save ``token`` under ``name`` in the stored tokens file (replacing that whole section, as
    a new login does in huggingface_hub: stale OAuth fields go); other names are kept."""
    check_token_name(name)
    path = stored_tokens_path(token_path)
    tokens = read_stored_tokens(path)
    tokens[name] = {TOKEN_KEY: token}
    return _write_secret(path, render_stored_tokens(tokens), "stored tokens file")


def _clean(token: str | None) -> str | None:
    if token is None:
        return None
    return token.replace("\r", "").replace("\n", "").strip() or None


def list_stored_tokens(token_path: Path, current: str | None) -> list[StoredToken]:
    """The named tokens, sorted by name; ``active`` marks the one equal to ``current`` (the token
    in effect), as ``hf auth list`` does."""
    from hubcli.config import mask_token

    out = []
    for name, fields in sorted(read_stored_tokens(stored_tokens_path(token_path)).items()):
        token = _clean(fields.get(TOKEN_KEY))
        try:
            expires = int(fields["expires_at"]) if "expires_at" in fields else None
        except ValueError:
            expires = None
        active = token is not None and token == current
        out.append(StoredToken(name, mask_token(token), active, expires))
    return out


def switch_token(token_path: Path, name: str) -> Path:
    """Make the token stored as ``name`` the active one: write it to the token file, as
    ``hf auth switch`` does. An unknown name is NotFoundError (exit 4) listing the known ones."""
    tokens = read_stored_tokens(stored_tokens_path(token_path))
    token = _clean(tokens.get(name, {}).get(TOKEN_KEY))
    if token is None:
        raise NotFoundError(f"No stored token named {name!r}. {_known(tokens)}")
    return save_token(token_path, token)


def forget_token(token_path: Path, name: str) -> bool:
    """Remove the token stored as ``name``; when it is the active one, remove the token file too
    (as ``hf auth logout --token-name``). Returns whether the token file was removed."""
    path = stored_tokens_path(token_path)
    tokens = read_stored_tokens(path)
    if name not in tokens:
        raise NotFoundError(f"No stored token named {name!r}. {_known(tokens)}")
    fields = tokens.pop(name)
    _write_secret(path, render_stored_tokens(tokens), "stored tokens file")
    from hubcli.config import read_token_file

    token = _clean(fields.get(TOKEN_KEY))
    if token is not None and read_token_file(token_path) == token:
        return delete_token(token_path)
    return False


def _known(tokens: dict[str, dict[str, str]]) -> str:
    if not tokens:
        return "No tokens are stored (save one with 'hubcli auth login --token-name NAME')."
    return "Known names: " + ", ".join(sorted(tokens)) + "."
