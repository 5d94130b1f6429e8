"""Foreground entry point shared by ``python -m hubcli.server`` and ``hubcli serve``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from hubcli.server.app import HubServer
from hubcli.server.ids import StorageError
from hubcli.server.limits import Limits
from hubcli.server.signing import SecretFileError
from hubcli.server.storage import Storage
from hubcli.server.store import open_storage, parse_storage_url

_DEFAULTS = Limits()


def parse_tokens(pairs: list[str], token_file: str | None) -> dict[str, str]:
    """``TOKEN:USERNAME`` pairs plus a file of ``TOKEN USERNAME`` lines -> {token: user}."""
    tokens: dict[str, str] = {}
    for pair in pairs:
        tok, sep, user = pair.rpartition(":")
        if not sep or not tok or not user:
            raise ValueError(f"--token expects TOKEN:USERNAME, got {pair!r}")
        tokens[tok] = user
    if token_file:
        for n, line in enumerate(Path(token_file).read_text().splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f"{token_file}:{n}: expected 'TOKEN USERNAME'")
            tokens[parts[0]] = parts[1]
    return tokens


def run_server(
    *,
    root: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    cdn_port: int = 0,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    tokens: dict[str, str] | None = None,
    latency_ms: float = 0.0,
    bandwidth: float = 0.0,
    upload_bandwidth: float = 0.0,
    fail_rate: float = 0.0,
    seed: int | None = None,
    log: str | None = None,
    lfs_threshold: int = 10 * 1024 * 1024,
    multipart_threshold: int = 64 * 1024 * 1024,
    chunk_size: int = 16 * 1024 * 1024,
    page_size: int = 1000,
    secret_file: str | None = None,
    max_commit_size: int = _DEFAULTS.max_commit_size,
    max_json_size: int = _DEFAULTS.max_json,
    max_connections: int = _DEFAULTS.max_connections,
    idle_timeout: float = _DEFAULTS.idle_timeout,
    url_ttl: float = _DEFAULTS.url_ttl,
    worker_threads: int = _DEFAULTS.worker_threads,
    upstreams: list[str] | None = None,
    upstream_token_file: str | None = None,
    revision_ttl: float = 60.0,
    from_cache: str | None = None,
    mirror_options: dict[str, Any] | None = None,
    storage: str | None = None,
    s3_endpoint: str | None = None,
    presign: bool = False,
    single_replica: bool = False,
) -> int:
    """Start the server, print its URL as the first stdout line, block until SIGINT/SIGTERM.
    With ``upstreams`` or ``from_cache`` it is a read-only mirror (docs/mirror.md).
    ``storage``: ``file://DIR`` (= ``root``) or ``s3://bucket/prefix`` (docs/storage.md)."""
    if (tls_cert is None) != (tls_key is None):
        sys.stderr.write("error: --tls-cert and --tls-key go together\n")
        return 2
    limits = Limits(
        max_json=max_json_size,
        max_commit_size=max_commit_size,
        max_connections=max_connections,
        idle_timeout=idle_timeout,
        url_ttl=url_ttl,
        worker_threads=worker_threads,
    )
    try:
        store, root = _open_storage(
            root, storage, s3_endpoint, presign, single_replica, int(url_ttl),
            bool(from_cache or (mirror_options or {}).get("max_size")
                 or (mirror_options or {}).get("pin_file")),
        )  # fmt: skip
    except ValueError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    except StorageError as e:
        sys.stderr.write(f"error: {e.message}\n")
        return 2
    except Exception as e:  # the object store refused us (credentials, bucket, network)
        sys.stderr.write(f"error: cannot use storage {storage}: {e.__class__.__name__}: {e}\n")
        return 2
    try:
        server = HubServer(
            root,
            storage=store,
            host=host,
            port=port,
            cdn_port=cdn_port,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tokens=tokens or {},
            log_path=log,
            seed=seed,
            limits=limits,
            secret_file=secret_file,
            latency_ms=latency_ms,
            bandwidth_mbps=bandwidth,
            upload_bandwidth_mbps=upload_bandwidth,
            fail_rate=fail_rate,
            lfs_threshold=lfs_threshold,
            multipart_threshold=multipart_threshold,
            multipart_chunk_size=chunk_size,
            page_size=page_size,
        )
    except SecretFileError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    if upstreams or from_cache:
        try:
            _mirror(
                server,
                upstreams or [],
                upstream_token_file,
                revision_ttl,
                from_cache,
                mirror_options or {},
            )
        except (ValueError, OSError) as e:
            server.stop()
            sys.stderr.write(f"error: {e}\n")
            return 2
    return _serve(server, tokens or {})


