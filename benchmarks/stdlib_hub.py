"""A minimal read-only Hub on Python's stdlib ``http.server``, the benchmarks' second server.

    python benchmarks/stdlib_hub.py --repo bench/small=FOLDER [--repo ID=DIR ...]
        [--latency-ms 20] [--bandwidth 20] [--port 0]

Serves what ``hf download`` and ``hubcli download`` read: repo info (siblings with blobs=true), the
tree (paginated, recursive), paths-info, HEAD/GET on ``/{id}/resolve/{rev}/{path}`` with the
headers of hub-protocol.md 5.2 (X-Repo-Commit, quoted ETag; an LFS file answers a 302 to a second,
CDN-like origin with X-Linked-Etag/X-Linked-Size) and single Range requests (206). Each folder is
one repo at one commit; files of --lfs-threshold bytes or more and weights (*.safetensors, *.bin,
...) are LFS (named by sha256), the others regular (git blob sha1).

Deliberately the stock server class: ThreadingHTTPServer + BaseHTTPRequestHandler, HTTP/1.1
keep-alive, the header block and the body sent in two writes with Nagle on (no TCP_NODELAY). On a
reused connection a small body then waits for the ACK of the headers, which the client's delayed
ACK holds back up to ~40 ms. The first stdout line is the URL (as hubcli.server prints it).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATE = "2024-05-02T08:30:00.000Z"
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf", ".h5", ".onnx")
CHUNK = 64 * 1024
RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class Entry:
    def __init__(self, path: str, file: Path, lfs_threshold: int) -> None:
        self.path, self.file = path, file
        data_hash, sha1 = hashlib.sha256(), hashlib.sha1()
        self.size = file.stat().st_size
        sha1.update(b"blob %d\0" % self.size)
        with file.open("rb") as f:
            while block := f.read(1 << 20):
                data_hash.update(block)
                sha1.update(block)
        self.lfs = self.size >= lfs_threshold or path.endswith(LFS_SUFFIXES)
        self.sha256 = data_hash.hexdigest() if self.lfs else None
        if self.lfs:  # git stores the pointer file; its sha1 is the blob id
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\n"
            pointer = (pointer + f"size {self.size}\n").encode()
            self.pointer_size = len(pointer)
            self.blob_id = hashlib.sha1(b"blob %d\0" % len(pointer) + pointer).hexdigest()
        else:
            self.blob_id = sha1.hexdigest()

    def item(self, tree: bool) -> dict[str, object]:
        """A tree/paths-info item (``tree``) or a repo-info sibling with blobs=true."""
        keys = ("path", "oid", "oid") if tree else ("rfilename", "blobId", "sha256")
        out = {"type": "file", keys[0]: self.path, keys[1]: self.blob_id, "size": self.size}
        if self.lfs:
            out["lfs"] = {keys[2]: self.sha256, "size": self.size, "pointerSize": self.pointer_size}
        return out


class Repo:
    def __init__(self, repo_id: str, folder: Path, lfs_threshold: int) -> None:
        self.id = repo_id
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        self.files = {p.relative_to(folder).as_posix(): p for p in files}
        self.entries = {k: Entry(k, p, lfs_threshold) for k, p in self.files.items()}
        listing = "\n".join(f"{e.path} {e.blob_id}" for e in self.entries.values())
        self.commit = hashlib.sha1(f"{repo_id}\n{listing}".encode()).hexdigest()
        dirs = {"/".join(p.split("/")[:i]) for p in self.files for i in range(1, p.count("/") + 1)}
        self.dirs = sorted(dirs)
        self.by_sha256 = {e.sha256: e for e in self.entries.values() if e.sha256}

    def tree(self, path: str, recursive: bool) -> list[dict[str, object]]:
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""

        def under(p: str) -> bool:
            return p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])

        dirs = [dir_item(d) for d in self.dirs if under(d)]
        return dirs + [e.item(tree=True) for k, e in self.entries.items() if under(k)]


def dir_item(path: str) -> dict[str, object]:
    return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "path": path}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer has a Content-Length
    server: HubServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.route(head=self.command == "HEAD")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.route(head=False, body=body)

    def route(self, head: bool, body: bytes | None = None) -> None:
        hub = self.server.hub
        if hub.latency:
            time.sleep(hub.latency)
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, urllib.parse.parse_qs(url.query)
        if self.server.cdn:
            entry = hub.by_sha256.get(path.removeprefix("/lfs/"))
            return self.send_file(entry, head, {}) if entry else self.error(404, "EntryNotFound")
        if path == "/api/agent-harnesses":
            return self.send_json({"standardEnvVars": [], "harnesses": {}}, head)
        if path == "/_stats":  # the peak of parallel body streams since the last call
            with hub.lock:
                stats, hub.peak = {"peak_streams": hub.peak}, hub.active
            return self.send_json(stats, head)
        m = re.match(
            r"/api/models/([^/]+/[^/]+)(?:/(revision|tree|paths-info)/([^/]+)(/.*)?)?$", path
        )
        if m:
            return self.api(m.group(1), m.group(2), m.group(3), m.group(4) or "", query, body, head)
        m = re.match(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if m and body is None:
            repo = self.repo_at(m.group(1), m.group(2))
            if repo is None:
                return None
            entry = repo.entries.get(urllib.parse.unquote(m.group(3)))
            if entry is None:
                return self.error(404, "EntryNotFound", {"X-Repo-Commit": repo.commit})
            headers = {"X-Repo-Commit": repo.commit}
            if entry.lfs:  # like the Hub: a redirect to the CDN, the LFS etag and size linked
                headers |= {"X-Linked-Etag": f'"{entry.sha256}"', "ETag": f'"{entry.blob_id}"'}
                headers |= {"X-Linked-Size": str(entry.size)}
                headers["Location"] = f"{hub.cdn_url}/lfs/{entry.sha256}"
                return self.send_bytes(302, b"", head, headers)
            return self.send_file(entry, head, headers)
        return self.error(404, "RepoNotFound")

    def repo_at(self, repo_id: str, rev: str) -> Repo | None:
        repo = self.server.hub.repos.get(repo_id)
        if repo is None or urllib.parse.unquote(rev) not in ("main", repo.commit):
            return self.error(404, "RevisionNotFound" if repo else "RepoNotFound")
        return repo

    def api(self, repo_id, kind, rev, sub, query, body, head) -> None:  # type: ignore[no-untyped-def]
        repo = self.repo_at(repo_id, rev or "main")
        if repo is None:
            return
        if kind == "tree":
            recursive = query.get("recursive", ["false"])[0] == "true"
            items = repo.tree(urllib.parse.unquote(sub.lstrip("/")), recursive)
            start = int(query.get("cursor", ["0"])[0])
            page = items[start : start + self.server.hub.page_size]
            headers = {}
            if start + len(page) < len(items):
                q = dict(query, cursor=[str(start + len(page))])
                nxt = f"{self.server.hub.url}{self.path.split('?')[0]}?"
                headers["Link"] = f'<{nxt}{urllib.parse.urlencode(q, doseq=True)}>; rel="next"'
            return self.send_json(page, head, headers)
        if kind == "paths-info":
            text = (body or b"").decode()
            try:
                paths = json.loads(text)["paths"]
            except (ValueError, KeyError, TypeError):
                paths = urllib.parse.parse_qs(text).get("paths", [])
            out = [repo.entries[p].item(tree=True) for p in paths if p in repo.entries]
            out += [dir_item(p) for p in paths if p in repo.dirs]
            return self.send_json(out, head)
        blobs = query.get("blobs", ["false"])[0] == "true"
        siblings = [
            e.item(tree=False) if blobs else {"rfilename": k} for k, e in repo.entries.items()
        ]
        info = {"_id": repo.commit[:24], "id": repo.id, "author": repo.id.split("/")[0]}
        info |= {"sha": repo.commit, "lastModified": DATE, "createdAt": DATE, "private": False}
        info |= {"gated": False, "disabled": False, "tags": [], "siblings": siblings}
        return self.send_json(info, head)

    def error(self, status: int, code: str, headers: dict[str, str] | None = None) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": code, **(headers or {})}
        body = json.dumps({"error": code}).encode()
        self.send_bytes(status, body, self.command == "HEAD", headers, "application/json")

    def send_json(self, data: object, head: bool, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(200, json.dumps(data).encode(), head, headers or {}, "application/json")

    def send_bytes(self, status, body, head, headers, ctype="text/plain") -> None:  # type: ignore[no-untyped-def]
        self.send_response(status)
        for k, v in {**headers, "Content-Type": ctype, "Content-Length": str(len(body))}.items():
            self.send_header(k, v)
        self.end_headers()  # first write: the header block
        if not head and body:
            self.wfile.write(body)  # second write: the body (Nagle on)

    def send_file(self, entry: Entry, head: bool, headers: dict[str, str]) -> None:
        start, end, status = 0, entry.size - 1, 200
        m = RANGE.match(self.headers.get("Range") or "")
        if m and (m.group(1) or m.group(2)):
            if not m.group(1):
                start = max(0, entry.size - int(m.group(2)))
            else:
                start, end = int(m.group(1)), min(end, int(m.group(2) or end))
            if start > end:
                return self.send_bytes(416, b"", head, {"Content-Range": f"bytes */{entry.size}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
        self.send_response(status)
        headers |= {"ETag": f'"{entry.sha256 or entry.blob_id}"', "Accept-Ranges": "bytes"}
        headers |= {"Content-Length": str(end - start + 1), "Content-Type": "application/x-bin"}
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()  # first write: the header block
        if not head:
            with self.server.hub.streaming():
                self.send_body(entry, start, end)

    def send_body(self, entry: Entry, start: int, end: int) -> None:
        rate, t0, sent = self.server.hub.bandwidth, time.monotonic(), 0
        with entry.file.open("rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                block = f.read(min(CHUNK, left))
                if not block:
                    break
                self.wfile.write(block)  # the body in further writes
                left, sent = left - len(block), sent + len(block)
                if rate:  # per-connection pace: never ahead of rate x elapsed
                    ahead = sent / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)


class HubServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the listen backlog: measure delayed ACKs, not dropped SYNs

    def __init__(self, addr: tuple[str, int], hub: Hub, cdn: bool) -> None:
        super().__init__(addr, Handler)
        self.hub, self.cdn = hub, cdn


class Hub:
    def __init__(self, args: argparse.Namespace) -> None:
        self.latency = args.latency_ms / 1000
        self.bandwidth = args.bandwidth * 1_000_000
        self.page_size = args.page_size
        self.lock, self.active, self.peak = threading.Lock(), 0, 0
        self.repos: dict[str, Repo] = {}
        for spec in args.repo:
            repo_id, _, folder = spec.partition("=")
            self.repos[repo_id] = Repo(repo_id, Path(folder), args.lfs_threshold)
        self.by_sha256 = {k: e for r in self.repos.values() for k, e in r.by_sha256.items()}
        self.api = HubServer((args.host, args.port), self, cdn=False)
        self.cdn = HubServer((args.host, 0), self, cdn=True)
        self.url = f"http://{args.host}:{self.api.server_address[1]}"
        self.cdn_url = f"http://{args.host}:{self.cdn.server_address[1]}"

    @contextlib.contextmanager
    def streaming(self) -> Iterator[None]:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            yield
        finally:
            with self.lock:
                self.active -= 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repo", action="append", default=[], metavar="ID=FOLDER", help="a model repo")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = a free port")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="sleep before each response")
    ap.add_argument("--bandwidth", type=float, default=0.0, help="MB/s per connection (0 = off)")
    ap.add_argument("--lfs-threshold", type=int, default=10 * 1024 * 1024)
    ap.add_argument("--page-size", type=int, default=1000, help="tree listing page size")
    hub = Hub(ap.parse_args())
    threading.Thread(target=hub.cdn.serve_forever, daemon=True).start()
    print(hub.url, flush=True)
    print(f"stdlib hub: {len(hub.repos)} repo(s), cdn={hub.cdn_url}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        hub.api.serve_forever()


if __name__ == "__main__":
    main()
