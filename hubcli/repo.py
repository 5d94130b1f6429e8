"""Repo references: the one parser for what users type, and the Hub's id and path rules."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal, get_args

from hubcli.errors import InvalidRepoIdError, UnsafePathError, UsageError

RepoType = Literal["model", "dataset", "space"]
REPO_TYPES: tuple[RepoType, ...] = get_args(RepoType)
_TYPE_PLURALS = {"models": "model", "datasets": "dataset", "spaces": "space"}
# Type prefixes a reference may start with: the Hub's plural (``datasets/org/y``) and the
# singular that ``hf cache ls`` (and older hubcli) print (``dataset/org/y``).
_TYPE_PREFIXES = {**_TYPE_PLURALS, "model": "model", "dataset": "dataset", "space": "space"}
_URL_VIEWS = ("tree", "resolve", "blob", "raw", "commit", "edit")
_HUB_ORIGINS = ("https://huggingface.co", "https://hf.co", "https://www.huggingface.co")
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_PART_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_SPECIAL_REV_RE = re.compile(r"^(refs/pr/\d+|refs/convert/[\w.-]+)(?:/|$)")


@dataclass(frozen=True)
class RepoRef:
    """A repository on the Hub, optionally with a revision and a path inside it."""

    repo_id: str
    repo_type: RepoType = "model"
    revision: str | None = None
    path: str | None = None

    @property
    def api_plural(self) -> str:
        return self.repo_type + "s"

    @property
    def url_prefix(self) -> str:
        """The resolve/web prefix: '' for models, 'datasets/', 'spaces/'."""
        return _URL_PREFIX[self.repo_type]

    @property
    def folder_name(self) -> str:
        """The cache folder name: ``models--org--name``."""
        return repo_folder_name(self.repo_id, self.repo_type)

    def __str__(self) -> str:
        return display_id(self.repo_id, self.repo_type)

    @property
    def display(self) -> str:
        """The Hub form with the revision: ``org/x``, ``datasets/org/y@<rev>`` (parses back)."""
        return str(self) + (f"@{self.revision}" if self.revision else "")


def display_id(repo_id: str, repo_type: str) -> str:
    """The Hub's own form of an id: ``org/x`` for models, ``datasets/org/y``, ``spaces/org/z``."""
    return _URL_PREFIX.get(repo_type, repo_type + "s/") + repo_id


def repo_folder_name(repo_id: str, repo_type: str) -> str:
    return f"{repo_type}s--" + repo_id.replace("/", "--")


def is_commit_sha(revision: str | None) -> bool:
    return bool(revision) and COMMIT_RE.fullmatch(revision or "") is not None


def normalize_repo_type(repo_type: str | None) -> RepoType:
    if repo_type is None:
        return "model"
    value = repo_type.strip().lower()
    value = _TYPE_PLURALS.get(value, value)
    if value not in REPO_TYPES:
        raise UsageError(
            f"Unknown repo type {repo_type!r}: use one of {', '.join(REPO_TYPES)}.",
        )
    return value


def validate_repo_id(repo_id: str) -> str:
    """Check ``repo_id`` against the Hub's rules and return it; raise InvalidRepoIdError why not."""
    if not isinstance(repo_id, str) or not repo_id:
        raise InvalidRepoIdError("Repo id is empty.")
    shown = repo_id if len(repo_id) <= 120 and repo_id.isprintable() else repr(repo_id[:120])
    if not repo_id.isascii() or not repo_id.isprintable():
        raise InvalidRepoIdError(
            f"Invalid repo id {shown}: only ASCII letters, digits, '_', '-', '.' are allowed."
        )
    if "--" in repo_id or ".." in repo_id:
        raise InvalidRepoIdError(f"Invalid repo id {shown}: '--' and '..' are not allowed.")
    parts = repo_id.split("/")
    if len(parts) > 2:
        raise InvalidRepoIdError(
            f"Invalid repo id {shown}: expected 'name' or 'namespace/name' (at most one '/')."
        )
    if repo_id.endswith(".git"):
        raise InvalidRepoIdError(f"Invalid repo id {shown}: it must not end with '.git'.")
    for part in parts:
        if not part or len(part) > 96:
            raise InvalidRepoIdError(
                f"Invalid repo id {shown}: each part must have 1 to 96 characters."
            )
        if not _PART_RE.fullmatch(part):
            raise InvalidRepoIdError(
                f"Invalid repo id {shown}: use letters, digits, '_', '-', '.', and start and end "
                "each part with a letter, digit or '_'."
            )
    return repo_id


