"""HubClient: the Hub's HTTP API (search, info, listing, tree, refs, whoami, repo admin, commit).

Transfers (file bytes) live in ``download`` and ``upload``; this module only speaks JSON (the
one resolve URL the transfers fetch file bytes from is :func:`hubcli.repo.resolve_path`).
"""

from __future__ import annotations

import json as jsonlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from hubcli.errors import (
    ConflictError,
    HubError,
    ProtocolError,
    RevisionNotFoundError,
    ServerError,
    UsageError,
)
from hubcli.hashing import CommitSha, parse_commit
from hubcli.http import HubSession, quote_segment, raise_for_hub_status
from hubcli.models import (
    CommitResult,
    DirEntry,
    FileEntry,
    RepoInfo,
    parse_siblings,
    parse_tree_item,
)
from hubcli.repo import RepoRef

_PR_RE = re.compile(r"/discussions/(\d+)")


@dataclass(frozen=True)
class Listing:
    """A revision's listing: the commit it resolves to, every file, and the base that answered."""

    commit: CommitSha
    entries: list[FileEntry]
    served_by: str


@dataclass(frozen=True)
class GitRef:
    """One ref of a repo (field names as huggingface_hub's ``GitRefInfo``)."""

    name: str
    ref: str
    target_commit: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "ref": self.ref, "target_commit": self.target_commit}


@dataclass(frozen=True)
class GitRefs:
    """A repo's refs, as huggingface_hub's ``list_repo_refs`` returns them:
    ``pull_requests`` is None unless they were asked for."""

    branches: tuple[GitRef, ...] = ()
    tags: tuple[GitRef, ...] = ()
    converts: tuple[GitRef, ...] = ()
    pull_requests: tuple[GitRef, ...] | None = None

    def kind_of(self, revision: str) -> str | None:
        """ "branch", "tag" or "pull_request" for a name or full ref the repo has, else None."""
        groups = (("branch", self.branches), ("tag", self.tags))
        for kind, refs in (*groups, ("pull_request", self.pull_requests or ())):
            if any(revision in (r.name, r.ref) for r in refs):
                return kind
        return None

    def names(self) -> list[str]:
        return [r.name for r in (*self.branches, *self.tags, *(self.pull_requests or ()))]

    def close_to(self, revision: str, n: int = 3) -> list[str]:
        """The refs named most like ``revision`` (a typo, another version of a tag)."""
        import difflib

        names = self.names()
        close = difflib.get_close_matches(revision, names, n=n, cutoff=0.5)
        return close or names[:n]

    def to_json(self) -> dict[str, Any]:
        def items(refs: tuple[GitRef, ...]) -> list[dict[str, str]]:
            return [r.to_json() for r in refs]

        prs = self.pull_requests
        return {
            "branches": items(self.branches),
            "converts": items(self.converts),
            "tags": items(self.tags),
            "pull_requests": None if prs is None else items(prs),
        }


def _parse_refs(data: Any, *, what: str, include_prs: bool) -> GitRefs:
    if not isinstance(data, dict):
        raise ProtocolError(f"{what}: the refs answer is not a JSON object.")

    def group(key: str) -> tuple[GitRef, ...]:
        items = data.get(key) or []
        if not isinstance(items, list):
            raise ProtocolError(f"{what}: refs {key!r} is not a list.")
        out = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ProtocolError(f"{what}: a ref in {key!r} has no name.")
            out.append(
                GitRef(
                    name=item["name"],
                    ref=str(item.get("ref") or ""),
                    target_commit=parse_commit(item.get("targetCommit"), what=f"{what}: ref"),
                )
            )
        return tuple(out)

    return GitRefs(
        branches=group("branches"),
        tags=group("tags"),
        converts=group("converts"),
        pull_requests=group("pullRequests") if include_prs else None,
    )


