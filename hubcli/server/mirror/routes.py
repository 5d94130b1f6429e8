"""The mirror's router: every read endpoint huggingface_hub 2.x uses, answered from the mirror's
knowledge (``core``); writes are refused (a mirror is read-only), Xet token endpoints answer a
clear error, and ``/healthz`` and ``/metrics`` report on the mirror."""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any
from urllib.parse import parse_qs, quote

from hubcli.server.endpoints.files import (
    _ascii,
    _content_type,
    blob_response,
    file_response,
    parse_range,
)
from hubcli.server.endpoints.links import paginate
from hubcli.server.ids import SHA1_RE, SHA256_RE, lfs_pointer, validate_path, validate_repo_id
from hubcli.server.mirror import validate
from hubcli.server.mirror.access import Identity
from hubcli.server.mirror.core import STALE_WARNING, MirrorCore, Pinned, prefix_of
from hubcli.server.mirror.fill import DirectRange, FillFailed, Source
from hubcli.server.mirror.share import CorruptBlob
from hubcli.server.records import Entry
from hubcli.server.request import Request
from hubcli.server.response import ApiError, Response
from hubcli.server.router import PREFIXES, TYPES, split_rev

IMMUTABLE = "public, max-age=31536000, immutable"
PRIVATE = "private, no-store"  # bytes of a gated or private repo: never in a shared cache
NO_XET = (
    "This hub is a mirror and does not serve Xet storage: set HF_HUB_DISABLE_XET=1 (clients whose "
    "cache came from huggingface.co may hold Xet hashes; downloads work over plain HTTP)."
)
READ_ONLY = "This hub is a read-only mirror: push to the upstream hub instead."


