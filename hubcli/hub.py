"""`Hub`: the one handle for library users (download, upload, search, info, card, cache).

It holds the resolved settings and builds its HTTP session the first time a call needs one, so
cached and offline work never pays for (or needs) a network stack; every engine it calls gets
the same settings and the same session, so they cannot disagree. The CLI is built on it.

>>> from hubcli import Hub
>>> with Hub(endpoint="http://127.0.0.1:8080", cache_dir="/tmp/hf") as hub:  # doctest: +SKIP
...     path = hub.download("org/model").path
...     hub.cache.verify(["org/model"]).ok
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hubcli.config import Settings, resolve_settings
from hubcli.repo import RepoRef, parse_repo_ref

if TYPE_CHECKING:
    from hubcli.cache.bundle import BundleResult
    from hubcli.cache.bundle_import import ImportResult
    from hubcli.cache.clean import DedupPlan, DeletionPlan
    from hubcli.cache.listing import CacheListing, SortKey, SortOrder
    from hubcli.cache.verify import VerifyReport
    from hubcli.card import Card
    from hubcli.client import HubClient
    from hubcli.discover import SearchHit
    from hubcli.download.engine import DownloadResult
    from hubcli.download.repair import RepairResult
    from hubcli.http import HubSession
    from hubcli.models import RepoInfo
    from hubcli.progress import Progress
    from hubcli.upload.engine import UploadResult

RepoLike = str | RepoRef


class Hub:
    """A Hub endpoint and a local cache, with settings resolved once (arguments > env > defaults).

    ``Hub()`` reads the environment like the CLI does (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE,
    HF_HUB_OFFLINE, ...); arguments override it. Pass ``settings`` to use exactly those, or
    ``env`` to resolve against another environment mapping. Use it as a context manager (or call
    :meth:`close`) to release pooled connections.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        token: str | None = None,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        offline: bool | None = None,
        mirrors: Sequence[str] | None = None,
        max_workers: int | None = None,
        settings: Settings | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if settings is None:
            settings = resolve_settings(
                endpoint=endpoint,
                token=token,
                cache_dir=os.fspath(cache_dir) if cache_dir is not None else None,
                offline=offline,
                mirrors=list(mirrors) if mirrors else None,
                max_workers=max_workers,
                env=env,
            )
        elif any(
            v is not None for v in (endpoint, token, cache_dir, offline, mirrors, max_workers)
        ):
            raise ValueError("Hub(): pass either settings or individual arguments, not both")
        self.settings = settings
        self._session: HubSession | None = None
        self.cache = HubCache(self)

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def session(self) -> HubSession:
        """The pooled HTTP session, built on first use."""
        if self._session is None:
            from hubcli.http import HubSession

            self._session = HubSession(self.settings)
        return self._session

    @property
    def client(self) -> HubClient:
        """The typed JSON API over :attr:`session`."""
        from hubcli.client import HubClient

        return HubClient(self.session)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Hub(endpoint={self.settings.endpoint!r}, cache_dir={str(self.settings.cache_dir)!r})"
        )

    def ref(self, repo: RepoLike, repo_type: str | None = None) -> RepoRef:
        """``repo`` as a RepoRef (``org/name``, ``datasets/org/name``, ``hf://...@rev/path``)."""
        if isinstance(repo, RepoRef):
            return repo
        return parse_repo_ref(repo, repo_type, endpoint=self.settings.endpoint)

    # -- transfers ------------------------------------------------------------------------------
    def download(
        self,
        repo: RepoLike,
        files: Sequence[str] | None = None,
        *,
        revision: str | None = None,
        repo_type: str | None = None,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        local_dir: str | os.PathLike[str] | None = None,
        force: bool = False,
        dry_run: bool = False,
        max_workers: int | None = None,
        progress: Progress | None = None,
    ) -> DownloadResult:
        """Make ``repo`` (or some of its files) available offline; ``.path`` says where.

        A fully cached commit costs no request; offline, the cache alone answers.
        """
        from dataclasses import replace

        from hubcli.download.engine import download

        ref = self.ref(repo, repo_type)
        if revision:
            ref = replace(ref, revision=revision)
        return download(
            self.settings,
            lambda: self.session,
            ref,
            files=files,
            include=include,
            exclude=exclude,
            local_dir=os.fspath(local_dir) if local_dir is not None else None,
            force=force,
            dry_run=dry_run,
            max_workers=max_workers,
            progress=progress,
        )

    def upload(
        self,
        repo: RepoLike,
        path: str | os.PathLike[str] = ".",
        path_in_repo: str | None = None,
        *,
        repo_type: str | None = None,
        revision: str | None = None,
        commit_message: str | None = None,
        create_pr: bool = False,
        private: bool = False,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        delete: Iterable[str] = (),
        progress: Progress | None = None,
        dry_run: bool = False,
    ) -> UploadResult:
        """Upload a file or a folder (LFS where the Hub says so); resumable; no-op if unchanged.

        A bare repo name is the token user's; ``revision`` is a branch (not a tag or commit);
        ``dry_run`` reports added/changed/unchanged/deleted files and sends nothing."""
        from hubcli.upload.engine import plan_upload, upload

        ref = self.ref(repo, repo_type)
        plan = plan_upload(
            os.fspath(path),
            path_in_repo=path_in_repo or ref.path,
            include=list(include),
            exclude=list(exclude),
            delete=list(delete),
        )
        return upload(
            self.client,
            ref,
            plan,
            revision=revision or ref.revision,
            commit_message=commit_message,
            private=private,
            create_pr=create_pr,
            workers=self.settings.max_workers,
            state_dir=self.settings.state_dir / "upload-parts",
            hash_cache_dir=self.settings.state_dir / "upload-hashes",
            progress=progress,
            dry_run=dry_run,
        )

    # -- discovery ------------------------------------------------------------------------------
    def search(
        self,
        query: str | None = None,
        *,
        repo_type: str = "model",
        author: str | None = None,
        filters: Sequence[str] = (),
        task: str | None = None,
        sort: str | None = None,
        limit: int = 20,
    ) -> Iterator[SearchHit]:
        """Search lazily (pages are fetched as you iterate); ``limit=0`` means all."""
        from hubcli.discover import search

        return search(
            self.client,
            repo_type=repo_type,
            query=query,
            author=author,
            filters=list(filters),
            task=task,
            sort=sort,
            limit=limit,
        )

    def info(
        self,
        repo: RepoLike,
        *,
        revision: str | None = None,
        repo_type: str | None = None,
        files: bool = True,
    ) -> RepoInfo:
        """Repo metadata; with ``files`` every file's size and hash (``.files``)."""
        ref = self.ref(repo, repo_type)
        return self.client.repo_info(ref, revision=revision, files_metadata=files)

    def card(
        self, repo: RepoLike, *, revision: str | None = None, repo_type: str | None = None
    ) -> Card:
        """The parsed model card (YAML metadata + Markdown); from the cache when offline."""
        from hubcli.card import Card, parse_card
        from hubcli.discover import load_card_source

        ref = self.ref(repo, repo_type)
        rev = revision or ref.revision or "main"
        source = load_card_source(self.session, settings=self.settings, ref=ref, revision=rev)
        return parse_card(source.text) if source.text is not None else Card({}, "")


