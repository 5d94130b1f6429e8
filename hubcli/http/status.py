"""Status mapping: the one place an HTTP error status becomes one of hubcli's exceptions."""

from __future__ import annotations

from urllib.parse import urlsplit

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
        raise AuthError(
            f"{target}: not found or not accessible without valid credentials (401: {message}).",
            hint="Run 'hubcli auth login' or pass --token / set HF_TOKEN.",
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
