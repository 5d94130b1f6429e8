"""On-disk storage of the local hub: repos, commits, refs and the content-addressed blob store.

Layout under ``root``::

    objects/git/ab/<sha1>        regular file contents, named by their git blob sha1
    objects/lfs/ab/<sha256>      LFS contents, named by sha256
    tmp/                         temp files (same filesystem, so os.replace is atomic)
    repos/<type>s/<ns>/<name>/
        meta.json                private, gated, owner, createdAt, likes, downloads, granted...
        refs.json                {"heads": {...}, "tags": {...}, "prs": {...}}
        commits/<sha>.json       {"id", "parents", "author", "title", "message", "date", "tree"}
        lfs-index.txt            "<sha256> <size>" of every LFS object any commit of the repo names
    lfs-grants.jsonl             [user, sha256, size]: LFS objects whose content a user uploaded

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

import contextlib
import hashlib
import itertools
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcli.server.ids import (
    EMPTY_TREE_OID,
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
LFS_GRANTS = "lfs-grants.jsonl"


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


@dataclass
class Entry:
    size: int
    oid: str  # git blob sha1 (of the LFS pointer for LFS files)
    sha256: str | None = None  # set for LFS files

    @property
    def is_lfs(self) -> bool:
        return self.sha256 is not None


@dataclass
class Commit:
    id: str
    parents: list[str]
    author: str
    title: str
    message: str
    date: str
    tree: dict[str, Entry]
    _dirs: dict[str, list[str]] | None = field(default=None, repr=False)
    _dir_oids: dict[str, str] | None = field(default=None, repr=False)

    def dirs(self) -> dict[str, list[str]]:
        """Map each directory ("" = root) to its sorted direct children (full paths)."""
        if self._dirs is None:
            children: dict[str, set[str]] = {"": set()}
            for path in self.tree:
                parent = ""
                segs = path.split("/")
                for i in range(len(segs)):
                    full = "/".join(segs[: i + 1])
                    children.setdefault(parent, set()).add(full)
                    if i < len(segs) - 1:
                        children.setdefault(full, set())
                    parent = full
            self._dirs = {k: sorted(v) for k, v in children.items()}
        return self._dirs

    def dir_oid(self, path: str) -> str:
        if self._dir_oids is None:
            self._dir_oids = {}
        oid = self._dir_oids.get(path)
        if oid is None:
            h = hashlib.sha1()
            for child in self.dirs().get(path, []):
                ent = self.tree.get(child)
                h.update(
                    child.encode() + b"\0" + (ent.oid if ent else self.dir_oid(child)).encode()
                )
            oid = h.hexdigest() if self.dirs().get(path) else EMPTY_TREE_OID
            self._dir_oids[path] = oid
        return oid


@dataclass
class Repo:
    type: str
    id: str
    path: Path
    meta: dict[str, Any]
    refs: dict[str, dict[str, str]]
    lock: threading.RLock = field(default_factory=threading.RLock)
    lfs_index: dict[str, int] | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        """``{type}/{namespace}/{name}``: names the repo in signed CDN URLs."""
        return f"{self.type}/{self.id}"

    @property
    def namespace(self) -> str:
        return self.id.split("/")[0]

    @property
    def prefix(self) -> str:
        return "" if self.type == "model" else f"{self.type}s/"


@dataclass
class FileOp:
    """One operation of a commit: add (content in the blob store) or delete (file or folder)."""

    kind: str  # "add" | "delete_file" | "delete_folder"
    path: str
    entry: Entry | None = None


class Storage:
    """Thread-safe repository store rooted at a directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.tmp = self.root / "tmp"
        for sub in ("objects/git", "objects/lfs", "tmp", "repos"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._repos: dict[tuple[str, str], Repo] = {}
        self._global = threading.RLock()
        self._commits: OrderedDict[str, Commit] = OrderedDict()
        self._commit_lock = threading.Lock()
        # Cheap unique temp names: <pid>-<random per instance>-<thread>-<counter>. They live in
        # tmp/ and never look like a blob name, so a reader can never open a half-written file.
        self._tmp_dir = str(self.tmp)
        self._tmp_tag = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._tmp_seq = itertools.count()
        self._objects = str(self.root / "objects")
        # Blob fan-out directories known to exist (mkdir is idempotent, so a race is harmless).
        self._blob_dirs: set[str] = set()
        self._lfs_grants: dict[str, dict[str, int]] | None = None
        self._grants_lock = threading.Lock()
        self._load_repos()

    # ---------------------------------------------------------------- atomic files
    def _replace_from_temp(self, dest: str, data: bytes) -> None:
        """Write ``data`` to a fresh temp file in ``tmp/`` and ``os.replace`` it onto ``dest``."""
        tmp = self._write_temp(data)
        try:
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _write_temp(self, data: bytes) -> str:
        """Write ``data`` to a fresh temp file in ``tmp/``; return its path."""
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0)
        while True:
            tmp = f"{self._tmp_dir}/w-{self._tmp_tag}-{threading.get_ident()}-{next(self._tmp_seq)}"
            try:
                fd = os.open(tmp, flags, 0o600)
                break
            except FileExistsError:  # only if another process reuses our tag: try a new name
                self._tmp_tag = f"{os.getpid()}-{secrets.token_hex(4)}"
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return tmp

    def _atomic_write(self, dest: Path | str, data: bytes) -> None:
        dest = os.fspath(dest)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        self._replace_from_temp(dest, data)

    def _put_blob(self, kind: str, name: str, data: bytes) -> None:
        """Store content-addressed ``data`` as objects/<kind>/<name[:2]>/<name> unless present."""
        d = f"{self._objects}/{kind}/{name[:2]}"
        dest = f"{d}/{name}"
        if d not in self._blob_dirs:
            os.makedirs(d, exist_ok=True)
            self._blob_dirs.add(d)
        if os.path.exists(dest):
            return
        try:
            self._replace_from_temp(dest, data)
        except FileNotFoundError:  # the fan-out directory was removed behind our back
            self._blob_dirs.discard(d)
            os.makedirs(d, exist_ok=True)
            self._replace_from_temp(dest, data)

    def _write_json(self, dest: Path, obj: Any) -> None:
        self._atomic_write(dest, json.dumps(obj, separators=(",", ":")).encode())

    def new_temp(self) -> tuple[int, str]:
        return tempfile.mkstemp(dir=self.tmp, prefix="up-")

    # ---------------------------------------------------------------- blob store
    def git_path(self, sha1: str) -> Path:
        return self.root / "objects" / "git" / sha1[:2] / sha1

    def lfs_path(self, sha256: str) -> Path:
        if not SHA256_RE.match(sha256):
            raise StorageError(400, f"Invalid oid: {sha256!r}")
        return self.root / "objects" / "lfs" / sha256[:2] / sha256

    def has_lfs(self, sha256: str, size: int | None = None) -> bool:
        try:
            st = self.lfs_path(sha256).stat()
        except (OSError, StorageError):
            return False
        return size is None or st.st_size == size

    def put_regular(self, data: bytes) -> Entry:
        sha1 = git_blob_sha1(data)
        self._put_blob("git", sha1, data)
        return Entry(size=len(data), oid=sha1)

    def stage_regular(self, data: bytes) -> tuple[Entry, str | None]:
        """Write a regular file's content to a temp file unless the blob is already stored;
        ``publish_regular`` moves it into the store, ``discard_temp`` drops it."""
        sha1 = git_blob_sha1(data)
        entry = Entry(size=len(data), oid=sha1)
        if os.path.exists(f"{self._objects}/git/{sha1[:2]}/{sha1}"):
            return entry, None
        return entry, self._write_temp(data)

    def publish_regular(self, entry: Entry, tmp: str) -> None:
        d = f"{self._objects}/git/{entry.oid[:2]}"
        if d not in self._blob_dirs:
            os.makedirs(d, exist_ok=True)
            self._blob_dirs.add(d)
        try:
            os.replace(tmp, f"{d}/{entry.oid}")
        except FileNotFoundError:  # the fan-out directory was removed behind our back
            os.makedirs(d, exist_ok=True)
            os.replace(tmp, f"{d}/{entry.oid}")

    @staticmethod
    def discard_temp(tmp: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(tmp)

    def put_lfs_bytes(self, data: bytes) -> Entry:
        sha256 = hashlib.sha256(data).hexdigest()
        self._put_blob("lfs", sha256, data)
        return self.lfs_entry(sha256, len(data))

    def adopt_lfs_file(self, tmp_path: str, sha256: str) -> None:
        """Move a verified temp file into the LFS store."""
        dest = self.lfs_path(sha256)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_path, dest)

    @staticmethod
    def lfs_entry(sha256: str, size: int) -> Entry:
        return Entry(size=size, oid=git_blob_sha1(lfs_pointer(sha256, size)), sha256=sha256)

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

    def _grants(self) -> dict[str, dict[str, int]]:
        if self._lfs_grants is None:
            grants: dict[str, dict[str, int]] = {}
            with contextlib.suppress(FileNotFoundError):
                for line in (self.root / LFS_GRANTS).read_text("utf-8", "replace").splitlines():
                    try:
                        user, oid, size = json.loads(line)
                    except (ValueError, TypeError):
                        continue  # a torn last line
                    if isinstance(user, str) and SHA256_RE.match(str(oid)) and type(size) is int:
                        grants.setdefault(user, {})[oid] = size
            self._lfs_grants = grants
        return self._lfs_grants

    def grant_lfs(self, user: str | None, sha256: str, size: int) -> None:
        """Record that ``user`` uploaded the content of LFS object ``sha256`` (``size`` bytes):
        a commit by ``user`` may name it in any repo ``user`` writes to."""
        if not user:
            return
        with self._grants_lock:
            mine = self._grants().setdefault(user, {})
            if mine.get(sha256) == size:
                return
            with open(self.root / LFS_GRANTS, "a", encoding="utf-8") as fh:
                fh.write(json.dumps([user, sha256, size]) + "\n")
            mine[sha256] = size

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

    def granted_lfs_size(self, user: str | None, sha256: str) -> int | None:
        """The size ``user`` uploaded LFS object ``sha256`` with, None if they never did."""
        if not user:
            return None
        with self._grants_lock:
            return self._grants().get(user, {}).get(sha256)

    def blob_file(self, entry: Entry) -> Path:
        return self.lfs_path(entry.sha256) if entry.sha256 else self.git_path(entry.oid)

    def read_blob(self, entry: Entry) -> bytes:
        return self.blob_file(entry).read_bytes()

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
    def get_commit(self, repo: Repo, sha: str) -> Commit | None:
        key = f"{repo.path}:{sha}"
        with self._commit_lock:
            c = self._commits.get(key)
            if c is not None:
                self._commits.move_to_end(key)
                return c
        if not SHA1_RE.match(sha):
            return None
        try:
            raw = json.loads((repo.path / "commits" / f"{sha}.json").read_text())
        except (OSError, ValueError):
            return None
        tree = {p: Entry(v[0], v[1], v[2]) for p, v in raw["tree"].items()}
        c = Commit(
            raw["id"],
            raw["parents"],
            raw["author"],
            raw["title"],
            raw["message"],
            raw["date"],
            tree,
        )
        self._cache_commit(repo, c)
        return c

    def _cache_commit(self, repo: Repo, c: Commit) -> None:
        with self._commit_lock:
            self._commits[f"{repo.path}:{c.id}"] = c
            while len(self._commits) > 512:
                self._commits.popitem(last=False)

    def resolve_rev(self, repo: Repo, rev: str) -> str | None:
        """Return the commit a revision points to (branch, tag, refs/pr/N, full or short sha)."""
        refs = repo.refs
        if rev.startswith("refs/heads/"):
            return refs["heads"].get(rev[11:])
        if rev.startswith("refs/tags/"):
            return refs["tags"].get(rev[10:])
        if rev.startswith("refs/pr/"):
            return refs["prs"].get(rev[8:])
        if rev in refs["heads"]:
            return refs["heads"][rev]
        if rev in refs["tags"]:
            return refs["tags"][rev]
        low = rev.lower()
        if SHA1_RE.match(low):
            return low if (repo.path / "commits" / f"{low}.json").exists() else None
        if re.match(r"^[0-9a-f]{5,39}$", low):
            matches = [p.stem for p in (repo.path / "commits").glob(f"{low}*.json")]
            return matches[0] if len(matches) == 1 else None
        return None

    def branch_of(self, repo: Repo, rev: str) -> tuple[str, str] | None:
        """Map a revision to a writable ref (kind, name): ("heads", "main") or ("prs", "3")."""
        if rev.startswith("refs/heads/"):
            rev = rev[11:]
        if rev.startswith("refs/pr/"):
            n = rev[8:]
            return ("prs", n) if n in repo.refs["prs"] else None
        return ("heads", rev) if rev in repo.refs["heads"] or not repo.refs["heads"] else None

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
            kind, name = "heads", branch
            if create_pr:
                head = self.resolve_rev(repo, branch)
                if head is None and repo.refs["heads"]:
                    raise StorageError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            else:
                kind_name = self.branch_of(repo, branch)
                if kind_name is None:
                    raise StorageError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
                kind, name = kind_name
                head = repo.refs[kind].get(name)
            if parent_commit is not None:
                pc = parent_commit.lower()
                if head is None or not head.startswith(pc) or len(pc) < 5:
                    raise StorageError(
                        412, "A commit has happened since. Please refresh and try again."
                    )
            parent = self.get_commit(repo, head) if head else None
            tree = dict(parent.tree) if parent else {}
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
            ts = time.time() if date is None else date
            tree = dict(sorted(tree.items()))
            parents = [head] if head else []
            date_iso = now_iso(ts)
            body: dict[str, Any] = {
                "parents": parents,
                "author": author,
                "title": title,
                "message": message,
                "date": date_iso,
                "tree": {p: [e.size, e.oid, e.sha256] for p, e in tree.items()},
            }
            raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
            sha = hashlib.sha1(raw + str(time.time_ns()).encode()).hexdigest()
            body["id"] = sha
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

    def set_ref(self, repo: Repo, kind: str, name: str, sha: str | None) -> None:
        with repo.lock:
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