class HubClient:
    """A thin, typed wrapper over the Hub's JSON API. Raises HubError subclasses."""

    def __init__(self, session: HubSession) -> None:
        self.session = session

    @property
    def endpoint(self) -> str:
        return self.session.endpoint

    # -- discovery ------------------------------------------------------------------------------
    def list_repos(
        self,
        repo_type: str = "model",
        *,
        search: str | None = None,
        author: str | None = None,
        filters: Iterable[str] = (),
        pipeline_tag: str | None = None,
        sort: str | None = None,
        direction: int | None = None,
        limit: int | None = None,
        full: bool = False,
        card_data: bool = False,
        expand: Iterable[str] = (),
        models: Iterable[str] = (),
    ) -> Iterator[dict[str, Any]]:
        """Yield listing items lazily across cursor pages; stops after ``limit`` items (0 = all).

        ``models`` (Spaces): only Spaces using every one of these model ids."""
        params: list[tuple[str, Any]] = []
        if search:
            params.append(("search", search))
        if author:
            params.append(("author", author))
        params.extend(("filter", f) for f in filters)
        if pipeline_tag:
            params.append(("pipeline_tag", pipeline_tag))
        if sort:
            params.append(("sort", sort))
        if direction is not None:
            params.append(("direction", str(direction)))
        if limit:
            params.append(("limit", str(min(limit, 1000))))
        if full:
            params.append(("full", "true"))
        if card_data:
            params.append(("cardData", "true"))
        params.extend(("expand", e) for e in expand)
        params.extend(("models", m) for m in models)
        items = self.session.paginate(f"/api/{repo_type}s", params=params, what="search")
        for count, item in enumerate(items, start=1):
            yield item
            if limit and count >= limit:
                return

    def repo_info(
        self, ref: RepoRef, *, revision: str | None = None, files_metadata: bool = False
    ) -> RepoInfo:
        """GET /api/{types}/{id}[/revision/{rev}] (``blobs=true`` adds sizes and LFS info)."""
        rev = revision if revision is not None else ref.revision
        path = f"/api/{ref.api_plural}/{ref.repo_id}"
        if rev:
            path += f"/revision/{quote_segment(rev)}"
        params = {"blobs": "true"} if files_metadata else None
        try:
            data = self.session.get_json(path, params=params, what=str(ref))
        except RevisionNotFoundError as exc:
            if not rev:
                raise
            raise self.revision_not_found(ref, rev, exc)  # noqa: B904
        if not isinstance(data, dict):
            raise ServerError(f"{ref}: unexpected repo info answer.")
        files: tuple[FileEntry, ...] = ()
        if files_metadata:
            files = tuple(parse_siblings(data, what=str(ref)))
        sha = data.get("sha")
        return RepoInfo(
            repo_id=str(data.get("id") or ref.repo_id),
            repo_type=ref.repo_type,
            sha=None if sha is None else parse_commit(sha, what=str(ref)),
            raw=data,
            files=files,
        )

    def revision_listing(self, ref: RepoRef, revision: str) -> Listing:
        """One request: the commit ``revision`` resolves to and every file's size and etag.

        Mirrors are tried after the endpoint on connection failures, timeouts and 5xx; the one
        that answered is ``served_by``. Every path is validated (UnsafePathError refuses the
        whole listing). Raises the mapped HubError subclasses.
        """
        path = f"/api/{ref.api_plural}/{ref.repo_id}/revision/{quote_segment(revision)}"
        what = f"{ref}@{revision}"
        mirrors = self.session.mirrors_order()
        try:
            data = self.session.request_json(
                "GET", path, params={"blobs": "true"}, what=what, mirrors=mirrors
            )
        except RevisionNotFoundError as exc:
            raise self.revision_not_found(ref, revision, exc)  # noqa: B904
        if not isinstance(data, dict):
            raise ProtocolError(f"{what}: the repo info answer is not a JSON object.")
        commit = parse_commit(data.get("sha"), what=f"{what}: commit")
        return Listing(commit, parse_siblings(data, what=what), mirrors.first)

    def list_tree(
        self,
        ref: RepoRef,
        *,
        revision: str,
        path: str = "",
        recursive: bool = True,
        expand: bool = False,
    ) -> Iterator[FileEntry | DirEntry]:
        """GET /api/{types}/{id}/tree/{rev}[/{path}], paginated; every path is validated."""
        url = f"/api/{ref.api_plural}/{ref.repo_id}/tree/{quote_segment(revision)}"
        if path:
            url += "/" + quote_segment(path.strip("/"))
        params = {"recursive": str(recursive).lower(), "expand": str(expand).lower()}
        what = f"{ref}@{revision}"
        for item in self.session.paginate(url, params=params, what=what):
            yield parse_tree_item(item, what=what)

    def paths_info(self, ref: RepoRef, *, revision: str, paths: list[str]) -> list[FileEntry]:
        url = f"/api/{ref.api_plural}/{ref.repo_id}/paths-info/{quote_segment(revision)}"
        items = self.session.request_json(
            "POST", url, data={"paths": paths, "expand": "false"}, retry=True, what=str(ref)
        )
        if not isinstance(items, list):
            raise ProtocolError(f"{ref}: expected a JSON array from paths-info.")
        out = [parse_tree_item(i, what=str(ref)) for i in items]
        return [e for e in out if isinstance(e, FileEntry)]

    def list_refs(self, ref: RepoRef, *, include_prs: bool = False) -> GitRefs:
        """GET /api/{types}/{id}/refs: branches, tags (and pull requests if asked)."""
        params = {"include_prs": "1"} if include_prs else None
        data = self.session.get_json(
            f"/api/{ref.api_plural}/{ref.repo_id}/refs", params=params, what=str(ref)
        )
        return _parse_refs(data, what=str(ref), include_prs=include_prs)

    def revision_not_found(
        self, ref: RepoRef, revision: str, exc: RevisionNotFoundError
    ) -> RevisionNotFoundError:
        """``exc`` again, naming the repo's refs closest to ``revision`` (one refs call)."""
        try:
            close = self.list_refs(ref).close_to(revision)
        except HubError:
            return exc
        if not close:
            return exc
        err = RevisionNotFoundError(
            f"{ref}: revision {revision!r} not found; close refs: {', '.join(close)}.",
            hint=exc.hint or f"See them all with 'hubcli repo refs {ref}'.",
        )
        err.__cause__ = exc
        return err

    def list_commits(self, ref: RepoRef, *, revision: str = "main") -> Iterator[dict[str, Any]]:
        url = f"/api/{ref.api_plural}/{ref.repo_id}/commits/{quote_segment(revision)}"
        yield from self.session.paginate(url, what=str(ref))

    def whoami(self) -> dict[str, Any]:
        if not self.session.token:
            from hubcli.errors import TokenMissingError

            raise TokenMissingError(
                "Not logged in: no token found.",
                hint="Run 'hubcli auth login', or pass --token / set HF_TOKEN.",
            )
        data = self.session.get_json("/api/whoami-v2", what="whoami")
        if not isinstance(data, dict) or "name" not in data:
            raise ServerError("whoami: unexpected answer from the server.")
        return data

    def owned_ref(self, ref: RepoRef) -> RepoRef:
        """For writes: a bare repo name (no namespace) is the token user's, as huggingface_hub
        does (one whoami call); reads keep a bare id as is (legacy models like ``gpt2``)."""
        if "/" in ref.repo_id:
            return ref
        user = self.whoami()["name"]
        return replace(ref, repo_id=f"{user}/{ref.repo_id}")

    # -- repo administration --------------------------------------------------------------------
    def create_repo(
        self,
        ref: RepoRef,
        *,
        private: bool = False,
        exist_ok: bool = False,
        space_sdk: str | None = None,
    ) -> str:
        """POST /api/repos/create; returns the repo URL. 409 -> ConflictError unless exist_ok."""
        namespace, _, name = ref.repo_id.rpartition("/")
        body: dict[str, Any] = {
            "name": name,
            "organization": namespace or None,
            "visibility": "private" if private else "public",
            "private": private,
        }
        if ref.repo_type != "model":
            body["type"] = ref.repo_type
        if ref.repo_type == "space":
            body["sdk"] = space_sdk or "gradio"
        try:
            resp = self.session.request("POST", "/api/repos/create", json=body, what=str(ref))
        except ConflictError:
            if exist_ok:
                return f"{self.endpoint}/{ref.url_prefix}{ref.repo_id}"
            raise
        try:
            data = resp.json()
        except ValueError:
            data = None
        url = data.get("url") if isinstance(data, dict) else None
        return str(url or f"{self.endpoint}/{ref.url_prefix}{ref.repo_id}")

    def delete_repo(self, ref: RepoRef) -> None:
        namespace, _, name = ref.repo_id.rpartition("/")
        body: dict[str, Any] = {"name": name, "organization": namespace or None}
        if ref.repo_type != "model":
            body["type"] = ref.repo_type
        self.session.request("DELETE", "/api/repos/delete", json=body, retry=False, what=str(ref))

    def create_branch(self, ref: RepoRef, branch: str, *, start: str | None = None) -> None:
        url = f"/api/{ref.api_plural}/{ref.repo_id}/branch/{quote_segment(branch)}"
        body = {"startingPoint": start} if start else {}
        self.session.request("POST", url, json=body, what=f"{ref} branch {branch}")

    def delete_branch(self, ref: RepoRef, branch: str) -> None:
        url = f"/api/{ref.api_plural}/{ref.repo_id}/branch/{quote_segment(branch)}"
        self.session.request("DELETE", url, retry=False, what=f"{ref} branch {branch}")

    def create_tag(
        self, ref: RepoRef, tag: str, *, revision: str = "main", message: str | None = None
    ) -> None:
        url = f"/api/{ref.api_plural}/{ref.repo_id}/tag/{quote_segment(revision)}"
        body: dict[str, Any] = {"tag": tag}
        if message:
            body["message"] = message
        self.session.request("POST", url, json=body, what=f"{ref} tag {tag}")

    def delete_tag(self, ref: RepoRef, tag: str) -> None:
        url = f"/api/{ref.api_plural}/{ref.repo_id}/tag/{quote_segment(tag)}"
        self.session.request("DELETE", url, retry=False, what=f"{ref} tag {tag}")

    # -- commits --------------------------------------------------------------------------------
    def preupload(
        self,
        ref: RepoRef,
        *,
        revision: str,
        files: list[dict[str, Any]],
        create_pr: bool = False,
        git_ignore: str | None = None,
    ) -> dict[str, Any]:
        """POST preupload: ``files`` items are {path, sample (base64), size}. Returns the answer."""
        url = f"/api/{ref.api_plural}/{ref.repo_id}/preupload/{quote_segment(revision)}"
        body: dict[str, Any] = {"files": files}
        if git_ignore is not None:
            body["gitIgnore"] = git_ignore
        params = {"create_pr": "1"} if create_pr else None
        data = self.session.request_json(
            "POST", url, json=body, params=params, retry=True, what=f"{ref} preupload"
        )
        if not isinstance(data, dict):
            raise ProtocolError(f"{ref}: unexpected preupload answer.")
        return data

    def validate_yaml(self, ref: RepoRef, content: str) -> list[str]:
        """POST /api/validate-yaml with a README: its warnings; UsageError if the Hub rejects
        its metadata (before anything is hashed or sent, as huggingface_hub does)."""
        resp = self.session.request(
            "POST",
            "/api/validate-yaml",
            json={"content": content, "repoType": ref.repo_type},
            retry=True,
            raise_status=False,
            what=f"{ref} README metadata check",
        )
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}

        def messages(key: str) -> list[str]:
            items = data.get(key)
            if not isinstance(items, list):
                return []
            return [str(i.get("message") if isinstance(i, dict) else i) for i in items]

        if resp.status_code == 400:
            detail = "; ".join(messages("errors")) or "the Hub rejected it"
            raise UsageError(
                f"README.md: invalid metadata ({detail}).",
                hint="Fix the YAML block between the '---' lines at the top of README.md.",
            )
        if resp.status_code in (404, 405, 501):
            return []  # a Hub-compatible server without the check: nothing to learn
        if resp.status_code >= 400:
            raise_for_hub_status(resp, what=f"{ref} README metadata check")
        return messages("warnings")

    def lfs_batch(
        self, ref: RepoRef, *, objects: list[dict[str, Any]], revision: str | None
    ) -> dict[str, Any]:
        """POST the LFS batch API (upload, basic + multipart transfers)."""
        url = f"/{ref.url_prefix}{ref.repo_id}.git/info/lfs/objects/batch"
        body: dict[str, Any] = {
            "operation": "upload",
            "transfers": ["basic", "multipart"],
            "objects": objects,
            "hash_algo": "sha256",
        }
        if revision:
            body["ref"] = {"name": revision}
        headers = {
            "Accept": "application/vnd.git-lfs+json",
            "Content-Type": "application/vnd.git-lfs+json",
        }
        data = self.session.request_json(
            "POST",
            url,
            data=jsonlib.dumps(body),
            headers=headers,
            retry=True,
            what=f"{ref} LFS batch",
        )
        if not isinstance(data, dict):
            raise ProtocolError(f"{ref}: unexpected LFS batch answer.")
        return data

    def commit(
        self,
        ref: RepoRef,
        *,
        revision: str,
        lines: list[dict[str, Any]],
        create_pr: bool = False,
    ) -> CommitResult:
        """POST the NDJSON commit. ``lines`` start with the header line. Not retried."""
        url = f"/api/{ref.api_plural}/{ref.repo_id}/commit/{quote_segment(revision)}"
        body = "".join(jsonlib.dumps(line) + "\n" for line in lines).encode("utf-8")
        params = {"create_pr": "1"} if create_pr else None
        resp = self.session.request(
            "POST",
            url,
            data=body,
            params=params,
            headers={"Content-Type": "application/x-ndjson"},
            retry=False,
            what=f"{ref} commit",
        )
        try:
            data = resp.json()
        except ValueError as exc:
            raise ProtocolError(f"{ref}: the server's commit answer is not JSON.") from exc
        if not isinstance(data, dict) or "commitOid" not in data:
            raise ProtocolError(f"{ref}: the server's commit answer has no commitOid.")
        pr_url = data.get("pullRequestUrl")
        pr_rev = None
        if pr_url:
            m = _PR_RE.search(str(pr_url))
            pr_rev = f"refs/pr/{m.group(1)}" if m else None
        return CommitResult(
            commit_oid=parse_commit(data["commitOid"], what=f"{ref} commit"),
            commit_url=str(data.get("commitUrl") or ""),
            pr_url=str(pr_url) if pr_url else None,
            pr_revision=pr_rev,
        )
