"""``hubcli.lock``: the lock file's types, its deterministic TOML form and the strict reader.

The file is written by :func:`dumps` alone (no TOML library decides the layout): a header
comment, ``version``, ``input-hash``, then one ``[[repo]]`` table per repo sorted by (type, id),
each followed by its ``[[repo.file]]`` tables sorted by path. The same lock always gives the
same bytes, and one changed file changes one table, so a diff reads like a change log.

:func:`loads` trusts nothing: every hash becomes a validated type from :mod:`hubcli.hashing`,
every path goes through :func:`hubcli.models.parse_path`, unknown keys, duplicates and wrong
types are refused. A bad lock is an :class:`~hubcli.errors.IntegrityError` (exit 6); a lock from
a newer format version is a :class:`~hubcli.errors.UsageError` (upgrade hubcli).

No token, endpoint or absolute cache path is ever part of a lock: the types below have no
field for one.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubcli.errors import IntegrityError, LocalFileError, UsageError
from hubcli.hashing import (
    CommitSha,
    ContentId,
    GitSha1,
    Sha256,
    parse_commit,
    parse_git_sha1,
    parse_sha256,
)
from hubcli.models import parse_path, parse_size
from hubcli.repo import REPO_TYPES, RepoRef, RepoType, validate_repo_id

LOCK_VERSION = 1
LOCK_NAME = "hubcli.lock"
KINDS = ("pickle", "remote-code")
"""The kinds hubcli itself marks (``hubcli.lock.policy``); other well-formed names are kept."""

HEADER = "# This file is written by `hubcli lock`: do not edit it by hand.\n"
_INPUT_HASH_RE = re.compile(r"sha256:[0-9a-f]{64}")
_KIND_RE = re.compile(r"[a-z][a-z0-9-]{0,63}")
_MAX_TEXT = 4096


@dataclass(frozen=True)
class LockedFile:
    """One locked file: what its bytes must hash to, and how the Hub names them."""

    path: str
    size: int
    sha256: Sha256
    blob_id: GitSha1
    lfs: bool
    kinds: tuple[str, ...] = ()  # "pickle", "remote-code"

    @property
    def etag(self) -> ContentId:
        """The name huggingface_hub gives the file's blob: sha256 for LFS, git blob sha1 else."""
        return self.sha256 if self.lfs else self.blob_id


@dataclass(frozen=True)
class LockedRepo:
    """One repo pinned to a commit, with the selection and the input that produced it."""

    id: str
    type: RepoType
    requested: str
    commit: CommitSha
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    local_dir: str | None
    files: tuple[LockedFile, ...]

    @property
    def ref(self) -> RepoRef:
        """The repo at its locked commit."""
        return RepoRef(self.id, self.type, revision=self.commit)

    @property
    def key(self) -> tuple[str, str]:
        """The sort and identity key: (type, id)."""
        return (self.type, self.id)


@dataclass(frozen=True)
class LockFile:
    version: int
    input_hash: str
    repos: tuple[LockedRepo, ...]

    def repo(self, repo_id: str, repo_type: str = "model") -> LockedRepo | None:
        for repo in self.repos:
            if repo.id == repo_id and repo.type == repo_type:
                return repo
        return None


# ---------------------------------------------------------------------------------------------
# Writing


def _string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _array(values: Iterable[str]) -> str:
    return "[" + ", ".join(_string(v) for v in values) + "]"


def _sorted_repos(repos: Iterable[LockedRepo]) -> list[LockedRepo]:
    return sorted(repos, key=lambda r: r.key)


def dumps(lock: LockFile) -> str:
    """The lock as deterministic TOML (repos by (type, id), files by path, kinds sorted)."""
    lines = [HEADER.rstrip("\n"), f"version = {int(lock.version)}"]
    lines.append(f"input-hash = {_string(lock.input_hash)}")
    for repo in _sorted_repos(lock.repos):
        lines += ["", "[[repo]]"]
        lines.append(f"id = {_string(repo.id)}")
        lines.append(f"type = {_string(repo.type)}")
        lines.append(f"requested = {_string(repo.requested)}")
        lines.append(f"commit = {_string(repo.commit)}")
        lines.append(f"include = {_array(repo.include)}")
        lines.append(f"exclude = {_array(repo.exclude)}")
        if repo.local_dir is not None:
            lines.append(f"local-dir = {_string(repo.local_dir)}")
        for f in sorted(repo.files, key=lambda f: f.path):
            lines += ["", "[[repo.file]]"]
            lines.append(f"path = {_string(f.path)}")
            lines.append(f"size = {int(f.size)}")
            lines.append(f"sha256 = {_string(f.sha256)}")
            lines.append(f"blob-id = {_string(f.blob_id)}")
            lines.append(f"lfs = {'true' if f.lfs else 'false'}")
            if f.kinds:
                lines.append(f"kinds = {_array(sorted(set(f.kinds)))}")
    return "\n".join(lines) + "\n"


