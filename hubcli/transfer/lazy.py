"""The network side of a run, built on first use and shared by its worker threads.

A download or a lock sync served wholly from the cache (or a tier) must not pay for the HTTP
stack: the session comes from a factory called by the first file that needs a byte, and one
:class:`~hubcli.transfer.engine.Transfer` over it serves every file after that. Both are built
under one lock, so worker threads racing to the first fetch build them once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubcli.http.session import HubSession
    from hubcli.progress import Progress
    from hubcli.transfer.engine import Transfer


class LazyTransfer:
    """``session``: a live session, a factory, or None (then any fetch is a programming error,
    reported with ``what``). ``first``: the mirror to try first; ``transfer_args`` go to
    :class:`Transfer` (part size, range threshold, workers, attempts)."""

    def __init__(
        self,
        session: HubSession | Callable[[], HubSession] | None,
        *,
        what: str,
        progress: Progress,
        cancel: threading.Event,
        first: str | None = None,
        **transfer_args: Any,
    ) -> None:
        self._source = session
        self._what = what
        self._progress = progress
        self._cancel = cancel
        self._first = first
        self._args = transfer_args
        self._lock = threading.Lock()
        self._session: HubSession | None = None
        self._transfer: Transfer | None = None

    def session(self) -> HubSession:
        with self._lock:
            return self._live()

    def _live(self) -> HubSession:
        if self._session is None:
            if self._source is None:
                raise ValueError(f"{self._what}: a session is needed to fetch files.")
            self._session = self._source() if callable(self._source) else self._source
        return self._session

    def transfer(self) -> Transfer:
        with self._lock:
            if self._transfer is None:
                live = self._live()
                from hubcli.transfer.engine import Transfer  # the HTTP stack, only when fetching

                self._transfer = Transfer(
                    live,
                    mirrors=live.mirrors_order(first=self._first),
                    progress=self._progress,
                    cancel=self._cancel,
                    **self._args,
                )
            return self._transfer

    @property
    def served(self) -> list[str]:
        """The mirrors that served bytes (empty when nothing was fetched)."""
        return list(self._transfer.served) if self._transfer is not None else []