def _split_revision_and_path(rest: str) -> tuple[str, str | None]:
    special = _SPECIAL_REV_RE.match(rest)
    if special:
        rev = special.group(1)
        tail = rest[len(rev) :].lstrip("/")
        return rev, tail or None
    rev, _, tail = rest.partition("/")
    return rev, tail or None


def _endpoint_path(raw: str, endpoint: str | None) -> str | None:
    """The path of a Hub URL below its endpoint (``--endpoint``/``HF_ENDPOINT`` or the Hub's own
    origins), or None when ``raw`` is not under one of them."""
    candidates = [endpoint, os.environ.get("HF_ENDPOINT"), *_HUB_ORIGINS]
    for origin in candidates:
        origin = (origin or "").strip().rstrip("/")
        if not origin:
            continue
        for variant in {origin, origin.replace("https://", "http://", 1)}:
            if raw == variant or raw.startswith(variant + "/"):
                return raw[len(variant) :]
    return None


def _parse_url(raw: str, explicit: RepoType | None, endpoint: str | None) -> RepoRef:
    """``<endpoint>/[datasets/|spaces/]org/x[/(tree|resolve|blob|raw)/<rev>[/path]]``."""
    from urllib.parse import unquote

    rest = _endpoint_path(raw, endpoint)
    if rest is None:
        where = ", ".join(o for o in (endpoint, *_HUB_ORIGINS[:2]) if o)
        raise InvalidRepoIdError(f"Invalid repo reference {raw!r}: not a URL of {where}.")
    rest = rest.split("#", 1)[0].split("?", 1)[0]
    segs = rest.strip("/").split("/") if rest.strip("/") else []
    text_type: RepoType | None = None
    if segs and segs[0] in _TYPE_PLURALS:
        text_type = normalize_repo_type(segs.pop(0))
    _check_types(raw, text_type, explicit)
    if len(segs) >= 3 and segs[2] in _URL_VIEWS:
        repo_part, tail = "/".join(segs[:2]), segs[2:]
    elif len(segs) >= 2 and segs[1] in _URL_VIEWS:
        repo_part, tail = segs[0], segs[1:]
    elif 1 <= len(segs) <= 2:
        repo_part, tail = "/".join(segs), []
    else:
        raise InvalidRepoIdError(f"Invalid repo reference {raw!r}: not a Hub repo URL.")
    revision: str | None = None
    path: str | None = None
    if len(tail) > 1:
        if "/" in unquote(tail[1]):  # an encoded revision: refs%2Fpr%2F1, feature%2Fx
            revision, path = unquote(tail[1]), "/".join(tail[2:]) or None
        else:
            revision, path = _split_revision_and_path("/".join(tail[1:]))
        path = unquote(path) if path else None
    repo_part = unquote(repo_part)
    validate_repo_id(repo_part)
    if path is not None:
        path = validate_repo_path(path, allow_trailing_slash=True)
    return RepoRef(repo_part, text_type or explicit or "model", revision, path)


def _check_types(raw: str, text_type: str | None, explicit: str | None) -> None:
    if text_type and explicit and text_type != explicit:
        raise UsageError(f"Repo reference {raw!r} names a {text_type} but --type says {explicit}.")


