"""Benchmark: peak RSS of one `hubcli serve --storage s3://...` replica process (issue 17:
<= 150 MiB while streaming).

moto's S3 server runs in this process; the replica is a real `hubcli serve` subprocess on the
bucket.
huggingface_hub uploads one LFS file (default 1 GiB, multipart, HF_HUB_DISABLE_XET=1) through the
replica, then 4 clients download it at once streamed through the replica (no --presign), each
hashing what it gets. The replica's VmHWM (/proc) is read after the upload and after the
downloads. Results: benchmarks/results/replica.json (rows read by report.py).

    python benchmarks/bench_replica.py [--size-mib 1024] [--small]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PY, print_table, scratch_dir, write_results

MiB = 1024 * 1024
TOKEN = "hf_bench_token"


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--small", action="store_true", help="128 MiB")
    args = ap.parse_args()
    size = (128 if args.small else args.size_mib) * MiB
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    import boto3
    import requests
    from moto.server import ThreadedMotoServer

    for k, v in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
        os.environ.setdefault(k, v)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    bucket = f"bench-{secrets.token_hex(4)}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    cmd = [PY, "-m", "hubcli", "serve", "--storage", f"s3://{bucket}/hub"]
    cmd += ["--s3-endpoint", endpoint, "--token", f"{TOKEN}:bench", "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    work = scratch_dir("hubcli-bench-replica-", size)
    src = work / "w.bin"
    with src.open("wb") as f:
        for _ in range(size // (16 * MiB)):
            f.write(os.urandom(16 * MiB))
    env = dict(os.environ, HF_ENDPOINT=url, HF_TOKEN=TOKEN, HF_HUB_DISABLE_XET="1")
    env["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    code = (
        "from huggingface_hub import HfApi\n"
        "api = HfApi()\napi.create_repo('bench/big', exist_ok=True)\n"
        f"api.upload_file(path_or_fileobj={str(src)!r}, path_in_repo='w.bin', "
        "repo_id='bench/big')\n"
    )
    rows: list[dict[str, Any]] = []
    try:
        t0 = time.perf_counter()
        subprocess.run([PY, "-c", code], env=env, check=True, capture_output=True)
        upload_s = time.perf_counter() - t0
        after_upload = vm_hwm_mib(proc.pid)
        want = hashlib.sha256(src.read_bytes()).hexdigest()
        got: list[str] = []

        def fetch() -> None:
            r = requests.get(
                f"{url}/bench/big/resolve/main/w.bin",
                headers={"Authorization": f"Bearer {TOKEN}"},
                stream=True,
                timeout=600,
            )
            h = hashlib.sha256()
            for chunk in r.iter_content(MiB):
                h.update(chunk)
            got.append(h.hexdigest())

        t0 = time.perf_counter()
        threads = [threading.Thread(target=fetch) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        download_s = time.perf_counter() - t0
        peak = vm_hwm_mib(proc.pid)
        ok = got == [want] * 4
        mib = size // MiB
        rows.append(
            {
                "scenario": f"replica peak RSS: {mib} MiB upload, then 4 x {mib} MiB streamed",
                "server": "hubcli serve (s3)",
                "unit": "MiB",
                "hubcli": peak,
                "other": None,
                "target": "<= 150 MiB",
                "met": ok and peak <= 150,
                "note": f"after the upload {after_upload:.0f} MiB; upload {upload_s:.1f} s, "
                f"4 downloads {download_s:.1f} s on moto; all sha256 ok: {ok}",
            }
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        moto.stop()
        src.unlink(missing_ok=True)
    print_table(rows, ["scenario", "hubcli", "target", "met", "note"])
    path = write_results("replica", rows, {"small": args.small, "size_mib": size // MiB})
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
