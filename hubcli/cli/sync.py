"""The ``sync`` command: make the cache (and local-dir targets) match ``hubcli.lock``.

Plain ``sync`` re-locks first when the lock is missing or stale (like ``uv sync``);
``--locked`` refuses a stale lock (exit 9), ``--frozen`` uses the lock as it is without
looking at the input, ``--offline`` never touches the network (a missing file is exit 7). The
engine is :func:`hubcli.lock.sync.sync_lock`.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hubcli.cli.common import (
    CacheDirOpt,
    CacheTierOpt,
    JsonOpt,
    LimitRateOpt,
    MaxWorkersOpt,
    QuietOpt,
    check_limit_rate,
    max_workers,
)
from hubcli.cli.output import plural
from hubcli.units import human_size

if TYPE_CHECKING:
    from hubcli.cli.context import AppState
    from hubcli.lock.lockfile import LockFile
    from hubcli.lock.sync import SyncResult


def _policy(lock: LockFile, deny: list[str]) -> None:
    """Refuse (exit 2, :class:`hubcli.lock.policy.PolicyError`) a lock holding a denied kind,
    before anything is downloaded."""
    if not deny:
        return
    policy = importlib.import_module("hubcli.lock.policy")
    policy.enforce(lock, deny)


def _summary(result: SyncResult) -> str:
    parts = [f"{result.count('downloaded')} downloaded ({human_size(result.fetched_bytes)})"]
    for status in ("cached", "verified", "deduplicated", "tier"):
        if result.count(status):
            parts.append(f"{result.count(status)} {status}")
    files = sum(len(r.repo.files) for r in result.repos)
    return (
        f"synced {plural(len(result.repos), 'repo')}, {plural(files, 'file')}: "
        + ", ".join(parts)
        + f" in {result.elapsed:.1f}s"
    )


def _load(
    state: AppState,
    start: Path,
    *,
    locked: bool,
    frozen: bool,
    offline: bool,
    deny: list[str],
) -> tuple[LockFile, Path, Path, bool, list[str]]:
    """The lock to sync (re-locked first when plain sync finds it missing or stale), its path,
    the project root, whether it was re-locked, and the deny list (input's + ``--deny``)."""
    from hubcli.errors import LockOutOfDateError, OfflineError
    from hubcli.lock.lockfile import read_lock, write_lock
    from hubcli.lock.project import find_input, load_project, stale_reason

    input_path = find_input(start)
    if input_path is None and frozen:  # --frozen needs only the lock (in the start folder)
        here = start.absolute()
        found = [d / "hubcli.lock" for d in (here, *here.parents) if (d / "hubcli.lock").is_file()]
        lock_path = found[0] if found else here / "hubcli.lock"
        return read_lock(lock_path), lock_path, lock_path.parent, False, list(dict.fromkeys(deny))
    from hubcli.lock.project import find_project

    proj = find_project(start) if input_path is None else load_project(input_path)
    lock_path = proj.lock_path
    all_deny = list(dict.fromkeys([*proj.deny, *deny]))
    if frozen:
        return read_lock(lock_path), lock_path, proj.root, False, all_deny
    lock = read_lock(lock_path) if lock_path.exists() else None
    why = stale_reason(proj, lock)
    if why is None and lock is not None:
        return lock, lock_path, proj.root, False, all_deny
    if locked:
        raise LockOutOfDateError(
            f"{lock_path} is out of date: {why}.",
            hint="Run 'hubcli lock' and commit hubcli.lock, or drop --locked.",
        )
    if offline:
        raise OfflineError(
            f"{lock_path} is out of date ({why}), and re-locking needs the network.",
            hint="Run 'hubcli lock' while online, or pass --frozen to use the lock as it is.",
        )
    resolve = importlib.import_module("hubcli.lock.resolve")  # hubcli lock's engine
    lock = resolve.lock_project(state.hub, proj, lock).lock
    write_lock(lock_path, lock)
    return lock, lock_path, proj.root, True, all_deny


def register(app: typer.Typer) -> None:
    @app.command("sync")
    def sync_cmd(
        ctx: typer.Context,
        locked: Annotated[
            bool,
            typer.Option("--locked", help="Fail (exit 9) if hubcli.lock is out of date."),
        ] = False,
        frozen: Annotated[
            bool,
            typer.Option(
                "--frozen",
                help="Use hubcli.lock as it is; never resolve refs (no request when cached).",
            ),
        ] = False,
        offline: Annotated[
            bool,
            typer.Option("--offline", help="Use the cache only; a missing file is exit 7."),
        ] = False,
        verify: Annotated[
            bool,
            typer.Option("--verify", help="Re-hash every cached file (ignore the stamps)."),
        ] = False,
        write_refs: Annotated[
            bool,
            typer.Option(
                "--write-refs", help="Point every locked branch/tag ref at its locked commit."
            ),
        ] = False,
        deny: Annotated[
            list[str] | None,
            typer.Option(
                "--deny",
                help="Refuse locked files of this kind: pickle, remote-code (repeatable).",
            ),
        ] = None,
        project_dir: Annotated[
            str | None,
            typer.Option(
                "--project",
                help="The project folder (default: the first folder upwards holding "
                "hubcli.toml, pyproject.toml with [tool.hubcli], or with --frozen hubcli.lock).",
            ),
        ] = None,
        cache_dir: CacheDirOpt = None,
        cache_tier: CacheTierOpt = None,
        workers: MaxWorkersOpt = None,
        limit_rate: LimitRateOpt = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Make the cache (and local-dir targets) match hubcli.lock, verifying every file."""
        if locked and frozen:
            from hubcli.errors import UsageError

            raise UsageError("--locked and --frozen exclude each other.")
        state: AppState = ctx.obj.with_flags(
            cache_dir=cache_dir, offline=offline, limit_rate=limit_rate, cache_tiers=cache_tier
        )
        settings = state.settings
        check_limit_rate(settings.limit_rate)
        out = state.output(json_mode=json_out, quiet=quiet)
        start = Path(project_dir) if project_dir else Path.cwd()
        lock, lock_path, root, relocked, all_deny = _load(
            state, start, locked=locked, frozen=frozen, offline=settings.offline, deny=deny or []
        )
        _policy(lock, all_deny)
        from hubcli.cli.cache_prune import cache_budget

        budget = cache_budget(settings)  # a bad value fails before anything is fetched
        progress = None
        if out.show_progress:
            from hubcli.progress import BarProgress

            progress = BarProgress(sys.stderr, label="sync")
        from hubcli.lock.sync import sync_lock

        hub = state.hub
        result = sync_lock(
            lock,
            settings,
            lambda: hub.session,
            root=root,
            offline=settings.offline,
            verify=verify,
            write_refs=write_refs,
            max_workers=max_workers(workers, None, default=settings.max_workers),
            progress=progress,
        )
        result.lock_path, result.relocked, result.frozen = lock_path, relocked, frozen
        from hubcli.cache.access import touch_access

        for r in result.repos:
            if r.local_dir is None:
                touch_access(settings.cache_dir, r.repo.ref, str(r.repo.commit))
        if budget is not None:
            from hubcli.cli.cache_prune import apply_cache_budget

            pins = {(r.type, r.id, str(r.commit)) for r in lock.repos}
            apply_cache_budget(settings, out, budget, extra_pins=pins)

        def human() -> None:
            if relocked:
                out.info(f"re-locked {lock_path} (the input changed)")
            for r in result.repos:
                if r.ref_status == "kept":
                    out.warn(
                        f"{r.repo.id}: refs/{r.repo.requested} points at "
                        f"{(r.ref_commit or '')[:12]}, not the locked {r.repo.commit[:12]}; "
                        "kept (load by the sha, or sync --write-refs)."
                    )
                for rel in r.removed:
                    out.info(f"removed {r.local_dir}/{rel} (no longer locked)")
                for rel in r.kept_modified:
                    out.warn(f"kept {r.local_dir}/{rel}: no longer locked but changed since sync")
            out.info(_summary(result))
            for r in result.repos:
                out.line(str(r.local_dir or r.path))

        doc: dict[str, Any] = result.to_json()
        out.result(doc, human)
