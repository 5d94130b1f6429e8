"""The nginx caching config of docs/mirror.md, tested as written: nginx in front of a mirror
(ports and paths of the test put into the documented block). Skips when nginx is not installed."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.fixtures.hub import HubFixture, hf_environment, run_hf
from tests.mirror.conftest import Mirror, seed_files

DOC = Path(__file__).resolve().parents[2] / "docs" / "mirror.md"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
)


def documented_config() -> str:
    blocks = re.findall(r"```nginx\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1, "docs/mirror.md must hold exactly one nginx block"
    return blocks[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def nginx_front(tmp_path: Path) -> Iterator[Callable[[Mirror], tuple[str, str]]]:
    if NGINX is None:
        pytest.skip(
            "nginx is not installed (apt-get install nginx-light): the nginx config of "
            "docs/mirror.md is not exercised"
        )
    procs: list[subprocess.Popen[bytes]] = []

    def start(mirror: Mirror) -> str:
        port, cdn_port = free_port(), free_port()
        api = mirror.url.rsplit(":", 1)[1]
        cdn = mirror.cdn_url.rsplit(":", 1)[1]
        cache = tmp_path / "nginx-cache"
        block = documented_config()
        for old, new in (
            ("listen 8080;", f"listen 127.0.0.1:{port};"),
            ("listen 8081;", f"listen 127.0.0.1:{cdn_port};"),
            ("127.0.0.1:8000", f"127.0.0.1:{api}"),
            ("127.0.0.1:8001", f"127.0.0.1:{cdn}"),
            ("):8001/", f"):{cdn}/"),
            (":8081/$2", f":{cdn_port}/$2"),
            ("/var/cache/nginx/hub-mirror", str(cache)),
        ):
            assert old in block, old
            block = block.replace(old, new)
        user = f"user {pwd.getpwuid(os.getuid()).pw_name};\n" if os.getuid() == 0 else ""
        temps = "".join(
            f"    {k}_temp_path {tmp_path / k};\n"
            for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        conf = tmp_path / "nginx.conf"
        conf.write_text(
            f"{user}worker_processes 1;\ndaemon off;\npid {tmp_path / 'nginx.pid'};\n"
            f"error_log {tmp_path / 'error.log'} warn;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n    access_log off;\n{temps}{block}\n}}\n"
        )
        proc = subprocess.Popen(
            [NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        procs.append(proc)
        deadline = time.monotonic() + 10
        while True:
            try:
                for p in (port, cdn_port):
                    socket.create_connection(("127.0.0.1", p), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = (
                        (tmp_path / "error.log").read_text()
                        if (tmp_path / "error.log").exists()
                        else ""
                    )
                    raise RuntimeError(f"nginx did not start: {err}") from None
                time.sleep(0.05)
        return f"http://127.0.0.1:{port}", f"http://127.0.0.1:{cdn_port}"

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_nginx_caches_public_blobs_only(
    hub_server_factory: Callable[..., HubFixture],
    mirror_factory: Callable[..., Mirror],
    nginx_front: Callable[[Mirror], tuple[str, str]],
    tmp_path: Path,
) -> None:
    up = hub_server_factory()
    files = seed_files(2_000_000)
    up.seed_repo("alice/m", files)
    up.seed_repo("alice/gated", files, gated=True)
    access = tmp_path / "access"
    access.write_text("carol: alice/gated\n")
    mirror = mirror_factory([up.url], token=up.alice_token, access_file=str(access))
    mirror.add_token("hf_mirror_carol", "carol")
    front, front_cdn = nginx_front(mirror)
    url = f"{front}/alice/m/resolve/main/model.safetensors"

    def cdn_gets() -> float:  # file answers of the mirror (store hits and fills)
        return mirror.core.metrics.get("hits_total") + mirror.core.metrics.get("misses_total")

    statuses = []
    for _ in range(3):
        r = requests.get(url, timeout=60)
        assert r.status_code == 200 and r.content == files["model.safetensors"]
        assert r.history and r.history[0].headers["Location"].startswith(front_cdn + "/_cdn/")
        statuses.append(r.headers["X-Cache-Status"])
    assert statuses == ["MISS", "HIT", "HIT"]
    assert cdn_gets() == 1
    # another signed URL of the same blob (another expiry): the same cache entry
    loc = requests.get(url, allow_redirects=False, timeout=30).headers["Location"]
    other = re.sub(r"exp=\d+", "exp=9999999999", loc)
    r = requests.get(other, timeout=30)
    assert r.headers["X-Cache-Status"] == "HIT" and r.content == files["model.safetensors"]
    # a gated repo's blob is "private, no-store": nginx passes it through, never keeps it
    carol = {"Authorization": "Bearer hf_mirror_carol"}
    gated = f"{front}/alice/gated/resolve/main/model.safetensors"
    for _ in range(2):
        r = requests.get(gated, headers=carol, timeout=60)
        assert r.status_code == 200 and r.content == files["model.safetensors"]
        assert r.headers["Cache-Control"] == "private, no-store"
        assert r.headers["X-Cache-Status"] == "MISS"
    assert requests.get(gated, timeout=30).status_code == 401
    # huggingface_hub, unmodified, through nginx
    env = hf_environment(front, tmp_path / "hf")
    code = 'from huggingface_hub import snapshot_download; print(snapshot_download("alice/m"))'
    out = Path(run_hf(code, env).stdout.strip().splitlines()[-1])
    assert {p: (out / p).read_bytes() for p in files} == files
