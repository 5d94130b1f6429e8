"""HTTP layer: retries and backoff, Retry-After, scoped auth across redirects, error mapping."""

from __future__ import annotations

import pytest
import requests
import responses

from hubcli.config import resolve_settings
from hubcli.errors import (
    AuthError,
    ConflictError,
    EntryNotFoundError,
    GatedRepoError,
    HTTPStatusError,
    NetworkError,
    OfflineError,
    RepoNotFoundError,
    RevisionNotFoundError,
    ServerError,
)
from hubcli.http import HubSession, origin

EP = "https://hub.example"


def make_session(
    token: str | None = "hf_secret_token_abcd", **kw: object
) -> tuple[HubSession, list[float]]:
    slept: list[float] = []
    settings = resolve_settings(endpoint=EP, token=token, env={})
    session = HubSession(settings, sleep=slept.append, backoff_base=0.5, **kw)  # type: ignore[arg-type]
    return session, slept


@responses.activate
def test_retry_after_is_honoured_on_429() -> None:
    responses.get(f"{EP}/api/x", status=429, headers={"Retry-After": "7"})
    responses.get(f"{EP}/api/x", json={"ok": True})
    session, slept = make_session()
    assert session.get_json("/api/x") == {"ok": True}
    assert slept == [7.0]
    assert len(responses.calls) == 2


@responses.activate
def test_503_then_success_backs_off_exponentially_with_jitter() -> None:
    for _ in range(3):
        responses.get(f"{EP}/api/y", status=503)
    responses.get(f"{EP}/api/y", json=[1])
    session, slept = make_session()
    assert session.get_json("/api/y") == [1]
    assert len(slept) == 3
    # base 0.5 * 2**n, jittered into [50%, 100%]
    for n, delay in enumerate(slept):
        assert 0.25 * 2**n <= delay <= 0.5 * 2**n


@responses.activate
def test_no_retry_on_404() -> None:
    responses.get(f"{EP}/api/models/a/b", status=404, headers={"X-Error-Code": "RepoNotFound"})
    session, slept = make_session()
    with pytest.raises(RepoNotFoundError):
        session.get_json("/api/models/a/b")
    assert slept == [] and len(responses.calls) == 1


@responses.activate
def test_gives_up_after_max_retries_with_network_error_exit_5() -> None:
    responses.get(f"{EP}/api/z", body=requests.ConnectionError("refused"))
    session, slept = make_session(max_retries=3)
    with pytest.raises(NetworkError) as exc:
        session.get_json("/api/z")
    assert exc.value.exit_code == 5
    assert len(slept) == 3 and len(responses.calls) == 4


@responses.activate
def test_5xx_after_retries_is_server_error_exit_5() -> None:
    responses.get(f"{EP}/api/z", status=502)
    session, _ = make_session(max_retries=2)
    with pytest.raises(ServerError) as exc:
        session.get_json("/api/z")
    assert exc.value.exit_code == 5
    assert len(responses.calls) == 3


@responses.activate
def test_post_is_not_retried_unless_asked() -> None:
    responses.post(f"{EP}/api/commit", status=503)
    session, slept = make_session()
    with pytest.raises(ServerError):
        session.request("POST", "/api/commit", json={})
    assert len(responses.calls) == 1 and slept == []


@responses.activate
def test_token_sent_to_endpoint_only() -> None:
    responses.get(f"{EP}/api/whoami-v2", json={"name": "alice"})
    responses.get("https://other.example/file", body=b"x")
    session, _ = make_session()
    session.request("GET", "/api/whoami-v2")
    session.request("GET", "https://other.example/file")
    assert responses.calls[0].request.headers["Authorization"] == "Bearer hf_secret_token_abcd"
    assert "Authorization" not in responses.calls[1].request.headers


@responses.activate
@pytest.mark.parametrize(
    "target",
    ["https://cdn.example/blob", "http://hub.example/blob", "https://hub.example:8443/blob"],
)
def test_token_stripped_on_redirect_to_other_origin(target: str) -> None:
    responses.get(f"{EP}/org/m/resolve/main/w.bin", status=302, headers={"Location": target})
    responses.get(target, body=b"payload")
    session, _ = make_session()
    resp = session.request("GET", "/org/m/resolve/main/w.bin")
    assert resp.content == b"payload"
    assert responses.calls[0].request.headers.get("Authorization")
    assert "Authorization" not in responses.calls[1].request.headers


@responses.activate
def test_token_kept_on_same_origin_redirect() -> None:
    responses.get(
        f"{EP}/old/m/resolve/main/x", status=307, headers={"Location": "/new/m/resolve/main/x"}
    )
    responses.get(f"{EP}/new/m/resolve/main/x", body=b"ok")
    session, _ = make_session()
    session.request("GET", "/old/m/resolve/main/x")
    assert responses.calls[1].request.headers["Authorization"].startswith("Bearer ")


