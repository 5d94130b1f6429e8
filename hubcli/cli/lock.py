"""``add``, ``remove``, ``lock`` and ``outdated``: the project input and its lock (docs/lock.md).

``sync`` lives in :mod:`hubcli.cli.sync`. The lock machinery is imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hubcli.cli.common import ExcludeOpt, IncludeOpt, JsonOpt, QuietOpt, RevisionOpt, TypeOpt
from hubcli.cli.output import plural

if TYPE_CHECKING:
    from hubcli.lock.project import Project

ProjectOpt = Annotated[
    str | None,
    typer.Option(
        "--project",
        help="Project folder (default: the first folder upwards holding hubcli.toml, or "
        "pyproject.toml with [tool.hubcli]).",
    ),
]
CACHE_KEY_PREFIX = "hubcli-"


def _project(project_dir: str | None) -> Project:
    from hubcli.lock.project import find_project

    return find_project(Path(project_dir) if project_dir else None)


def cache_key(lock_bytes: bytes) -> str:
    """``hubcli-`` + the first 32 hex digits of the sha256 of the lock file's bytes."""
    import hashlib

    return CACHE_KEY_PREFIX + hashlib.sha256(lock_bytes).hexdigest()[:32]


def register(app: typer.Typer) -> None:
    @app.command("add")
    def add_cmd(
        ctx: typer.Context,
        repo: Annotated[str, typer.Argument(help="Repo: org/name, datasets/org/name, spaces/...")],
        repo_type: TypeOpt = None,
        revision: RevisionOpt = None,
        include: IncludeOpt = None,
        exclude: ExcludeOpt = None,
        local_dir: Annotated[
            str | None,
            typer.Option("--local-dir", help="Also place the files in this folder (on sync)."),
        ] = None,
        project_dir: ProjectOpt = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Add a repo to hubcli.toml (or update its entry), keeping comments; no request.

        Creates hubcli.toml in the current folder when no project is found. Run `hubcli lock`
        afterwards to pin it.
        """
        from hubcli.errors import UsageError
        from hubcli.lock.project import INPUT_NAME, RepoSpec, add_repo, find_input, load_project

        out = ctx.obj.output(json_mode=json_out, quiet=quiet)
        ref = ctx.obj.hub.ref(repo, repo_type)
        if ref.path:
            raise UsageError(f"{repo!r}: name a repo, not a file in it.")
        if ref.revision and revision and ref.revision != revision:
            raise UsageError(
                f"{repo!r} names revision {ref.revision} but --revision says {revision}."
            )
        rev = revision or ref.revision
        start = Path(project_dir) if project_dir else Path.cwd()
        path = find_input(start) or start / INPUT_NAME
        given = [
            name
            for name, value in (
                ("revision", rev),
                ("include", include),
                ("exclude", exclude),
                ("local-dir", local_dir),
            )
            if value is not None
        ]
        spec = RepoSpec(
            ref.repo_id,
            ref.repo_type,
            rev or "main",
            tuple(include or ()),
            tuple(exclude or ()),
            local_dir,
        )
        added = add_repo(path, spec, given=given)
        entry = load_project(path).spec(spec.id, spec.type)
        assert entry is not None
        doc = {
            "action": "added" if added else "updated",
            "input": str(path),
            **_spec_json(entry),
        }
        out.result(doc, lambda: out.info(f"{doc['action']} {ref} in {path}; run `hubcli lock`"))

    @app.command("remove")
    def remove_cmd(
        ctx: typer.Context,
        repo: Annotated[str, typer.Argument(help="Repo: org/name, datasets/org/name, spaces/...")],
        repo_type: TypeOpt = None,
        project_dir: ProjectOpt = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Remove a repo from hubcli.toml, keeping comments; no request (`hubcli lock` drops it
        from the lock)."""
        from hubcli.lock.project import remove_repo

        out = ctx.obj.output(json_mode=json_out, quiet=quiet)
        ref = ctx.obj.hub.ref(repo, repo_type)
        project = _project(project_dir)
        remove_repo(project.input_path, ref.repo_type, ref.repo_id)
        doc = {
            "action": "removed",
            "input": str(project.input_path),
            "repo_id": ref.repo_id,
            "repo_type": ref.repo_type,
        }
        out.result(doc, lambda: out.info(f"removed {ref} from {project.input_path}"))

    @app.command("lock")
    def lock_cmd(
        ctx: typer.Context,
        upgrade: Annotated[
            bool, typer.Option("--upgrade", "-U", help="Move every pin to its revision's head.")
        ] = False,
        upgrade_repo: Annotated[
            list[str] | None,
            typer.Option("--upgrade-repo", help="Move this repo's pin forward (repeatable)."),
        ] = None,
        check: Annotated[
            bool,
            typer.Option(
                "--check", help="No request, no write: exit 9 if the lock is missing or stale."
            ),
        ] = False,
        show_cache_key: Annotated[
            bool,
            typer.Option(
                "--cache-key",
                help="Print a CI cache key (hash of hubcli.lock) and exit; no request.",
            ),
        ] = False,
        sbom_path: Annotated[
            str | None,
            typer.Option(
                "--sbom",
                metavar="FILE",
                help="Also write the lock as a CycloneDX 1.6 SBOM (JSON: file hashes, licences "
                "from the cards, pickle/remote-code kinds) to FILE.",
            ),
        ] = None,
        project_dir: ProjectOpt = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Resolve hubcli.toml to commits and write hubcli.lock with every file's size, sha256 and
        git blob id.

        The Hub gives a sha256 only for LFS files: for regular (non-LFS) files `lock` downloads
        them into the cache (verified against their git blob id) and hashes them; LFS files are
        not downloaded. Unchanged entries keep their pins (no request) unless --upgrade or
        --upgrade-repo.
        """
        from hubcli.errors import LocalFileError, LockOutOfDateError, UsageError
        from hubcli.lock.lockfile import read_lock, write_lock

        out = ctx.obj.output(json_mode=json_out, quiet=quiet)
        if show_cache_key:
            # reads the lock's bytes only: no request, and the input need not even parse
            from hubcli.lock.lockfile import LOCK_NAME
            from hubcli.lock.project import find_input

            start = Path(project_dir) if project_dir else None
            found = find_input(start)
            if found is None:
                _project(project_dir)  # raises the "no project" UsageError
            lock_path = (found or Path()).parent / LOCK_NAME
            if upgrade or upgrade_repo or check or sbom_path:
                raise UsageError("--cache-key takes no other lock option.")
            try:
                data = lock_path.read_bytes()
            except FileNotFoundError:
                raise LocalFileError(f"No lock file at {lock_path}: run `hubcli lock`.") from None
            key = cache_key(data)
            out.result({"cache_key": key, "lock": str(lock_path)}, lambda: out.line(key))
            return
        project = _project(project_dir)
        lock_path = project.lock_path
        previous = read_lock(lock_path) if lock_path.exists() else None
        if check:
            if upgrade or upgrade_repo:
                raise UsageError("--check does not upgrade; drop --upgrade/--upgrade-repo.")
            if sbom_path:
                raise UsageError("--check writes nothing; drop --sbom.")
            from hubcli.lock.project import stale_reason

            reason = stale_reason(project, previous)
            if reason:
                raise LockOutOfDateError(f"{lock_path}: {reason}; run `hubcli lock`.")
            doc = {"lock": str(lock_path), "up_to_date": True, "input_hash": project.input_hash}
            out.result(doc, lambda: out.info(f"{lock_path} is up to date"))
            return

        from hubcli.lock.resolve import lock_project

        keys = set()
        for text in upgrade_repo or ():
            ref = ctx.obj.hub.ref(text)
            if project.spec(ref.repo_id, ref.repo_type) is None:
                raise UsageError(f"--upgrade-repo {text}: {ref} is not in {project.input_path}.")
            keys.add((ref.repo_type, ref.repo_id))
        result = lock_project(ctx.obj.hub, project, previous, upgrade=upgrade, upgrade_repos=keys)
        from hubcli.lock.lockfile import dumps

        if previous is None or dumps(previous) != dumps(result.lock):
            write_lock(lock_path, result.lock)
        sbom_out = None
        if sbom_path:
            from hubcli.lock.sbom import write_sbom

            sbom_out = write_sbom(lock_path, Path(sbom_path), ctx.obj.hub)

        def human() -> None:
            for c in result.changes:
                if c.status == "kept":
                    continue
                old = (c.old_commit or "")[:12] or "-"
                new = (c.new_commit or "")[:12] or "-"
                out.info(f"{c.status:<10} {c.type} {c.id}: {old} -> {new}")
            n_files = sum(len(r.files) for r in result.lock.repos)
            out.info(
                f"locked {plural(len(result.lock.repos), 'repo')}, {plural(n_files, 'file')} "
                f"in {lock_path}"
            )
            if sbom_out is not None:
                out.info(f"wrote the SBOM (CycloneDX 1.6) to {sbom_out}")

        doc = {
            "lock": str(lock_path),
            "input_hash": result.lock.input_hash,
            "changed": result.changed,
            "downloaded": result.downloaded,
            "repos": [
                {**c.to_json(), "files": _files_count(result.lock, c.type, c.id)}
                for c in result.changes
            ],
        }
        if sbom_out is not None:
            doc["sbom"] = str(sbom_out)
        out.result(doc, human)

    @app.command("outdated")
    def outdated_cmd(
        ctx: typer.Context,
        project_dir: ProjectOpt = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Show which pins of hubcli.lock are behind their branch (one request per repo)."""
        from hubcli.lock.lockfile import read_lock
        from hubcli.lock.resolve import outdated

        out = ctx.obj.output(json_mode=json_out, quiet=quiet)
        project = _project(project_dir)
        rows = outdated(ctx.obj.hub, read_lock(project.lock_path))

        def human() -> None:
            behind = [r for r in rows if r.behind]
            for r in behind:
                out.line(
                    f"{r.type:<8} {r.id}  {r.requested}: locked {r.locked[:12]}, "
                    f"latest {r.latest[:12]}"
                )
            out.info(
                f"{plural(len(behind), 'pin')} behind"
                + (": run `hubcli lock --upgrade`" if behind else "")
            )

        doc = {"repos": [r.to_json() for r in rows], "outdated": sum(r.behind for r in rows)}
        out.result(doc, human)


def _spec_json(spec: Any) -> dict[str, Any]:
    return {
        "repo_id": spec.id,
        "repo_type": spec.type,
        "revision": spec.revision,
        "include": list(spec.include),
        "exclude": list(spec.exclude),
        "local_dir": spec.local_dir,
    }


def _files_count(lock: Any, repo_type: str, repo_id: str) -> int | None:
    repo = lock.repo(repo_id, repo_type)
    return len(repo.files) if repo is not None else None
