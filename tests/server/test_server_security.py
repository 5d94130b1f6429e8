"""``hubcli serve`` as a LAN server: no user reads another user's private (or gated) data through
any endpoint, unknown and forbidden look the same, signed CDN URLs are bound to repo + object +
expiry, request bodies are capped before they are read, bad framing is a 400, the connection
count is bounded, and the signing secret can persist across restarts."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from hubcli.server.limits import Limits
from hubcli.server.signing import SecretFileError
from tests.fixtures.hub import HubFixture

ALICE = {"Authorization": "Bearer hf_alice_token"}
BOB = {"Authorization": "Bearer hf_bob_token"}
SECRET = b"alice's private weights " * 200
SECRET_OID = hashlib.sha256(SECRET).hexdigest()
GATED = b"gated weights " * 300
GATED_OID = hashlib.sha256(GATED).hexdigest()
LFS_CTYPE = {"Content-Type": "application/vnd.git-lfs+json"}


# ---------------------------------------------------------------------- helpers
def raw(
    url: str, data: bytes, *, read_body: bool = True, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` (a whole request, verbatim) and read one response."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(data)
        return _read_response(sock, read_body)


def _read_response(
    sock: socket.socket, read_body: bool = True
) -> tuple[int, dict[str, str], bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        got = sock.recv(65536)
        if not got:
            break
        buf += got
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    want = int(headers.get("content-length", "0"))
    while read_body and len(rest) < want:
        got = sock.recv(65536)
        if not got:
            break
        rest += got
    return status, headers, rest


def batch(
    hub: HubFixture, repo: str, objects: list[dict[str, Any]], op: str, auth: dict[str, str]
) -> requests.Response:
    return requests.post(
        f"{hub.url}/{repo}.git/info/lfs/objects/batch",
        json={"operation": op, "transfers": ["basic"], "objects": objects, "hash_algo": "sha256"},
        headers={**auth, **LFS_CTYPE},
        timeout=10,
    )


def ndjson(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def commit_lfs(
    hub: HubFixture, repo: str, oid: str, size: int | None, auth: dict[str, str]
) -> requests.Response:
    value: dict[str, Any] = {"path": "stolen.safetensors", "algo": "sha256", "oid": oid}
    if size is not None:
        value["size"] = size
    body = ndjson({"key": "header", "value": {"summary": "x"}}, {"key": "lfsFile", "value": value})
    return requests.post(
        f"{hub.url}/api/models/{repo}/commit/main",
        data=body,
        headers={**auth, "Content-Type": "application/x-ndjson"},
        timeout=10,
    )


@pytest.fixture
def hub(hub_server: HubFixture) -> HubFixture:
    """alice/secret (private, LFS + regular, tag, branch, PR), alice/pub, bob/pub (public),
    alice/gated (gated, LFS)."""
    h = hub_server
    h.seed_repo(
        "alice/secret",
        {"w.safetensors": SECRET, "notes.txt": "the secret plan", "README.md": "# secret"},
        private=True,
        tags=["v1"],
    )
    h.create_branch("alice/secret", "dev")
    r = requests.post(
        f"{h.url}/api/models/alice/secret/discussions",
        json={"title": "pr", "pullRequest": True},
        headers=ALICE,
        timeout=5,
    )
    assert r.status_code == 200
    h.seed_repo("alice/pub", {"a.txt": "public a", "p.safetensors": b"public lfs " * 50})
    h.seed_repo("bob/pub", {"b.txt": "public b"})
    h.seed_repo("alice/gated", {"g.safetensors": GATED, "g.txt": "gated text"}, gated=True)
    return h


def secret_sha(hub: HubFixture) -> str:
    sha = hub.head("alice/secret")
    assert sha is not None
    return sha


# ---------------------------------------------------------------------- private repos
READ_ENDPOINTS = [
    ("GET", "/api/models/{repo}", None),
    ("GET", "/api/models/{repo}/revision/main", None),
    ("GET", "/api/models/{repo}/revision/{sha}", None),
    ("GET", "/api/models/{repo}/tree/main", None),
    ("GET", "/api/models/{repo}/tree/main?recursive=true&expand=true", None),
    ("GET", "/api/models/{repo}/tree/v1", None),
    ("POST", "/api/models/{repo}/paths-info/main", {"paths": ["w.safetensors", "notes.txt"]}),
    ("GET", "/api/models/{repo}/refs?include_prs=1", None),
    ("GET", "/api/models/{repo}/commits/main", None),
    ("GET", "/api/models/{repo}/commits/dev", None),
    ("GET", "/api/models/{repo}/discussions/1", None),
    ("GET", "/{repo}/resolve/main/notes.txt", None),
    ("HEAD", "/{repo}/resolve/main/w.safetensors", None),
    ("GET", "/{repo}/resolve/{sha}/w.safetensors", None),
    ("GET", "/{repo}/resolve/refs%2Fpr%2F1/notes.txt", None),
    ("POST", "/api/models/{repo}/preupload/main", {"files": [{"path": "x.txt", "size": 1}]}),
    ("POST", "/api/models/{repo}/branch/new", {}),
    ("POST", "/api/models/{repo}/discussions", {"title": "t", "pullRequest": True}),
]


@pytest.mark.parametrize("who", ["anonymous", "bob"])
def test_private_repo_reads_like_a_missing_one(hub: HubFixture, who: str) -> None:
    """Every endpoint answers another user (or nobody) about alice/secret exactly as about a repo
    that does not exist: same status, same error code, same body shape; nothing of it leaks."""
    auth = BOB if who == "bob" else {}
    sha = secret_sha(hub)
    for method, template, body in READ_ENDPOINTS:
        answers = []
        for repo in ("alice/secret", "alice/missing"):
            r = requests.request(
                method,
                hub.url + template.format(repo=repo, sha=sha),
                json=body,
                headers=auth,
                timeout=5,
                allow_redirects=False,
            )
            answers.append(r)
            leak = r.content + json.dumps(dict(r.headers)).encode()
            echoed = "{sha}" in template  # the error message quotes the URL
            for secret in (SECRET_OID.encode(), b"secret plan", b"" if echoed else sha.encode()):
                assert not secret or secret not in leak, (method, template, repo)
        hidden, missing = answers
        assert hidden.status_code == missing.status_code == (404 if auth else 401), template
        assert hidden.headers.get("X-Error-Code") == missing.headers.get("X-Error-Code")
        if method != "HEAD":
            assert hidden.json().keys() == missing.json().keys(), template
    # the owner reads it all
    r = requests.get(f"{hub.url}/api/models/alice/secret/tree/main", headers=ALICE, timeout=5)
    assert r.status_code == 200 and {e["path"] for e in r.json()} >= {"w.safetensors"}


@pytest.mark.parametrize("who", ["anonymous", "bob"])
def test_private_repo_is_left_out_of_listings_and_search(hub: HubFixture, who: str) -> None:
    auth = BOB if who == "bob" else {}
    for query in ("", "?search=secret", "?author=alice", "?full=true", "?expand=sha&search=sec"):
        r = requests.get(f"{hub.url}/api/models{query}", headers=auth, timeout=5)
        assert r.status_code == 200
        assert "alice/secret" not in {m["id"] for m in r.json()}, query
        assert b"secret plan" not in r.content and secret_sha(hub).encode() not in r.content
    r = requests.get(f"{hub.url}/api/models?search=secret", headers=ALICE, timeout=5)
    assert [m["id"] for m in r.json()] == ["alice/secret"]


def test_lfs_batch_download_serves_only_objects_of_the_repo(hub: HubFixture) -> None:
    """The reported attack: naming alice's private oid + size through a public repo."""
    unknown = {"oid": "ab" * 32, "size": len(SECRET)}
    stolen = {"oid": SECRET_OID, "size": len(SECRET)}
    for repo, auth in (("bob/pub", BOB), ("alice/pub", BOB), ("alice/pub", ALICE)):
        r = batch(hub, repo, [stolen, unknown], "download", auth)
        assert r.status_code == 200
        got, ref = r.json()["objects"]
        assert "actions" not in got and "actions" not in ref
        # the same answer as for an object that exists nowhere (no existence oracle)
        assert {k: v for k, v in got.items() if k != "oid"} == {
            k: v for k, v in ref.items() if k != "oid"
        }
    # bob gets nothing through alice's private repo: the repo is not found at all
    r = batch(hub, "alice/secret", [stolen], "download", BOB)
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "RepoNotFound"
    # the owner, through the repo that holds it, gets a working URL
    r = batch(hub, "alice/secret", [stolen, {"oid": SECRET_OID, "size": 1}], "download", ALICE)
    ok, wrong_size = r.json()["objects"]
    assert requests.get(ok["actions"]["download"]["href"], timeout=5).content == SECRET
    assert "actions" not in wrong_size and wrong_size["error"]["code"] == 404