@responses.activate
@pytest.mark.parametrize(
    ("status", "headers", "exc", "exit_code"),
    [
        (401, {}, AuthError, 3),
        (403, {"X-Error-Code": "GatedRepo"}, GatedRepoError, 3),
        (403, {}, AuthError, 3),
        (404, {"X-Error-Code": "RepoNotFound"}, RepoNotFoundError, 4),
        (404, {"X-Error-Code": "RevisionNotFound"}, RevisionNotFoundError, 4),
        (404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": "c" * 40}, EntryNotFoundError, 4),
        (409, {}, ConflictError, 10),
        (400, {}, HTTPStatusError, 10),
        (412, {}, ConflictError, 10),
        (500, {}, ServerError, 5),
    ],
)
def test_error_mapping(status: int, headers: dict[str, str], exc: type, exit_code: int) -> None:
    responses.get(
        f"{EP}/api/thing", status=status, headers={**headers, "X-Error-Message": "msg here"}
    )
    session, _ = make_session(max_retries=0)
    with pytest.raises(exc) as info:
        session.request("GET", "/api/thing")
    assert info.value.exit_code == exit_code
    assert "msg here" in str(info.value)
    assert "hf_secret_token_abcd" not in str(info.value)
    if exc is EntryNotFoundError:
        assert info.value.commit == "c" * 40


@responses.activate
def test_error_message_from_json_body() -> None:
    responses.get(f"{EP}/api/thing", status=400, json={"error": "bad things"})
    session, _ = make_session()
    with pytest.raises(Exception, match="bad things"):
        session.request("GET", "/api/thing")


@responses.activate
def test_link_pagination_follows_absolute_and_relative_next() -> None:
    responses.get(
        f"{EP}/api/models",
        json=[{"id": "a"}],
        headers={"Link": f'<{EP}/api/models?cursor=2>; rel="next"'},
    )
    responses.get(
        f"{EP}/api/models?cursor=2",
        json=[{"id": "b"}],
        headers={"Link": '</api/models?cursor=3>; rel="next"'},
    )
    responses.get(f"{EP}/api/models?cursor=3", json=[{"id": "c"}])
    session, _ = make_session()
    assert [i["id"] for i in session.paginate("/api/models")] == ["a", "b", "c"]


@responses.activate
def test_pagination_is_lazy() -> None:
    responses.get(
        f"{EP}/api/models",
        json=[{"id": "a"}],
        headers={"Link": f'<{EP}/api/models?cursor=2>; rel="next"'},
    )
    session, _ = make_session()
    it = session.paginate("/api/models")
    assert next(it)["id"] == "a"
    assert len(responses.calls) == 1


@responses.activate
def test_mirror_failover_on_5xx_and_connection_error() -> None:
    settings = resolve_settings(
        endpoint=EP, mirrors=["https://m1.example", "https://m2.example"], env={}
    )
    session = HubSession(settings, sleep=lambda s: None, max_retries=0)
    responses.get(f"{EP}/org/m/resolve/main/f", status=503)
    responses.get("https://m1.example/org/m/resolve/main/f", body=requests.ConnectionError("down"))
    responses.get("https://m2.example/org/m/resolve/main/f", body=b"from m2")
    mirrors = session.mirrors_order()
    resp = session.request("GET", "/org/m/resolve/main/f", mirrors=mirrors)
    assert resp.content == b"from m2"
    assert mirrors.first == "https://m2.example" and mirrors.served == ["https://m2.example"]
    assert mirrors.order() == ["https://m2.example", EP, "https://m1.example"]


def test_offline_mode_refuses_any_request() -> None:
    settings = resolve_settings(endpoint=EP, offline=True, env={})
    session = HubSession(settings)
    with pytest.raises(OfflineError) as exc:
        session.request("GET", "/api/models")
    assert exc.value.exit_code == 7


def test_origin_normalises_default_ports() -> None:
    assert origin("https://Hub.Example/x") == origin("https://hub.example:443/y")
    assert origin("http://hub.example") != origin("https://hub.example")


def test_netrc_is_never_consulted(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ~/.netrc entry for the Hub's host neither replaces the token nor adds Basic auth."""
    from pathlib import Path

    home = Path(str(tmp_path))
    (home / ".netrc").write_text("machine hub.example login bob password hunter2\n")
    (home / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NETRC", str(home / ".netrc"))
    with responses.RequestsMock() as rsps:
        rsps.get(f"{EP}/api/a", json={})
        rsps.get(f"{EP}/api/b", json={})
        with_token, _ = make_session()
        with_token.get_json("/api/a")
        without, _ = make_session(token=None)
        without.get_json("/api/b")
        assert rsps.calls[0].request.headers["Authorization"] == "Bearer hf_secret_token_abcd"
        assert "Authorization" not in rsps.calls[1].request.headers


def test_proxy_environment_is_read_once_per_origin_and_honours_no_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "cdn.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/custom.pem")
    session, _ = make_session()
    s = session.session
    hub = s.merge_environment_settings(f"{EP}/api/x", {}, None, None, None)
    assert hub["proxies"]["https"] == "http://proxy.example:3128"
    assert hub["verify"] == "/etc/ssl/custom.pem"
    cdn = s.merge_environment_settings("https://cdn.example/blob", {}, True, False, None)
    assert "https" not in cdn["proxies"] and cdn["verify"] is False and cdn["stream"] is True
    # Read once per origin: a later change of the environment does not reach this session.
    monkeypatch.setenv("HTTPS_PROXY", "http://other.example:1")
    again = s.merge_environment_settings(f"{EP}/api/y", {}, None, None, None)
    assert again["proxies"]["https"] == "http://proxy.example:3128"


@pytest.mark.skipif(not hasattr(__import__("socket"), "TCP_QUICKACK"), reason="Linux only")
def test_quick_ack_turns_on_quick_acknowledgement() -> None:
    import socket

    from hubcli.http.transport import quick_ack

    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    try:
        quick_ack(client)
        assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1
        quick_ack(None)  # nothing to do, no error
    finally:
        client.close()
        server.close()
