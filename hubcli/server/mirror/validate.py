"""Checks of everything an upstream says, before the mirror keeps or passes it on: names, hashes,
sizes, commit ids, and the removal of every Xet field (clients must never be told about Xet, or
those with ``hf_xet`` installed would bypass the mirror)."""

from __future__ import annotations

from typing import Any

from hubcli.server.ids import SHA1_RE, SHA256_RE, StorageError, validate_path
from hubcli.server.mirror.upstream import ProtocolError
from hubcli.server.records import Entry


def strip_xet(value: Any) -> Any:
    """``value`` without any key that names Xet (``xetHash``, ``xetEnabled``, ...), recursively."""
    if isinstance(value, dict):
        return {k: strip_xet(v) for k, v in value.items() if "xet" not in str(k).lower()}
    if isinstance(value, list):
        return [strip_xet(v) for v in value]
    return value


def _sha1(value: Any, what: str) -> str:
    if not isinstance(value, str) or not SHA1_RE.match(value):
        raise ProtocolError(f"{what} is not a lowercase 40-hex sha")
    return value


def _size(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise ProtocolError(f"{what} is not a size")
    return value


def _path(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} is not a path")
    try:
        return validate_path(value)
    except StorageError:
        raise ProtocolError(f"{what} {value[:200]!r} is not a valid path") from None


def commit_id(value: Any) -> str:
    return _sha1(value, "commit sha")


def repo_info(
    value: Any, repo_id: str, sha: str | None = None, *, require_sha: bool = False
) -> dict[str, Any]:
    """A repo info object: ``id`` is the repo, ``sha`` a commit (``sha`` when pinned; required
    with ``require_sha``), every sibling a valid path with valid hashes and sizes."""
    if not isinstance(value, dict):
        raise ProtocolError("repo info is not an object")
    rid = value.get("id")
    if rid is not None and (not isinstance(rid, str) or rid.lower() != repo_id.lower()):
        raise ProtocolError("repo info names another repo")
    if "sha" in value or require_sha:
        got = commit_id(value.get("sha"))
        if sha is not None and got != sha:
            raise ProtocolError("repo info is for another commit")
    sibs = value.get("siblings")
    if sibs is not None:
        if not isinstance(sibs, list):
            raise ProtocolError("siblings is not a list")
        for s in sibs:
            if not isinstance(s, dict):
                raise ProtocolError("a sibling is not an object")
            _path(s.get("rfilename"), "rfilename")
            if "size" in s:
                _size(s["size"], "sibling size")
            if "blobId" in s:
                _sha1(s["blobId"], "blobId")
            lfs = s.get("lfs")
            if lfs is not None:
                if not isinstance(lfs, dict) or not SHA256_RE.match(str(lfs.get("sha256"))):
                    raise ProtocolError("sibling lfs.sha256 is not a lowercase sha256")
                _size(lfs.get("size"), "sibling lfs.size")
    out = strip_xet(value)
    assert isinstance(out, dict)
    return out


def tree_item(value: Any) -> tuple[str, Entry | None, str]:
    """(path, file entry or None for a folder, oid) of one tree/paths-info item."""
    if not isinstance(value, dict):
        raise ProtocolError("a tree item is not an object")
    path = _path(value.get("path"), "tree path")
    oid = _sha1(value.get("oid"), "tree oid")
    kind = value.get("type")
    if kind == "directory":
        return path, None, oid
    if kind != "file":
        raise ProtocolError("tree item type is neither file nor directory")
    size = _size(value.get("size"), "tree size")
    lfs = value.get("lfs")
    if lfs is None:
        return path, Entry(size, oid), oid
    if not isinstance(lfs, dict) or not SHA256_RE.match(str(lfs.get("oid"))):
        raise ProtocolError("tree lfs.oid is not a lowercase sha256")
    if _size(lfs.get("size"), "tree lfs.size") != size:
        raise ProtocolError("tree lfs.size differs from size")
    return path, Entry(size, oid, str(lfs["oid"])), oid


def json_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ProtocolError(f"{what} is not a list")
    out = strip_xet(value)
    assert isinstance(out, list)
    return out


def commits_page(value: Any) -> list[Any]:
    items = json_list(value, "commits")
    for c in items:
        if not isinstance(c, dict):
            raise ProtocolError("a commit is not an object")
        commit_id(c.get("id"))
    return items


def listing_page(value: Any) -> list[Any]:
    items = json_list(value, "listing")
    for r in items:
        if not isinstance(r, dict) or not isinstance(r.get("id"), str):
            raise ProtocolError("a listing row has no id")
    return items


def refs(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError("refs is not an object")
    for kind in ("branches", "tags", "converts", "pullRequests"):
        items = value.get(kind, [])
        if not isinstance(items, list):
            raise ProtocolError(f"refs.{kind} is not a list")
        for r in items:
            if not isinstance(r, dict) or not isinstance(r.get("name"), str):
                raise ProtocolError(f"a ref of refs.{kind} has no name")
            commit_id(r.get("targetCommit"))
    out = strip_xet(value)
    assert isinstance(out, dict)
    return out
