"""`hubcli serve`: run the local Hub-compatible server in the foreground (see docs/server.md)."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    root: Annotated[
        str | None,
        typer.Option("--root", help="Storage directory (default: a temp dir deleted on exit)."),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Where the hub keeps its data: file://DIR (the same as --root DIR) or"
            " s3://bucket/prefix (an S3-compatible object store several replicas may share;"
            " credentials from the standard AWS environment/config). See docs/storage.md.",
            metavar="URL",
        ),
    ] = None,
    s3_endpoint: Annotated[
        str | None,
        typer.Option(
            "--s3-endpoint",
            help="S3-compatible endpoint URL (MinIO, Ceph RGW, R2, ...).",
            metavar="URL",
        ),
    ] = None,
    presign: Annotated[
        bool,
        typer.Option(
            "--presign",
            help="Redirect LFS downloads to presigned object-store URLs (clients must reach the"
            " store); otherwise the replica streams them.",
        ),
    ] = False,
    single_replica: Annotated[
        bool,
        typer.Option(
            "--single-replica",
            help="Accept an object store without conditional writes (If-None-Match/If-Match);"
            " then only one replica may run.",
        ),
    ] = False,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="API port (0 = a free port).")] = 0,
    cdn_port: Annotated[
        int, typer.Option("--cdn-port", help="Port of the LFS blob origin (0 = a free port).")
    ] = 0,
    tls_cert: Annotated[
        str | None,
        typer.Option(
            "--tls-cert", help="PEM certificate (chain): serve HTTPS on both ports.", metavar="FILE"
        ),
    ] = None,
    tls_key: Annotated[
        str | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.", metavar="FILE")
    ] = None,
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
    secret_file: Annotated[
        str | None,
        typer.Option(
            "--secret-file",
            help="CDN URL signing secret: created (mode 0600, random) if absent, read if present;"
            " signed URLs then survive restarts. Default: a random secret per process.",
        ),
    ] = None,
    max_commit_size: Annotated[
        int,
        typer.Option("--max-commit-size", help="Bytes of one NDJSON commit body (streamed)."),
    ] = 2 * 1024**3,
    max_json_size: Annotated[
        int,
        typer.Option(
            "--max-json-size",
            help="Bytes of a JSON request body (preupload, paths-info, LFS batch, ...).",
        ),
    ] = 16 * 1024**2,
    max_connections: Annotated[
        int,
        typer.Option(
            "--max-connections",
            help="Open connections, API and CDN together (more wait 0.5 s, then get a 503).",
        ),
    ] = 256,
    worker_threads: Annotated[
        int,
        typer.Option(
            "--worker-threads",
            help="Threads running the endpoints (0 = as many as --max-connections, at most 64).",
        ),
    ] = 0,
    idle_timeout: Annotated[
        float, typer.Option("--idle-timeout", help="Seconds a silent connection is kept open.")
    ] = 120.0,
    url_ttl: Annotated[
        float, typer.Option("--url-ttl", help="Lifetime of a signed CDN URL, in seconds.")
    ] = 3600.0,
    upstream: Annotated[
        list[str] | None,
        typer.Option(
            "--upstream",
            help="Be a read-only, verified pull-through mirror of this hub (repeatable: failover"
            " in order). See docs/mirror.md.",
            metavar="URL",
        ),
    ] = None,
    upstream_token_file: Annotated[
        str | None,
        typer.Option(
            "--upstream-token-file", help="The mirror's own token for its upstreams (never logged)."
        ),
    ] = None,
    revision_ttl: Annotated[
        float,
        typer.Option(
            "--revision-ttl", help="Seconds a branch stays pinned to the commit it resolved to."
        ),
    ] = 60.0,
    from_cache: Annotated[
        str | None,
        typer.Option(
            "--from-cache",
            help="Share this Hugging Face cache directory read-only as a hub (LAN share).",
        ),
    ] = None,
    access_file: Annotated[
        str | None,
        typer.Option(
            "--access-file",
            help="Mirror: which users/orgs (of --token/--token-file) may read which gated or"
            " private upstream repos. See docs/mirror.md.",
        ),
    ] = None,
    forward_token: Annotated[
        bool,
        typer.Option(
            "--forward-token",
            help="Mirror: check a client's own token upstream (cached per token and repo) before"
            " serving it a gated or private repo, and fetch with it.",
        ),
    ] = False,
    max_size: Annotated[
        str | None,
        typer.Option(
            "--max-size",
            help="Mirror: keep the blob store under this size (500GB, 2TiB: the units of the cache"
            " budget), evicting the least recently used blobs no --pin-file ref reaches.",
            metavar="SIZE",
        ),
    ] = None,
    pin_file: Annotated[
        str | None,
        typer.Option(
            "--pin-file",
            help="Mirror: refs never evicted, one a line: [datasets/|spaces/]ns/name[@rev].",
            metavar="FILE",
        ),
    ] = None,
) -> int:
    """Run a local Hugging Face Hub-compatible server; prints its URL as the first line."""
    from hubcli.server.cli import parse_tokens, run_server

    try:
        tokens = parse_tokens(token or [], token_file)
    except (ValueError, OSError) as e:
        raise typer.BadParameter(str(e)) from None
    return run_server(
        root=root,
        storage=storage,
        s3_endpoint=s3_endpoint,
        presign=presign,
        single_replica=single_replica,
        host=host,
        port=port,
        cdn_port=cdn_port,
        tls_cert=tls_cert,
        tls_key=tls_key,
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
        secret_file=secret_file,
        max_commit_size=max_commit_size,
        max_json_size=max_json_size,
        max_connections=max_connections,
        idle_timeout=idle_timeout,
        url_ttl=url_ttl,
        worker_threads=worker_threads,
        upstreams=upstream or [],
        upstream_token_file=upstream_token_file,
        revision_ttl=revision_ttl,
        from_cache=from_cache,
        mirror_options={
            "access_file": access_file,
            "forward_token": forward_token,
            "max_size": max_size,
            "pin_file": pin_file,
        },
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
