"""The bundle manifest (``hubcli-bundle.json``): its format and the validation every bundle
passes, whole, before ``cache import`` touches the cache.

Every name, commit, hash, size, ref and tree entry is checked for type and shape; paths and ref
names are plain relative names (no ``..``, absolute, NUL, backslash, control characters, nor a
segment longer than a file name may be); no path is both a file and a folder; no repo, key or
path appears twice; each revision's files agree with its tree. A violation raises
:class:`~hubcli.errors.IntegrityError` (an unsafe name: its subclass ``UnsafePathError``), both
exit 6; nothing else escapes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hubcli.errors import HubError, IntegrityError, UnsafePathError
from hubcli.hashing import parse_commit, parse_etag, parse_git_sha1, parse_sha256
from hubcli.repo import (
    REPO_TYPES,
    RepoRef,
    normalize_repo_type,
    repo_folder_name,
    validate_repo_id,
    validate_repo_path,
)

FORMAT = "hubcli-bundle"
VERSION = 1
TREE_FORMAT_VERSION = 1
MAX_SIZE = 1 << 50  # 1 PiB: no Hub file comes near it
MAX_NAME_BYTES = 255  # one path segment, as most filesystems allow
MAX_PATH_BYTES = 1024


@dataclass(frozen=True)
class RevisionPlan:
    commit: str
    files: dict[str, str]  # repo path -> etag
    tree: dict[str, dict[str, Any]] | None  # normalized ``files`` of trees/<commit>.json


@dataclass(frozen=True)
class RepoPlan:
    ref: RepoRef
    refs: dict[str, str]  # ref name -> commit
    revisions: dict[str, RevisionPlan]

    @property
    def folder(self) -> str:
        return repo_folder_name(self.ref.repo_id, self.ref.repo_type)

    def etags(self) -> set[str]:
        return {e for rev in self.revisions.values() for e in rev.files.values()}


@dataclass(frozen=True)
class Manifest:
    blobs: dict[str, int]  # etag -> size
    repos: list[RepoPlan]


def _fail(message: str) -> IntegrityError:
    return IntegrityError(f"Refusing bundle: {message}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _fail(f"the manifest repeats the key {key[:120]!r}.")
        out[key] = value
    return out


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(f"{what} is not an object.")
    return value


def _size(value: object, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_SIZE:
        raise _fail(f"{what}: invalid size {repr(value)[:40]}.")
    return value


def _hash(parser: Callable[..., str], value: object, what: str) -> str:
    """``value`` through one of hashing's parsers, and exactly as written (the parsers forgive
    case and spaces; a bundle names files by these strings, so it must spell them exactly)."""
    try:
        parsed = str(parser(value, what=what, error=IntegrityError))
    except IntegrityError:
        parsed = None
    if parsed is None or parsed != value:
        raise _fail(f"{what}: {repr(value)[:80]} is not a valid lowercase hex hash.")
    return parsed


def check_etag(value: object, what: str) -> str:
    return _hash(parse_etag, value, what)


def check_commit(value: object, what: str) -> str:
    return _hash(parse_commit, value, what)


def check_name(value: object, what: str) -> str:
    """A repo path or ref name: relative, plain segments, nothing a filesystem would refuse."""
    if not isinstance(value, str):
        raise UnsafePathError(f"Refusing bundle: {what} {repr(value)[:80]} is not a string.")
    shown = repr(value[:120])
    try:
        validate_repo_path(value)
    except HubError as exc:
        raise UnsafePathError(f"Refusing bundle: {what} {shown}: {exc}") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise UnsafePathError(f"Refusing bundle: {what} {shown} has control characters.")
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafePathError(f"Refusing bundle: {what} {shown} is not valid UTF-8.") from None
    if len(encoded) > MAX_PATH_BYTES or any(
        len(part) > MAX_NAME_BYTES for part in encoded.split(b"/")
    ):
        raise UnsafePathError(f"Refusing bundle: {what} {shown} is too long.")
    return value


def check_no_conflicts(paths: Iterable[str], what: str) -> None:
    """Refuse a path that is also a folder of another (``a`` and ``a/b``)."""
    files = set(paths)
    for path in sorted(files):
        parent = path.rpartition("/")[0]
        while parent:
            if parent in files:
                raise UnsafePathError(
                    f"Refusing bundle: {what} has {parent!r} both as a file and as a folder."
                )
            parent = parent.rpartition("/")[0]


def parse_tree_entry(value: object, what: str) -> dict[str, Any]:
    """One ``trees/<commit>.json`` entry, normalized to the fields huggingface_hub reads."""
    info = _obj(value, what)
    blob_id = info.get("blob_id")
    out: dict[str, Any] = {
        "size": _size(info.get("size"), what),
        "blob_id": None if blob_id is None else _hash(parse_git_sha1, blob_id, what),
    }
    if info.get("lfs_sha256") is not None:
        out["lfs_sha256"] = _hash(parse_sha256, info["lfs_sha256"], what)
        out["lfs_size"] = _size(info.get("lfs_size", out["size"]), what)
        if out["lfs_size"] != out["size"]:
            raise _fail(f"{what}: two sizes ({out['size']} and {out['lfs_size']}).")
    elif blob_id is None:
        raise _fail(f"{what}: no content hash.")
    if info.get("xet_hash") is not None:
        out["xet_hash"] = _hash(parse_sha256, info["xet_hash"], what)
    return out


def tree_etag(entry: dict[str, Any]) -> str:
    return str(entry.get("lfs_sha256") or entry["blob_id"])


def parse_tree(value: object, what: str) -> dict[str, dict[str, Any]]:
    """A whole tree document (``{"format_version": 1, "files": {...}}``) -> normalized files."""
    doc = _obj(value, what)
    if doc.get("format_version") != TREE_FORMAT_VERSION:
        raise _fail(f"{what}: unknown tree format {repr(doc.get('format_version'))[:40]}.")
    files = _obj(doc.get("files"), f"{what} files")
    out = {
        check_name(path, f"{what} path"): parse_tree_entry(info, f"{what}/{path}")
        for path, info in files.items()
    }
    check_no_conflicts(out, what)
    return out


def _parse_revision(commit: str, value: object, blobs: dict[str, int], where: str) -> RevisionPlan:
    rev = _obj(value, where)
    files: dict[str, str] = {}
    for path, etag in _obj(rev.get("files", {}), f"{where} files").items():
        check_name(path, f"{where} path")
        files[path] = check_etag(etag, f"{where}/{path}")
        if files[path] not in blobs:
            raise _fail(f"{where}/{path} names a blob the bundle does not list.")
    check_no_conflicts(files, where)
    tree = None if rev.get("tree") is None else parse_tree(rev["tree"], f"{where} tree")
    if tree is not None:
        check_files_match_tree(files, tree, blobs, where)
    return RevisionPlan(commit, files, tree)


def check_files_match_tree(
    files: dict[str, str], tree: dict[str, dict[str, Any]], sizes: dict[str, int], where: str
) -> None:
    """Each file must be listed by the commit's tree with the same content hash and size."""
    for path, etag in files.items():
        entry = tree.get(path)
        if entry is None:
            raise _fail(f"{where}/{path} is not in the tree of its commit.")
        if tree_etag(entry) != etag:
            raise _fail(f"{where}/{path}: its blob {etag[:12]}… is not what its tree names.")
        if etag in sizes and entry["size"] != sizes[etag]:
            raise _fail(f"{where}/{path}: its blob size differs from its tree's.")


