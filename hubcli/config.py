"""Settings: flags > environment > defaults, resolved once, each value knowing its source."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "true", "yes", "on"}


def env_flag(value: str | None) -> bool:
    """Return True for the ecosystem's truthy strings (1/true/yes/on, any case)."""
    return value is not None and value.strip().lower() in _TRUE


def _expand(path: str) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(path)))


@dataclass(frozen=True)
class Settings:
    """Everything hubcli needs to know about its environment, resolved once."""

    endpoint: str = DEFAULT_ENDPOINT
    endpoint_source: str = "default"
    token: str | None = None
    token_source: str = "none"
    hf_home: Path = field(default_factory=lambda: Path.home() / ".cache" / "huggingface")
    token_path: Path = field(
        default_factory=lambda: Path.home() / ".cache" / "huggingface" / "token"
    )
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "huggingface" / "hub")
    cache_dir_source: str = "default"
    offline: bool = False
    offline_source: str = "default"
    mirrors: tuple[str, ...] = ()
    debug: bool = False
    disable_symlinks: bool = False
    # Liveness (docs/security.md): a body or answer slower than ``stall_min_rate`` bytes/s over
    # ``stall_window`` seconds is a stall; a metadata call (JSON answer) has ``metadata_deadline``
    # seconds overall; a 429/503 asking to wait longer than ``max_retry_wait`` fails at once;
    # ``max_attempts`` attempts in a row without progress end a transfer.
    stall_window: float = 30.0
    stall_min_rate: int = 1024
    metadata_deadline: float = 60.0
    max_retry_wait: float = 60.0
    max_attempts: int = 3
    # Partial files: "auto" (process-unique on network filesystems whose locks may lie),
    # "shared" (``<etag>.incomplete``, resumable across runs) or "unique".
    partials: str = "auto"
    # Transfers: parallel files / parts, and the socket timeouts of every request.
    max_workers: int = 8
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # hubcli's own state (upload part ETags, remembered hashes): ``$HF_HOME/hubcli``.
    state_dir: Path = field(
        default_factory=lambda: Path.home() / ".cache" / "huggingface" / "hubcli"
    )
    # Team caches (docs/cache.md): read-only tiers consulted before ``cache_dir``; a size budget
    # applied after each download, evicting only revisions unused for ``cache_min_age`` seconds
    # and never one pinned by a lock file of ``keep_locked``; a rate cap (bytes/s) per run.
    # Sizes, ages and rates as written (``50GB``, ``1d``, ``5MB``): read by hubcli.units where used.
    cache_tiers: tuple[Path, ...] = ()
    cache_max_size: str | None = None
    cache_min_age: str = "1d"
    keep_locked: tuple[Path, ...] = ()
    limit_rate: str | None = None
    # Where each of the settings above came from ("flag", "env:NAME" or "default").
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def masked_token(self) -> str | None:
        return mask_token(self.token)

    def source(self, name: str) -> str:
        """Where the setting ``name`` came from: "flag", "env:NAME" or "default"."""
        explicit = getattr(self, f"{name}_source", None)
        if isinstance(explicit, str):
            return explicit
        return self.sources.get(name, "default")


def mask_token(token: str | None) -> str | None:
    """Show at most a prefix and the last four characters: ``hf_****abcd``."""
    if not token:
        return None
    prefix = "hf_" if token.startswith("hf_") else ""
    tail = token[-4:] if len(token) >= 12 else ""
    return f"{prefix}****{tail}"


def normalize_endpoint(url: str) -> str:
    return url.strip().rstrip("/")


