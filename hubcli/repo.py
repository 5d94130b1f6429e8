"""Repo references: the one parser for what users type, and the Hub's id and path rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from hubcli.errors import InvalidRepoIdError, UnsafePathError, UsageError

RepoType = Literal["model", "dataset", "space"]
REPO_TYPES: tuple[RepoType, ...] = get_args(RepoType)
_TYPE_PLURALS = {"models": "model", "datasets": "dataset", "spaces": "space"}
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
        prefix = "" if self.repo_type == "model" else self.api_plural + "/"
        return prefix + self.repo_id


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


def parse_repo_ref(text: str, repo_type: str | None = None) -> RepoRef:
    """Parse ``org/name``, ``name``, ``datasets/org/name``, ``hf://datasets/org/name@rev/path``.

    ``repo_type`` (from ``--type``) applies when the text carries no type prefix; a conflict
    between the two is a usage error. Raises InvalidRepoIdError / UsageError.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidRepoIdError("Repo id is empty.")
    if "\x00" in text:
        raise InvalidRepoIdError("Invalid repo id: it contains a NUL character.")
    raw = text.strip()
    explicit_type = normalize_repo_type(repo_type) if repo_type else None
    is_uri = raw.startswith("hf://")
    body = raw[len("hf://") :] if is_uri else raw
    if "://" in body:
        raise InvalidRepoIdError(f"Invalid repo reference {raw!r}: only hf:// URIs are understood.")

    text_type: str | None = None
    head, sep, tail = body.partition("/")
    if sep and head in _TYPE_PLURALS:
        text_type = _TYPE_PLURALS[head]
        body = tail
    if text_type and explicit_type and text_type != explicit_type:
        raise UsageError(
            f"Repo reference {raw!r} names a {text_type} but --type says {explicit_type}."
        )
    rtype = text_type or explicit_type or "model"

    revision: str | None = None
    path: str | None = None
    if is_uri:
        parts = body.split("/", 2)
        if "@" in body.split("/")[0] or (len(parts) > 1 and "@" in parts[1]):
            # namespace/name@rev/path or name@rev/path
            at = body.index("@")
            repo_part = body[:at]
            revision, path = _split_revision_and_path(body[at + 1 :])
            if not revision:
                raise InvalidRepoIdError(f"Invalid repo reference {raw!r}: empty revision.")
        else:
            repo_part = "/".join(parts[:2])
            path = parts[2] if len(parts) > 2 and parts[2] else None
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
    shown = repr(path[:200])
    if "\x00" in path:
        raise UnsafePathError(f"Refusing unsafe path {shown}: it contains NUL.")
    if "\\" in path:
        raise UnsafePathError(f"Refusing unsafe path {shown}: backslashes are not allowed.")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise UnsafePathError(f"Refusing unsafe path {shown}: it is absolute.")
    trimmed = path[:-1] if (allow_trailing_slash and path.endswith("/")) else path
    parts = trimmed.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePathError(
                f"Refusing unsafe path {shown}: empty, '.' or '..' segments are not allowed."
            )
    return path