def parse_repo_ref(
    text: str,
    repo_type: str | None = None,
    *,
    endpoint: str | None = None,
    with_path: bool = False,
) -> RepoRef:
    """Parse every form a repo is written in (the one parser; docs/configuration.md lists them).

    ``org/x``, ``name``, ``datasets/org/y`` / ``dataset/org/y`` (plural or singular type prefix),
    ``org/x@rev``, ``hf://[datasets/]org/y[@rev][/path]`` and Hub URLs (``https://huggingface.co/
    datasets/org/y/tree/main``, ``.../resolve/<rev>/<path>``, ``.../blob/...``, the same under
    ``endpoint`` or ``HF_ENDPOINT``). ``with_path``: ``org/x@rev/path`` splits the path off as
    ``hf://`` does (else everything after ``@`` is the revision, so branch names may hold ``/``).
    ``repo_type`` (from ``--type``) applies when the text carries no type; a conflict between
    the two is a usage error. Raises InvalidRepoIdError / UsageError.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidRepoIdError("Repo id is empty.")
    if "\x00" in text:
        raise InvalidRepoIdError("Invalid repo id: it contains a NUL character.")
    raw = text.strip()
    explicit_type = normalize_repo_type(repo_type) if repo_type else None
    if raw.startswith(("https://", "http://")):
        return _parse_url(raw, explicit_type, endpoint)
    is_uri = raw.startswith("hf://")
    body = raw[len("hf://") :] if is_uri else raw
    if "://" in body:
        raise InvalidRepoIdError(
            f"Invalid repo reference {raw!r}: only hf:// URIs and Hub URLs are understood."
        )

    text_type: str | None = None
    head, sep, tail = body.partition("/")
    if sep and tail and head in _TYPE_PREFIXES:
        text_type = _TYPE_PREFIXES[head]
        body = tail
    _check_types(raw, text_type, explicit_type)
    rtype = text_type or explicit_type or "model"

    revision: str | None = None
    path: str | None = None
    if is_uri or with_path:
        parts = body.split("/", 2)
        if "@" in body.split("/")[0] or (len(parts) > 1 and "@" in parts[1]):
            # namespace/name@rev/path or name@rev/path
            at = body.index("@")
            repo_part = body[:at]
            revision, path = _split_revision_and_path(body[at + 1 :])
            if not revision:
                raise InvalidRepoIdError(f"Invalid repo reference {raw!r}: empty revision.")
        elif is_uri:
            repo_part = "/".join(parts[:2])
            path = parts[2] if len(parts) > 2 and parts[2] else None
        else:
            repo_part = body
    else:
        repo_part = body
        if "@" in repo_part:
            repo_part, _, revision = repo_part.partition("@")
            if not revision:
                raise InvalidRepoIdError(f"Invalid repo reference {raw!r}: empty revision.")
    validate_repo_id(repo_part)
    if path is not None:
        path = validate_repo_path(path, allow_trailing_slash=True)
    return RepoRef(
        repo_id=repo_part, repo_type=normalize_repo_type(rtype), revision=revision, path=path
    )


def validate_repo_path(path: str, *, allow_trailing_slash: bool = False) -> str:
    """Reject any path that could escape a target folder (``..``, absolute, drive, NUL, backslash).

    This is applied to every path a server sends before it touches the disk.
    """
    if not isinstance(path, str) or path == "":
        raise UnsafePathError("Refusing an empty file path.")
    # checked for every file of every listing and upload: the message is built only on refusal
    why = None
    if "\x00" in path:
        why = "it contains NUL"
    elif "\\" in path:
        why = "backslashes are not allowed"
    elif path[0] == "/" or (path[1:2] == ":" and path[0].isascii() and path[0].isalpha()):
        why = "it is absolute"
    else:
        trimmed = path[:-1] if (allow_trailing_slash and path.endswith("/")) else path
        for part in trimmed.split("/"):
            if part in ("", ".", ".."):
                why = "empty, '.' or '..' segments are not allowed"
                break
    if why is not None:
        raise UnsafePathError(f"Refusing unsafe path {path[:200]!r}: {why}.")
    return path


def resolve_path(ref: RepoRef, revision: str, path: str) -> str:
    """The relative resolve URL of ``path`` at ``revision`` (a mirror base goes in front): the
    one place it is spelled, for downloads, repair and the README fetch."""
    from urllib.parse import quote

    return (
        f"/{ref.url_prefix}{ref.repo_id}/resolve/{quote(revision, safe='')}/{quote(path, safe='/')}"
    )
