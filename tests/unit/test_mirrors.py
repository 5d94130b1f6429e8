"""Mirror failover: one order for JSON calls and file bodies; who answered is a value."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import responses

from hubcli.client import HubClient
from hubcli.config import resolve_settings
from hubcli.errors import NetworkError
from hubcli.http import HubSession, Mirrors, NextMirror
from hubcli.repo import RepoRef, resolve_path

EP = "https://hub.example"
M1 = "https://m1.example"


def test_order_promotes_the_base_that_answered() -> None:
    m = Mirrors([EP, M1, "https://m2.example"], first=M1)
    assert m.order() == [M1, EP, "https://m2.example"]

    def attempt(base: str, is_last: bool) -> str:
        if base == M1:
            raise NextMirror(NetworkError("down"))
        return base

    assert m.call(attempt) == EP
    assert m.first == EP and m.served == [EP]


def test_every_base_failing_raises_the_last_cause() -> None:
    m = Mirrors([EP, M1])

    def attempt(base: str, is_last: bool) -> str:
        raise NextMirror(NetworkError(f"{base} down"))

    with pytest.raises(NetworkError, match=r"m1\.example down"):
        m.call(attempt)
    assert m.served == []


def test_resolve_path_quotes_revision_and_path() -> None:
    ref = RepoRef(repo_id="org/data", repo_type="dataset")
    assert resolve_path(ref, "refs/pr/1", "a b/c#.txt") == (
        "/datasets/org/data/resolve/refs%2Fpr%2F1/a%20b/c%23.txt"
    )


@responses.activate
def test_revision_listing_says_which_mirror_answered(tmp_path: Path) -> None:
    settings = resolve_settings(endpoint=EP, mirrors=[M1], env={})
    session = HubSession(settings, sleep=lambda s: None, max_retries=0)
    path = "/api/models/org/m/revision/main"
    responses.get(EP + path, body=requests.ConnectionError("down"))
    responses.get(M1 + path, json={"sha": "c" * 40, "siblings": []})
    listing = HubClient(session).revision_listing(RepoRef(repo_id="org/m"), "main")
    assert listing.commit == "c" * 40 and listing.entries == []
    assert listing.served_by == M1
    assert not hasattr(session, "last_base")
