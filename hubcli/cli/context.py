"""Per-invocation state: resolved settings and a lazily built session and client."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.config import Settings, resolve_settings

if TYPE_CHECKING:
    from hubcli.cli.output import Output
    from hubcli.client import HubClient
    from hubcli.http import HubSession


@dataclass
class AppState:
    """What the global flags resolved to; commands ask it for a session or client when needed."""

    settings: Settings
    color: str = "auto"
    _session: HubSession | None = field(default=None, repr=False)

    @classmethod
    def from_flags(cls, **flags: Any) -> AppState:
        color = flags.pop("color", "auto")
        return cls(settings=resolve_settings(**flags), color=color)

    def override(
        self,
        *,
        cache_dir: Path | str | None = None,
        offline: bool | None = None,
        token: str | None = None,
        endpoint: str | None = None,
        mirrors: list[str] | tuple[str, ...] | None = None,
    ) -> Settings:
        """Apply a command's own flags on top of the global ones (flags still beat env)."""
        s = self.settings
        if cache_dir:
            s = replace(s, cache_dir=Path(cache_dir).expanduser(), cache_dir_source="flag")
        if offline:
            s = replace(s, offline=True, offline_source="flag")
        if token:
            s = replace(s, token=token.strip(), token_source="flag")
        if endpoint:
            s = replace(s, endpoint=endpoint.rstrip("/"), endpoint_source="flag")
        if mirrors:
            s = replace(s, mirrors=tuple(m.rstrip("/") for m in mirrors))
        self.settings = s
        self._session = None
        return s

    def session(self) -> HubSession:
        if self._session is None:
            from hubcli.http import HubSession

            self._session = HubSession(self.settings)
        return self._session

    def client(self) -> HubClient:
        from hubcli.client import HubClient

        return HubClient(self.session())

    def output(self, *, json_mode: bool = False, quiet: bool = False) -> Output:
        from hubcli.cli.output import Output

        return Output(json_mode=json_mode, quiet=quiet, color=self.color)