class HubCache:
    """The cache manager of a :class:`Hub` (``hub.cache``): list, verify, repair, clean, bundle."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    @property
    def dir(self) -> Path:
        return self._hub.settings.cache_dir

    def _refs(self, repos: Iterable[RepoLike] | None) -> list[RepoRef] | None:
        return None if repos is None else [self._hub.ref(r) for r in repos]

    def ls(
        self,
        *,
        per_revision: bool = False,
        filters: Sequence[str] = (),
        repo_type: str | None = None,
        sort: SortKey = "name",
        order: SortOrder | None = None,
        limit: int = 0,
    ) -> CacheListing:
        """Rows (one per repo, or per revision), filtered (``"accessed>30d"``), sorted, totals."""
        from hubcli.cache.listing import list_cache

        return list_cache(
            self.dir,
            per_revision=per_revision,
            filters=filters,
            repo_type=repo_type,
            sort=sort,
            order=order,
            limit=limit,
            tiers=self._hub.settings.cache_tiers,
        )

    def verify(
        self,
        repos: Iterable[RepoLike] | None = None,
        *,
        revision: str | None = None,
        online: bool = False,
    ) -> VerifyReport:
        """Re-hash blobs against their names and check every link (``online``: and the Hub's
        listing). Problems are in the report, never raised."""
        from hubcli.cache.verify import verify_cache

        return verify_cache(
            self.dir,
            repos=self._refs(repos),
            revision=revision,
            client=self._hub.client if online else None,
            workers=self._hub.settings.max_workers,
            tiers=self._hub.settings.cache_tiers,
        )

    def repair(
        self, repos: Iterable[RepoLike] | None = None, *, revision: str | None = None
    ) -> RepairResult:
        """Fetch again (verified) what :meth:`verify` flags, relink what links astray."""
        from hubcli.download.repair import repair_cache

        return repair_cache(
            self.dir, session=self._hub.session, repos=self._refs(repos), revision=revision
        )

    def rm(self, targets: Iterable[str], *, dry_run: bool = False) -> DeletionPlan:
        """Remove repos, ``repo@revision`` or ``repo@revision/path`` (blobs others use stay)."""
        from hubcli.cache.clean import execute_plan, plan_rm

        plan = plan_rm(self.dir, list(targets), tiers=self._hub.settings.cache_tiers)
        return plan if dry_run else execute_plan(plan)

    def prune(self, *, dry_run: bool = False) -> DeletionPlan:
        """Detached revisions, unreferenced blobs, stale partials, dangling links."""
        from hubcli.cache.clean import execute_plan, plan_prune

        plan = plan_prune(self.dir, tiers=self._hub.settings.cache_tiers)
        return plan if dry_run else execute_plan(plan)

    def dedup(self, *, dry_run: bool = False) -> DedupPlan:
        """Hard-link identical blobs across repos."""
        from hubcli.cache.clean import execute_dedup, plan_dedup

        plan = plan_dedup(self.dir)
        return plan if dry_run else execute_dedup(self.dir, plan)

    def export(
        self,
        targets: Iterable[str],
        output: str | os.PathLike[str],
        *,
        allow_incomplete: bool = False,
    ) -> BundleResult:
        """Pack repos or revisions (``org/x``, ``org/x@<commit>``) into a bundle for an
        air-gapped machine; a snapshot missing files of its listing is refused unless
        ``allow_incomplete`` (huggingface_hub would raise IncompleteSnapshotError there)."""
        from hubcli.cache.bundle import export_bundle

        return export_bundle(
            self.dir,
            list(targets),
            Path(output),
            allow_incomplete=allow_incomplete,
            endpoint=self._hub.settings.endpoint,
        )

    def import_bundle(self, bundle: str | os.PathLike[str]) -> ImportResult | BundleResult:
        """Verify a bundle and merge it into the cache, all or nothing."""
        from hubcli.cache.bundle import import_bundle

        return import_bundle(self.dir, Path(bundle))
