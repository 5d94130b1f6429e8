"""Status mapping: the one place an HTTP error status becomes one of hubcli's exceptions."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import requests

from hubcli.errors import (
    AuthError,
    ConflictError,
    EntryNotFoundError,
    GatedRepoError,
    HTTPStatusError,
    RepoNotFoundError,
    RevisionNotFoundError,
    ServerError,
)


class RepoHiddenError(AuthError):
    """An anonymous 401 for a repo: it does not exist, or it is private. ``repo`` is
    ``(repo_type, repo_id)`` when the URL names one, so the CLI can suggest close matches."""

    def __init__(
        self, message: str, *, hint: str | None = None, repo: tuple[str, str] | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.repo = repo


_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


def repo_from_url(url: str) -> tuple[str, str] | None:
    """``(repo_type, repo_id)`` named by a Hub API or resolve URL, else None."""
    segs = [unquote(s) for s in urlsplit(url).path.split("/") if s]
    if len(segs) >= 4 and segs[0] == "api" and segs[1] in _TYPES:
        return _TYPES[segs[1]], f"{segs[2]}/{segs[3]}"
    if len(segs) >= 4 and segs[0] in ("datasets", "spaces") and segs[3] == "resolve":
        return _TYPES[segs[0]], f"{segs[1]}/{segs[2]}"
    if len(segs) >= 3 and segs[2] == "resolve":
        return "model", f"{segs[0]}/{segs[1]}"
    return None


def _sent_token(response: requests.Response) -> bool:
    request = getattr(response, "request", None)
    headers = getattr(request, "headers", None) or {}
    return bool(headers.get("Authorization"))


def _error_message(response: requests.Response) -> str:
    msg = response.headers.get("X-Error-Message")
    if msg:
        return msg
    ctype = response.headers.get("Content-Type", "")
    if "json" in ctype:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            err = body.get("error") or body.get("message")
            if isinstance(err, list):
                err = "; ".join(str(e) for e in err)
            if err:
                return str(err)
    if "html" not in ctype:
        text = (response.text or "").strip()
        if text and len(text) < 300:
            return text.splitlines()[0]
    return response.reason or f"HTTP {response.status_code}"


def raise_for_hub_status(response: requests.Response, *, what: str | None = None) -> None:
    """Translate a Hub error response into hubcli's exceptions; return quietly on success (<400)."""
    status = response.status_code
    if status < 400:
        return
    code = response.headers.get("X-Error-Code", "")
    message = _error_message(response)
    target = what or urlsplit(response.url).path
    if code == "GatedRepo":
        raise GatedRepoError(
            f"{target}: gated repo, access not granted ({message}).",
            hint="Request access on the repo page, then retry with a token that has it.",
        )
    if status == 401:
        if _sent_token(response):
            parts = urlsplit(response.url)
            raise AuthError(
                f"token rejected by {parts.scheme}://{parts.netloc} (401: {message}).",
                hint="Check HF_TOKEN, --token or the token file: the token is wrong or revoked.",
            )
        repo = repo_from_url(response.url)
        raise RepoHiddenError(
            f"{target}: not found (or private) (401: {message}).",
            hint="If it is private, run 'hubcli auth login' or pass --token / set HF_TOKEN.",
            repo=repo,
        )
    if status == 403:
        raise AuthError(
            f"{target}: permission denied (403: {message}).",
            hint="Check that your token has the right (write) permission for this repo.",
        )
    if code == "RevisionNotFound":
        raise RevisionNotFoundError(f"{target}: revision not found ({message}).")
    if code == "EntryNotFound":
        raise EntryNotFoundError(
            f"{target}: file not found ({message}).",
            commit=response.headers.get("X-Repo-Commit"),
        )
    if code == "RepoNotFound" or status == 404:
        raise RepoNotFoundError(f"{target}: repository not found ({message}).")
    if status in (409, 412):
        raise ConflictError(f"{target}: conflict ({status}: {message}).", status=status)
    if status >= 500:
        raise ServerError(f"{target}: server error {status} ({message}).", status=status)
    if status == 429:
        raise ServerError(f"{target}: rate limited (429: {message}).", status=status)
    raise HTTPStatusError(f"{target}: request failed ({status}: {message}).", status=status)
