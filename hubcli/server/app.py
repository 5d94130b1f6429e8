"""The HubServer: builds the shared state, hands the router to the transport (``uvserver``:
uvicorn running ``asgi.HubAsgi`` on an API listener and a separate "CDN" listener, in a background
thread), and offers seeding helpers for tests and benchmarks.

Usage from Python::

    with HubServer(root=tmpdir, tokens={"hf_alice_token": "alice"}) as srv:
        srv.seed_repo("alice/m", {"config.json": "{}"})
        print(srv.url, srv.cdn_url)

LFS downloads are redirected (302) to the CDN listener, a second port, i.e. a different origin, so
clients must drop the Authorization header when following them.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.server.knobs import Knobs, RequestLog
from hubcli.server.limits import Limits
from hubcli.server.request import Request
from hubcli.server.response import Response
from hubcli.server.router import route
from hubcli.server.signing import load_or_create_secret
from hubcli.server.state import HubState
from hubcli.server.storage import FileOp, Repo, Storage, StorageError, validate_path
from hubcli.server.uploads import close_sessions, load_sessions
from hubcli.server.views import is_lfs_path

if TYPE_CHECKING:
    from hubcli.server.uvserver import UvicornServer

_KNOB_NAMES = (
    "latency_ms",
    "bandwidth_mbps",
    "upload_bandwidth_mbps",
    "fail_rate",
    "lfs_threshold",
    "multipart_threshold",
    "multipart_chunk_size",
    "page_size",
)


class HubServer:
    """A local Hub-compatible server running in background threads."""

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        cdn_port: int = 0,
        tokens: dict[str, str] | None = None,
        log_path: str | Path | None = None,
        seed: int | None = None,
        limits: Limits | None = None,
        secret_file: str | Path | None = None,
        storage: Storage | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        **knobs: Any,
    ) -> None:
        """``root``: the storage directory (a ``file://`` store); ``storage``: an opened store
        instead (``hubcli.server.store.open_storage``, e.g. S3), whose scratch directory is
        removed on stop. ``tls_cert``/``tls_key``: PEM files; both listeners then speak HTTPS."""
        if storage is not None and root is not None:
            raise TypeError("give root or storage, not both")
        self._own_root = root is None
        if storage is not None:
            self.root = storage.root
        else:
            self.root = (
                Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="hubcli-serve-"))
            )
            self.root.mkdir(parents=True, exist_ok=True)
        self.host = host
        if (tls_cert is None) != (tls_key is None):
            raise TypeError("give both tls_cert and tls_key, or neither")
        self._tls = (str(tls_cert), str(tls_key)) if tls_cert and tls_key else None
        self._port = port
        self._cdn_port = cdn_port
        k = Knobs(seed=seed)
        for name, value in knobs.items():
            if name not in _KNOB_NAMES:
                raise TypeError(f"unknown knob {name!r}")
            setattr(k, name, value)
        secret = load_or_create_secret(secret_file) if secret_file is not None else None
        self.state = HubState(
            storage if storage is not None else Storage(self.root),
            k,
            RequestLog(Path(log_path) if log_path else None),
            tokens or {},
            limits=limits,
            secret=secret,
        )
        load_sessions(self.state)  # multipart uploads left open by an earlier run
        self._uv: UvicornServer | None = None
        # what answers requests: the own-hub router, or a mirror's (``hubcli.server.mirror``)
        self.router: Callable[[Request], Response] = route
        self.on_stop: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> HubServer:
        if self.host not in ("0.0.0.0", "::", ""):
            self.state.default_host = self.host
        from hubcli.server.uvserver import UvicornServer  # uvicorn only when serving

        if self._tls is not None:
            self.state.scheme = "https"
        self._uv = UvicornServer(
            self.state, self.router, self.host, self._port, self._cdn_port, self._tls
        )
        self._uv.start()
        return self

    def stop(self) -> None:
        """Stop accepting, let answers in flight finish (``Limits.shutdown_grace``), close."""
        if self._uv is not None:
            self._uv.stop()
            self._uv = None
        for hook in self.on_stop:
            hook()
        close_sessions(self.state)
        self.state.storage.close()
        self.state.log.close()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.state.origin_for(None, cdn=False)

    @property
    def cdn_url(self) -> str:
        return self.state.origin_for(None, cdn=True)

    @property
    def storage(self) -> Storage:
        return self.state.storage

    # ------------------------------------------------------------------ knobs / log
    def set_knobs(self, *, seed: int | None = None, **knobs: Any) -> None:
        for name, value in knobs.items():
            if name not in _KNOB_NAMES:
                raise TypeError(f"unknown knob {name!r}")
            setattr(self.state.knobs, name, value)
        if seed is not None:
            self.state.knobs.reseed(seed)

    @property
    def lfs_threshold(self) -> int:
        return self.state.knobs.lfs_threshold

    @lfs_threshold.setter
    def lfs_threshold(self, value: int) -> None:
        self.state.knobs.lfs_threshold = value

    @property
    def page_size(self) -> int:
        return self.state.knobs.page_size

    @page_size.setter
    def page_size(self, value: int) -> None:
        self.state.knobs.page_size = value

    def requests(self, settle: float = 0.5) -> list[dict[str, Any]]:
        """The request log, after waiting up to ``settle`` s for requests being answered (a
        client can hold a response's last byte before its log entry is written)."""
        return self.state.log.items(settle)

    def clear_requests(self) -> None:
        self.state.log.clear()

    # ------------------------------------------------------------------ users
    def add_token(self, token: str, user: str) -> None:
        self.state.tokens[token] = user

    def add_org(self, org: str, members: list[str]) -> None:
        self.state.orgs.setdefault(org, set()).update(members)

    # ------------------------------------------------------------------ seeding
    def _repo(self, repo_id: str, repo_type: str) -> Repo:
        repo = self.storage.get_repo(repo_type, repo_id)
        if repo is None:
            raise KeyError(f"{repo_type} repo {repo_id} not found")
        return repo

    def seed_repo(
        self,
        repo_id: str,
        files: dict[str, bytes | str],
        *,
        repo_type: str = "model",
        private: bool = False,
        gated: bool | str = False,
        branch: str = "main",
        message: str = "seed",
        tags: list[str] | None = None,
        owner: str | None = None,
        downloads: int = 0,
        likes: int = 0,
        created_at: str | None = None,
    ) -> str:
        """Create the repo if missing and commit ``files`` on ``branch``; return the commit sha."""
        st = self.storage
        repo = st.get_repo(repo_type, repo_id)
        meta: dict[str, Any] = {
            "private": private,
            "gated": ("auto" if gated is True else gated) or False,
            "downloads": downloads,
            "likes": likes,
            "owner": owner or repo_id.split("/")[0],
        }
        if created_at:
            meta["createdAt"] = created_at
        if repo is None:
            repo = st.create_repo(repo_type, repo_id, meta)
        else:
            repo.meta.update(meta)
            st.save_meta(repo)
        head = st.resolve_rev(repo, branch)
        prev = st.get_commit(repo, head) if head else None
        gitattr = files.get(".gitattributes")
        if gitattr is None and prev is not None and ".gitattributes" in prev.tree:
            gitattr = st.read_blob(prev.tree[".gitattributes"])
        ga_text = gitattr.decode() if isinstance(gitattr, bytes) else gitattr
        ops: list[FileOp] = []
        for path, content in files.items():
            path = validate_path(path)
            data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            if is_lfs_path(path, len(data), self.lfs_threshold, ga_text):
                entry = st.put_lfs_bytes(data)
            else:
                entry = st.put_regular(data)
            ops.append(FileOp("add", path, entry))
        if head is None and repo.refs["heads"] and branch not in repo.refs["heads"]:
            main = repo.refs["heads"].get("main") or next(iter(repo.refs["heads"].values()))
            st.set_ref(repo, "heads", branch, main)
        commit, _ = st.commit(repo, branch, ops, author=meta["owner"], title=message)
        for tag in tags or []:
            st.set_ref(repo, "tags", tag, commit.id)
        return commit.id

    def create_branch(
        self, repo_id: str, branch: str, from_rev: str = "main", repo_type: str = "model"
    ) -> str:
        repo = self._repo(repo_id, repo_type)
        sha = self.storage.resolve_rev(repo, from_rev)
        if sha is None:
            raise StorageError(404, f"Invalid rev id: {from_rev}", "RevisionNotFound")
        self.storage.set_ref(repo, "heads", branch, sha)
        return sha

    def create_tag(
        self, repo_id: str, tag: str, revision: str = "main", repo_type: str = "model"
    ) -> str:
        repo = self._repo(repo_id, repo_type)
        sha = self.storage.resolve_rev(repo, revision)
        if sha is None:
            raise StorageError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        self.storage.set_ref(repo, "tags", tag, sha)
        return sha

    def grant_access(self, repo_id: str, user: str, repo_type: str = "model") -> None:
        repo = self._repo(repo_id, repo_type)
        granted = set(repo.meta.get("granted", []))
        granted.add(user)
        repo.meta["granted"] = sorted(granted)
        self.storage.save_meta(repo)

    def set_repo_meta(self, repo_id: str, repo_type: str = "model", **meta: Any) -> None:
        """Change stored metadata (private, gated, disabled, downloads, likes, ...)."""
        repo = self._repo(repo_id, repo_type)
        repo.meta.update(meta)
        self.storage.save_meta(repo)

    def read_file(
        self, repo_id: str, path: str, revision: str = "main", repo_type: str = "model"
    ) -> bytes:
        """Read a file's bytes straight from storage (for assertions)."""
        repo = self._repo(repo_id, repo_type)
        sha = self.storage.resolve_rev(repo, revision)
        commit = self.storage.get_commit(repo, sha) if sha else None
        if commit is None or path not in commit.tree:
            raise FileNotFoundError(path)
        return self.storage.read_blob(commit.tree[path])

    def head(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> str | None:
        return self.storage.resolve_rev(self._repo(repo_id, repo_type), revision)