class MirrorRouter:
    def __init__(self, core: MirrorCore) -> None:
        self.core = core

    def __call__(self, req: Request) -> Response:
        resp = self.route(req)
        is_file = resp.file_path is not None or resp.stream is not None
        if req.method == "GET" and resp.status in (200, 206) and is_file:
            self.core.metrics.inc("bytes_served_total", resp.length)
        return resp

    # ------------------------------------------------------------------ dispatch
    def route(self, req: Request) -> Response:
        s = req.segments
        m = req.method
        for seg in s:
            if "\0" in seg or "\\" in seg or seg in ("..", "."):
                raise ApiError(400, "Invalid path")
        if s == ["healthz"]:
            return self.healthz()
        if s == ["metrics"]:
            body = self.core.metrics.text().encode()
            return Response(200, body, {"Content-Type": "text/plain; version=0.0.4"})
        if s[:2] == ["_cdn", "lfs"] and len(s) == 6 and m in ("GET", "HEAD"):
            return self.cdn(req, s[2], f"{s[3]}/{s[4]}", s[5])
        if req.is_cdn:
            raise ApiError(404, "Not found")
        if s and s[0] == "api":
            return self.api(req, s[1:])
        rest, repo_type = s, "model"
        if s and s[0] in PREFIXES and len(s) >= 4:
            repo_type, rest = PREFIXES[s[0]], s[1:]
        if len(rest) >= 4 and rest[2] == "resolve":
            if m not in ("GET", "HEAD"):
                raise ApiError(405, READ_ONLY)
            rev, path = split_rev(rest[3:])
            return web_file(self.resolve(req, repo_type, f"{rest[0]}/{rest[1]}", rev, path))
        page = web_page(req, self.core)  # pages for browsers: only what no route above took
        if page is not None:
            return page
        if m not in ("GET", "HEAD"):
            raise ApiError(405, READ_ONLY)
        raise ApiError(404, "Not found")

    def api(self, req: Request, s: list[str]) -> Response:
        m = req.method
        if s in (["whoami-v2"], ["whoami"]):
            raise ApiError(401, "This hub is a mirror: it does not know users (tokens stay here)")
        if not s or s[0] not in TYPES:
            if m not in ("GET", "HEAD"):
                raise ApiError(405, READ_ONLY)
            raise ApiError(404, "Not found")
        repo_type = TYPES[s[0]]
        if len(s) == 1 and m == "GET":
            return self.listing(req, repo_type)
        if len(s) < 3:
            raise ApiError(404, "Not found")
        repo_id = f"{s[1]}/{s[2]}"
        validate_repo_id(repo_id)
        action, args = (s[3], s[4:]) if len(s) > 3 else ("", [])
        if action.startswith("xet-"):
            raise ApiError(501, NO_XET, "XetNotSupported")
        if action == "" and m == "GET":
            return self.info(req, repo_type, repo_id, None)
        if action == "revision" and m == "GET" and args:
            return self.info(req, repo_type, repo_id, "/".join(args))
        if action == "tree" and m == "GET" and args:
            rev, path = split_rev(args)
            return self.tree(req, repo_type, repo_id, rev, path)
        if action == "paths-info" and m == "POST" and args:
            return self.paths_info(req, repo_type, repo_id, "/".join(args))
        if action == "refs" and m == "GET":
            return self.refs(req, repo_type, repo_id)
        if action == "commits" and m == "GET" and args:
            return self.commits(req, repo_type, repo_id, "/".join(args))
        if m not in ("GET", "HEAD"):
            raise ApiError(405, READ_ONLY)
        raise ApiError(404, "Not found")

    # ------------------------------------------------------------------ helpers
    def _json(
        self, req: Request, value: Any, pinned: Pinned | None, link: str | None = None
    ) -> Response:
        headers: dict[str, str] = {}
        if pinned is not None:
            headers["X-Repo-Commit"] = pinned.sha
            if pinned.stale:
                headers["Warning"] = STALE_WARNING
        if link:
            headers["Link"] = f'<{req.origin()}{link}>; rel="next"'
        return Response.json(value, headers=headers)

    def healthz(self) -> Response:
        import time

        now = time.monotonic()
        ups = [
            {"url": u.url, "up": u.down_until <= now, "errors": u.errors, "lastError": u.last_error}
            for u in self.core.client.upstreams
        ]
        body = {
            "status": "ok",
            "mode": "mirror",
            "upstreams": ups,
            "fromCache": str(self.core.share.root) if self.core.share else None,
            "fillsInProgress": self.core.fills.in_progress(),
        }
        return Response.json(body)

    # ------------------------------------------------------------------ repo metadata
    def info(self, req: Request, repo_type: str, repo_id: str, rev: str | None) -> Response:
        core = self.core
        who = core.identity(req.token)
        pinned = core.pin(who, repo_type, repo_id, rev or "main")
        qs = req.query_string
        if not core.has_upstream:
            return self._json(
                req,
                core.shared_info(repo_type, repo_id, pinned.sha, blobs=req.qbool("blobs")),
                pinned,
            )
        if not qs:
            return self._json(req, core.info_at(who, repo_type, repo_id, pinned.sha), pinned)
        value, _ = core.cached_json(
            f"info|{repo_type}/{repo_id}@{pinned.sha}?{qs}",
            f"/api/{repo_type}s/{repo_id}/revision/{pinned.sha}?{qs}",
            lambda v, up: validate.repo_info(v, repo_id, pinned.sha),
            as_token=who.token,
        )
        return self._json(req, value, pinned)

    def tree(self, req: Request, repo_type: str, repo_id: str, rev: str, path: str) -> Response:
        core = self.core
        who = core.identity(req.token)
        pinned = core.pin(who, repo_type, repo_id, rev)
        path = validate_path(path.strip("/"), allow_empty=True)
        if req.qbool("expand") and core.has_upstream:
            qs = req.query_string
            value, link = core.cached_json(
                f"tree|{repo_type}/{repo_id}@{pinned.sha}/{path}?{qs}",
                f"/api/{repo_type}s/{repo_id}/tree/{pinned.sha}/{quote(path)}?{qs}",
                lambda v, up: validate.json_list(v, "tree"),
                as_token=who.token,
            )
            return self._json(req, value, pinned, link)
        m = core.manifest(repo_type, repo_id, pinned.sha, who)
        commit = m.commit
        dirs = commit.dirs()
        if path in commit.tree:
            paths = [path]
        elif path in dirs:
            if req.qbool("recursive"):
                prefix = path + "/" if path else ""
                paths = sorted(
                    [p for p in commit.tree if p.startswith(prefix)]
                    + [d for d in dirs if d and d.startswith(prefix)]
                )
            else:
                paths = dirs[path]
        else:
            raise ApiError(
                404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": pinned.sha}
            )
        page, headers = paginate(req, paths, self.core.state.knobs.page_size)
        resp = Response.json([self._item(m, p) for p in page], headers=headers)
        resp.headers["X-Repo-Commit"] = pinned.sha
        if pinned.stale:
            resp.headers["Warning"] = STALE_WARNING
        return resp

    @staticmethod
    def _item(m: Any, path: str) -> dict[str, Any]:
        entry = m.commit.tree.get(path)
        if entry is None:
            oid = m.dir_oids.get(path) or m.commit.dir_oid(path)
            return {"type": "directory", "oid": oid, "size": 0, "path": path}
        item: dict[str, Any] = {"type": "file", "oid": entry.oid, "size": entry.size, "path": path}
        if entry.sha256:
            item["lfs"] = {
                "oid": entry.sha256,
                "size": entry.size,
                "pointerSize": len(lfs_pointer(entry.sha256, entry.size)),
            }
        return item

    def paths_info(self, req: Request, repo_type: str, repo_id: str, rev: str) -> Response:
        core = self.core
        who = core.identity(req.token)
        pinned = core.pin(who, repo_type, repo_id, rev)
        raw = req.body()
        ctype = (req.headers.get("Content-Type") or "").lower()
        if "json" in ctype or raw.lstrip().startswith(b"{"):
            try:
                data = json.loads(raw or b"{}")
            except ValueError:
                raise ApiError(400, "Invalid JSON body") from None
            if not isinstance(data, dict) or not isinstance(data.get("paths") or [], list):
                raise ApiError(400, "Body must be a JSON object with a paths list")
            paths = [str(p) for p in data.get("paths") or []]
            expand = bool(data.get("expand"))
        else:
            form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = form.get("expand", ["false"])[-1].lower() in ("1", "true")
        paths = [validate_path(p.strip("/"), allow_empty=True) for p in paths]
        if expand and core.has_upstream:
            body = json.dumps({"paths": paths, "expand": True}).encode()
            value, _ = core.cached_json(
                f"paths-info|{repo_type}/{repo_id}@{pinned.sha}|{body.decode()}",
                f"/api/{repo_type}s/{repo_id}/paths-info/{pinned.sha}",
                lambda v, up: validate.json_list(v, "paths-info"),
                method="POST",
                data=body,
                headers={"Content-Type": "application/json"},
                as_token=who.token,
            )
            return self._json(req, value, pinned)
        m = core.manifest(repo_type, repo_id, pinned.sha, who)
        dirs = m.commit.dirs()
        out = [self._item(m, p) for p in paths if p in m.commit.tree or (p and p in dirs)]
        return self._json(req, out, pinned)

    def refs(self, req: Request, repo_type: str, repo_id: str) -> Response:
        core = self.core
        if not core.has_upstream:
            refs = core.share.refs(repo_type, repo_id) if core.share else {}
            if not refs:
                raise ApiError(404, "Repository not found in the shared cache", "RepoNotFound")
            branches = [
                {"name": n, "ref": f"refs/heads/{n}", "targetCommit": sha}
                for n, sha in sorted(refs.items())
                if not n.startswith("refs/")
            ]
            return Response.json({"branches": branches, "converts": [], "tags": []})
        who = core.identity(req.token)
        core.pin(who, repo_type, repo_id, "main")  # checks the caller's access
        qs = req.query_string
        value, _, stale = core.brief_json(
            f"refs|{repo_type}/{repo_id}?{qs}",
            core.config.revision_ttl,
            f"/api/{repo_type}s/{repo_id}/refs" + (f"?{qs}" if qs else ""),
            lambda v, up: validate.refs(v),
            who.token,
        )
        resp = Response.json(value)
        if stale:
            resp.headers["Warning"] = STALE_WARNING
        return resp

    def commits(self, req: Request, repo_type: str, repo_id: str, rev: str) -> Response:
        core = self.core
        who = core.identity(req.token)
        pinned = core.pin(who, repo_type, repo_id, rev)
        if not core.has_upstream:
            date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            item = {"id": pinned.sha, "title": "", "message": "", "date": date, "authors": []}
            return self._json(req, [item], pinned)
        qs = req.query_string
        value, link = core.cached_json(
            f"commits|{repo_type}/{repo_id}@{pinned.sha}?{qs}",
            f"/api/{repo_type}s/{repo_id}/commits/{pinned.sha}" + (f"?{qs}" if qs else ""),
            lambda v, up: validate.commits_page(v),
            as_token=who.token,
        )
        return self._json(req, value, pinned, link)

    def listing(self, req: Request, repo_type: str) -> Response:
        core = self.core
        if not core.has_upstream:
            search = [x.lower() for x in req.query.get("search", []) if x]
            ids = core.share.repos(repo_type) if core.share else []
            rows = [
                {"_id": i, "id": i, "private": False, "downloads": 0, "likes": 0, "tags": []}
                for i in ids
                if all(x in i.lower() for x in search)
            ]
            page, headers = paginate(req, rows, core.state.knobs.page_size)
            return Response.json(page, headers=headers)
        qs = req.query_string
        who = core.identity(req.token)
        value, link, stale = core.brief_json(  # kept per identity
            f"list|{who.key}|{repo_type}?{qs}",
            core.config.listing_ttl,
            f"/api/{repo_type}s" + (f"?{qs}" if qs else ""),
            lambda v, up: validate.listing_page(v),
            who.token,
        )
        if who.token is None:  # the mirror's own token listed them: its private rows are its own
            value = [
                row
                for row in value
                if not row.get("private")
                or core.rules.allows(who.user, repo_type, str(row.get("id")))
            ]
        resp = self._json(req, value, None, link)
        if stale:
            resp.headers["Warning"] = STALE_WARNING
        return resp

    # ------------------------------------------------------------------ files
    def resolve(self, req: Request, repo_type: str, repo_id: str, rev: str, path: str) -> Response:
        core = self.core
        validate_repo_id(repo_id)
        path = validate_path(path)
        who = web_identity(req, core)  # the token, or a signed-in browser's session
        pinned = core.pin(who, repo_type, repo_id, rev)
        m = core.manifest(repo_type, repo_id, pinned.sha, who)
        entry = m.commit.tree.get(path)
        if entry is None:
            raise ApiError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": pinned.sha})
        name = path.rsplit("/", 1)[-1]
        headers = {
            "X-Repo-Commit": pinned.sha,
            "Content-Disposition": (
                f"inline; filename*=UTF-8''{quote(name)}; filename=\"{_ascii(name)}\""
            ),
            "Vary": "Origin, Accept-Encoding",
            "ETag": f'"{entry.oid}"',
        }
        if pinned.stale:
            headers["Warning"] = STALE_WARNING
        if entry.sha256:
            # the CDN request comes without a token: its fill starts here, with the client's
            if (
                who.token is not None
                and req.method == "GET"
                and core.has_upstream
                and core.store.blob_size(entry) != entry.size
            ):
                target = f"/{prefix_of(repo_type)}{repo_id}/resolve/{pinned.sha}/{quote(path)}"
                core.fills.get(entry, Source(target, who.token))
            key = f"{repo_type}/{repo_id}@{pinned.sha}"
            exp, sig = core.state.signer.sign(key, entry.sha256)
            loc = (
                f"{req.cdn_origin()}/_cdn/lfs/{repo_type}/{repo_id}/{entry.sha256}"
                f"?rev={pinned.sha}&exp={exp}&sig={sig}&filename={quote(name, safe='')}"
            )
            headers.update(
                {
                    "Location": loc,
                    "X-Linked-Etag": f'"{entry.sha256}"',
                    "X-Linked-Size": str(entry.size),
                    "Content-Type": "text/plain; charset=utf-8",
                }
            )
            return Response(302, b"", headers)
        headers["Content-Type"] = _content_type(name)
        if core.restricted(repo_type, repo_id, pinned.sha):
            headers["Cache-Control"] = PRIVATE
        elif SHA1_RE.match(rev):
            headers["Cache-Control"] = IMMUTABLE
        return self.blob(req, repo_type, repo_id, pinned.sha, path, entry, headers, who.token)

    def cdn(self, req: Request, repo_type: str, repo_id: str, sha256: str) -> Response:
        core = self.core
        rev = req.q("rev") or ""
        key = f"{repo_type}/{repo_id}@{rev}"
        if (
            not SHA256_RE.match(sha256)
            or not SHA1_RE.match(rev)
            or not core.state.signer.check(key, sha256, req.q("exp"), req.q("sig"))
        ):
            raise ApiError(403, "Invalid, expired or missing signature")
        name = req.q("filename") or sha256
        headers = {
            "ETag": f'"{sha256}"',
            "Content-Type": _content_type(name),
            "Content-Disposition": f'attachment; filename="{_ascii(name)}"',
            "Cache-Control": PRIVATE if core.restricted(repo_type, repo_id, rev) else IMMUTABLE,
        }
        stored = Entry(size=0, oid="", sha256=sha256)
        with_size = core.store.blob_size(stored)
        if with_size is not None:
            core.metrics.inc("hits_total")
            return _stored(req, core, stored, with_size, headers)
        m = core.manifest(repo_type, repo_id, rev)
        for path, entry in m.commit.tree.items():
            if entry.sha256 == sha256:
                return self.blob(req, repo_type, repo_id, rev, path, entry, headers)
        raise ApiError(404, "Blob not found")

    def blob(
        self,
        req: Request,
        repo_type: str,
        repo_id: str,
        sha: str,
        path: str,
        entry: Entry,
        headers: dict[str, str],
        token: str | None = None,
    ) -> Response:
        """A file's bytes: from the store, the shared cache (verified once), or a fill."""
        core = self.core
        if core.store.blob_size(entry) == entry.size:
            core.metrics.inc("hits_total")
            return _stored(req, core, entry, entry.size, headers)
        shared = core.shared_blob(repo_type, repo_id, entry)
        if shared is not None:
            return self.shared(req, shared, entry, headers)
        if not core.has_upstream:
            raise ApiError(
                404,
                f"{path} is in commit {sha} but not in the shared cache (a partial snapshot): "
                "download it on the sharing machine, or run the share with --upstream",
                "EntryNotShared",
                {"X-Repo-Commit": sha},
            )
        headers["Accept-Ranges"] = "bytes"
        if req.method == "HEAD":
            return Response(200, b"", headers, stream=iter(()), file_count=entry.size)
        rng = parse_range(req.headers.get("Range"), entry.size)
        if rng == "bad":
            headers["Content-Range"] = f"bytes */{entry.size}"
            raise ApiError(416, "Requested Range Not Satisfiable", None, headers)
        target = f"/{prefix_of(repo_type)}{repo_id}/resolve/{sha}/{quote(path)}"
        core.metrics.inc("misses_total")
        source = Source(target, token)
        fill = core.fills.get(entry, source)
        try:
            if fill is not None and entry.size <= core.config.stream_threshold:
                fill.wait_done(core.config.fill_wait)
                fill = None
            elif fill is not None:
                fill.wait_started(core.config.fill_wait)
        except FillFailed as e:
            if e.protocol:
                raise ApiError(502, f"Bad answer from the upstream hub: {e}") from None
            raise ApiError(
                503,
                f"Upstream fill failed: {e}",
                None,
                {"Retry-After": str(core.config.retry_after)},
            ) from None
        if fill is None:
            return blob_response(req, entry, entry.size, headers)
        start, count, status = 0, entry.size, 200
        if isinstance(rng, tuple):
            start, count, status = rng[0], rng[1] - rng[0] + 1, 206
            headers["Content-Range"] = f"bytes {rng[0]}-{rng[1]}/{entry.size}"
            if count < entry.size and start > fill.progress + core.config.direct_range_ahead:
                # far ahead of the fill: its own upstream Range, not a wait for the fill
                direct = DirectRange(core.client, source, entry.size, rng[0], rng[1])
                if direct.open():
                    core.metrics.inc("direct_ranges_total")
                    return Response(206, b"", headers, stream=iter(direct), file_count=count)
        stream = fill.read(start, count, core.config.read_timeout * 2)
        return Response(status, b"", headers, stream=stream, file_count=count)

    def shared(self, req: Request, blob: Any, entry: Entry, headers: dict[str, str]) -> Response:
        share = self.core.share
        assert share is not None
        known = share.state(blob)
        if known is None and req.headers.get("Range") and req.method == "GET":
            known = share.verify(blob, entry)
        if known is False:
            self.core.metrics.inc("verify_failures_total")
            raise ApiError(502, "This file is corrupt in the shared cache (hash mismatch)")
        if known is True or req.method == "HEAD":
            self.core.metrics.inc("hits_total")
            return file_response(req, str(blob), entry.size, headers)
        headers["Accept-Ranges"] = "bytes"
        self.core.metrics.inc("hits_total")
        return Response(
            200, b"", headers, stream=_guard(share.stream(blob, entry)), file_count=entry.size
        )