def test_object_of_another_repo_cannot_be_claimed_without_its_content(hub: HubFixture) -> None:
    """No "already stored" shortcut, no commit, no verify for an object only another repo has;
    uploading the content (proof of possession) makes it usable, as for any new object."""
    stolen = {"oid": SECRET_OID, "size": len(SECRET)}
    unknown = {"oid": "cd" * 32, "size": len(SECRET)}
    r = batch(hub, "bob/pub", [stolen, unknown], "upload", BOB)
    got, ref = r.json()["objects"]
    assert set(got["actions"]) == set(ref["actions"]) == {"upload", "verify"}  # same as unknown
    verify = got["actions"]["verify"]["href"]
    assert requests.post(verify, json=stolen, headers=BOB, timeout=5).status_code == 404
    fake_verify = verify.rsplit("/", 1)[0] + "/" + "A" * 24
    assert requests.post(fake_verify, json=stolen, headers=BOB, timeout=5).status_code == 404
    for size in (len(SECRET), None):
        r_stolen = commit_lfs(hub, "bob/pub", SECRET_OID, size, BOB)
        r_unknown = commit_lfs(hub, "bob/pub", "cd" * 32, size, BOB)
        assert r_stolen.status_code == r_unknown.status_code == 422
        assert r_stolen.json().keys() == r_unknown.json().keys()
    assert (
        "stolen.safetensors"
        not in requests.get(f"{hub.url}/api/models/bob/pub/tree/main", timeout=5).text
    )
    # bob really has the bytes: he uploads them, then commits and serves them from his repo
    assert requests.put(got["actions"]["upload"]["href"], data=SECRET, timeout=5).status_code == 200
    assert requests.post(verify, json=stolen, headers=BOB, timeout=5).status_code == 200
    assert commit_lfs(hub, "bob/pub", SECRET_OID, len(SECRET), BOB).status_code == 200
    r = batch(hub, "bob/pub", [stolen], "download", BOB)
    href = r.json()["objects"][0]["actions"]["download"]["href"]
    assert requests.get(href, timeout=5).content == SECRET