def migrate_stores(
    source: str,
    dest: str,
    *,
    s3_endpoint: str | None = None,
    single_replica: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """``hubcli store migrate --from SRC --to DST``: copy the store SRC into DST (every object
    verified, idempotent, resumable, refs last) and return the summary (docs/storage.md).

    Raises ValueError for a bad URL or a missing source, StorageError when an object fails its
    check (409: a different repo of that name is in the destination), and whatever the object
    store's client raises when it refuses (credentials, bucket, network)."""
    from hubcli.server.store.migrate import migrate

    opened: list[Storage] = []
    try:
        for url in (source, dest):
            try:
                parsed = parse_storage_url(url)
            except ValueError:
                raise ValueError(f"{url!r}: a store is file://DIR or s3://bucket/prefix") from None
            if parsed.scheme == "file" and url is source and not Path(parsed.path).is_dir():
                raise ValueError(f"{url}: no such store")
            opened.append(
                open_storage(parsed, s3_endpoint=s3_endpoint, single_replica=single_replica)
            )
        src, dst = opened
        return migrate(src, dst, progress=progress).as_dict()
    finally:
        for st in opened:
            st.close()


def _open_storage(
    root: str | None,
    storage: str | None,
    s3_endpoint: str | None,
    presign: bool,
    single_replica: bool,
    url_ttl: int,
    mirror: bool,
) -> tuple[Storage | None, str | None]:
    """(the opened store or None, the root directory): ``--storage file://DIR`` is ``--root DIR``;
    ``s3://bucket/prefix`` opens an object store (docs/storage.md)."""
    if storage is None:
        return None, root
    if root is not None:
        raise ValueError("give --root or --storage, not both")
    url = parse_storage_url(storage)
    if url.scheme == "file":
        return None, str(url.path)
    if mirror:
        raise ValueError(
            "--max-size, --pin-file and --from-cache need a file:// store (docs/storage.md)"
        )
    store = open_storage(
        url,
        s3_endpoint=s3_endpoint,
        presign=presign,
        url_ttl=url_ttl,
        single_replica=single_replica,
    )
    return store, None


def read_token_file(path: str) -> str:
    """The first non-comment line of ``path`` (the mirror's own upstream token)."""
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line
    raise ValueError(f"{path}: no token in the file")


def _mirror(
    server: HubServer,
    upstreams: list[str],
    token_file: str | None,
    revision_ttl: float,
    from_cache: str | None,
    options: dict[str, Any],
) -> None:
    from hubcli.server.mirror import MirrorConfig, enable_mirror

    for url in upstreams:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"--upstream expects an http(s) URL, got {url!r}")
    if from_cache is not None and not Path(from_cache).is_dir():
        raise ValueError(f"--from-cache: {from_cache} is not a directory")
    token = read_token_file(token_file) if token_file else None
    if options.get("max_size") is not None:
        from hubcli.units import parse_size

        options = {**options, "max_size": parse_size(options["max_size"])}
    if options.get("pin_file") and options.get("max_size") is None:
        raise ValueError("--pin-file needs --max-size (it says what eviction must keep)")
    enable_mirror(
        server,
        MirrorConfig(
            upstreams=list(upstreams),
            token=token,
            revision_ttl=revision_ttl,
            listing_ttl=revision_ttl,
            from_cache=from_cache,
            **options,
        ),
    )
    sys.stderr.write(
        f"hubcli serve: read-only mirror of {', '.join(upstreams) or '-'}"
        f" (upstream token: {'yes' if token else 'no'}; shared cache: {from_cache or '-'})\n"
    )