def _parse_repo(item: object, blobs: dict[str, int]) -> RepoPlan:
    repo = _obj(item, "a repo entry")
    repo_type = repo.get("repo_type")
    if repo_type not in REPO_TYPES:
        raise _fail(f"unknown repo type {repr(repo_type)[:40]}.")
    try:
        repo_id = validate_repo_id(repo.get("repo_id"))  # type: ignore[arg-type]
    except HubError as exc:
        raise UnsafePathError(f"Refusing bundle: {exc}") from None
    ref = RepoRef(repo_id=repo_id, repo_type=normalize_repo_type(str(repo_type)))
    where = str(ref)
    revisions: dict[str, RevisionPlan] = {}
    for commit, rev in _obj(repo.get("revisions", {}), f"{where} revisions").items():
        check_commit(commit, f"{where} revision")
        revisions[commit] = _parse_revision(commit, rev, blobs, f"{where}@{commit[:12]}")
    refs: dict[str, str] = {}
    for name, commit in _obj(repo.get("refs", {}), f"{where} refs").items():
        check_name(name, f"{where} ref name")
        refs[name] = check_commit(commit, f"{where} ref {name!r}")
        if commit not in revisions:
            raise _fail(f"{where} ref {name!r} points at a commit the bundle does not carry.")
    check_no_conflicts(refs, f"{where} refs")
    return RepoPlan(ref, refs, revisions)


def parse_manifest(data: bytes) -> Manifest:
    """Validate a whole manifest; raise IntegrityError / UnsafePathError naming the first fault."""
    try:
        doc = json.loads(data, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise _fail("the manifest is not valid JSON.") from exc
    doc = _obj(doc, "the manifest")
    if doc.get("format") != FORMAT or type(doc.get("version")) is not int:
        raise IntegrityError("Not a hubcli bundle (unknown format).")
    if doc["version"] != VERSION:
        raise IntegrityError(f"Unsupported hubcli bundle version {doc['version']}.")
    blobs: dict[str, int] = {}
    for etag, size in _obj(doc.get("blobs"), "the manifest's blobs").items():
        blobs[check_etag(etag, "blob name")] = _size(size, f"blob {etag[:12]}")
    repos_raw = doc.get("repos")
    if not isinstance(repos_raw, list):
        raise _fail("the manifest's repos are not a list.")
    repos = [_parse_repo(item, blobs) for item in repos_raw]
    seen: set[str] = set()
    for plan in repos:
        if plan.folder in seen:
            raise _fail(f"the manifest lists {plan.ref} twice.")
        seen.add(plan.folder)
    return Manifest(blobs, repos)
