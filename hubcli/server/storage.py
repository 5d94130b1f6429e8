"""On-disk storage of the local hub: repos, commits, refs and per-repo LFS indexes, on top of
the content-addressed blob store (``blobs``; its layout is described there).

Layout under ``root``::

    repos/<type>s/<ns>/<name>/
        meta.json                private, gated, owner, createdAt, likes, downloads, granted...
        refs.json                {"heads": {...}, "tags": {...}, "prs": {...}}
        commits/<sha>.json       {"id", "parents", "author", "title", "message", "date", "tree"}
        lfs-index.txt            "<sha256> <size>" of every LFS object any commit of the repo names

A commit stores its full tree: ``{path: [size, git_sha1, sha256 | null]}``; sha256 set means LFS.
Every file is written to ``tmp/`` then moved into place with ``os.replace``, and the refs file is
replaced last, so a crash never leaves a half commit. One lock per repo serializes commits.

The blob store is shared by every repo, so it never answers "which repo may see this object": the
per-repo LFS index does (an object is readable through a repo only if one of its commits names it),
and a commit may name an object only if it is already in the repo's index or the committing user
uploaded its content (proof of possession, recorded in ``lfs-grants.jsonl``). The index is
appended before the commit file is written, so it always covers every commit of the repo.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hubcli.server.blobs import BlobStore
from hubcli.server.ids import (
    REPO_TYPES,
    SHA1_RE,
    SHA256_RE,
    StorageError,
    git_blob_sha1,
    lfs_pointer,
    now_iso,
    validate_path,
    validate_ref_name,
    validate_repo_id,
)
from hubcli.server.records import Commit, Entry, FileOp, Repo
from hubcli.server.store.base import ANY, SharedUploads

__all__ = [
    "REPO_TYPES",
    "SHA1_RE",
    "SHA256_RE",
    "Commit",
    "Entry",
    "FileOp",
    "Repo",
    "Storage",
    "StorageError",
    "git_blob_sha1",
    "lfs_pointer",
    "now_iso",
    "validate_path",
    "validate_ref_name",
    "validate_repo_id",
]

LFS_INDEX = "lfs-index.txt"


def _read_oid_sizes(path: Path) -> dict[str, int]:
    """Parse ``<sha256> <size>`` lines; a torn or malformed line (a crash mid-append) is skipped."""
    out: dict[str, int] = {}
    for line in path.read_text(encoding="ascii", errors="replace").splitlines():
        oid, _, size = line.partition(" ")
        if SHA256_RE.match(oid) and size.isdigit():
            out[oid] = int(size)
    return out


def _format_oid_sizes(items: dict[str, int]) -> str:
    return "".join(f"{oid} {size}\n" for oid, size in items.items())


def _folders(paths: Iterable[str]) -> set[str]:
    """Every folder holding at least one of ``paths`` (all ancestors, root excluded)."""
    out: set[str] = set()
    for p in paths:
        i = p.rfind("/")
        while i > 0:
            d = p[:i]
            if d in out:  # its ancestors were added with it
                break
            out.add(d)
            i = p.rfind("/", 0, i)
    return out


def apply_ops(base: dict[str, Entry], ops: Iterable[FileOp]) -> dict[str, Entry]:
    """The tree ``base`` with ``ops`` applied (a new dict; 404 ``StorageError`` for a deleted
    file or folder that is not there)."""
    tree = dict(base)
    dirs: set[str] | None = None  # folders of ``tree``, built on the first add
    for op in ops:
        if op.kind == "add" and op.entry is not None:
            if dirs is None:
                dirs = _folders(tree)
            path = op.path
            if path in dirs:  # a file replaces a folder of the same name...
                prefix = path + "/"
                for p in [p for p in tree if p.startswith(prefix)]:
                    del tree[p]
                dirs.difference_update([d for d in dirs if d.startswith(prefix)])
                dirs.discard(path)
            i = path.rfind("/")
            while i > 0:  # ...and a folder replaces a file of the same name
                folder = path[:i]
                tree.pop(folder, None)
                dirs.add(folder)
                i = path.rfind("/", 0, i)
            tree[path] = op.entry
        elif op.kind == "delete_file":
            if op.path not in tree:
                raise StorageError(404, f"File not found: {op.path}", "EntryNotFound")
            del tree[op.path]
        elif op.kind == "delete_folder":
            prefix = op.path.rstrip("/") + "/"
            gone = [p for p in tree if p.startswith(prefix)]
            if not gone:
                raise StorageError(404, f"Folder not found: {op.path}", "EntryNotFound")
            for p in gone:
                del tree[p]
    return tree


def commit_target(
    store: Any, repo: Repo, branch: str, create_pr: bool, parent_commit: str | None
) -> tuple[str, str, str | None]:
    """(ref kind, ref name, current head) a commit to ``branch`` moves (for a new PR: the head
    it starts from); 404 for an unknown branch, 412 when ``parent_commit`` is not the head."""
    kind, name = "heads", branch
    if create_pr:
        head = store.resolve_rev(repo, branch)
        if head is None and repo.refs["heads"]:
            raise StorageError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
    else:
        kind_name = store.branch_of(repo, branch)
        if kind_name is None:
            raise StorageError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
        kind, name = kind_name
        head = repo.refs[kind].get(name)
    if parent_commit is not None:
        pc = parent_commit.lower()
        if head is None or not head.startswith(pc) or len(pc) < 5:
            raise StorageError(412, "A commit has happened since. Please refresh and try again.")
    return kind, name, head


def branch_of(repo: Repo, rev: str) -> tuple[str, str] | None:
    """Map a revision to a writable ref (kind, name): ("heads", "main") or ("prs", "3")."""
    if rev.startswith("refs/heads/"):
        rev = rev[11:]
    if rev.startswith("refs/pr/"):
        n = rev[8:]
        return ("prs", n) if n in repo.refs["prs"] else None
    return ("heads", rev) if rev in repo.refs["heads"] or not repo.refs["heads"] else None


def resolve_ref(repo: Repo, rev: str) -> tuple[bool, str | None]:
    """(whether ``rev`` names a ref -- branch, tag, refs/pr/N --, the commit it points to);
    (False, None) when it is no ref name (maybe a sha)."""
    refs = repo.refs
    if rev.startswith("refs/heads/"):
        return True, refs["heads"].get(rev[11:])
    if rev.startswith("refs/tags/"):
        return True, refs["tags"].get(rev[10:])
    if rev.startswith("refs/pr/"):
        return True, refs["prs"].get(rev[8:])
    if rev in refs["heads"]:
        return True, refs["heads"][rev]
    if rev in refs["tags"]:
        return True, refs["tags"][rev]
    return False, None


def commit_body(c: Commit) -> dict[str, Any]:
    """The stored form of commit ``c`` (the inverse of ``commit_from_body``)."""
    return {
        "parents": list(c.parents),
        "author": c.author,
        "title": c.title,
        "message": c.message,
        "date": c.date,
        "tree": {p: [e.size, e.oid, e.sha256] for p, e in c.tree.items()},
        "id": c.id,
    }


def new_commit_body(
    parents: list[str], author: str, title: str, message: str, date_iso: str,
    tree: dict[str, Entry],
) -> dict[str, Any]:  # fmt: skip
    """The stored form of a commit, with its (unique) id."""
    body: dict[str, Any] = {
        "parents": parents,
        "author": author,
        "title": title,
        "message": message,
        "date": date_iso,
        "tree": {p: [e.size, e.oid, e.sha256] for p, e in tree.items()},
    }
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    body["id"] = hashlib.sha1(raw + str(time.time_ns()).encode()).hexdigest()
    return body


def commit_from_body(raw: dict[str, Any]) -> Commit:
    tree = {p: Entry(v[0], v[1], v[2]) for p, v in raw["tree"].items()}
    return Commit(
        raw["id"], raw["parents"], raw["author"], raw["title"], raw["message"], raw["date"], tree
    )


class Storage(BlobStore):
    """Thread-safe repository store rooted at a directory: the blob store plus repos, their
    refs, commits and per-repo LFS indexes."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        # upload sessions live on this server's disk (hubcli.server.uploads), not in the store
        self.uploads_in_store: SharedUploads | None = None
        self._repos: dict[tuple[str, str], Repo] = {}
        self._global = threading.RLock()
        self._commits: OrderedDict[str, Commit] = OrderedDict()
        self._commit_lock = threading.Lock()
        self._load_repos()

    # ---------------------------------------------------------------- per-repo LFS objects
    def lfs_objects(self, repo: Repo) -> dict[str, int]:
        """sha256 -> size of every LFS object named by any commit of ``repo`` (read from
        ``lfs-index.txt``, built from the stored commits the first time)."""
        with repo.lock:
            if repo.lfs_index is None:
                path = repo.path / LFS_INDEX
                if path.exists():
                    repo.lfs_index = _read_oid_sizes(path)
                else:
                    repo.lfs_index = self._scan_lfs(repo)
                    self._atomic_write(path, _format_oid_sizes(repo.lfs_index).encode())
            return repo.lfs_index

    def _scan_lfs(self, repo: Repo) -> dict[str, int]:
        index: dict[str, int] = {}
        for f in (repo.path / "commits").glob("*.json"):
            try:
                tree = json.loads(f.read_bytes())["tree"]
                for v in tree.values():
                    if v[2] and SHA256_RE.match(v[2]):
                        index[v[2]] = int(v[0])
            except (OSError, ValueError, KeyError, TypeError, IndexError):
                continue
        return index

    def _index_lfs(self, repo: Repo, entries: Iterable[Entry]) -> None:
        """Add the LFS objects of ``entries`` to the repo's index (before the commit is written)."""
        index = self.lfs_objects(repo)
        new = {e.sha256: e.size for e in entries if e.sha256 and e.sha256 not in index}
        if not new:
            return
        with open(repo.path / LFS_INDEX, "a", encoding="ascii") as fh:
            fh.write(_format_oid_sizes(new))
            fh.flush()
            os.fsync(fh.fileno())
        index.update(new)

    def repo_lfs_size(self, repo: Repo, sha256: str, user: str | None = None) -> int | None:
        """The size of LFS object ``sha256`` if it is stored and a commit of ``repo`` names it --
        or, given a ``user``, that user uploaded its content (what a new commit may name) --,
        else None. Unknown objects and objects of other repos are the same None."""
        with repo.lock:
            size = self.lfs_objects(repo).get(sha256)
        if size is None:
            size = self.granted_lfs_size(user, sha256)
        if size is None or not self.has_lfs(sha256, size):
            return None
        return size

    # ---------------------------------------------------------------- repos
    def _repo_dir(self, repo_type: str, repo_id: str) -> Path:
        ns, name = validate_repo_id(repo_id)
        return self.root / "repos" / f"{repo_type}s" / ns / name

    def _load_repos(self) -> None:
        for rt in REPO_TYPES:
            base = self.root / "repos" / f"{rt}s"
            if not base.is_dir():
                continue
            for meta_file in base.glob("*/*/meta.json"):
                d = meta_file.parent
                try:
                    meta = json.loads(meta_file.read_text())
                    refs_file = d / "refs.json"
                    refs = json.loads(refs_file.read_text()) if refs_file.exists() else None
                except (OSError, ValueError):
                    continue
                repo_id = f"{d.parent.name}/{d.name}"
                self._repos[(rt, repo_id)] = Repo(
                    rt, repo_id, d, meta, refs or {"heads": {}, "tags": {}, "prs": {}}
                )

    def get_repo(self, repo_type: str, repo_id: str) -> Repo | None:
        with self._global:
            return self._repos.get((repo_type, repo_id))

    def list_repos(self, repo_type: str) -> list[Repo]:
        with self._global:
            return [r for (t, _), r in self._repos.items() if t == repo_type]

    def create_repo(self, repo_type: str, repo_id: str, meta: dict[str, Any]) -> Repo:
        if repo_type not in REPO_TYPES:
            raise StorageError(400, f"Invalid repo type: {repo_type!r}")
        with self._global:
            if (repo_type, repo_id) in self._repos:
                raise StorageError(409, f"You already created this {repo_type} repo")
            d = self._repo_dir(repo_type, repo_id)
            full = {
                "_id": hashlib.sha1(f"{repo_type}/{repo_id}/{time.time()}".encode()).hexdigest()[
                    :24
                ],
                "private": False,
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "createdAt": now_iso(),
                "granted": [],
                "next_pr": 1,
            }
            full.update(meta)
            refs: dict[str, dict[str, str]] = {"heads": {}, "tags": {}, "prs": {}}
            (d / "commits").mkdir(parents=True, exist_ok=True)
            self._write_json(d / "refs.json", refs)
            self._write_json(d / "meta.json", full)  # meta last: it marks the repo as existing
            repo = Repo(repo_type, repo_id, d, full, refs)
            self._repos[(repo_type, repo_id)] = repo
            return repo

    def save_meta(self, repo: Repo) -> None:
        with repo.lock:
            self._write_json(repo.path / "meta.json", repo.meta)

    def _save_refs(self, repo: Repo) -> None:
        self._write_json(repo.path / "refs.json", repo.refs)

    def delete_repo(self, repo: Repo) -> None:
        with self._global, repo.lock:
            self._repos.pop((repo.type, repo.id), None)
            trash = self.tmp / f"deleted-{os.getpid()}-{time.time_ns()}"
            os.replace(repo.path, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def move_repo(self, repo: Repo, new_id: str) -> Repo:
        with self._global, repo.lock:
            if (repo.type, new_id) in self._repos:
                raise StorageError(409, f"Repository {new_id} already exists")
            new_dir = self._repo_dir(repo.type, new_id)
            new_dir.parent.mkdir(parents=True, exist_ok=True)
            os.replace(repo.path, new_dir)
            self._repos.pop((repo.type, repo.id), None)
            moved = Repo(repo.type, new_id, new_dir, repo.meta, repo.refs)
            moved.lfs_index = repo.lfs_index
            self._repos[(repo.type, new_id)] = moved
            return moved

    # ---------------------------------------------------------------- commits
    # One commit cache and one revision resolver for every store; a store supplies where commit
    # manifests live (the four hooks below; the S3 store overrides them).
    def _commit_key(self, repo: Repo) -> str:
        return str(repo.path)

    def _read_commit_doc(self, repo: Repo, sha: str) -> bytes | None:
        try:
            return (repo.path / "commits" / f"{sha}.json").read_bytes()
        except OSError:
            return None

    def _has_commit(self, repo: Repo, sha: str) -> bool:
        return (repo.path / "commits" / f"{sha}.json").exists()

    def _commits_with_prefix(self, repo: Repo, prefix: str) -> list[str]:
        return [p.stem for p in (repo.path / "commits").glob(f"{prefix}*.json")]

    def get_commit(self, repo: Repo, sha: str) -> Commit | None:
        if not SHA1_RE.match(sha):
            return None
        key = f"{self._commit_key(repo)}:{sha}"
        with self._commit_lock:
            c = self._commits.get(key)
            if c is not None:
                self._commits.move_to_end(key)
                return c
        data = self._read_commit_doc(repo, sha)
        if data is None:
            return None
        try:
            c = commit_from_body(json.loads(data))
        except (ValueError, KeyError, TypeError, IndexError):
            return None
        self._cache_commit(repo, c)
        return c

    def _cache_commit(self, repo: Repo, c: Commit) -> None:
        with self._commit_lock:
            self._commits[f"{self._commit_key(repo)}:{c.id}"] = c
            while len(self._commits) > 512:
                self._commits.popitem(last=False)

    def resolve_rev(self, repo: Repo, rev: str) -> str | None:
        """Return the commit a revision points to (branch, tag, refs/pr/N, full or short sha)."""
        is_ref, sha = resolve_ref(repo, rev)
        if is_ref:
            return sha
        low = rev.lower()
        if SHA1_RE.match(low):
            return low if self._has_commit(repo, low) else None
        if re.match(r"^[0-9a-f]{5,39}$", low):
            matches = self._commits_with_prefix(repo, low)
            return matches[0] if len(matches) == 1 else None
        return None

    def branch_of(self, repo: Repo, rev: str) -> tuple[str, str] | None:
        """Map a revision to a writable ref (kind, name): ("heads", "main") or ("prs", "3")."""
        return branch_of(repo, rev)

    def commit(
        self,
        repo: Repo,
        branch: str,
        ops: list[FileOp],
        *,
        author: str,
        title: str,
        message: str = "",
        parent_commit: str | None = None,
        create_pr: bool = False,
        date: float | None = None,
    ) -> tuple[Commit, int | None]:
        """Apply ``ops`` on top of ``branch`` (or open a PR from it); return (commit, pr_num)."""
        with repo.lock:
            kind, name, head = commit_target(self, repo, branch, create_pr, parent_commit)
            parent = self.get_commit(repo, head) if head else None
            tree = apply_ops(parent.tree if parent else {}, ops)
            ts = time.time() if date is None else date
            tree = dict(sorted(tree.items()))
            parents = [head] if head else []
            date_iso = now_iso(ts)
            body = new_commit_body(parents, author, title, message, date_iso, tree)
            sha = body["id"]
            self._index_lfs(repo, tree.values())
            self._write_json(repo.path / "commits" / f"{sha}.json", body)
            commit = Commit(sha, parents, author, title, message, date_iso, tree)
            pr_num: int | None = None
            if create_pr:
                pr_num = int(repo.meta.get("next_pr", 1))
                repo.meta["next_pr"] = pr_num + 1
                repo.meta.setdefault("prs", {})[str(pr_num)] = {
                    "title": title,
                    "base": name if kind == "heads" else branch,
                    "author": author,
                    "createdAt": date_iso,
                }
                self.save_meta(repo)
                repo.refs["prs"][str(pr_num)] = sha
            else:
                repo.refs[kind][name] = sha
            self._save_refs(repo)
            self._cache_commit(repo, commit)
            return commit, pr_num

    def open_pr(self, repo: Repo, info: dict[str, Any], head: str) -> int:
        with repo.lock:
            num = int(repo.meta.get("next_pr", 1))
            repo.meta["next_pr"] = num + 1
            repo.meta.setdefault("prs", {})[str(num)] = info
            self.save_meta(repo)
            repo.refs["prs"][str(num)] = head
            self._save_refs(repo)
            return num

    def commit_ids(self, repo: Repo) -> list[str]:
        return sorted(p.stem for p in (repo.path / "commits").glob("*.json"))

    def import_commit(self, repo: Repo, body: dict[str, Any]) -> None:
        c = commit_from_body(body)
        with repo.lock:
            dest = repo.path / "commits" / f"{c.id}.json"
            if dest.exists():
                return
            self._index_lfs(repo, c.tree.values())
            self._write_json(dest, body)

    def set_ref(
        self, repo: Repo, kind: str, name: str, sha: str | None, *, expect: str | None = ANY
    ) -> None:
        with repo.lock:
            if expect != ANY and repo.refs[kind].get(name) != expect:
                what = {"heads": "Branch", "tags": "Tag"}.get(kind, "Ref")
                raise StorageError(409, f"{what} {name} was changed by another request")
            if sha is None:
                repo.refs[kind].pop(name, None)
            else:
                repo.refs[kind][name] = sha
            self._save_refs(repo)

    def history(self, repo: Repo, sha: str, limit: int = 100000) -> list[Commit]:
        out: list[Commit] = []
        cur: str | None = sha
        while cur and len(out) < limit:
            c = self.get_commit(repo, cur)
            if c is None:
                break
            out.append(c)
            cur = c.parents[0] if c.parents else None
        return out