def test_commit_by_sha_of_another_repo_is_unknown(hub: HubFixture) -> None:
    sha = secret_sha(hub)
    for path in (
        f"/bob/pub/resolve/{sha}/w.safetensors",
        f"/api/models/bob/pub/tree/{sha}",
        f"/api/models/bob/pub/commits/{sha}",
        f"/api/models/bob/pub/revision/{sha[:12]}",
    ):
        r = requests.get(hub.url + path, headers=BOB, timeout=5, allow_redirects=False)
        assert r.status_code == 404 and r.headers["X-Error-Code"] == "RevisionNotFound", path
    r = requests.post(
        f"{hub.url}/api/models/bob/pub/branch/steal",
        json={"startingPoint": sha},
        headers=BOB,
        timeout=5,
    )
    assert r.status_code == 404


@pytest.mark.parametrize("who", ["anonymous", "bob"])
def test_gated_repo_content_needs_access(hub: HubFixture, who: str) -> None:
    auth = BOB if who == "bob" else {}
    status = 403 if auth else 401
    obj = {"oid": GATED_OID, "size": len(GATED)}
    for r in (
        requests.get(f"{hub.url}/alice/gated/resolve/main/g.txt", headers=auth, timeout=5),
        requests.head(f"{hub.url}/alice/gated/resolve/main/g.safetensors", headers=auth),
    ):
        assert r.status_code == status and r.headers["X-Error-Code"] == "GatedRepo"
    if auth:  # batch needs a token anyway
        r = batch(hub, "alice/gated", [obj], "download", auth)
        assert r.status_code == 403 and r.headers["X-Error-Code"] == "GatedRepo"
        assert GATED_OID.encode() not in r.content
        r = batch(hub, "bob/pub", [obj], "download", auth)  # nor through another repo
        assert "actions" not in r.json()["objects"][0]
        hub.grant_access("alice/gated", "bob")
        r = batch(hub, "alice/gated", [obj], "download", auth)
        href = r.json()["objects"][0]["actions"]["download"]["href"]
        assert requests.get(href, timeout=5).content == GATED


