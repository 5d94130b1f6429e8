"""`hubcli serve`: run the local Hub-compatible server in the foreground (see docs/server.md)."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    root: Annotated[
        str | None,
        typer.Option("--root", help="Storage directory (default: a temp dir deleted on exit)."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="API port (0 = a free port).")] = 0,
    cdn_port: Annotated[
        int, typer.Option("--cdn-port", help="Port of the LFS blob origin (0 = a free port).")
    ] = 0,
    token: Annotated[
        list[str] | None,
        typer.Option("--token", help="TOKEN:USERNAME (repeatable).", metavar="TOKEN:USERNAME"),
    ] = None,
    token_file: Annotated[
        str | None, typer.Option("--token-file", help="File with one 'TOKEN USERNAME' per line.")
    ] = None,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", help="Sleep before each response (ms).")
    ] = 0.0,
    bandwidth: Annotated[
        float, typer.Option("--bandwidth", help="MB/s per connection (0 = unlimited).")
    ] = 0.0,
    upload_bandwidth: Annotated[
        float,
        typer.Option("--upload-bandwidth", help="MB/s per connection for request bodies."),
    ] = 0.0,
    fail_rate: Annotated[
        float, typer.Option("--fail-rate", help="Probability of dropping a file GET mid-body.")
    ] = 0.0,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for --fail-rate.")] = None,
    log: Annotated[
        str | None, typer.Option("--log", help="Append one JSON line per request to FILE.")
    ] = None,
    lfs_threshold: Annotated[
        int, typer.Option("--lfs-threshold", help="Files of at least this many bytes use LFS.")
    ] = 10 * 1024 * 1024,
    multipart_threshold: Annotated[
        int, typer.Option("--multipart-threshold", help="LFS uploads this big use multipart.")
    ] = 64 * 1024 * 1024,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Multipart part size in bytes.")
    ] = 16 * 1024 * 1024,
    page_size: Annotated[
        int, typer.Option("--page-size", help="Items per page of paginated listings.")
    ] = 1000,
) -> int:
    """Run a local Hugging Face Hub-compatible server; prints its URL as the first line."""
    from hubcli.server.cli import parse_tokens, run_server

    try:
        tokens = parse_tokens(token or [], token_file)
    except (ValueError, OSError) as e:
        raise typer.BadParameter(str(e)) from None
    return run_server(
        root=root,
        host=host,
        port=port,
        cdn_port=cdn_port,
        tokens=tokens,
        latency_ms=latency_ms,
        bandwidth=bandwidth,
        upload_bandwidth=upload_bandwidth,
        fail_rate=fail_rate,
        seed=seed,
        log=log,
        lfs_threshold=lfs_threshold,
        multipart_threshold=multipart_threshold,
        chunk_size=chunk_size,
        page_size=page_size,
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
