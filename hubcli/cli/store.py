"""`hubcli store migrate --from URL --to URL`: copy a `hubcli serve` store (file:// or s3://).

``serve`` stays one command with options; a store's maintenance lives here. The copy itself is
:func:`hubcli.server.cli.migrate_stores` (every object verified, idempotent, resumable, refs last).
"""

from __future__ import annotations

from typing import Annotated

import typer

from hubcli.cli.common import JsonOpt, QuietOpt, make_typer
from hubcli.cli.context import AppState

store_app = make_typer(help="Maintain a `hubcli serve` store (file://DIR or s3://bucket/prefix).")


@store_app.command("migrate")
def migrate(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Option(
            "--from", help="The store to copy: file://DIR or s3://bucket/prefix.", metavar="URL"
        ),
    ],
    dest: Annotated[
        str,
        typer.Option(
            "--to", help="Where to copy it: file://DIR or s3://bucket/prefix.", metavar="URL"
        ),
    ],
    s3_endpoint: Annotated[
        str | None,
        typer.Option(
            "--s3-endpoint",
            help="S3 API endpoint for MinIO/Ceph/R2 (default: AWS).",
            metavar="URL",
        ),
    ] = None,
    single_replica: Annotated[
        bool,
        typer.Option(
            "--single-replica",
            help="Accept an object store without conditional writes (If-None-Match/If-Match).",
        ),
    ] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Copy a store into another, verifying every object (LFS by sha256, regular files by git
    sha1), resumable and idempotent (a second run copies nothing), refs last. Exit 2 bad URL, 5
    the store refused or the network failed, 6 an object failed its check, 10 a different repo
    of that name already is in the destination. See docs/storage.md."""
    from hubcli.errors import ConflictError, IntegrityError, NetworkError, UsageError
    from hubcli.server.cli import migrate_stores
    from hubcli.server.ids import StorageError

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out, quiet=quiet)
    try:
        doc = migrate_stores(
            source, dest, s3_endpoint=s3_endpoint, single_replica=single_replica, progress=out.info
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except StorageError as exc:
        if exc.status == 409:
            raise ConflictError(exc.message, status=409) from None
        raise IntegrityError(exc.message) from None
    except Exception as exc:  # the object store refused (credentials, bucket, network)
        raise NetworkError(f"migration stopped: {exc.__class__.__name__}: {exc}") from exc

    def human() -> None:
        out.line(
            f"{doc['repos']} repos: {doc['commits']} commits and {doc['blobs']} blobs copied "
            f"({doc['bytes']:,} bytes), {doc['commits_skipped']} commits and "
            f"{doc['blobs_skipped']} blobs already there, {doc['refs']} refs"
        )

    out.result(doc, human)


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")