# ---------------------------------------------------------------------- signed CDN URLs
def _lfs_location(hub: HubFixture, repo: str, path: str, auth: dict[str, str]) -> str:
    r = requests.head(f"{hub.url}/{repo}/resolve/main/{path}", headers=auth, timeout=5)
    assert r.status_code == 302
    return r.headers["Location"]


def test_cdn_url_is_bound_to_repo_object_and_expiry(hub: HubFixture) -> None:
    loc = _lfs_location(hub, "alice/secret", "w.safetensors", ALICE)
    assert requests.get(loc, timeout=5).content == SECRET
    pub = _lfs_location(hub, "alice/pub", "p.safetensors", {})
    pub_oid = urlsplit(pub).path.rsplit("/", 1)[1]
    query = urlsplit(pub).query
    cdn = hub.cdn_url
    forged = [
        f"{cdn}/_cdn/lfs/model/alice/pub/{SECRET_OID}?{query}",  # another object, same repo
        f"{cdn}/_cdn/lfs/model/bob/pub/{pub_oid}?{query}",  # same object, another repo
        f"{cdn}/_cdn/lfs/dataset/alice/pub/{pub_oid}?{query}",  # another repo type
        f"{cdn}/_cdn/lfs/model/alice/pub/{pub_oid}?" + re.sub(r"exp=\d+", "exp=99999999999", query),
        f"{cdn}/_cdn/lfs/model/alice/pub/{pub_oid}?" + re.sub(r"sig=\w+", "sig=" + "0" * 64, query),
        f"{cdn}/_cdn/lfs/model/alice/pub/{pub_oid}",  # unsigned
        f"{cdn}/_cdn/lfs/{SECRET_OID}?{query}",  # the old, unbound URL shape
    ]
    statuses = [requests.get(u, timeout=5).status_code for u in forged]
    assert statuses[:-1] == [403] * 6 and statuses[-1] == 404
    # an expired URL is refused; a fresh one for the same object works
    hub.state.signer.ttl = -1
    expired = _lfs_location(hub, "alice/pub", "p.safetensors", {})
    assert requests.get(expired, timeout=5).status_code == 403
    hub.state.signer.ttl = 3600
    assert requests.get(_lfs_location(hub, "alice/pub", "p.safetensors", {})).status_code == 200


def test_cdn_filename_cannot_inject_headers(hub: HubFixture) -> None:
    loc = _lfs_location(hub, "alice/pub", "p.safetensors", {})
    loc = re.sub(r"filename=[^&]*", "filename=a%0d%0aSet-Cookie:%20x=1%0d%0a", loc)
    r = requests.get(loc, timeout=5)
    assert r.status_code == 200 and "Set-Cookie" not in r.headers


def test_secret_file_keeps_signed_urls_valid_across_restarts(tmp_path: Path) -> None:
    secret_file = tmp_path / "conf" / "cdn-secret"
    root = tmp_path / "root"

    def start(secret: Path | None) -> HubFixture:
        return HubFixture(root, secret_file=secret).start()  # type: ignore[return-value]

    hub = start(secret_file)
    try:
        hub.seed_repo("alice/pub", {"p.safetensors": b"persisted " * 100})
        loc = _lfs_location(hub, "alice/pub", "p.safetensors", {})
    finally:
        hub.stop()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert len(secret_file.read_text().strip()) == 64
    tail = loc.split("/_cdn/", 1)[1]
    hub = start(secret_file)  # same secret: the URL minted by the first run still works
    try:
        r = requests.get(f"{hub.cdn_url}/_cdn/{tail}", timeout=5)
        assert r.status_code == 200 and r.content == b"persisted " * 100
    finally:
        hub.stop()
    hub = start(None)  # without the file: a random secret per process
    try:
        assert requests.get(f"{hub.cdn_url}/_cdn/{tail}", timeout=5).status_code == 403
    finally:
        hub.stop()
    secret_file.chmod(0o644)
    with pytest.raises(SecretFileError, match="everyone"):
        HubFixture(root, secret_file=secret_file)
    short = tmp_path / "short"
    short.write_text("too short\n")
    short.chmod(0o600)
    with pytest.raises(SecretFileError, match="shorter"):
        HubFixture(root, secret_file=short)


