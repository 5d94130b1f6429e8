"""Per-invocation state: resolved settings and a lazily built session and client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubcli.config import Settings, resolve_settings

if TYPE_CHECKING:
    from hubcli.cli.output import Output
    from hubcli.client import HubClient
    from hubcli.http import HubSession
    from hubcli.hub import Hub


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class AppState:
    """What the flags resolved to; commands ask it for a session or client when needed.

    ``flags`` keeps the global flags as typed; a command's own flags make a new state through
    :meth:`with_flags`, which resolves everything again through :func:`resolve_settings`, so a
    value set before or after the subcommand is normalised the same way and env never beats a flag.
    """

    settings: Settings
    color: str = "auto"
    flags: tuple[tuple[str, Any], ...] = ()
    _lazy: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_flags(cls, **flags: Any) -> AppState:
        color = flags.pop("color", "auto")
        given = tuple((k, _frozen(v)) for k, v in flags.items() if v not in (None, "", (), []))
        return cls(settings=resolve_settings(**dict(given)), color=color, flags=given)

    def with_flags(self, **flags: Any) -> AppState:
        """A new state with a command's own flags on top of the global ones (unset ones ignored)."""
        merged = dict(self.flags)
        merged.update(
            (k, _frozen(v)) for k, v in flags.items() if v not in (None, "", (), [], False)
        )
        given = tuple(merged.items())
        if given == self.flags:
            return self
        return AppState(settings=resolve_settings(**merged), color=self.color, flags=given)

    @property
    def hub(self) -> Hub:
        """The library handle every command works through (one session per run)."""
        if "hub" not in self._lazy:
            from hubcli.hub import Hub

            self._lazy["hub"] = Hub(settings=self.settings)
        hub: Hub = self._lazy["hub"]
        return hub

    def session(self) -> HubSession:
        return self.hub.session

    def client(self) -> HubClient:
        return self.hub.client

    def output(self, *, json_mode: bool = False, quiet: bool = False) -> Output:
        from hubcli.cli.output import Output

        return Output(json_mode=json_mode, quiet=quiet, color=self.color)
