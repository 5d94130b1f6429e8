"""HubClient.validate_yaml: the README metadata check before an upload (responses-mocked Hub)."""

from __future__ import annotations

import json

import pytest
import responses

from hubcli.client import HubClient
from hubcli.config import resolve_settings
from hubcli.errors import ServerError, UsageError
from hubcli.http import HubSession
from hubcli.repo import RepoRef

EP = "https://hub.example"
URL = f"{EP}/api/validate-yaml"


def _client() -> HubClient:
    settings = resolve_settings(endpoint=EP, token="hf_x", env={})
    return HubClient(HubSession(settings, max_retries=0, backoff_base=0.0))


@responses.activate
def test_sends_content_and_repo_type_and_returns_warnings() -> None:
    responses.post(URL, json={"errors": [], "warnings": [{"message": "empty metadata"}]})
    warnings = _client().validate_yaml(RepoRef("alice/ds", repo_type="dataset"), "# hi\n")
    assert warnings == ["empty metadata"]
    sent = json.loads(responses.calls[0].request.body or b"{}")
    assert sent == {"content": "# hi\n", "repoType": "dataset"}


@responses.activate
def test_400_is_a_usage_error_naming_the_problems() -> None:
    body = {"errors": [{"message": "license: must be a string"}, {"message": "bad tag"}]}
    responses.post(URL, json=body, status=400)
    with pytest.raises(UsageError, match="license: must be a string; bad tag") as info:
        _client().validate_yaml(RepoRef("alice/m"), "---\nlicense: [1]\n---\n")
    assert info.value.exit_code == 2


@responses.activate
def test_a_server_without_the_check_does_not_block_uploads() -> None:
    responses.post(URL, status=404, body="Not Found")
    assert _client().validate_yaml(RepoRef("alice/m"), "x") == []


@responses.activate
def test_server_errors_are_network_errors() -> None:
    responses.post(URL, status=503, body="down")
    with pytest.raises(ServerError):
        _client().validate_yaml(RepoRef("alice/m"), "x")
