"""The mirror's upstream client: the site's proxy environment is honoured, ~/.netrc never is."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses

from hubcli.server.mirror.metrics import Metrics
from hubcli.server.mirror.upstream import UpstreamClient


def test_netrc_never_adds_credentials_and_the_token_stays_on_its_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine cdn.example login bob password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client = UpstreamClient(["https://hub.example"], "hf_mirror_token", Metrics())
    with responses.RequestsMock() as rsps:
        rsps.get(
            "https://hub.example/o/r/resolve/main/w.bin",
            status=302,
            headers={"Location": "https://cdn.example/blob"},
        )
        rsps.get("https://cdn.example/blob", body=b"x")
        resp = client.request(client.upstreams[0], "GET", "/o/r/resolve/main/w.bin")
        assert resp.content == b"x"
        first, second = rsps.calls[0].request, rsps.calls[1].request
        assert first.headers["Authorization"] == "Bearer hf_mirror_token"
        assert "Authorization" not in second.headers


def test_proxy_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://egress.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    client = UpstreamClient(["https://hub.example"], None, Metrics())
    s = client._session()
    out = s.merge_environment_settings("https://hub.example/api/models", {}, None, None, None)
    assert out["proxies"]["https"] == "http://egress.example:3128"
    inside = s.merge_environment_settings("https://internal.example/x", {}, None, None, None)
    assert "https" not in inside["proxies"]
