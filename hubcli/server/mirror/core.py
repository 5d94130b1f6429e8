"""The mirror's knowledge: revisions pinned to commits, commit manifests (the full file list of a
commit with sizes and hashes), JSON answers cached for good (sha-addressed) or briefly (refs,
listings), and the file answers (store, shared cache, fills).

On disk, under ``<root>/mirror/``::

    pins.json                                  {"model/org/name@main": [sha, unix time]}
    commits/<type>/<ns>/<name>/<sha>.info.json  repo info at the commit (validated, no Xet)
    commits/<type>/<ns>/<name>/<sha>.tree.json  {"files": {path: [size, oid, sha256|null]},
                                                "dirs": {path: oid}}
    json/ab/<sha256 of the request>.json        other sha-addressed answers (commits, expand=...)

Blobs live in the server's content-addressed store (``objects/{git,lfs}``), written only by a
verified fill. On an object store (``s3://``) the commit records and JSON answers are documents
under ``<prefix>/mirror/`` shared by every replica, and blobs are the store's own
(``storage``); pins stay per replica. Everything here is rebuilt from upstream when missing,
so a store can be copied, moved or wiped piecemeal.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from hubcli.server.ids import SHA1_RE, validate_repo_id
from hubcli.server.mirror import validate
from hubcli.server.mirror.access import (
    ANONYMOUS,
    AccessChecks,
    AccessRules,
    Identity,
    refusal,
    repo_key,
)
from hubcli.server.mirror.evict import Evictor, load_pin_file
from hubcli.server.mirror.fill import Fills
from hubcli.server.mirror.metrics import Metrics
from hubcli.server.mirror.share import CacheShare, SharedCommit
from hubcli.server.mirror.storage import mirror_storage
from hubcli.server.mirror.upstream import (
    ProtocolError,
    Upstream,
    UpstreamAnswer,
    UpstreamClient,
    UpstreamError,
)
from hubcli.server.records import Commit, Entry
from hubcli.server.response import ApiError
from hubcli.server.state import HubState

_NEXT_RE = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
STALE_WARNING = '110 hubcli-mirror "Response is stale: every upstream is unreachable"'
MAX_PAGES = 10_000


@dataclass
class MirrorConfig:
    upstreams: list[str] = field(default_factory=list)
    token: str | None = None
    revision_ttl: float = 60.0
    listing_ttl: float = 60.0
    from_cache: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    fill_wait: float = 600.0  # seconds an answer waits for its fill
    stream_threshold: int = 8 * 1024 * 1024  # smaller blobs are answered once verified
    retry_after: int = 30  # Retry-After of a 503 when every upstream is down
    access_file: str | None = None  # who may read gated/private repos (access.py)
    forward_token: bool = False  # check clients' own tokens upstream (access.py)
    max_size: int | None = None  # byte budget of the blob store (evict.py)
    pin_file: str | None = None  # refs whose blobs are never evicted (evict.py)
    direct_range_ahead: int = 4 * 1024 * 1024  # a cold Range this far past the fill: own request


@dataclass
class Pinned:
    sha: str
    stale: bool = False


@dataclass
class Manifest:
    commit: Commit
    dir_oids: dict[str, str]
    shared: SharedCommit | None = None


def _repo_type_dir(repo_type: str) -> str:
    return f"{repo_type}s"


def prefix_of(repo_type: str) -> str:
    return "" if repo_type == "model" else f"{repo_type}s/"


def next_link(headers: Any) -> str | None:
    """path?query of the ``rel="next"`` link of an upstream answer (origin dropped)."""
    value = headers.get("Link") if headers is not None else None
    if not value:
        return None
    m = _NEXT_RE.search(value)
    if not m:
        return None
    parts = urlsplit(m.group(1))
    if not parts.path.startswith("/api/"):
        raise ProtocolError("a next link outside /api")
    return parts.path + (f"?{parts.query}" if parts.query else "")


class MirrorCore:
    """Pins, manifests and cached answers; the routes (``routes``) turn them into responses."""

    def __init__(self, state: HubState, config: MirrorConfig) -> None:
        self.state = state
        self.config = config
        self.metrics = Metrics()
        self.client = UpstreamClient(
            config.upstreams,
            config.token,
            self.metrics,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
        )
        self.store = state.storage
        self.dir = self.store.root / "mirror"
        self.place = mirror_storage(self.store, self.dir)
        if not self.place.local and (config.max_size or config.pin_file or config.from_cache):
            raise ValueError(
                "--max-size, --pin-file and --from-cache need a file:// store (docs/storage.md)"
            )
        self.pin_refs = load_pin_file(config.pin_file) if config.pin_file else []
        self.evictor = (
            Evictor(self.store.root / "objects", config.max_size, self.pinned_blobs, self.metrics)
            if config.max_size is not None
            else None
        )
        self.fills = Fills(
            self.store,
            self.client,
            self.metrics,
            on_stored=self.evictor.stored if self.evictor else None,
            place=self.place,
        )
        self.share = CacheShare(config.from_cache) if config.from_cache else None
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._pin_locks: dict[str, threading.Lock] = {}
        self.pins: dict[str, tuple[str, float]] = self._load_pins()
        self._manifests: OrderedDict[str, Manifest] = OrderedDict()
        self._brief: dict[str, tuple[float, Any, str | None]] = {}
        self.rules = AccessRules.load(config.access_file) if config.access_file else AccessRules()
        self.checks = AccessChecks(config.revision_ttl)
        self._flags: dict[str, tuple[bool, bool]] = {}  # repo key -> (private, gated)
        if self.evictor is not None and self.evictor.total > self.evictor.max_size:
            threading.Thread(target=self.evictor.evict, name="hubcli-mirror-evict").start()

    @property
    def has_upstream(self) -> bool:
        return bool(self.client.upstreams)

    # ------------------------------------------------------------------ errors
    def upstream_failure(self, e: UpstreamError | UpstreamAnswer) -> ApiError:
        if isinstance(e, UpstreamAnswer):
            return ApiError(e.status, e.message, e.code)
        if e.protocol:
            return ApiError(502, f"Bad answer from the upstream hub: {e}")
        return ApiError(
            503,
            "Every upstream hub is unreachable and this is not in the mirror",
            None,
            {"Retry-After": str(self.config.retry_after)},
        )

    # ------------------------------------------------------------------ access
    def identity(self, token: str | None) -> Identity:
        """Who a request's bearer token names: a user of this mirror (``--token``), the client's
        own upstream token (``--forward-token``; anything else), or nobody. Without
        ``--forward-token`` a token this mirror does not know is ignored (never sent upstream)."""
        if not token:
            return ANONYMOUS
        user = self.state.tokens.get(token)
        if user is not None:
            return Identity(user=user)
        if self.config.forward_token:
            return Identity(token=token)
        return ANONYMOUS

    def note_flags(self, repo_type: str, repo_id: str, info: Any, *, latest: bool) -> None:
        """Remember whether the upstream reports the repo private or gated (``latest``: from a
        fresh upstream answer, overriding what a stored one said)."""
        if not isinstance(info, dict):
            return
        flags = (bool(info.get("private")), bool(info.get("gated")))
        with self._lock:
            if latest:
                self._flags[repo_key(repo_type, repo_id)] = flags
            else:
                self._flags.setdefault(repo_key(repo_type, repo_id), flags)

    def flags(self, repo_type: str, repo_id: str, sha: str) -> tuple[bool, bool]:
        """(private, gated) as last seen upstream (or in the stored info of ``sha``)."""
        key = repo_key(repo_type, repo_id)
        with self._lock:
            held = self._flags.get(key)
        if held is not None:
            return held
        with contextlib.suppress(OSError, ValueError, TypeError):
            info = json.loads(self.place.read_doc(self._info_file(repo_type, repo_id, sha)) or b"")
            self.note_flags(repo_type, repo_id, info, latest=False)
            return bool(info.get("private")), bool(info.get("gated"))
        return False, False

    def restricted(self, repo_type: str, repo_id: str, sha: str) -> bool:
        return any(self.flags(repo_type, repo_id, sha))

    def authorize(self, who: Identity, repo_type: str, repo_id: str, sha: str) -> None:
        """Raise the Hub's refusal unless ``who`` may read the repo: everyone for a public repo;
        for a private or gated one, a user the access file allows, or (``--forward-token``) a
        client whose own token passed the upstream check (kept per token and repo)."""
        private, gated = self.flags(repo_type, repo_id, sha)
        if not (private or gated):
            return
        if self.rules.allows(who.user, repo_type, repo_id):
            return
        if who.token is None:
            raise refusal(who, repo_type, repo_id, private)
        key = repo_key(repo_type, repo_id)
        known, refused = self.checks.get(who, key)
        if not known:
            refused = self._ask_upstream(who, repo_type, repo_id, sha)
            self.checks.put(who, key, refused)
        if refused is not None:
            raise refused

    def _ask_upstream(
        self, who: Identity, repo_type: str, repo_id: str, sha: str
    ) -> ApiError | None:
        """The upstream access check with the client's own token: a ``HEAD`` of one file of the
        commit (gated repos show their metadata to everyone), or the repo info of an empty one."""
        try:
            m = self.manifest(repo_type, repo_id, sha, who)
        except ApiError as e:
            if e.status in (401, 403, 404):
                return e
            raise
        paths = sorted(m.commit.tree)
        if paths:
            method = "HEAD"
            target = f"/{prefix_of(repo_type)}{repo_id}/resolve/{sha}/{quote(paths[0])}"
        else:
            method, target = "GET", f"/api/{_repo_type_dir(repo_type)}/{repo_id}/revision/{sha}"
        last = "no upstream"
        for up in self.client.order():
            try:
                resp = self.client.request(up, method, target, stream=True, as_token=who.token)
            except (requests.RequestException, ProtocolError, OSError) as e:
                last = f"{up.url}: {type(e).__name__}"
                self.client.mark_down(up, last)
                continue
            with contextlib.closing(resp):
                status = resp.status_code
                if status >= 500 or status == 429:
                    last = f"{up.url} answered {status}"
                    self.client.mark_down(up, last)
                    continue
                self.client.mark_up(up)
                if status in (200, 206):
                    return None
                code = resp.headers.get("X-Error-Code") or "GatedRepo"
                msg = resp.headers.get("X-Error-Message") or f"The upstream refused {repo_id}"
                return ApiError(status if status in (401, 403, 404) else 403, msg[:500], code)
        raise self.upstream_failure(UpstreamError(last, protocol=False))

    # ------------------------------------------------------------------ store budget
    def touch(self, path: str) -> None:
        """A stored blob was served (its LRU time, with ``--max-size``)."""
        if self.evictor is not None:
            self.evictor.touch(path)

    def pinned_blobs(self) -> set[str]:
        """Names (sha256 or git sha1) of the blobs the pin file's refs reach now."""
        if self.config.pin_file:
            with contextlib.suppress(ValueError):  # keep the last good list
                self.pin_refs = load_pin_file(self.config.pin_file)
        out: set[str] = set()
        for repo_type, repo_id, rev in self.pin_refs:
            sha: str | None = rev if SHA1_RE.match(rev) else None
            if sha is None:
                with self._lock:
                    held = self.pins.get(f"{repo_type}/{repo_id}@{rev}")
                sha = held[0] if held else None
            m = self._load_manifest(repo_type, repo_id, sha) if sha else None
            if m is not None:
                out.update(e.sha256 or e.oid for e in m.commit.tree.values())
        return out

    # ------------------------------------------------------------------ pins
    def _load_pins(self) -> dict[str, tuple[str, float]]:
        out: dict[str, tuple[str, float]] = {}
        with contextlib.suppress(OSError, ValueError, TypeError):
            for k, (sha, t) in json.loads((self.dir / "pins.json").read_text()).items():
                if SHA1_RE.match(sha):
                    out[str(k)] = (sha, float(t))
        return out

    def _save_pins(self) -> None:
        with self._lock:
            data = json.dumps(self.pins, separators=(",", ":")).encode()
        self.store._atomic_write(self.dir / "pins.json", data)

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._pin_locks.setdefault(key, threading.Lock())

    def pin(self, who: Identity, repo_type: str, repo_id: str, rev: str) -> Pinned:
        """The commit ``rev`` names: a full sha as is (checked upstream once, unless stored);
        a branch, tag or PR ref resolved upstream at most once per ``revision_ttl`` (every file
        of a snapshot then comes from that commit). With every upstream down, an expired pin is
        used (``stale``). Then ``who``'s access to the repo is checked (``authorize``)."""
        validate_repo_id(repo_id)
        pinned = self._pin(who, repo_type, repo_id, rev)
        self.authorize(who, repo_type, repo_id, pinned.sha)
        return pinned

    def _pin(self, who: Identity, repo_type: str, repo_id: str, rev: str) -> Pinned:
        if SHA1_RE.match(rev):
            if (
                self.place.read_doc(self._info_file(repo_type, repo_id, rev)) is not None
                or self.place.read_doc(self._tree_file(repo_type, repo_id, rev)) is not None
            ):
                return Pinned(rev)
            if self.share and self.share.resolve(repo_type, repo_id, rev):
                return Pinned(rev)
            self.info_at(who, repo_type, repo_id, rev)
            return Pinned(rev)
        key = f"{repo_type}/{repo_id}@{rev}"
        with self._key_lock(key):
            now = time.time()
            with self._lock:
                held = self.pins.get(key)
            if held and now - held[1] < self.config.revision_ttl:
                return Pinned(held[0])
            if not self.has_upstream:
                sha = self.share.resolve(repo_type, repo_id, rev) if self.share else None
                if sha is None:
                    raise ApiError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
                return Pinned(sha)
            try:
                info, _, _ = self.client.get_json(
                    f"/api/{_repo_type_dir(repo_type)}/{repo_id}/revision/{quote(rev, safe='')}",
                    lambda v, up: validate.repo_info(v, repo_id, require_sha=True),
                    as_token=who.token,
                )
            except UpstreamError as e:
                if held is not None:
                    self.metrics.inc("stale_answers_total")
                    return Pinned(held[0], stale=True)
                shared = self.share.resolve(repo_type, repo_id, rev) if self.share else None
                if shared is not None:
                    return Pinned(shared, stale=True)
                raise self.upstream_failure(e) from None
            except UpstreamAnswer as e:
                raise self.upstream_failure(e) from None
            self.note_flags(repo_type, repo_id, info, latest=True)
            sha = info["sha"]
            self._save_info(repo_type, repo_id, sha, info)
            with self._lock:
                self.pins[key] = (sha, now)
            self._save_pins()
            return Pinned(sha)

    # ------------------------------------------------------------------ commit info
    def _commit_dir(self, repo_type: str, repo_id: str) -> Path:
        return self.dir / "commits" / repo_type / repo_id

    def _info_file(self, repo_type: str, repo_id: str, sha: str) -> Path:
        return self._commit_dir(repo_type, repo_id) / f"{sha}.info.json"

    def _tree_file(self, repo_type: str, repo_id: str, sha: str) -> Path:
        return self._commit_dir(repo_type, repo_id) / f"{sha}.tree.json"

    def _save_info(self, repo_type: str, repo_id: str, sha: str, info: dict[str, Any]) -> None:
        path = self._info_file(repo_type, repo_id, sha)
        if not path.exists():
            self.place.write_doc(path, json.dumps(info, separators=(",", ":")).encode())

    def info_at(self, who: Identity, repo_type: str, repo_id: str, sha: str) -> dict[str, Any]:
        """The plain repo info at commit ``sha`` (stored once fetched; access not checked)."""
        path = self._info_file(repo_type, repo_id, sha)
        stored: Any = None
        with contextlib.suppress(OSError, ValueError, TypeError):
            stored = json.loads(self.place.read_doc(path) or b"")
        if isinstance(stored, dict):
            self.note_flags(repo_type, repo_id, stored, latest=False)
            return stored
        if not self.has_upstream:
            return self.shared_info(repo_type, repo_id, sha)
        try:
            info, _, _ = self.client.get_json(
                f"/api/{_repo_type_dir(repo_type)}/{repo_id}/revision/{sha}",
                lambda v, up: validate.repo_info(v, repo_id, sha, require_sha=True),
                as_token=who.token,
            )
        except (UpstreamError, UpstreamAnswer) as e:
            if self.share and self.share.commit(repo_type, repo_id, sha):
                return self.shared_info(repo_type, repo_id, sha)
            raise self.upstream_failure(e) from None
        assert isinstance(info, dict)
        self.note_flags(repo_type, repo_id, info, latest=True)
        self._save_info(repo_type, repo_id, sha, info)
        return info

    def shared_info(
        self, repo_type: str, repo_id: str, sha: str, *, blobs: bool = False
    ) -> dict[str, Any]:
        """A repo info built from the shared cache (``--from-cache`` without upstream)."""
        m = self.manifest(repo_type, repo_id, sha)
        sibs: list[dict[str, Any]] = []
        for path, e in sorted(m.commit.tree.items()):
            s: dict[str, Any] = {"rfilename": path}
            if blobs:
                s.update(size=e.size, blobId=e.oid)
                if e.sha256:
                    s["lfs"] = {"sha256": e.sha256, "size": e.size, "pointerSize": 134}
            sibs.append(s)
        d: dict[str, Any] = {
            "_id": hashlib.sha1(f"{repo_type}/{repo_id}".encode()).hexdigest()[:24],
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": sha,
            "lastModified": None,
            "private": False,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": sibs,
        }
        if repo_type == "model":
            d["modelId"] = repo_id
        return d

    # ------------------------------------------------------------------ manifests
    def manifest(
        self, repo_type: str, repo_id: str, sha: str, who: Identity = ANONYMOUS
    ) -> Manifest:
        """Every file of commit ``sha`` with its size and hashes: the mirror's stored manifest, or
        the shared cache's full tree listing, or the upstream's recursive tree (validated and
        stored), or what a partial snapshot of the shared cache holds."""
        key = f"{repo_type}/{repo_id}@{sha}"
        with self._lock:
            m = self._manifests.get(key)
            if m is not None:
                self._manifests.move_to_end(key)
                return m
        shared = self.share.commit(repo_type, repo_id, sha) if self.share else None
        m = self._load_manifest(repo_type, repo_id, sha)
        if m is None and shared is not None and shared.complete:
            m = Manifest(_commit(sha, shared.tree), {})
        if m is None and self.has_upstream:
            try:
                m = self._walk_tree(repo_type, repo_id, sha, who.token)
            except (UpstreamError, UpstreamAnswer) as e:
                if shared is None:
                    raise self.upstream_failure(e) from None
        if m is None:
            if shared is None:
                raise ApiError(404, f"Invalid rev id: {sha}", "RevisionNotFound")
            m = Manifest(_commit(sha, shared.tree), {})
        m.shared = shared
        with self._lock:
            self._manifests[key] = m
            while len(self._manifests) > 256:
                self._manifests.popitem(last=False)
        return m

    def _load_manifest(self, repo_type: str, repo_id: str, sha: str) -> Manifest | None:
        try:
            raw = json.loads(self.place.read_doc(self._tree_file(repo_type, repo_id, sha)) or b"")
            tree = {p: Entry(v[0], v[1], v[2]) for p, v in raw["files"].items()}
            return Manifest(_commit(sha, tree), dict(raw["dirs"]))
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None

    def _walk_tree(self, repo_type: str, repo_id: str, sha: str, as_token: str | None) -> Manifest:
        """Walk the upstream's recursive tree of ``sha`` (all pages, one upstream)."""
        tree: dict[str, Entry] = {}
        dirs: dict[str, str] = {}

        def page(value: Any, up: Upstream) -> list[tuple[str, Entry | None, str]]:
            if not isinstance(value, list):
                raise ProtocolError("a tree page is not a list")
            return [validate.tree_item(v) for v in value]

        target: str | None = f"/api/{_repo_type_dir(repo_type)}/{repo_id}/tree/{sha}?recursive=true"
        only: Upstream | None = None
        pages = 0
        while target is not None:
            pages += 1
            if pages > MAX_PAGES:
                raise UpstreamError("the tree has too many pages", protocol=True)
            items, headers, only = self.client.get_json(target, page, only=only, as_token=as_token)
            for path, entry, oid in items:
                if entry is None:
                    dirs[path] = oid
                else:
                    tree[path] = entry
            try:
                target = next_link(headers)
            except ProtocolError as e:
                raise UpstreamError(str(e), protocol=True) from None
        clash = [p for p in tree if p in dirs]
        if clash:
            raise UpstreamError("a path is both a file and a folder", protocol=True)
        data = {"files": {p: [e.size, e.oid, e.sha256] for p, e in tree.items()}, "dirs": dirs}
        self.place.write_doc(
            self._tree_file(repo_type, repo_id, sha),
            json.dumps(data, separators=(",", ":")).encode(),
        )
        return Manifest(_commit(sha, tree), dirs)

    # ------------------------------------------------------------------ cached JSON
    def cached_json(
        self,
        key: str,
        target: str,
        check: Callable[[Any, Upstream], Any],
        *,
        method: str = "GET",
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        as_token: str | None = None,
    ) -> tuple[Any, str | None]:
        """A sha-addressed upstream answer (immutable): (value, next link path) kept for good."""
        name = hashlib.sha256(key.encode()).hexdigest()
        path = self.dir / "json" / name[:2] / f"{name}.json"
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            raw = json.loads(self.place.read_doc(path) or b"")
            return raw["body"], raw["link"]
        try:
            value, h, _ = self.client.get_json(
                target, check, method=method, data=data, headers=headers, as_token=as_token
            )
            link = next_link(h)
        except ProtocolError as e:
            raise self.upstream_failure(UpstreamError(str(e), protocol=True)) from None
        except (UpstreamError, UpstreamAnswer) as e:
            raise self.upstream_failure(e) from None
        self.place.write_doc(path, json.dumps({"body": value, "link": link}).encode())
        return value, link

    def brief_json(
        self,
        key: str,
        ttl: float,
        target: str,
        check: Callable[[Any, Upstream], Any],
        as_token: str | None = None,
    ) -> tuple[Any, str | None, bool]:
        """An upstream answer kept ``ttl`` seconds: (value, next link path, stale); an expired
        one is served (stale) while every upstream is down."""
        now = time.monotonic()
        with self._lock:
            held = self._brief.get(key)
        if held and now - held[0] < ttl:
            return held[1], held[2], False
        try:
            value, h, _ = self.client.get_json(target, check, as_token=as_token)
            link = next_link(h)
        except ProtocolError as e:
            raise self.upstream_failure(UpstreamError(str(e), protocol=True)) from None
        except UpstreamError as e:
            if held is not None:
                self.metrics.inc("stale_answers_total")
                return held[1], held[2], True
            raise self.upstream_failure(e) from None
        except UpstreamAnswer as e:
            raise self.upstream_failure(e) from None
        with self._lock:
            self._brief[key] = (now, value, link)
            if len(self._brief) > 4096:
                self._brief.clear()
        return value, link, False

    # ------------------------------------------------------------------ shared cache blobs
    def shared_blob(self, repo_type: str, repo_id: str, entry: Entry) -> Path | None:
        if self.share is None:
            return None
        d = self.share.repo_dir(repo_type, repo_id)
        if d is None:
            return None
        p = d / "blobs" / (entry.sha256 or entry.oid)
        try:
            if os.stat(p).st_size == entry.size:
                return p
        except OSError:
            return None
        return None


def _commit(sha: str, tree: dict[str, Entry]) -> Commit:
    return Commit(sha, [], "", "", "", "", tree)
