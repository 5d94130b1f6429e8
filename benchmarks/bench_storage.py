"""Benchmark: `hubcli serve --storage s3://...` (issue 17) on moto's S3 server, against the file
store.

* upload of one LFS object (default 1 GiB) with the multipart LFS flow (batch, part PUTs,
  completion; what huggingface_hub does with HF_HUB_DISABLE_XET=1): through a replica on the S3
  store (parts passed on to the store's multipart upload, completion reads the object back once
  and copies it in the store) vs through a file-store server (parts written in place);
* download of it (requests, following the redirect like `curl -L`): streamed through an S3
  replica, through a `--presign` replica (302 to the store), a presigned GET straight from the
  store, and from the file-store server;
* 20 concurrent commits (no parentCommit) to one branch through 2 replicas: how many landed.

Everything runs in this process (moto's ThreadedMotoServer, in-process HubServer replicas), so
no RSS figure is taken. moto keeps objects in Python memory / spooled files: these are figures
for the replica's overhead against a slow in-process store, not against MinIO.
Results: benchmarks/results/storage.json (rows read by report.py).

    python benchmarks/bench_storage.py [--size-mib 1024] [--small]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
import requests  # noqa: E402
from common import print_table, write_results  # noqa: E402

from hubcli.server import HubServer  # noqa: E402
from hubcli.server.store import open_storage, parse_storage_url  # noqa: E402

TOKEN = {"hf_bench_token": "bench"}
AUTH = {"Authorization": "Bearer hf_bench_token"}
MIB = 1 << 20
KNOBS = {"lfs_threshold": 1024, "multipart_threshold": 8 * MIB, "multipart_chunk_size": 16 * MIB}


def _pieces(size: int, seed: bytes) -> tuple[str, list[bytes]]:
    """Deterministic content of ``size`` bytes in 16 MiB pieces, and its sha256."""
    block = hashlib.sha256(seed).digest() * (MIB // 32)
    h = hashlib.sha256()
    out = []
    left = size
    i = 0
    while left > 0:
        n = min(16 * MIB, left)
        piece = (bytes([i % 251]) + block)[:MIB] * (n // MIB) + block[: n % MIB]
        out.append(piece)
        h.update(piece)
        left -= n
        i += 1
    return h.hexdigest(), out


def upload(url: str, repo: str, oid: str, pieces: list[bytes]) -> float:
    size = sum(len(p) for p in pieces)
    t0 = time.perf_counter()
    b = requests.post(
        f"{url}/{repo}.git/info/lfs/objects/batch", headers=AUTH, timeout=600,
        json={"operation": "upload", "transfers": ["basic", "multipart"],
              "objects": [{"oid": oid, "size": size}]},
    ).json()  # fmt: skip
    up = b["objects"][0]["actions"]["upload"]
    assert int(up["header"]["chunk_size"]) == 16 * MIB, up["header"]["chunk_size"]
    parts = []
    for n, piece in enumerate(pieces, 1):
        r = requests.put(up["header"][str(n)], data=piece, timeout=600)
        r.raise_for_status()
        parts.append({"partNumber": n, "etag": r.headers["ETag"]})
    r = requests.post(up["href"], json={"oid": oid, "parts": parts}, timeout=3600)
    r.raise_for_status()
    elapsed = time.perf_counter() - t0
    body = "\n".join(
        [
            '{"key":"header","value":{"summary":"big"}}',
            f'{{"key":"lfsFile","value":{{"path":"big.bin","algo":"sha256","oid":"{oid}",'
            f'"size":{size}}}}}',
        ]
    )
    r = requests.post(
        f"{url}/api/models/{repo}/commit/main", data=body, timeout=600,
        headers={**AUTH, "Content-Type": "application/x-ndjson"},
    )  # fmt: skip
    r.raise_for_status()
    return elapsed


def download(url: str, oid: str, *, auth: bool = True) -> float:
    h = hashlib.sha256()
    t0 = time.perf_counter()
    with requests.get(url, headers=AUTH if auth else {}, stream=True, timeout=600) as r:
        r.raise_for_status()
        for buf in r.iter_content(MIB):
            h.update(buf)
    elapsed = time.perf_counter() - t0
    assert h.hexdigest() == oid
    return elapsed


def concurrent_commits(a: HubServer, b: HubServer, n: int = 20) -> tuple[float, int, int]:
    requests.post(
        f"{a.url}/api/repos/create", json={"name": "busy"}, headers=AUTH
    ).raise_for_status()
    codes: list[int] = []
    barrier = threading.Barrier(n)

    def one(i: int) -> None:
        srv = (a, b)[i % 2]
        body = (
            '{"key":"header","value":{"summary":"c"}}\n'
            f'{{"key":"file","value":{{"path":"f{i}.txt","content":"eA==","encoding":"base64"}}}}'
        )
        barrier.wait()
        r = requests.post(
            f"{srv.url}/api/models/bench/busy/commit/main", data=body, timeout=600,
            headers={**AUTH, "Content-Type": "application/x-ndjson"},
        )  # fmt: skip
        codes.append(r.status_code)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    hist = requests.get(f"{b.url}/api/models/bench/busy/commits/main", headers=AUTH).json()
    return elapsed, codes.count(200), len(hist) - 1  # minus the initial commit


def row(scenario: str, ours: float, other: float | None, other_name: str, target: str,
        ok: bool | None, note: str = "") -> dict[str, Any]:  # fmt: skip
    return {
        "scenario": scenario, "server": "hubcli serve", "unit": "s", "hubcli": ours,
        "other": other, "other_name": other_name,
        "ratio": ours / other if other else None, "spread": None, "target": target,
        "met": ok, "note": note, "runs": 1,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--small", action="store_true", help="64 MiB instead")
    args = ap.parse_args()
    size = (64 if args.small else args.size_mib) * MIB
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    import boto3
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
    url = parse_storage_url("s3://bench/hub")
    tmp = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    secret = tmp / "secret"

    def replica(presign: bool = False) -> HubServer:
        st = open_storage(url, s3_endpoint=endpoint, presign=presign)
        return HubServer(storage=st, tokens=dict(TOKEN), secret_file=secret, **KNOBS).start()

    a, b, p = replica(), replica(), replica(presign=True)
    f = HubServer(tmp / "file", tokens=dict(TOKEN), secret_file=secret, **KNOBS).start()
    oid, pieces = _pieces(size, b"bench")
    rows = []
    try:
        for srv in (a, f):
            requests.post(
                f"{srv.url}/api/repos/create", json={"name": "big"}, headers=AUTH
            ).raise_for_status()
        t_s3 = upload(a.url, "bench/big", oid, pieces)
        t_file = upload(f.url, "bench/big", oid, pieces)
        del pieces
        gib = f"{size // MIB} MiB"
        rows.append(
            row(
                f"upload {gib} (multipart LFS), S3 replica vs file store",
                t_s3,
                t_file,
                "file store",
                "-",
                None,
                "completion reads the object back once, copies it in the store",
            )
        )
        resolve = "/bench/big/resolve/main/big.bin"
        t_stream = download(b.url + resolve, oid)
        r = requests.get(p.url + resolve, headers=AUTH, allow_redirects=False, timeout=60)
        presigned = r.headers["Location"]
        t_direct = download(presigned, oid, auth=False)
        t_presign = download(p.url + resolve, oid)
        t_fdl = download(f.url + resolve, oid)
        rows.append(
            row(
                f"download {gib}: --presign replica vs presigned GET from the store",
                t_presign,
                t_direct,
                "store",
                "<= 1.1x",
                t_presign <= 1.1 * t_direct,
            )
        )
        rows.append(
            row(
                f"download {gib}: streamed through a replica vs presigned GET",
                t_stream,
                t_direct,
                "store",
                "<= 1.5x",
                t_stream <= 1.5 * t_direct,
            )
        )
        rows.append(
            row(
                f"download {gib}: S3 replica (streamed) vs file store",
                t_stream,
                t_fdl,
                "file store",
                "-",
                None,
            )
        )
        t_c, ok, landed = concurrent_commits(a, b)
        rows.append(
            row(
                "20 concurrent commits to one branch through 2 replicas",
                t_c,
                None,
                "-",
                "20 in history",
                landed == 20,
                f"{ok} answered 200, {landed} commits in history",
            )
        )
    finally:
        for srv in (a, b, p, f):
            srv.stop()
        moto.stop()
    meta = {"small": args.small, "size_mib": size // MIB, "store": "moto (in-process)"}
    print(write_results("storage", rows, meta))
    print_table(rows, ["scenario", "hubcli", "other", "ratio", "target", "met", "note"])


if __name__ == "__main__":
    main()