def _guard(it: Any) -> Any:
    try:
        yield from it
    except CorruptBlob:
        raise
    except OSError as e:
        raise CorruptBlob(str(e)) from None


def _stored(
    req: Request, core: MirrorCore, entry: Entry, size: int, headers: dict[str, str]
) -> Response:
    """A blob of the store: its local file (file stores; an LRU use with ``--max-size``) or a
    ranged stream from the object store."""
    path = core.store.local_blob_path(entry)
    if path is not None:
        core.touch(path)
    return blob_response(req, entry, size, headers)


# ---------------------------------------------------------------------- web pages
# The pages for browsers (``hubcli.server.web.mirror``, imported on first use) answer only what no
# route above took; a signed-in browser's session stands for its identity on its downloads
# (GET/HEAD of ``resolve``), and file answers carry a sandboxing CSP so a repo's HTML file
# cannot use it.


def web_page(req: Request, core: MirrorCore) -> Response | None:
    from hubcli.server.web.mirror import page

    return page(req, core)


def web_identity(req: Request, core: MirrorCore) -> Identity:
    if req.method not in ("GET", "HEAD") or req.headers.get("Authorization"):
        return core.identity(req.token)
    from hubcli.server.web.mirror import identity

    return identity(req, core)


def web_file(resp: Response) -> Response:
    from hubcli.server.web.session import FILE_HEADERS

    for k, v in FILE_HEADERS.items():
        resp.headers.setdefault(k, v)
    return resp
