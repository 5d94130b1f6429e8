"""``s3://bucket/prefix``: the hub's storage on an S3-compatible object store, shared by any
number of ``hubcli serve`` replicas (docs/storage.md).

Layout under the prefix::

    blobs/sha256/<oid>                 LFS objects (content-addressed, immutable)
    blobs/sha1/<oid>                   regular files, by git blob sha1 (immutable)
    commits/<repo _id>/<sha>.json      commit manifests with their full tree (immutable)
    lfs-index/<repo _id>/<sha256>      the LFS objects a repo's commits name (body: size)
    grants/<user>/<sha256>             LFS objects whose content a user uploaded (body: size)
    repos/<type>s/<ns>/<name>.json     the repo document: {"meta", "refs"} (mutable, by CAS),
                                       or the tombstone {"deleted": true}

Immutable objects are written with ``If-None-Match: *`` (a lost race means the same content is
already there); the repo document changes only by compare-and-swap (``If-Match: <etag>``), so
concurrent commits through different replicas never lose each other: the loser re-reads the
head, re-applies its operations on top and tries again (a commit naming a ``parentCommit`` that
is no longer the head gets 412 instead). A commit is visible only once the repo document names
it, and everything it names (blobs, index entries, its manifest) is written before that.

LFS objects are streamed into a multipart upload on their final key, hashed part by part as they
arrive; ``CompleteMultipartUpload`` (with ``If-None-Match: *``) runs only when the sha256 and size
match, otherwise the upload is aborted and nothing becomes visible.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from hubcli.server.ids import (
    REPO_TYPES,
    SHA256_RE,
    StorageError,
    git_blob_sha1,
    now_iso,
    validate_repo_id,
)
from hubcli.server.records import Commit, Entry, FileOp, Repo
from hubcli.server.storage import (
    Storage,
    apply_ops,
    commit_from_body,
    commit_target,
    new_commit_body,
)
from hubcli.server.store.base import ANY, lfs_entry
from hubcli.server.store.s3client import PreconditionFailed, S3Client
from hubcli.server.store.s3uploads import S3Uploads

MIB = 1 << 20
MIN_PART = 5 * MIB  # S3: every part but the last is at least 5 MiB...
MAX_PARTS = 10_000  # ...and an object has at most 10,000 parts
PART = 8 * MIB
CAS_ATTEMPTS = 64
LISTED_DOCS = 50_000  # repo documents kept for listings (a few KiB each)


def part_size(size: int) -> int:
    """The part size for an object of ``size`` bytes: 8 MiB, larger (whole MiB) when 10,000
    parts of 8 MiB would not hold it."""
    need = -(-size // MAX_PARTS)
    return max(PART, -(-need // MIB) * MIB)


def _empty_refs() -> dict[str, dict[str, str]]:
    return {"heads": {}, "tags": {}, "prs": {}}


class S3Storage(Storage):
    """The repo store on an S3 bucket. ``work_dir`` is local scratch space (staged commit
    files, open multipart upload sessions); nothing there is needed by another replica.

    It is a ``Storage`` (the file store) so that code typed against the file store keeps type
    checking; every method of ``store.base.RepoStore`` is overridden here and reads or writes
    the bucket only."""

    def __init__(
        self,
        client: S3Client,
        work_dir: Path,
        *,
        presign: bool = False,
        url_ttl: int = 3600,
        single_replica: bool = False,
    ) -> None:
        super().__init__(work_dir)  # an empty scratch directory: loads nothing
        self.s3 = client
        self.url = f"s3://{client.bucket}/{client.prefix}"
        self.presign = presign
        self.url_ttl = url_ttl
        self.shared = self.probe()
        if not self.shared and not single_replica:
            raise StorageError(
                500,
                f"{self.url}: the object store does not honour conditional writes"
                " (If-None-Match / If-Match), so replicas could lose each other's commits;"
                " run one replica with --single-replica",
            )
        self._local_cas = threading.Lock()  # single-replica mode: CAS within this process
        self._sizes: dict[str, int] = {}  # blob key -> size (blobs are immutable)
        self._sizes_lock = threading.Lock()
        self._docs: OrderedDict[str, tuple[str, Any]] = OrderedDict()  # immutable small docs
        # repo documents as last read for a listing: name -> (ETag, JSON text)
        self._listed: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._listed_lock = threading.Lock()
        self.uploads_in_store = S3Uploads(self)  # sessions in the bucket: any replica serves them

    # ---------------------------------------------------------------- start-up probe
    def probe(self) -> bool:
        """Whether the store refuses a second ``If-None-Match: *`` write and a stale
        ``If-Match`` one (what compare-and-swap needs)."""
        name = f"probe/{secrets.token_hex(8)}"
        try:
            etag = self.s3.put(name, b"1", create=True)
            for kw in ({"create": True}, {"if_match": '"0123456789abcdef0123456789abcdef"'}):
                try:
                    self.s3.put(name, b"2", **kw)  # type: ignore[arg-type]
                    return False
                except PreconditionFailed:
                    pass
            self.s3.put(name, b"3", if_match=etag)
            return True
        finally:
            with contextlib.suppress(Exception):
                self.s3.delete(name)

    # ---------------------------------------------------------------- repo documents
    @staticmethod
    def _doc_name(repo_type: str, repo_id: str) -> str:
        ns, name = validate_repo_id(repo_id)
        return f"repos/{repo_type}s/{ns}/{name}.json"

    def _read_doc(self, repo_type: str, repo_id: str) -> tuple[dict[str, Any] | None, str | None]:
        got = self.s3.get(self._doc_name(repo_type, repo_id))
        if got is None:
            return None, None
        return json.loads(got.data), got.etag

    def _write_doc(
        self, repo_type: str, repo_id: str, doc: dict[str, Any], version: str | None
    ) -> str:
        """Compare-and-swap the repo document: ``version`` None creates it; raises
        ``PreconditionFailed`` when another writer got there first."""
        data = json.dumps(doc, separators=(",", ":")).encode()
        name = self._doc_name(repo_type, repo_id)
        if self.shared:
            if version is None:
                return self.s3.put(name, data, create=True)
            return self.s3.put(name, data, if_match=version)
        with self._local_cas:
            got = self.s3.get(name)
            if (got.etag if got else None) != version:
                raise PreconditionFailed(name)
            return self.s3.put(name, data)

    def _repo_from(self, repo_type: str, repo_id: str, doc: Any, etag: str | None) -> Repo | None:
        if not isinstance(doc, dict) or doc.get("deleted") or "meta" not in doc:
            return None
        refs = doc.get("refs") or _empty_refs()
        path = Path(self._doc_name(repo_type, repo_id))
        return Repo(repo_type, repo_id, path, doc["meta"], refs, version=etag)

    def get_repo(self, repo_type: str, repo_id: str) -> Repo | None:
        if repo_type not in REPO_TYPES:
            return None
        try:
            doc, etag = self._read_doc(repo_type, repo_id)
        except (StorageError, ValueError):
            return None
        return self._repo_from(repo_type, repo_id, doc, etag)

    def list_repos(self, repo_type: str) -> list[Repo]:
        """Every repo of a type: one LIST (per 1,000 repos), and a GET only for a document whose
        ETag changed since this replica last read it (repo documents are rewritten, never
        edited in place, so an unchanged ETag is an unchanged document)."""
        out: list[Repo] = []
        base = f"repos/{repo_type}s/"
        for name, etag in self.s3.entries(base):
            ns, _, rest = name[len(base) :].partition("/")
            if not rest.endswith(".json") or "/" in rest:
                continue
            repo_id = f"{ns}/{rest[:-5]}"
            with self._listed_lock:
                seen = self._listed.get(name)
            version: str | None
            if seen is not None and etag and seen[0] == etag:
                doc, version = json.loads(seen[1]), etag
            else:
                try:
                    doc, version = self._read_doc(repo_type, repo_id)
                except (StorageError, ValueError):
                    continue
                if version:
                    with self._listed_lock:
                        self._listed[name] = (version, json.dumps(doc, separators=(",", ":")))
                        self._listed.move_to_end(name)
                        while len(self._listed) > LISTED_DOCS:
                            self._listed.popitem(last=False)
            repo = self._repo_from(repo_type, repo_id, doc, version)
            if repo is not None:
                out.append(repo)
        return out

    def _refresh(self, repo: Repo) -> bool:
        """Re-read ``repo``'s document into it; False when the repo is gone."""
        doc, etag = self._read_doc(repo.type, repo.id)
        fresh = self._repo_from(repo.type, repo.id, doc, etag)
        if fresh is None:
            return False
        repo.meta, repo.refs, repo.version = fresh.meta, fresh.refs, fresh.version
        return True

    def _cas_loop(self, repo: Repo, change: Callable[[Repo], None]) -> None:
        """Apply ``change`` to ``repo`` (meta and refs) and compare-and-swap its document,
        re-reading and re-applying after a lost race."""
        for attempt in range(CAS_ATTEMPTS):
            if attempt and not self._refresh(repo):
                raise StorageError(404, "Repository not found", "RepoNotFound")
            meta = json.loads(json.dumps(repo.meta))
            refs = json.loads(json.dumps(repo.refs))
            trial = Repo(repo.type, repo.id, repo.path, meta, refs, version=repo.version)
            change(trial)
            doc = {"meta": trial.meta, "refs": trial.refs}
            try:
                etag = self._write_doc(repo.type, repo.id, doc, repo.version)
            except PreconditionFailed:
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                continue
            repo.meta, repo.refs, repo.version = trial.meta, trial.refs, etag
            return
        raise StorageError(503, "Too many concurrent updates of this repository; try again")

    def create_repo(self, repo_type: str, repo_id: str, meta: dict[str, Any]) -> Repo:
        if repo_type not in REPO_TYPES:
            raise StorageError(400, f"Invalid repo type: {repo_type!r}")
        full = {
            "_id": secrets.token_hex(12),
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
        doc = {"meta": full, "refs": _empty_refs()}
        old, version = self._read_doc(repo_type, repo_id)
        if self._repo_from(repo_type, repo_id, old, version) is not None:
            raise StorageError(409, f"You already created this {repo_type} repo")
        try:  # over nothing, or over the tombstone of a deleted repo
            etag = self._write_doc(repo_type, repo_id, doc, version)
        except PreconditionFailed:
            raise StorageError(409, f"You already created this {repo_type} repo") from None
        repo = self._repo_from(repo_type, repo_id, doc, etag)
        assert repo is not None
        return repo

    def save_meta(self, repo: Repo) -> None:
        mine = json.loads(json.dumps(repo.meta))

        def change(r: Repo) -> None:
            # metadata: the last writer wins, but PRs opened meanwhile (through any replica)
            # stay: their numbers only grow and their records are only added
            stored_prs = dict(r.meta.get("prs") or {})
            new = dict(mine)
            new["next_pr"] = max(int(r.meta.get("next_pr", 1)), int(mine.get("next_pr", 1)))
            if stored_prs or mine.get("prs"):
                new["prs"] = {**stored_prs, **(mine.get("prs") or {})}
            r.meta = new  # the refs stay as stored

        self._cas_loop(repo, change)

    def open_pr(self, repo: Repo, info: dict[str, Any], head: str) -> int:
        taken: list[int] = []

        def change(r: Repo) -> None:
            num = int(r.meta.get("next_pr", 1))
            r.meta["next_pr"] = num + 1
            r.meta.setdefault("prs", {})[str(num)] = info
            r.refs["prs"][str(num)] = head
            taken[:] = [num]

        self._cas_loop(repo, change)  # a lost race re-reads next_pr: numbers never collide
        return taken[0]

    def delete_repo(self, repo: Repo) -> None:
        """The tombstone (by compare-and-swap), then the repo's commits and LFS index entries
        (keyed by its ``_id``: no other repo names them; a repo created again under the name
        gets a new ``_id``). Blobs stay: other repos may name them (a ``gc`` is not done)."""
        for _ in range(CAS_ATTEMPTS):
            try:
                self._write_doc(repo.type, repo.id, {"deleted": True}, repo.version)
                break
            except PreconditionFailed:
                if not self._refresh(repo):
                    return
        else:
            raise StorageError(503, "Too many concurrent updates of this repository; try again")
        rid = self._rid(repo)
        for base in (f"commits/{rid}/", f"lfs-index/{rid}/"):
            for name in list(self.s3.names(base)):
                with contextlib.suppress(Exception):
                    self.s3.delete(name)
        with self._commit_lock:
            for key in [k for k in self._commits if k.startswith(f"{rid}:")]:
                del self._commits[key]

    def move_repo(self, repo: Repo, new_id: str) -> Repo:
        validate_repo_id(new_id)
        old, version = self._read_doc(repo.type, new_id)
        if self._repo_from(repo.type, new_id, old, version) is not None:
            raise StorageError(409, f"Repository {new_id} already exists")
        for _ in range(CAS_ATTEMPTS):
            doc = {"meta": repo.meta, "refs": repo.refs}
            try:
                version = self._write_doc(repo.type, new_id, doc, version)
            except PreconditionFailed:
                raise StorageError(409, f"Repository {new_id} already exists") from None
            try:  # commits and the LFS index are keyed by the repo's _id: nothing to copy
                self._write_doc(repo.type, repo.id, {"deleted": True}, repo.version)
            except PreconditionFailed:  # changed meanwhile: copy the newer state again
                if not self._refresh(repo):
                    raise StorageError(404, "Repository not found", "RepoNotFound") from None
                continue
            moved = self._repo_from(repo.type, new_id, doc, version)
            assert moved is not None
            return moved
        raise StorageError(503, "Too many concurrent updates of this repository; try again")

    # ---------------------------------------------------------------- commits
    @staticmethod
    def _rid(repo: Repo) -> str:
        return str(repo.meta["_id"])

    def _commit_key(self, repo: Repo) -> str:
        return self._rid(repo)

    def _read_commit_doc(self, repo: Repo, sha: str) -> bytes | None:
        got = self.s3.get(f"commits/{self._rid(repo)}/{sha}.json")
        return None if got is None else got.data

    def _has_commit(self, repo: Repo, sha: str) -> bool:
        return self.get_commit(repo, sha) is not None

    def _commits_with_prefix(self, repo: Repo, prefix: str) -> list[str]:
        base = f"commits/{self._rid(repo)}/"
        return [n[len(base) : -5] for n in self.s3.names(base + prefix)]

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
        """Apply ``ops`` on top of the head of ``branch`` as stored now, and move the branch
        by compare-and-swap; after a lost race, again on top of the new head."""
        indexed: set[str] = set()
        for attempt in range(CAS_ATTEMPTS):
            if attempt and not self._refresh(repo):
                raise StorageError(404, "Repository not found", "RepoNotFound")
            kind, name, head = commit_target(self, repo, branch, create_pr, parent_commit)
            parent = self.get_commit(repo, head) if head else None
            if head and parent is None:
                raise StorageError(500, f"Commit {head} is missing from the store")
            tree = dict(sorted(apply_ops(parent.tree if parent else {}, ops).items()))
            date_iso = now_iso(time.time() if date is None else date)
            body = new_commit_body([head] if head else [], author, title, message, date_iso, tree)
            sha = body["id"]
            # everything the commit names goes in before the ref can point at it
            old = parent.tree if parent else {}
            for path, e in tree.items():
                if not e.sha256 or e.sha256 in indexed:
                    continue
                was = old.get(path)
                if was is None or was.sha256 != e.sha256:  # the parent's are indexed already
                    self.s3.put(f"lfs-index/{self._rid(repo)}/{e.sha256}", str(e.size).encode())
                indexed.add(e.sha256)
            data = json.dumps(body, separators=(",", ":")).encode()
            self.s3.put(f"commits/{self._rid(repo)}/{sha}.json", data, create=True)
            commit = commit_from_body(body)
            meta = json.loads(json.dumps(repo.meta))
            refs = json.loads(json.dumps(repo.refs))
            pr_num: int | None = None
            if create_pr:
                pr_num = int(meta.get("next_pr", 1))
                meta["next_pr"] = pr_num + 1
                meta.setdefault("prs", {})[str(pr_num)] = {
                    "title": title,
                    "base": name if kind == "heads" else branch,
                    "author": author,
                    "createdAt": date_iso,
                }
                refs["prs"][str(pr_num)] = sha
            else:
                refs[kind][name] = sha
            try:
                etag = self._write_doc(
                    repo.type, repo.id, {"meta": meta, "refs": refs}, repo.version
                )
            except PreconditionFailed:
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                continue
            repo.meta, repo.refs, repo.version = meta, refs, etag
            self._cache_commit(repo, commit)
            return commit, pr_num
        raise StorageError(503, "Too many concurrent commits to this branch; try again")

    def commit_ids(self, repo: Repo) -> list[str]:
        base = f"commits/{self._rid(repo)}/"
        return sorted(n[len(base) : -5] for n in self.s3.names(base) if n.endswith(".json"))

    def import_commit(self, repo: Repo, body: dict[str, Any]) -> None:
        c = commit_from_body(body)
        for e in c.tree.values():  # the index entries before the manifest, as in commit()
            if e.sha256:
                self.s3.put(f"lfs-index/{self._rid(repo)}/{e.sha256}", str(e.size).encode())
        data = json.dumps(body, separators=(",", ":")).encode()
        with contextlib.suppress(PreconditionFailed):  # already there (immutable)
            self.s3.put(f"commits/{self._rid(repo)}/{c.id}.json", data, create=True)

    def set_ref(
        self, repo: Repo, kind: str, name: str, sha: str | None, *, expect: str | None = ANY
    ) -> None:
        """A ref set or deleted by compare-and-swap of the repo document (a deletion is the
        write of a document without it: a concurrent commit to it fails its CAS, re-reads and
        finds the branch gone)."""

        def change(r: Repo) -> None:
            if expect != ANY and r.refs[kind].get(name) != expect:
                what = {"heads": "Branch", "tags": "Tag"}.get(kind, "Ref")
                raise StorageError(409, f"{what} {name} was changed by another request")
            if sha is None:
                r.refs[kind].pop(name, None)
            else:
                r.refs[kind][name] = sha

        self._cas_loop(repo, change)

    # ---------------------------------------------------------------- LFS index and grants
    def lfs_objects(self, repo: Repo) -> dict[str, int]:
        base = f"lfs-index/{self._rid(repo)}/"
        out: dict[str, int] = {}
        for name in self.s3.names(base):
            oid = name[len(base) :]
            if SHA256_RE.match(oid):
                size = self._small_int(name)
                if size is not None:
                    out[oid] = size
        return out

    def _small_int(self, name: str) -> int | None:
        """The integer an immutable small document holds (cached), None if there is none."""
        with self._sizes_lock:
            hit = self._docs.get(name)
        if hit is not None:
            return int(hit[1])
        got = self.s3.get(name)
        if got is None:
            return None
        try:
            value = int(got.data.decode("ascii"))
        except ValueError:
            return None
        with self._sizes_lock:
            self._docs[name] = (got.etag, value)
            while len(self._docs) > 100_000:
                self._docs.popitem(last=False)
        return value

    def repo_lfs_size(self, repo: Repo, sha256: str, user: str | None = None) -> int | None:
        if not SHA256_RE.match(sha256):
            return None
        size = self._small_int(f"lfs-index/{self._rid(repo)}/{sha256}")
        if size is None:
            size = self.granted_lfs_size(user, sha256)
        if size is None or not self.has_lfs(sha256, size):
            return None
        return size

    def grant_lfs(self, user: str | None, sha256: str, size: int) -> None:
        if user and SHA256_RE.match(sha256):
            self.s3.put(f"grants/{_safe(user)}/{sha256}", str(size).encode())

    def granted_lfs_size(self, user: str | None, sha256: str) -> int | None:
        if not user or not SHA256_RE.match(sha256):
            return None
        return self._small_int(f"grants/{_safe(user)}/{sha256}")

    # ---------------------------------------------------------------- blobs
    @staticmethod
    def _blob_name(entry: Entry) -> str:
        if entry.sha256:
            return f"blobs/sha256/{entry.sha256}"
        return f"blobs/sha1/{entry.oid}"

    def _stat(self, name: str) -> int | None:
        with self._sizes_lock:
            size = self._sizes.get(name)
        if size is None:
            size = self.s3.head(name)
            if size is not None:
                with self._sizes_lock:
                    self._sizes[name] = size
        return size

    def _known(self, name: str, size: int) -> None:
        with self._sizes_lock:
            self._sizes[name] = size

    def has_lfs(self, sha256: str, size: int | None = None) -> bool:
        if not SHA256_RE.match(sha256):
            return False
        got = self._stat(f"blobs/sha256/{sha256}")
        return got is not None and (size is None or got == size)

    def _put_small(self, name: str, data: bytes) -> None:
        """An immutable object from bytes hashed by the caller: one PUT, only if absent."""
        if self._stat(name) == len(data):
            return
        with contextlib.suppress(PreconditionFailed):  # the same content is already there
            self.s3.put(name, data, create=True)
        self._known(name, len(data))

    def put_regular(self, data: bytes) -> Entry:
        entry = Entry(size=len(data), oid=git_blob_sha1(data))
        self._put_small(self._blob_name(entry), data)
        return entry

    def stage_regular(self, data: bytes) -> tuple[Entry, str | None]:
        entry = Entry(size=len(data), oid=git_blob_sha1(data))
        if self._stat(self._blob_name(entry)) == entry.size:
            return entry, None
        return entry, self._write_temp(data)

    def publish_regular(self, entry: Entry, tmp: str) -> None:
        try:
            with open(tmp, "rb") as fh:
                data = fh.read()
            if git_blob_sha1(data) != entry.oid:  # the temp file changed under us
                raise StorageError(500, "A staged file changed before it was stored")
            self._put_small(self._blob_name(entry), data)
        finally:
            self.discard_temp(tmp)

    def put_lfs_bytes(self, data: bytes) -> Entry:
        sha256 = hashlib.sha256(data).hexdigest()
        self.receive_lfs(sha256, len(data), [data])
        return lfs_entry(sha256, len(data))

    def receive_lfs(self, sha256: str, size: int, chunks: Iterable[bytes]) -> None:
        """Stream ``chunks`` into a multipart upload on ``blobs/sha256/<oid>``, hashing them in
        order; complete it (``If-None-Match: *``) only when sha256 and size match, else abort.
        Objects of one part are a single conditional PUT after the check."""
        if not SHA256_RE.match(sha256):
            raise StorageError(400, f"Invalid oid: {sha256!r}")
        name = f"blobs/sha256/{sha256}"
        psize = part_size(size)
        h = hashlib.sha256()
        n = 0
        buf = bytearray()
        upload_id: str | None = None
        etags: list[str] = []
        try:
            for piece in chunks:
                h.update(piece)
                n += len(piece)
                if n > size:
                    raise StorageError(400, f"Uploaded content is larger than {size} bytes")
                buf += piece
                while len(buf) >= psize and n < size:  # never the last part here
                    if upload_id is None:
                        upload_id = self.s3.start_multipart(name)
                    etags.append(
                        self.s3.upload_part(name, upload_id, len(etags) + 1, bytes(buf[:psize]))
                    )
                    del buf[:psize]
            got = h.hexdigest()
            if n != size or got != sha256:
                raise StorageError(
                    400,
                    f"Uploaded content does not match oid/size (got sha256 {got}, {n} bytes)",
                )
            if upload_id is None:
                with contextlib.suppress(PreconditionFailed):  # already stored: same bytes
                    self.s3.put(name, bytes(buf), create=True)
            else:
                etags.append(self.s3.upload_part(name, upload_id, len(etags) + 1, bytes(buf)))
                try:
                    self.s3.complete_multipart(name, upload_id, etags, create=True)
                    upload_id = None
                except PreconditionFailed:  # already stored (the same bytes): drop ours
                    pass
        finally:
            if upload_id is not None:
                with contextlib.suppress(Exception):
                    self.s3.abort_multipart(name, upload_id)
        self._known(name, size)

    def adopt_lfs_file(self, tmp_path: str, sha256: str) -> None:
        """Store a local file (an assembled multipart upload), verified again as it is sent."""
        size = os.path.getsize(tmp_path)

        def pieces() -> Iterator[bytes]:
            with open(tmp_path, "rb") as fh:
                while buf := fh.read(PART):
                    yield buf

        self.receive_lfs(sha256, size, pieces())
        self.discard_temp(tmp_path)

    def read_blob(self, entry: Entry) -> bytes:
        got = self.s3.get(self._blob_name(entry))
        if got is None:
            raise FileNotFoundError(self._blob_name(entry))
        return got.data

    def blob_size(self, entry: Entry) -> int | None:
        return self._stat(self._blob_name(entry))

    def local_blob_path(self, entry: Entry) -> str | None:
        return None

    def open_blob(self, entry: Entry, start: int, length: int) -> Iterator[bytes]:
        return self.s3.get_range(self._blob_name(entry), start, length)

    def presign_blob(self, entry: Entry, filename: str) -> str | None:
        if not self.presign:
            return None
        return self.s3.presign_get(self._blob_name(entry), self.url_ttl, filename)


def _safe(user: str) -> str:
    """A user name as one key segment."""
    return "".join(c if c.isalnum() or c in "._-" else f"%{ord(c):02x}" for c in user)