def _serve(server: HubServer, tokens: dict[str, str]) -> int:
    """Run ``server`` until SIGINT/SIGTERM."""
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start()
        sys.stdout.write(server.url + "\n")
        sys.stdout.flush()
        sys.stderr.write(
            f"hubcli serve: storage={server.storage.url} cdn={server.cdn_url} users="
            f"{','.join(sorted(set((tokens or {}).values()))) or '-'}\n"
        )
        sys.stderr.flush()
        while not stop.wait(0.2):
            pass
    finally:
        server.stop()
        for s, h in old.items():
            signal.signal(s, h)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hubcli.server", description=__doc__)
    p.add_argument("--root", help="storage directory (default: a temp dir removed on exit)")
    p.add_argument(
        "--storage",
        metavar="URL",
        help="file://DIR (the same as --root DIR) or s3://bucket/prefix (docs/storage.md)",
    )
    p.add_argument("--s3-endpoint", metavar="URL", help="S3-compatible endpoint URL")
    p.add_argument(
        "--presign",
        action="store_true",
        help="redirect LFS downloads to presigned object-store URLs",
    )
    p.add_argument(
        "--single-replica",
        action="store_true",
        help="accept an object store without conditional writes (then only one replica may run)",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = a free port")
    p.add_argument("--cdn-port", type=int, default=0, help="port of the LFS blob origin")
    p.add_argument("--tls-cert", metavar="FILE", help="PEM certificate: serve HTTPS")
    p.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    p.add_argument("--token", action="append", default=[], metavar="TOKEN:USERNAME")
    p.add_argument("--token-file", metavar="FILE", help="one 'TOKEN USERNAME' per line")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--bandwidth", type=float, default=0.0, help="MB/s per connection (0 = off)")
    p.add_argument(
        "--upload-bandwidth", type=float, default=0.0, help="MB/s per connection for uploads"
    )
    p.add_argument("--fail-rate", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--log", metavar="FILE", help="JSON line per request")
    p.add_argument("--lfs-threshold", type=int, default=10 * 1024 * 1024)
    p.add_argument("--multipart-threshold", type=int, default=64 * 1024 * 1024)
    p.add_argument("--chunk-size", type=int, default=16 * 1024 * 1024)
    p.add_argument("--page-size", type=int, default=1000)
    p.add_argument(
        "--secret-file",
        metavar="FILE",
        help="CDN URL signing secret: created (0600, random) if absent, read if present",
    )
    p.add_argument(
        "--max-commit-size",
        type=int,
        default=_DEFAULTS.max_commit_size,
        help="bytes of one NDJSON commit body (streamed)",
    )
    p.add_argument(
        "--max-json-size",
        type=int,
        default=_DEFAULTS.max_json,
        help="bytes of a JSON request body (preupload, paths-info, LFS batch, ...)",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=_DEFAULTS.max_connections,
        help="open connections, API and CDN together (more wait 0.5 s, then get a 503)",
    )
    p.add_argument(
        "--worker-threads",
        type=int,
        default=_DEFAULTS.worker_threads,
        help="threads running the endpoints (0 = as many as --max-connections, at most 64)",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=_DEFAULTS.idle_timeout,
        help="seconds a silent connection is kept",
    )
    p.add_argument(
        "--url-ttl", type=float, default=_DEFAULTS.url_ttl, help="lifetime of signed CDN URLs (s)"
    )
    p.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="URL",
        help="mirror this hub (repeatable: failover in order); read-only",
    )
    p.add_argument(
        "--upstream-token-file", metavar="FILE", help="the mirror's own token for its upstreams"
    )
    p.add_argument(
        "--revision-ttl",
        type=float,
        default=60.0,
        help="seconds a branch stays pinned to the commit it resolved to",
    )
    p.add_argument(
        "--from-cache", metavar="DIR", help="share this Hugging Face cache read-only as a hub"
    )
    p.add_argument(
        "--access-file",
        metavar="FILE",
        help="mirror: which users/orgs (of --token/--token-file) may read which gated or private"
        " upstream repos (docs/mirror.md)",
    )
    p.add_argument(
        "--forward-token",
        action="store_true",
        help="mirror: check a client's own token upstream before serving it a gated or private"
        " repo (and fetch with it)",
    )
    p.add_argument(
        "--max-size",
        metavar="SIZE",
        help="mirror: keep the blob store under SIZE (e.g. 500GB, 2TiB), evicting the least"
        " recently used blobs no --pin-file ref reaches",
    )
    p.add_argument(
        "--pin-file",
        metavar="FILE",
        help="mirror: refs ([datasets/|spaces/]ns/name[@rev], one a line) never evicted",
    )
    return p


def mirror_options(args: argparse.Namespace) -> dict[str, Any]:
    """The MirrorConfig fields of the mirror options that have no run_server parameter."""
    return {
        "access_file": args.access_file,
        "forward_token": args.forward_token,
        "max_size": args.max_size,
        "pin_file": args.pin_file,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        tokens = parse_tokens(args.token, args.token_file)
    except (ValueError, OSError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    return run_server(
        root=args.root,
        host=args.host,
        port=args.port,
        cdn_port=args.cdn_port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tokens=tokens,
        latency_ms=args.latency_ms,
        bandwidth=args.bandwidth,
        upload_bandwidth=args.upload_bandwidth,
        fail_rate=args.fail_rate,
        seed=args.seed,
        log=args.log,
        lfs_threshold=args.lfs_threshold,
        multipart_threshold=args.multipart_threshold,
        chunk_size=args.chunk_size,
        page_size=args.page_size,
        secret_file=args.secret_file,
        max_commit_size=args.max_commit_size,
        max_json_size=args.max_json_size,
        max_connections=args.max_connections,
        idle_timeout=args.idle_timeout,
        url_ttl=args.url_ttl,
        worker_threads=args.worker_threads,
        upstreams=args.upstream,
        upstream_token_file=args.upstream_token_file,
        revision_ttl=args.revision_ttl,
        from_cache=args.from_cache,
        mirror_options=mirror_options(args),
        storage=args.storage,
        s3_endpoint=args.s3_endpoint,
        presign=args.presign,
        single_replica=args.single_replica,
    )