def read_token_file(path: Path) -> str | None:
    """Read a token file as huggingface_hub does: strip CR/LF and spaces; empty means none."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return None
    except OSError:
        return None
    token = text.replace("\r", "").replace("\n", "").strip()
    return token or None


def _env_number(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float,
    sources: dict[str, str] | None = None,
    key: str = "",
) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if sources is not None and key:
        sources[key] = f"env:{name}"
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= minimum:  # also refuses NaN
        from hubcli.errors import UsageError

        raise UsageError(f"{name}={raw!r}: expected a number >= {minimum:g}.")
    return value


def resolve_settings(
    *,
    endpoint: str | None = None,
    token: str | None = None,
    cache_dir: str | Path | None = None,
    offline: bool | None = None,
    mirrors: tuple[str, ...] | list[str] | None = None,
    debug: bool | None = None,
    max_workers: int | None = None,
    limit_rate: str | int | None = None,
    cache_tiers: tuple[str, ...] | list[str] | None = None,
    keep_locked: tuple[str, ...] | list[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings: explicit flags, then ``env`` (default ``os.environ``), then defaults.

    Every layer that sets a value goes through here (global flags, a command's own flags, the
    library's ``Hub(...)`` arguments), so each value is normalised the same way wherever it
    comes from: endpoints lose surrounding spaces and trailing ``/``, paths expand ``~`` and
    ``$VAR``, an empty string counts as not given.
    """
    env = os.environ if env is None else env
    sources: dict[str, str] = {}

    if endpoint and endpoint.strip():
        ep, ep_src = normalize_endpoint(endpoint), "flag"
    elif env.get("HF_ENDPOINT"):
        ep, ep_src = normalize_endpoint(env["HF_ENDPOINT"]), "env:HF_ENDPOINT"
    else:
        ep, ep_src = DEFAULT_ENDPOINT, "default"

    if env.get("HF_HOME"):
        hf_home = _expand(env["HF_HOME"])
    elif env.get("XDG_CACHE_HOME"):
        hf_home = _expand(env["XDG_CACHE_HOME"]) / "huggingface"
    else:
        hf_home = Path(env.get("HOME") or str(Path.home())) / ".cache" / "huggingface"

    token_path = _expand(env["HF_TOKEN_PATH"]) if env.get("HF_TOKEN_PATH") else hf_home / "token"

    tok: str | None
    if token and token.strip():
        tok, tok_src = token.strip(), "flag"
    elif env.get("HF_TOKEN", "").strip():
        tok, tok_src = env["HF_TOKEN"].strip(), "env:HF_TOKEN"
    elif env.get("HUGGING_FACE_HUB_TOKEN", "").strip():
        tok, tok_src = env["HUGGING_FACE_HUB_TOKEN"].strip(), "env:HUGGING_FACE_HUB_TOKEN"
    else:
        file_tok = read_token_file(token_path)
        tok, tok_src = (file_tok, f"file:{token_path}") if file_tok else (None, "none")

    if cache_dir and str(cache_dir).strip():
        cdir, c_src = _expand(str(cache_dir).strip()), "flag"
    elif env.get("HF_HUB_CACHE"):
        cdir, c_src = _expand(env["HF_HUB_CACHE"]), "env:HF_HUB_CACHE"
    elif env.get("HUGGINGFACE_HUB_CACHE"):
        cdir, c_src = _expand(env["HUGGINGFACE_HUB_CACHE"]), "env:HUGGINGFACE_HUB_CACHE"
    else:
        cdir, c_src = hf_home / "hub", "default"

    if offline:
        off, off_src = True, "flag"
    elif env_flag(env.get("HF_HUB_OFFLINE")):
        off, off_src = True, "env:HF_HUB_OFFLINE"
    elif env_flag(env.get("TRANSFORMERS_OFFLINE")):
        off, off_src = True, "env:TRANSFORMERS_OFFLINE"
    else:
        off, off_src = False, "default"

    if mirrors:
        mir = tuple(normalize_endpoint(m) for m in mirrors if m.strip())
    else:
        mir = tuple(
            normalize_endpoint(m) for m in env.get("HUBCLI_MIRRORS", "").split(",") if m.strip()
        )

    dbg = bool(debug) or env_flag(env.get("HUBCLI_DEBUG"))

    def num(name: str, default: float, minimum: float, key: str) -> float:
        return _env_number(env, name, default, minimum=minimum, sources=sources, key=key)

    if max_workers is not None:
        if max_workers < 1:
            from hubcli.errors import UsageError

            raise UsageError(f"--max-workers {max_workers}: use 1 or more.")
        workers, sources["max_workers"] = max_workers, "flag"
    else:
        workers = int(num("HUBCLI_MAX_WORKERS", 8, 1, "max_workers"))

    if env.get("HUBCLI_STATE_DIR", "").strip():
        state_dir = _expand(env["HUBCLI_STATE_DIR"].strip())
        sources["state_dir"] = "env:HUBCLI_STATE_DIR"
    else:
        state_dir = hf_home / "hubcli"

    partials = env.get("HUBCLI_PARTIALS", "").strip().lower() or "auto"
    if partials != "auto":
        sources["partials"] = "env:HUBCLI_PARTIALS"
    if partials not in ("auto", "shared", "unique"):
        from hubcli.errors import UsageError

        raise UsageError(f"HUBCLI_PARTIALS={partials!r}: use auto, shared or unique.")

    team = _team_settings(
        env, sources, limit_rate=limit_rate, cache_tiers=cache_tiers, keep_locked=keep_locked
    )

    return Settings(
        endpoint=ep,
        endpoint_source=ep_src,
        token=tok,
        token_source=tok_src,
        hf_home=hf_home,
        token_path=token_path,
        cache_dir=cdir,
        cache_dir_source=c_src,
        offline=off,
        offline_source=off_src,
        mirrors=mir,
        debug=dbg,
        disable_symlinks=env_flag(env.get("HF_HUB_DISABLE_SYMLINKS")),
        stall_window=num("HUBCLI_STALL_WINDOW", 30.0, 0.05, "stall_window"),
        stall_min_rate=int(num("HUBCLI_STALL_MIN_RATE", 1024, 0, "stall_min_rate")),
        metadata_deadline=num("HUBCLI_METADATA_TIMEOUT", 60.0, 0.05, "metadata_deadline"),
        max_retry_wait=num("HUBCLI_MAX_RETRY_WAIT", 60.0, 0, "max_retry_wait"),
        max_attempts=int(num("HUBCLI_MAX_ATTEMPTS", 3, 1, "max_attempts")),
        partials=partials,
        max_workers=workers,
        connect_timeout=num("HUBCLI_CONNECT_TIMEOUT", 10.0, 0.05, "connect_timeout"),
        read_timeout=num("HF_HUB_DOWNLOAD_TIMEOUT", 60.0, 0.05, "read_timeout"),
        state_dir=state_dir,
        sources=sources,
        **team,
    )


