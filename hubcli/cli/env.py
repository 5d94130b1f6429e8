"""`hubcli env`: what hubcli sees of its environment (never the token itself)."""

from __future__ import annotations

import platform
import sys
from typing import Any

import typer

from hubcli import __version__
from hubcli.cli.common import JsonOpt
from hubcli.cli.context import AppState


def env(
    ctx: typer.Context,
    json_out: JsonOpt = False,
) -> None:
    """Show version, Python, platform, endpoint, cache dir, token source and offline mode."""
    state: AppState = ctx.obj
    s = state.settings
    info: dict[str, Any] = {
        "hubcli": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "endpoint": s.endpoint,
        "endpoint_source": s.endpoint_source,
        "hf_home": str(s.hf_home),
        "cache_dir": str(s.cache_dir),
        "cache_dir_source": s.cache_dir_source,
        "token_path": str(s.token_path),
        "token": s.masked_token,
        "token_source": s.token_source,
        "offline": s.offline,
        "offline_source": s.offline_source,
        "mirrors": list(s.mirrors),
        "state_dir": str(s.state_dir),
    }
    for name in (
        "max_workers",
        "partials",
        "connect_timeout",
        "read_timeout",
        "stall_window",
        "stall_min_rate",
        "metadata_deadline",
        "max_retry_wait",
        "max_attempts",
    ):
        info[name] = getattr(s, name)
        info[f"{name}_source"] = s.source(name)
    out = state.output(json_mode=json_out)

    def human() -> None:
        width = max(len(k) for k in info)
        for key, value in info.items():
            if isinstance(value, list):
                value = ", ".join(value) or "-"
            out.line(f"{key:<{width}}  {value if value is not None else '-'}")

    out.result(info, human)


def register(app: typer.Typer) -> None:
    app.command("env")(env)
