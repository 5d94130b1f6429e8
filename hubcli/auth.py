"""Tokens: format checks, verification, and the token file shared with huggingface_hub."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from hubcli.errors import AuthError, LocalFileError, UsageError

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


def save_token(path: Path, token: str) -> Path:
    """Write the token alone (no newline) with mode 0600, in a 0700 folder, atomically."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(token)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        raise LocalFileError(f"Cannot write the token file {path}: {exc.strerror}.") from exc
    return path


def delete_token(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise LocalFileError(f"Cannot remove the token file {path}: {exc.strerror}.") from exc
    return True