def _paths(text: str) -> tuple[Path, ...]:
    return tuple(_expand(p.strip()) for p in text.split(os.pathsep) if p.strip())


def _team_settings(
    env: Mapping[str, str],
    sources: dict[str, str],
    *,
    limit_rate: str | int | None,
    cache_tiers: tuple[str, ...] | list[str] | None,
    keep_locked: tuple[str, ...] | list[str] | None,
) -> dict[str, Any]:
    """Tiers, budget, pinned lock files and the rate cap (flags > environment > defaults).

    Sizes, ages and rates stay as written: :mod:`hubcli.units` (a sibling of this module) reads
    them where they are used (``cache_budget_values``, the transfer engine), as usage errors."""
    out: dict[str, Any] = {}
    if cache_tiers:
        out["cache_tiers"] = tuple(_expand(str(t)) for t in cache_tiers if str(t).strip())
        sources["cache_tiers"] = "flag"
    elif env.get("HUBCLI_CACHE_TIERS", "").strip():
        out["cache_tiers"] = _paths(env["HUBCLI_CACHE_TIERS"])
        sources["cache_tiers"] = "env:HUBCLI_CACHE_TIERS"
    if keep_locked:
        out["keep_locked"] = tuple(_expand(str(k)) for k in keep_locked if str(k).strip())
        sources["keep_locked"] = "flag"
    elif env.get("HUBCLI_KEEP_LOCKED", "").strip():
        out["keep_locked"] = _paths(env["HUBCLI_KEEP_LOCKED"])
        sources["keep_locked"] = "env:HUBCLI_KEEP_LOCKED"
    for key, name in (
        ("cache_max_size", "HUBCLI_CACHE_MAX_SIZE"),
        ("cache_min_age", "HUBCLI_CACHE_MIN_AGE"),
    ):
        if env.get(name, "").strip():
            out[key] = env[name].strip()
            sources[key] = f"env:{name}"
    if limit_rate is not None and str(limit_rate).strip():
        out["limit_rate"] = str(limit_rate).strip()
        sources["limit_rate"] = "flag"
    elif env.get("HUBCLI_LIMIT_RATE", "").strip():
        out["limit_rate"] = env["HUBCLI_LIMIT_RATE"].strip()
        sources["limit_rate"] = "env:HUBCLI_LIMIT_RATE"
    return out