def normalized(lock: LockFile) -> LockFile:
    """``lock`` in the order :func:`dumps` writes it (so ``loads(dumps(x)) == normalized(x)``)."""
    repos = []
    for repo in _sorted_repos(lock.repos):
        files = tuple(
            LockedFile(f.path, f.size, f.sha256, f.blob_id, f.lfs, tuple(sorted(set(f.kinds))))
            for f in sorted(repo.files, key=lambda f: f.path)
        )
        repos.append(
            LockedRepo(
                repo.id,
                repo.type,
                repo.requested,
                repo.commit,
                repo.include,
                repo.exclude,
                repo.local_dir,
                files,
            )
        )
    return LockFile(lock.version, lock.input_hash, tuple(repos))


# ---------------------------------------------------------------------------------------------
# Reading


def parse_toml(text: str) -> dict[str, Any]:
    """TOML text as plain data (tomllib; tomlkit on Python 3.10); raises the parser's error."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib.loads(text)
    import tomlkit  # pragma: no cover - Python 3.10 has no tomllib

    return dict(tomlkit.parse(text).unwrap())  # pragma: no cover


class _Reader:
    def __init__(self, what: str) -> None:
        self.what = what

    def fail(self, where: str, message: str) -> IntegrityError:
        return IntegrityError(f"{self.what}: {where}: {message}")

    def table(
        self, value: object, where: str, allowed: set[str], required: set[str]
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "expected a table.")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(where, f"unknown key {unknown[0]!r}.")
        missing = sorted(required - set(value))
        if missing:
            raise self.fail(where, f"missing key {missing[0]!r}.")
        return value

    def text(self, value: object, where: str) -> str:
        if type(value) is not str or not value or len(value) > _MAX_TEXT:
            raise self.fail(where, f"expected a non-empty string, got {repr(value)[:80]}.")
        if not value.isprintable():
            raise self.fail(where, f"unprintable characters in {value[:80]!r}.")
        return value

    def texts(self, value: object, where: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(where, "expected an array of strings.")
        return tuple(self.text(v, where) for v in value)

    def boolean(self, value: object, where: str) -> bool:
        if type(value) is not bool:
            raise self.fail(where, f"expected true or false, got {repr(value)[:40]}.")
        return value

    def file(self, value: object, where: str) -> LockedFile:
        keys = {"path", "size", "sha256", "blob-id", "lfs"}
        t = self.table(value, where, keys | {"kinds"}, keys)
        path = parse_path(t["path"], what=f"{self.what}: {where}", error=IntegrityError)
        where = f"{where} {path!r}"
        size = parse_size(t["size"], what=f"{self.what}: {where}", error=IntegrityError)
        sha256 = parse_sha256(
            t["sha256"], what=f"{self.what}: {where} sha256", error=IntegrityError
        )
        blob = parse_git_sha1(
            t["blob-id"], what=f"{self.what}: {where} blob-id", error=IntegrityError
        )
        if t["sha256"] != sha256 or t["blob-id"] != blob:
            raise self.fail(where, "hashes must be lowercase hex.")
        lfs = self.boolean(t["lfs"], f"{where} lfs")
        kinds = self.texts(t.get("kinds", []), f"{where} kinds")
        for kind in kinds:
            if not _KIND_RE.fullmatch(kind):
                raise self.fail(f"{where} kinds", f"invalid kind {kind!r}.")
        if len(set(kinds)) != len(kinds):
            raise self.fail(f"{where} kinds", "duplicate kind.")
        return LockedFile(path, size, sha256, blob, lfs, tuple(sorted(kinds)))

    def repo(self, value: object, index: int) -> LockedRepo:
        where = f"repo #{index + 1}"
        keys = {"id", "type", "requested", "commit", "include", "exclude"}
        t = self.table(value, where, keys | {"local-dir", "file"}, keys)
        repo_id = self.text(t["id"], f"{where} id")
        try:
            validate_repo_id(repo_id)
        except UsageError as exc:
            raise self.fail(f"{where} id", str(exc)) from None
        where = f"repo {repo_id!r}"
        repo_type = t["type"]
        if repo_type not in REPO_TYPES:
            raise self.fail(f"{where} type", f"expected one of {', '.join(REPO_TYPES)}.")
        requested = self.text(t["requested"], f"{where} requested")
        commit = parse_commit(
            t["commit"], what=f"{self.what}: {where} commit", error=IntegrityError
        )
        if t["commit"] != commit:
            raise self.fail(f"{where} commit", "must be 40 lowercase hex digits.")
        include = self.texts(t["include"], f"{where} include")
        exclude = self.texts(t["exclude"], f"{where} exclude")
        local_dir = t.get("local-dir")
        if local_dir is not None:
            local_dir = self.text(local_dir, f"{where} local-dir")
        raw_files = t.get("file", [])
        if not isinstance(raw_files, list):
            raise self.fail(f"{where} file", "expected an array of tables ([[repo.file]]).")
        files = tuple(self.file(f, f"{where} file") for f in raw_files)
        paths = [f.path for f in files]
        if len(set(paths)) != len(paths):
            dup = next(p for p in paths if paths.count(p) > 1)
            raise self.fail(where, f"file {dup!r} is listed twice.")
        files = tuple(sorted(files, key=lambda f: f.path))
        return LockedRepo(repo_id, repo_type, requested, commit, include, exclude, local_dir, files)


def loads(text: str, *, what: str = LOCK_NAME) -> LockFile:
    """Parse and validate a lock; IntegrityError when anything is malformed (see module doc)."""
    reader = _Reader(what)
    try:
        data = parse_toml(text)
    except Exception as exc:  # tomllib.TOMLDecodeError / tomlkit's ParseError
        raise IntegrityError(f"{what}: not valid TOML: {exc}") from None
    version = data.get("version")
    if type(version) is not int:
        raise reader.fail("version", f"expected an integer, got {repr(version)[:40]}.")
    if version != LOCK_VERSION:
        raise UsageError(
            f"{what}: lock format version {version} is not supported by this hubcli "
            f"(it reads version {LOCK_VERSION}); upgrade hubcli or run `hubcli lock` again."
        )
    top = reader.table(data, "top level", {"version", "input-hash", "repo"}, {"input-hash"})
    input_hash = top["input-hash"]
    if type(input_hash) is not str or not _INPUT_HASH_RE.fullmatch(input_hash):
        raise reader.fail("input-hash", f"expected 'sha256:<64 hex>', got {repr(input_hash)[:80]}.")
    raw_repos = top.get("repo", [])
    if not isinstance(raw_repos, list):
        raise reader.fail("repo", "expected an array of tables ([[repo]]).")
    repos = tuple(reader.repo(r, i) for i, r in enumerate(raw_repos))
    keys = [r.key for r in repos]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise reader.fail("repo", f"{dup[0]} {dup[1]!r} is listed twice.")
    return LockFile(version, input_hash, tuple(_sorted_repos(repos)))


def read_lock(path: Path) -> LockFile:
    """Read and validate the lock at ``path``; LocalFileError (exit 8) if it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LocalFileError(f"No lock file at {path}: run `hubcli lock` first.") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise LocalFileError(f"Cannot read the lock file {path}: {reason}.") from None
    return loads(text, what=str(path))


def write_lock(path: Path, lock: LockFile) -> None:
    """Write ``dumps(lock)`` to ``path`` atomically (a reader sees the old file or the new one)."""
    path = Path(path)
    text = dumps(lock)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise LocalFileError(f"Cannot write the lock file {path}: {exc.strerror}.") from exc


def as_mapping(lock: LockFile) -> Mapping[str, Any]:
    """The lock as plain data (the same keys as the TOML), for --json output."""
    return {
        "version": lock.version,
        "input_hash": lock.input_hash,
        "repos": [
            {
                "id": r.id,
                "type": r.type,
                "requested": r.requested,
                "commit": r.commit,
                "include": list(r.include),
                "exclude": list(r.exclude),
                "local_dir": r.local_dir,
                "files": [
                    {
                        "path": f.path,
                        "size": f.size,
                        "sha256": f.sha256,
                        "blob_id": f.blob_id,
                        "lfs": f.lfs,
                        "kinds": list(f.kinds),
                    }
                    for f in r.files
                ],
            }
            for r in _sorted_repos(lock.repos)
        ],
    }
