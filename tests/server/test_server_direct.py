"""Direct HTTP tests of the local hub: headers, ranges, traversal, malformed commits, concurrency,
LFS upload verification, pagination and the request log."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import threading
import time
from urllib.parse import urlsplit

import requests

from hubcli.server.storage import Storage, git_blob_sha1
from tests.fixtures.hub import HubFixture

ALICE = {"Authorization": "Bearer hf_alice_token"}


def raw_request(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Send ``path`` verbatim (no client-side normalisation of ``..`` or ``%2F``)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def ndjson(*lines: dict) -> bytes:  # type: ignore[type-arg]
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def header(summary: str = "msg", parent: str | None = None) -> dict:  # type: ignore[type-arg]
    value = {"summary": summary, "description": ""}
    if parent:
        value["parentCommit"] = parent
    return {"key": "header", "value": value}


def file_line(path: str, content: bytes) -> dict:  # type: ignore[type-arg]
    b64 = base64.b64encode(content).decode()
    return {"key": "file", "value": {"content": b64, "path": path, "encoding": "base64"}}


def commit(
    hub: HubFixture, body: bytes, repo: str = "alice/m", rev: str = "main"
) -> requests.Response:
    return requests.post(
        f"{hub.url}/api/models/{repo}/commit/{rev}",
        data=body,
        headers={**ALICE, "Content-Type": "application/x-ndjson"},
        timeout=10,
    )


def test_resolve_headers_range_and_errors(hub_server: HubFixture) -> None:
    sha = hub_server.seed_repo("alice/m", {"a.txt": "0123456789", "dir/b c.txt": "x"})
    url = f"{hub_server.url}/alice/m/resolve/main/a.txt"
    r = requests.head(url, timeout=5)
    assert r.status_code == 200
    assert r.headers["ETag"] == '"' + hashlib.sha1(b"blob 10\x000123456789").hexdigest() + '"'
    assert r.headers["X-Repo-Commit"] == sha
    assert r.headers["Content-Length"] == "10" and r.headers["Accept-Ranges"] == "bytes"
    r = requests.get(url, headers={"Range": "bytes=2-4"}, timeout=5)
    assert r.status_code == 206 and r.content == b"234"
    assert r.headers["Content-Range"] == "bytes 2-4/10"
    r = requests.get(url, headers={"Range": "bytes=-3"}, timeout=5)
    assert r.status_code == 206 and r.content == b"789"
    r = requests.get(url, headers={"Range": "bytes=50-"}, timeout=5)
    assert r.status_code == 416 and r.headers["Content-Range"] == "bytes */10"
    r = requests.get(f"{hub_server.url}/alice/m/resolve/{sha}/dir/b%20c.txt", timeout=5)
    assert r.content == b"x"
    r = requests.get(f"{hub_server.url}/alice/m/resolve/main/nope.txt", timeout=5)
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "EntryNotFound"
    assert r.headers["X-Repo-Commit"] == sha
    r = requests.get(f"{hub_server.url}/alice/m/resolve/nope/a.txt", timeout=5)
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "RevisionNotFound"
    r = requests.get(f"{hub_server.url}/alice/nope/resolve/main/a.txt", timeout=5)
    assert r.status_code == 401 and r.headers["X-Error-Code"] == "RepoNotFound"
    r = requests.get(f"{hub_server.url}/alice/nope/resolve/main/a.txt", headers=ALICE, timeout=5)
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "RepoNotFound"
    r = requests.get(
        f"{hub_server.url}/api/models/alice/m", headers={"Authorization": "Bearer bad"}
    )
    assert r.status_code == 401
    assert r.headers["X-Error-Message"] == "Invalid credentials in Authorization header"


def test_lfs_redirect_and_cdn(hub_server: HubFixture) -> None:
    data = b"\xff" * 4096
    hub_server.seed_repo("alice/m", {"w.safetensors": data})
    r = requests.head(f"{hub_server.url}/alice/m/resolve/main/w.safetensors", timeout=5)
    assert r.status_code == 302
    assert r.headers["X-Linked-Etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert r.headers["X-Linked-Size"] == "4096"
    loc = r.headers["Location"]
    assert loc.startswith(hub_server.cdn_url + "/") and hub_server.cdn_url != hub_server.url
    assert not any(k.lower().startswith("x-xet") for k in r.headers)
    r = requests.get(loc, headers={"Range": "bytes=4000-"}, timeout=5)
    assert r.status_code == 206 and r.content == data[4000:]
    assert requests.get(loc.split("?")[0], timeout=5).status_code == 403  # unsigned
    # the API routes are not served on the CDN origin
    assert requests.get(f"{hub_server.cdn_url}/api/models", timeout=5).status_code == 404


def test_path_traversal_is_refused(hub_server: HubFixture) -> None:
    hub_server.seed_repo("alice/m", {"a.txt": "a"})
    url = hub_server.url
    for path in (
        "/alice/m/resolve/main/../../etc/passwd",
        "/alice/m/resolve/main/..%2F..%2Fetc%2Fpasswd",
        "/alice/m/resolve/main/%2Fetc%2Fpasswd",
        "/alice/m/resolve/main/a%00.txt",
        "/alice/m/resolve/main/a%5C..%5Cb",
        "/api/models/alice/m/tree/main/..%2F..",
        "/api/models/../../etc",
        "/api/models/alice/%2E%2E/tree/main",
    ):
        status, _, _ = raw_request(url, "GET", path)
        assert status == 400, path
    for bad in ("../x.txt", "/abs.txt", "a\\b.txt", "a/\x00.txt", "a/./b", ".git/config"):
        r = commit(hub_server, ndjson(header(), file_line(bad, b"x")))
        assert r.status_code == 400, bad
    r = requests.post(
        f"{url}/api/repos/create", json={"name": "..", "organization": "alice"}, headers=ALICE
    )
    assert r.status_code == 400
    # nothing was written outside the root, and the repo did not change
    assert hub_server.read_file("alice/m", "a.txt") == b"a"
    assert [p.name for p in (hub_server.root / "repos" / "models").iterdir()] == ["alice"]


def test_malformed_ndjson_changes_nothing(hub_server: HubFixture) -> None:
    sha = hub_server.seed_repo("alice/m", {"a.txt": "a"})
    commits_dir = hub_server.root / "repos" / "models" / "alice" / "m" / "commits"
    before = sorted(p.name for p in commits_dir.iterdir())
    bodies = [
        b"this is not json\n",
        ndjson(header()) + b'{"key": "file", "value": {"path": "b.txt", "content": "!!"',
        ndjson(file_line("b.txt", b"b")),  # no header first
        ndjson(header(), file_line("b.txt", b"b"), {"key": "bogus", "value": {}}),
        ndjson(
            header(),
            {"key": "file", "value": {"path": "c", "content": "%%%", "encoding": "base64"}},
        ),
        ndjson(
            header(),
            file_line("b.txt", b"b"),
            {
                "key": "lfsFile",
                "value": {"path": "w.bin", "algo": "sha256", "oid": "a" * 64, "size": 3},
            },
        ),
        ndjson(header(), {"key": "deletedFile", "value": {"path": "missing.txt"}}),
    ]
    for body in bodies:
        r = commit(hub_server, body)
        assert 400 <= r.status_code < 500, body
    assert hub_server.head("alice/m") == sha
    assert sorted(p.name for p in commits_dir.iterdir()) == before
    r = commit(hub_server, ndjson(header(), file_line("b.txt", b"b")))
    assert r.status_code == 200 and r.json()["commitOid"] == hub_server.head("alice/m")


def test_commit_auth(hub_server: HubFixture) -> None:
    hub_server.seed_repo("alice/m", {"a.txt": "a"})
    body = ndjson(header(), file_line("b.txt", b"b"))
    url = f"{hub_server.url}/api/models/alice/m/commit/main"
    assert requests.post(url, data=body, timeout=5).status_code == 401
    bob = {"Authorization": "Bearer hf_bob_token"}
    assert requests.post(url, data=body, headers=bob, timeout=5).status_code == 403


def test_concurrent_commits_with_parent_one_wins(hub_server: HubFixture) -> None:
    for round_ in range(5):
        sha = hub_server.seed_repo("alice/m", {"seed.txt": str(round_)})
        barrier = threading.Barrier(4)
        results: list[int] = []

        def worker(i: int, parent: str, barrier: threading.Barrier, results: list[int]) -> None:
            body = ndjson(header(f"c{i}", parent), file_line(f"f{i}.txt", b"x"))
            barrier.wait()
            results.append(commit(hub_server, body).status_code)

        threads = [
            threading.Thread(target=worker, args=(i, sha, barrier, results)) for i in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [200, 412, 412, 412]
    # without parentCommit all concurrent commits land, serialized
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def free(i: int) -> None:
        barrier.wait()
        statuses.append(
            commit(hub_server, ndjson(header(f"n{i}"), file_line(f"n{i}.txt", b"y"))).status_code
        )

    threads = [threading.Thread(target=free, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 6
    repo = hub_server.storage.get_repo("model", "alice/m")
    assert repo is not None
    head = hub_server.storage.get_commit(repo, hub_server.head("alice/m") or "")
    assert head is not None and all(f"n{i}.txt" in head.tree for i in range(6))


def test_lfs_upload_verifies_sha256(hub_server: HubFixture) -> None:
    hub_server.seed_repo("alice/m", {"a.txt": "a"})
    data = b"payload" * 1000
    oid = hashlib.sha256(data).hexdigest()
    batch_url = f"{hub_server.url}/alice/m.git/info/lfs/objects/batch"
    lfs_headers = {**ALICE, "Content-Type": "application/vnd.git-lfs+json"}
    body = {
        "operation": "upload",
        "transfers": ["basic", "multipart"],
        "objects": [{"oid": oid, "size": len(data)}],
    }
    r = requests.post(batch_url, json=body, headers=lfs_headers, timeout=5)
    assert r.status_code == 200
    obj = r.json()["objects"][0]
    href = obj["actions"]["upload"]["href"]
    assert requests.put(href, data=b"X" * len(data), timeout=5).status_code == 400  # wrong content
    assert not hub_server.storage.has_lfs(oid)
    assert requests.put(href, data=data, timeout=5).status_code == 200
    verify = obj["actions"]["verify"]["href"]
    assert (
        requests.post(verify, json={"oid": oid, "size": len(data)}, headers=ALICE).status_code
        == 200
    )
    r = requests.post(batch_url, json=body, headers=lfs_headers, timeout=5)
    assert "actions" not in r.json()["objects"][0]  # already stored -> skipped
    # unauthenticated batch is refused
    assert requests.post(batch_url, json=body, timeout=5).status_code == 401


def test_pagination_and_paths_info(hub_server: HubFixture) -> None:
    hub_server.page_size = 3
    files = {f"f{i:02d}.txt": str(i) for i in range(8)}
    hub_server.seed_repo("alice/m", files)
    url = f"{hub_server.url}/api/models/alice/m/tree/main?recursive=true&expand=false"
    seen: list[str] = []
    while url:
        r = requests.get(url, timeout=5)
        seen += [x["path"] for x in r.json()]
        url = r.links.get("next", {}).get("url")
        assert url is None or url.startswith(hub_server.url + "/")
    assert seen == sorted(files)
    pi = f"{hub_server.url}/api/models/alice/m/paths-info/main"
    r = requests.post(pi, data={"paths": ["f01.txt", "nope", "f02.txt"], "expand": "false"})
    assert [x["path"] for x in r.json()] == ["f01.txt", "f02.txt"]
    r = requests.post(pi, json={"paths": ["f03.txt"], "expand": True})
    assert r.json()[0]["lastCommit"]["title"] == "seed"


def test_refs_with_slash_in_revision(hub_server: HubFixture) -> None:
    hub_server.seed_repo("alice/m", {"a.txt": "main"})
    r = commit(hub_server, ndjson(header("pr"), file_line("a.txt", b"pr")), rev="main?create_pr=1")
    assert r.json()["pullRequestUrl"].endswith("/alice/m/discussions/1")
    base = f"{hub_server.url}/alice/m/resolve"
    assert requests.get(f"{base}/refs%2Fpr%2F1/a.txt", timeout=5).content == b"pr"
    assert requests.get(f"{base}/refs/pr/1/a.txt", timeout=5).content == b"pr"
    hub_server.create_branch("alice/m", "feature/x")
    r = requests.get(f"{hub_server.url}/api/models/alice/m/tree/feature%2Fx/", timeout=5)
    assert [x["path"] for x in r.json()] == ["a.txt"]
    r = requests.get(f"{hub_server.url}/api/models/alice/m/revision/refs%2Fpr%2F1", timeout=5)
    assert r.json()["sha"] == r.json()["sha"] and len(r.json()["sha"]) == 40


def test_request_log_and_keepalive(hub_server: HubFixture) -> None:
    hub_server.seed_repo("alice/m", {"a.txt": "a" * 4096})
    hub_server.clear_requests()
    with requests.Session() as s:
        for _ in range(20):
            assert (
                s.get(f"{hub_server.url}/alice/m/resolve/main/a.txt", headers=ALICE).status_code
                == 200
            )
    # a request is logged once its answer is sent: the last entry may trail the last response
    deadline = time.monotonic() + 5
    while len(log := hub_server.requests()) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(log) == 20
    assert log[0]["method"] == "GET" and log[0]["bytes"] == 4096 and log[0]["auth"] is True
    assert log[0]["path"] == "/alice/m/resolve/main/a.txt"
    assert requests.get(f"{hub_server.url}/api/agent-harnesses").json() == {
        "standardEnvVars": [],
        "harnesses": {},
    }


def test_multipart_session_is_reused_until_completed(hub_server: HubFixture) -> None:
    hub_server.seed_repo("alice/m", {"a.txt": "a"})
    hub_server.set_knobs(multipart_threshold=1000, multipart_chunk_size=600)
    data = bytes(range(256)) * 5  # 1280 bytes -> 3 parts
    oid = hashlib.sha256(data).hexdigest()
    batch_url = f"{hub_server.url}/alice/m.git/info/lfs/objects/batch"
    body = {"operation": "upload", "objects": [{"oid": oid, "size": len(data)}]}

    def actions() -> dict:  # type: ignore[type-arg]
        r = requests.post(batch_url, json=body, headers=ALICE, timeout=5)
        return r.json()["objects"][0].get("actions", {})  # type: ignore[no-any-return]

    first = actions()["upload"]
    part1 = requests.put(first["header"]["1"], data=data[:600], timeout=5)
    second = actions()["upload"]  # an interrupted client asks again: same session, part 1 kept
    assert second == first
    etags = [part1.headers["ETag"]]
    for n, chunk in ((2, data[600:1200]), (3, data[1200:])):
        etags.append(requests.put(second["header"][str(n)], data=chunk, timeout=5).headers["ETag"])
    parts = [{"partNumber": i + 1, "etag": e} for i, e in enumerate(etags)]
    r = requests.post(second["href"], json={"oid": oid, "parts": parts}, timeout=5)
    assert r.status_code == 200 and hub_server.storage.has_lfs(oid, len(data))
    assert actions() == {}


def _tree(hub: HubFixture, repo_id: str = "alice/m") -> dict[str, bytes]:
    """The head tree as {path: content}, read through a fresh Storage (from disk, no cache)."""
    st = Storage(hub.root)
    repo = st.get_repo("model", repo_id)
    assert repo is not None
    c = st.get_commit(repo, st.resolve_rev(repo, "main") or "")
    assert c is not None
    return {p: st.read_blob(e) for p, e in c.tree.items()}


def test_file_and_folder_of_the_same_name_replace_each_other(hub_server: HubFixture) -> None:
    hub_server.seed_repo("alice/m", {"a/x.txt": "x", "a/b/y.txt": "y", "keep/k.txt": "k"})
    # a file replaces the folder "a/b", then the folder "a" (its parent)
    assert commit(hub_server, ndjson(header(), file_line("a/b", b"file b"))).status_code == 200
    tree = _tree(hub_server)
    assert tree["a/b"] == b"file b" and "a/b/y.txt" not in tree and tree["a/x.txt"] == b"x"
    assert commit(hub_server, ndjson(header(), file_line("a", b"file a"))).status_code == 200
    assert {p for p in _tree(hub_server) if p.startswith("a")} == {"a"}
    # a folder replaces the file "a": adding "a/b/z.txt" drops it
    assert commit(hub_server, ndjson(header(), file_line("a/b/z.txt", b"z"))).status_code == 200
    tree = _tree(hub_server)
    assert "a" not in tree and "a/b" not in tree and tree["a/b/z.txt"] == b"z"
    assert tree["keep/k.txt"] == b"k"
    # both directions inside one commit, in order
    body = ndjson(
        header(),
        file_line("q/1.txt", b"1"),
        file_line("q", b"q file"),
        file_line("q/2.txt", b"2"),
        file_line("r", b"r file"),
        file_line("r/s/3.txt", b"3"),
        file_line("r/s", b"s file"),
    )
    assert commit(hub_server, body).status_code == 200
    tree = _tree(hub_server)
    assert {p: v for p, v in tree.items() if p[0] in "qr"} == {
        "q/2.txt": b"2",
        "r/s": b"s file",
    }
    # the commit served from the in-memory cache matches the one on disk
    repo = hub_server.storage.get_repo("model", "alice/m")
    assert repo is not None
    cached = hub_server.storage.get_commit(repo, hub_server.head("alice/m") or "")
    assert cached is not None and list(cached.tree) == sorted(tree)


def test_commit_of_many_small_files(hub_server: HubFixture) -> None:
    hub_server.seed_repo("alice/m", {"old/1.txt": "old"})
    files = {f"d{i % 7}/sub{i % 3}/f{i:04d}.txt": f"content {i}".encode() for i in range(1000)}
    files["dup.txt"] = b"content 5"  # same content twice: one blob
    body = ndjson(header(), *(file_line(p, c) for p, c in files.items()))
    r = commit(hub_server, body)
    assert r.status_code == 200 and r.json()["commitOid"] == hub_server.head("alice/m")
    tree = _tree(hub_server)
    tree.pop(".gitattributes", None)
    assert tree == {**files, "old/1.txt": b"old"}
    st = hub_server.storage
    for p, c in files.items():
        blob = st.git_path(git_blob_sha1(c))
        assert blob.read_bytes() == c, p
    assert not any(st.tmp.iterdir())  # no temp file left behind
    r = requests.get(f"{hub_server.url}/alice/m/resolve/main/d3/sub1/f0010.txt", timeout=10)
    assert r.status_code == 200 and r.content == b"content 10"
    # committing the same content again rewrites no blob
    blob = st.git_path(git_blob_sha1(b"content 10"))
    mtime = blob.stat().st_mtime_ns
    assert commit(hub_server, ndjson(header(), file_line("again.txt", b"content 10"))).ok
    assert blob.stat().st_mtime_ns == mtime and _tree(hub_server)["again.txt"] == b"content 10"
