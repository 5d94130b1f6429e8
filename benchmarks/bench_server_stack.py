"""Benchmark: the HTTP stack of `hubcli serve` under concurrency -- the server as it is (uvicorn
with httptools and uvloop running ``hubcli.server.asgi``), optionally against the same server from
an earlier commit (``--baseline REV``, e.g. ``83d6c7b``, the last stdlib ``ThreadingHTTPServer``),
run from a ``git archive`` of that commit's ``hubcli/`` so both do the same hub work per request.

Loads (loopback only, bounded request counts, one server process each):

* ``small``: 200 concurrent small GETs (a 4 KiB regular file through ``resolve``), each on its own
  new connection, all started at once -- per-request latency p50/p99 and the wall time of the
  whole burst (median over the rounds; p50/p99 over all requests of all rounds).
* ``large``: 16 concurrent 64 MiB GETs of one LFS object from the CDN listener (signed URL), read
  by 16 ``curl`` processes -- aggregate MB/s and how much the server's RSS grows during the run
  (the in-memory request log grows over the rounds, so the growth, not the peak, is the
  transport's cost).
* ``keepalive``: 8 clients, one persistent connection each, ``--requests`` sequential GETs of the
  4 KiB file each -- requests per second.
* ``hold``: 1000 keep-alive connections opened at once, one GET each, then held open (many idle
  clients of a team hub) -- time to serve them all and the server's RSS growth while they are
  open. Servers run with ``--max-connections 1100`` (default 256) for this.

The load generator is a separate process (asyncio, raw sockets) so its cost is the same for every
column; on a 2-core machine client and server share the cores. Every load runs ``--rounds`` times
on every column, interleaved (the order turning each round) so that other load on the machine
falls on all columns alike; results go to ``benchmarks/results/server_stack.json``.

    python benchmarks/bench_server_stack.py [--rounds 5] [--requests 1000] [--only small]
                                            [--baseline 83d6c7b]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))


PY = sys.executable
TOKEN, USER = "hf_bench_token", "bench"
REPO = "bench/m"
SMALL_PATH = f"/{REPO}/resolve/main/small.txt"
SMALL_SIZE = 4 * 1024
LARGE_SIZE = 64 * 1024 * 1024
HOLD = 1000  # connections held open by the "hold" load


# ---------------------------------------------------------------------------------- load side
async def _get(host: str, port: int, path: str) -> tuple[float, int]:
    """One GET on a new connection: (seconds from connect to the last body byte, status)."""
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(_request(host, port, path, close=True))
    status, _ = await _read_answer(reader)
    writer.close()
    return time.perf_counter() - t0, status


def _request(host: str, port: int, path: str, *, close: bool = False) -> bytes:
    extra = "Connection: close\r\n" if close else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"{extra}\r\n"
    ).encode()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v)
    await reader.readexactly(length)
    return status, length


async def _burst(host: str, port: int, n: int) -> tuple[float, list[float], int]:
    t0 = time.perf_counter()
    results = await asyncio.gather(*(_get(host, port, SMALL_PATH) for _ in range(n)))
    wall = time.perf_counter() - t0
    return wall, [r[0] for r in results], sum(1 for r in results if r[1] != 200)


async def _keepalive(host: str, port: int, clients: int, per_client: int) -> tuple[float, int]:
    async def one() -> int:
        reader, writer = await asyncio.open_connection(host, port)
        req, bad = _request(host, port, SMALL_PATH), 0
        for _ in range(per_client):
            writer.write(req)
            status, _ = await _read_answer(reader)
            bad += status != 200
        writer.close()
        return bad

    t0 = time.perf_counter()
    bad = sum(await asyncio.gather(*(one() for _ in range(clients))))
    return time.perf_counter() - t0, bad


async def _hold(host: str, port: int, n: int) -> None:
    """Open ``n`` keep-alive connections with one GET each, report, hold them until stdin says."""
    t0 = time.perf_counter()

    async def one() -> tuple[asyncio.StreamWriter, int]:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(_request(host, port, SMALL_PATH))
        status, _ = await _read_answer(reader)
        return writer, status

    held = await asyncio.gather(*(one() for _ in range(n)))
    wall = time.perf_counter() - t0
    bad = sum(1 for _, status in held if status != 200)
    print(json.dumps({"wall_s": wall, "errors": bad}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for writer, _ in held:
        writer.close()


def load_main(args: list[str]) -> None:
    """``--load small|keepalive URL N M``: run one load in this (client) process, print JSON."""
    kind, url = args[0], urlsplit(args[1])
    host, port = url.hostname or "127.0.0.1", url.port or 80
    n, m = int(args[2]), int(args[3])
    if kind == "hold":
        asyncio.run(_hold(host, port, n))
        return
    if kind == "small":  # a burst of n new connections (after a warm-up burst of m)
        asyncio.run(_burst(host, port, m))
        wall, lats, bad = asyncio.run(_burst(host, port, n))
        print(json.dumps({"wall_s": wall, "lat_s": lats, "errors": bad}))
    else:  # n keep-alive clients, m GETs each (after 50 each to warm up)
        asyncio.run(_keepalive(host, port, n, 50))
        wall, bad = asyncio.run(_keepalive(host, port, n, m))
        print(json.dumps({"req_s": n * m / wall, "errors": bad}))


# ---------------------------------------------------------------------------------- driver
class Proc:
    """A server subprocess whose first stdout line is its URL."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=(env or {}).get("PYTHONPATH"),  # `-m` looks in the working directory first
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or not line[0].startswith("http"):
            self.stop()
            raise RuntimeError(f"server did not start: {cmd}")
        self.url = line[0]
        self.note = " ".join(line[1:])

    def rss_mib(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def seed(root: Path) -> None:
    """A repo with a 4 KiB regular file and a 64 MiB LFS file."""
    from hubcli.server import HubServer

    srv = HubServer(root)
    srv.seed_repo(REPO, {"small.txt": os.urandom(SMALL_SIZE)}, owner=USER)
    srv.seed_repo(REPO, {"large.safetensors": os.urandom(LARGE_SIZE)}, owner=USER)
    srv.stop()


def cdn_url(api: str) -> str:
    """The signed CDN URL ``resolve`` redirects the 64 MiB LFS file to."""
    u = urlsplit(api)
    sock = socket.create_connection((u.hostname, u.port or 80), timeout=10)
    with sock:
        sock.sendall(
            _request(
                u.hostname or "",
                u.port or 80,
                f"/{REPO}/resolve/main/large.safetensors",
                close=True,
            )
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    for line in data.decode("latin-1").split("\r\n"):
        if line.lower().startswith("location:"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError("no Location for the LFS file")


def run_load(kind: str, url: str, *params: int) -> dict[str, Any]:
    out = subprocess.run(
        [PY, __file__, "--load", kind, url, *map(str, params)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def run_hold(srv: Proc, n: int) -> dict[str, Any]:
    """``n`` open keep-alive connections (one GET each): the server's RSS growth while held."""
    rss0 = srv.rss_mib()
    cmd = [PY, __file__, "--load", "hold", srv.url, str(n), "0"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    result: dict[str, Any] = json.loads(proc.stdout.readline())
    time.sleep(0.2)
    result["rss_growth_mib"] = srv.rss_mib() - rss0
    proc.stdin.write("\n")
    proc.stdin.close()
    proc.wait(timeout=60)
    return result


def run_large(srv: Proc, n: int) -> dict[str, Any]:
    url = cdn_url(srv.url)
    rss0, peak, stop = srv.rss_mib(), [0.0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError, ValueError):
                peak[0] = max(peak[0], srv.rss_mib())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.perf_counter()
    curls = [
        subprocess.Popen(
            ["curl", "-sf", "-o", "/dev/null", "-w", "%{size_download}", url],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    sizes = [int(c.communicate(timeout=600)[0] or 0) for c in curls]
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    ok = sum(1 for s in sizes if s == LARGE_SIZE)
    return {
        "MB_s": n * LARGE_SIZE / wall / 1e6,
        "wall_s": wall,
        "rss_before_mib": rss0,
        "rss_peak_mib": peak[0],
        "complete": ok,
    }


class Column:
    """The samples of one stack over the rounds."""

    def __init__(self, name: str, srv: Proc) -> None:
        self.name, self.srv = f"{name} {srv.note}".strip(), srv
        self.idle_rss = srv.rss_mib()
        self.walls: list[float] = []
        self.lats: list[float] = []
        self.mbs: list[float] = []
        self.rss_peak = 0.0
        self.rss_growth = 0.0  # the most RSS grew during one 16 x 64 MiB run
        self.req_s: list[float] = []
        self.hold_walls: list[float] = []
        self.hold_rss = 0.0  # the most RSS grew while HOLD connections were open
        self.errors = 0

    def measure(self, load: str, args: argparse.Namespace) -> None:
        if load == "small":
            r = run_load("small", self.srv.url, 200, 20)
            self.walls.append(r["wall_s"])
            self.lats += r["lat_s"]
        elif load == "large":
            r = run_large(self.srv, 16)
            self.mbs.append(r["MB_s"])
            self.rss_peak = max(self.rss_peak, r["rss_peak_mib"])
            self.rss_growth = max(self.rss_growth, r["rss_peak_mib"] - r["rss_before_mib"])
            r["errors"] = 16 - r["complete"]
        elif load == "hold":
            r = run_hold(self.srv, HOLD)
            self.hold_walls.append(r["wall_s"])
            self.hold_rss = max(self.hold_rss, r["rss_growth_mib"])
        else:
            r = run_load("keepalive", self.srv.url, 8, args.requests)
            self.req_s.append(r["req_s"])
        self.errors += r["errors"]

    def row(self) -> dict[str, Any]:
        lats = sorted(self.lats)
        med = statistics.median
        return {
            "stack": self.name,
            "idle_rss_mib": round(self.idle_rss, 1),
            "small_wall_s": round(med(self.walls), 3) if self.walls else None,
            "small_p50_ms": round(1000 * lats[len(lats) // 2], 1) if lats else None,
            "small_p99_ms": round(1000 * lats[int(len(lats) * 0.99)], 1) if lats else None,
            "large_MB_s": round(med(self.mbs)) if self.mbs else None,
            "large_rss_peak_mib": round(self.rss_peak, 1) if self.mbs else None,
            "large_rss_growth_mib": round(self.rss_growth, 1) if self.mbs else None,
            "keepalive_req_s": round(med(self.req_s)) if self.req_s else None,
            "hold_wall_s": round(med(self.hold_walls), 3) if self.hold_walls else None,
            "hold_rss_growth_mib": round(self.hold_rss, 1) if self.hold_walls else None,
            "errors": self.errors,
            "samples": {
                "small_wall_s": [round(x, 3) for x in self.walls],
                "large_MB_s": [round(x) for x in self.mbs],
                "keepalive_req_s": [round(x) for x in self.req_s],
            },
        }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        load_main(sys.argv[2:])
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5, help="rounds of each load on each stack")
    p.add_argument("--requests", type=int, default=1000, help="keep-alive GETs per client")
    p.add_argument("--only", choices=("small", "large", "keepalive", "hold"))
    p.add_argument("--baseline", metavar="REV", help="also run hubcli serve as of this commit")
    args = p.parse_args()
    if shutil.which("curl") is None and args.only in (None, "large"):
        sys.exit("curl is needed for the 64 MiB GETs")
    tmp = Path(
        tempfile.mkdtemp(
            prefix="bench-server-stack-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
        )
    )
    rows: list[dict[str, Any]] = []
    try:
        seed(tmp)
        serve = [PY, "-m", "hubcli.server", "--root", str(tmp), "--token", f"{TOKEN}:{USER}"]
        serve += ["--max-connections", str(HOLD + 100)]
        stacks: list[tuple[str, list[str], dict[str, str]]] = [
            ("hubcli serve (uvicorn)", serve, {"PYTHONPATH": str(ROOT)})
        ]
        if args.baseline:
            base = tmp / "baseline"
            base.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.baseline, "hubcli"],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
            stacks.append((f"hubcli serve at {args.baseline}", serve, {"PYTHONPATH": str(base)}))
        cols: list[Column] = []
        try:
            for name, cmd, env in stacks:
                cols.append(Column(name, Proc(cmd, env)))
            loads = [args.only] if args.only else ["small", "large", "keepalive", "hold"]
            for k in range(args.rounds):  # interleaved, the order turning each round
                for load in loads:
                    for i in range(len(cols)):
                        cols[(k + i) % len(cols)].measure(load, args)
                print(f"round {k + 1}/{args.rounds} done", flush=True)
        finally:
            for col in cols:
                col.srv.stop()
        rows = [col.row() for col in cols]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _table(rows)
    from common import write_results

    write_results(
        "server_stack",
        rows,
        {
            "cpus": os.cpu_count(),
            "rounds": args.rounds,
            "keepalive_requests_per_client": args.requests,
        },
    )


def _table(rows: list[dict[str, Any]]) -> None:
    print(
        "\n| stack | 200 new-connection GETs (4 KiB): wall / p50 / p99 "
        "| 16 x 64 MiB: aggregate, server RSS growth | keep-alive req/s, 8 clients "
        f"| {HOLD} held connections: open time, RSS growth | errors |"
        "\n|---|---|---|---|---|---|"
    )
    for r in rows:
        small = (
            f"{r['small_wall_s']:.3f} s / {r['small_p50_ms']} ms / {r['small_p99_ms']} ms"
            if r["small_wall_s"] is not None
            else "-"
        )
        large = (
            f"{r['large_MB_s']} MB/s, +{r['large_rss_growth_mib']:.0f} MiB "
            f"(peak {r['large_rss_peak_mib']:.0f}, idle {r['idle_rss_mib']:.0f})"
            if r["large_MB_s"] is not None
            else "-"
        )
        keep = str(r["keepalive_req_s"] or "-")
        hold = (
            f"{r['hold_wall_s']:.2f} s, +{r['hold_rss_growth_mib']:.0f} MiB"
            if r["hold_wall_s"] is not None
            else "-"
        )
        print(f"| {r['stack']} | {small} | {large} | {keep} | {hold} | {r['errors']} |")


if __name__ == "__main__":
    main()
