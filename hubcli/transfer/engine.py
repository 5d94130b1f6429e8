"""The transfer engine's face: :class:`Transfer` fetches one remote file into a verified partial.

It picks the path for each :class:`~hubcli.transfer.job.FetchJob`: a file at or above the range
threshold (or one with a ranged state file on disk) goes through parallel Range requests
(:mod:`~hubcli.transfer.ranged`), anything else through one resumable stream
(:mod:`~hubcli.transfer.sequential`). Either way the caller gets the partial only once it holds
exactly ``size`` bytes matching ``etag``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from hubcli.http import HubSession, Mirrors
from hubcli.progress import Progress
from hubcli.transfer.adaptive import MAX_STREAMS, START_STREAMS, Concurrency
from hubcli.transfer.job import DEFAULT_RANGE_THRESHOLD, FetchJob, FetchResult, auto_part_size
from hubcli.transfer.partial import state_path_for
from hubcli.transfer.ranged import RangedFetch
from hubcli.transfer.ratelimit import RATE_STREAMS
from hubcli.transfer.sequential import fetch_sequential
from hubcli.transfer.stream import Streams


class Transfer:
    """Moves bytes for one download run: pooled session, mirror order, ranges, resume, hashing.

    ``mirrors`` is the order in which relative resolve paths are tried (default: the endpoint,
    then the configured mirrors); the base that answers is tried first for the next requests.
    ``max_attempts`` (default ``settings.max_attempts``) caps attempts in a row without progress.
    ``part_size`` (default: :func:`~hubcli.transfer.job.auto_part_size` of each file) and
    ``range_workers`` (default: adaptive, :class:`~hubcli.transfer.adaptive.Concurrency`) shape
    ranged downloads.
    """

    def __init__(
        self,
        session: HubSession,
        *,
        mirrors: Mirrors | None = None,
        range_threshold: int = DEFAULT_RANGE_THRESHOLD,
        part_size: int | None = None,
        range_workers: int | None = None,
        max_attempts: int | None = None,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.session = session
        self.mirrors = mirrors or session.mirrors_order()
        self.range_threshold = max(1, range_threshold)
        self.part_size = None if part_size is None else max(1, part_size)
        self.range_workers = None if range_workers is None else max(1, range_workers)
        limit = session.settings.max_attempts if max_attempts is None else max_attempts
        self.streams = Streams(
            session,
            mirrors=self.mirrors,
            max_attempts=limit,
            progress=progress,
            cancel=cancel,
            sleep=sleep,
        )

    def concurrency(self) -> Concurrency:
        """Streams for one ranged download: fixed when ``range_workers`` was given."""
        if self.range_workers is not None:
            return Concurrency(self.range_workers, self.range_workers, fixed=True)
        if self.streams.bucket is not None:  # --limit-rate: more connections cannot beat it
            return Concurrency(RATE_STREAMS, RATE_STREAMS, fixed=True)
        return Concurrency(START_STREAMS, MAX_STREAMS)

    @property
    def max_attempts(self) -> int:
        return self.streams.max_attempts

    @property
    def served(self) -> list[str]:
        """Every base that served a file body in this run."""
        return self.mirrors.served

    def fetch(self, job: FetchJob) -> FetchResult:
        """Fetch ``job.target`` (a relative resolve path or a URL) into ``job.tmp``, verified.

        On return ``job.tmp`` holds exactly ``job.size`` bytes matching ``job.etag``. A hash or
        size mismatch deletes the bytes and raises IntegrityError; network failures raise
        NetworkError and keep the partial file for the next run; disk errors raise
        LocalFileError (UnsafePathError for a link planted at the partial's name).
        """
        result = FetchResult()
        progress = self.streams.progress
        progress.file_start(job.key, label=job.label, size=job.size)
        try:
            job.tmp.parent.mkdir(parents=True, exist_ok=True)
            part_size = self.part_size or auto_part_size(job.size)
            use_ranges = job.size >= self.range_threshold and job.size > part_size
            if state_path_for(job.tmp).exists() or use_ranges:
                ranged = RangedFetch(
                    self.streams, part_size=part_size, streams_budget=self.concurrency()
                )
                ranged.run(job, result)
            else:
                fetch_sequential(self.streams, job, result)
        finally:
            progress.file_done(job.key)
        result.served_by = self.mirrors.first
        return result