# ---------------------------------------------------------------------- bodies and framing
def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: x", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Length": "abc"},
        {"Content-Length": "-5"},
        {"Content-Length": "1e3"},
        {"Content-Length": "5, 7"},
        {"Content-Length": "99999999999999999999999"},
        {"Content-Length": "5", "Transfer-Encoding": "chunked"},
        {"Transfer-Encoding": "gzip"},
    ],
)
def test_bad_framing_is_400(
    hub_server: HubFixture, headers: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    for path in ("/api/validate-yaml", "/api/models/alice/m/paths-info/main", "/api/models"):
        status, _, body = raw(hub_server.url, _request("POST", path, headers, b"{}"))
        assert status == 400, (headers, path)
        assert "error" in json.loads(body)
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("size_line", [b"zz", b"-5", b"1" * 20, b""])
def test_bad_chunk_size_is_400(hub_server: HubFixture, size_line: bytes) -> None:
    req = _request("POST", "/api/validate-yaml", {"Transfer-Encoding": "chunked"})
    status, _, _ = raw(hub_server.url, req + size_line + b"\r\nabc\r\n0\r\n\r\n")
    assert status == 400


def test_oversized_bodies_get_413_before_being_read(hub_server: HubFixture) -> None:
    """Headers announce 600 MiB; the body is never sent: the 413 comes at once."""
    hub_server.seed_repo("alice/m", {"a.txt": "a"})
    huge = str(600 * 1024 * 1024)
    cases = [
        ("/api/validate-yaml", {}),
        ("/api/models/alice/m/paths-info/main", {}),
        ("/api/models/alice/m/preupload/main", ALICE),
        ("/alice/m.git/info/lfs/objects/batch", ALICE),
        ("/api/repos/create", ALICE),
        ("/api/models/alice/m/commit/main", ALICE),
        ("/api/models/alice/m/branch/x", ALICE),
    ]
    for path, auth in cases:
        start = time.monotonic()
        headers = {"Content-Length": huge, "Content-Type": "application/json", **auth}
        status, _, body = raw(hub_server.url, _request("POST", path, headers))
        assert status == 413, path
        assert time.monotonic() - start < 2 and b"limit" in body
    # anonymous writes are refused before the body is even considered
    status, _, _ = raw(
        hub_server.url, _request("POST", "/api/repos/create", {"Content-Length": huge})
    )
    assert status == 401
    # Expect: 100-continue: no "100 Continue" for a body that will be refused
    headers = {"Content-Length": huge, "Expect": "100-continue"}
    status, _, _ = raw(hub_server.url, _request("POST", "/api/validate-yaml", headers))
    assert status == 413


def test_small_json_endpoints_have_small_caps(hub_server: HubFixture) -> None:
    hub_server.seed_repo("alice/m", {"a.txt": "a"})
    pad = "x" * (Limits().small_json + 10)
    r = requests.post(
        f"{hub_server.url}/api/repos/create", json={"name": "n", "pad": pad}, headers=ALICE
    )
    assert r.status_code == 413
    # the protocol-sized bodies still fit: 10,000 preupload entries and 10,000 paths-info paths
    files = [
        {
            "path": f"folder/sub/file-{i:05d}.bin",
            "size": 10,
            "sample": base64.b64encode(b"\0" * 512),
        }
        for i in range(10_000)
    ]
    body = json.dumps({"files": files}, default=bytes.decode).encode()
    assert len(body) > 7_000_000
    r = requests.post(
        f"{hub_server.url}/api/models/alice/m/preupload/main",
        data=body,
        headers={**ALICE, "Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 200 and len(r.json()["files"]) == 10_000
    paths = {"paths": [f"folder/sub/file-{i:05d}.bin" for i in range(10_000)]}
    r = requests.post(f"{hub_server.url}/api/models/alice/m/paths-info/main", json=paths)
    assert r.status_code == 200


def test_commit_line_and_total_caps(hub_server_factory: Any) -> None:
    hub = hub_server_factory(lfs_threshold=3000)
    hub.seed_repo("alice/m", {"a.txt": "a"})
    head = hub.head("alice/m")
    url = f"{hub.url}/api/models/alice/m/commit/main"
    hdr = {**ALICE, "Content-Type": "application/x-ndjson"}

    def line(path: str, size: int) -> dict[str, Any]:
        content = base64.b64encode(os.urandom(size)).decode()
        return {"key": "file", "value": {"path": path, "content": content, "encoding": "base64"}}

    top = {"key": "header", "value": {"summary": "s"}}
    # a regular file just under the LFS threshold fits; a line far past it is refused
    assert requests.post(url, data=ndjson(top, line("ok.bin", 2999)), headers=hdr).ok
    big = ndjson(top, line("big.bin", 200_000))

    def chunked() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    r = requests.post(url, data=chunked(), headers=hdr, timeout=10)
    assert r.status_code == 413 and "Commit line" in r.headers["X-Error-Message"]
    # the total cap
    hub.state.limits.max_commit_size = 50_000
    body = ndjson(top, *(line(f"f{i}.bin", 2000) for i in range(30)))
    assert requests.post(url, data=body, headers=hdr, timeout=10).status_code == 413
    hub.state.limits.max_commit_size = Limits().max_commit_size
    hub.state.limits.max_commit_ops = 5
    body = ndjson(top, *(line(f"f{i}.bin", 10) for i in range(6)))
    assert requests.post(url, data=body, headers=hdr, timeout=10).status_code == 413
    assert not any(hub.storage.tmp.iterdir())  # staged files of refused commits are gone
    repo = hub.storage.get_repo("model", "alice/m")
    assert repo is not None
    tree = hub.storage.get_commit(repo, hub.head("alice/m") or "")
    assert (
        tree is not None and set(tree.tree) == {"a.txt", "ok.bin"} and head != hub.head("alice/m")
    )


# ---------------------------------------------------------------------- memory (server process)
def _rss_peak_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmHWM:\s+(\d+) kB", text)
    assert m
    return int(m.group(1))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_huge_anonymous_bodies_do_not_grow_the_server(tmp_path: Path) -> None:
    """Two concurrent 500 MiB chunked POSTs (no Content-Length, so the server has to read to find
    out) to a JSON endpoint and to a commit: the server's peak RSS stays far below the bodies."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubcli.server", "--root", str(tmp_path), "--token", "t:alice"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        requests.post(
            f"{url}/api/repos/create", json={"name": "m"}, headers={"Authorization": "Bearer t"}
        )
        base = _rss_peak_kib(proc.pid)
        results: list[int] = []

        def send(path: str, auth: dict[str, str]) -> None:
            chunk = b"[" * (1 << 20) if "yaml" in path else b"x" * (1 << 20)

            def body() -> Iterator[bytes]:
                for _ in range(500):
                    yield chunk

            try:
                r = requests.post(url + path, data=body(), headers=auth, timeout=30)
                results.append(r.status_code)
            except requests.ConnectionError:
                results.append(413)  # the server closed the connection after its 413

        threads = [
            threading.Thread(target=send, args=("/api/validate-yaml", {})),
            threading.Thread(
                target=send, args=("/api/models/alice/m/commit/main", {"Authorization": "Bearer t"})
            ),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        peak = _rss_peak_kib(proc.pid)
        assert results == [413, 413]
        assert peak - base < 120 * 1024, (base, peak)  # far below 2 x 500 MiB
        print(f"server peak RSS: {base // 1024} MiB before, {peak // 1024} MiB after")
    finally:
        proc.terminate()
        proc.wait(10)


# ---------------------------------------------------------------------- connections
def test_connections_are_bounded_and_idle_ones_time_out(tmp_path: Path) -> None:
    limits = Limits(max_connections=2, idle_timeout=0.5, slot_wait=0.05)
    hub = HubFixture(tmp_path, limits=limits).start()
    try:
        parts = urlsplit(hub.url)
        idle = [socket.create_connection((parts.hostname, parts.port)) for _ in range(2)]
        time.sleep(0.2)  # both are accepted and hold the two slots
        status, headers, _ = raw(hub.url, _request("GET", "/api/models", {}))
        assert status == 503 and headers.get("retry-after") == "1"
        time.sleep(0.7)  # the idle connections time out and give their slots back
        status, _, _ = raw(hub.url, _request("GET", "/api/models", {"Connection": "close"}))
        assert status == 200
        for s in idle:
            s.close()
    finally:
        hub.stop()
