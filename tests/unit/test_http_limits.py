"""Liveness units: RateLimit / Retry-After parsing, the wait cap, the stall meter, JSON limits,
and the attempt cap that counts restarts from zero as failures."""

from __future__ import annotations

import email.utils
from pathlib import Path

import pytest
import requests
import responses

from hubcli.config import resolve_settings
from hubcli.errors import NetworkError, ProtocolError, ServerError
from hubcli.http import HubSession
from hubcli.liveness import (
    StallMeter,
    Watch,
    human_duration,
    parse_ratelimit,
    parse_retry_after,
    requested_wait,
)

EP = "https://hub.example"


def make_session(**env: str) -> tuple[HubSession, list[float]]:
    slept: list[float] = []
    settings = resolve_settings(endpoint=EP, env=env)
    return HubSession(settings, sleep=slept.append), slept


# -- parsing ----------------------------------------------------------------------------------
def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("120", 0) == 120.0
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after(date, now) == pytest.approx(90, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 50, usegmt=True), now) == 0.0
    for bad in (None, "", "soon", "-5", "1e9", "Mon, 99 Foo"):
        assert parse_retry_after(bad, now) is None


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"RateLimit": '"resolvers";r=0;t=87'}, 87.0),
        ({"RateLimit": '"resolvers";r=2976;t=166'}, None),  # quota left: no wait asked
        ({"RateLimit": '"api";r=0;t=5, "resolvers";r=0;t=40'}, 40.0),
        ({"RateLimit": '"api";r=3;t=5, "resolvers";r=0;t=40'}, 40.0),
        ({"RateLimit": "limit=100, remaining=0, reset=33"}, 33.0),  # the older draft
        ({"RateLimit-Remaining": "0", "RateLimit-Reset": "12"}, 12.0),
        ({"RateLimit-Remaining": "4", "RateLimit-Reset": "12"}, None),
        (
            {
                "RateLimit": '"resolvers";r=0',
                "RateLimit-Policy": '"fixed window";"resolvers";q=3000;w=300',
            },
            300.0,
        ),
        ({"RateLimit": '"x";r=0;t=abc'}, None),
        ({"RateLimit": "garbage;;;,,"}, None),
        ({}, None),
    ],
)
def test_ratelimit_header(headers: dict[str, str], wait: float | None) -> None:
    assert parse_ratelimit(headers) == wait


def test_requested_wait_takes_the_larger() -> None:
    assert requested_wait({"Retry-After": "3", "RateLimit": '"a";r=0;t=9'}, 0) == 9.0
    assert requested_wait({"Retry-After": "30", "RateLimit": '"a";r=0;t=9'}, 0) == 30.0
    assert requested_wait({"Retry-After": "3"}, 0) == 3.0
    assert requested_wait({}, 0) is None


def test_human_duration() -> None:
    assert human_duration(87) == "87 s"
    assert human_duration(0.5) == "0.5 s"
    assert human_duration(240) == "4 min (240 s)"
    assert human_duration(86400) == "24 h (86400 s)"
    assert human_duration(3 * 86400) == "3 days (259200 s)"


# -- the wait cap -----------------------------------------------------------------------------
@responses.activate
@pytest.mark.parametrize(
    "headers",
    [{"Retry-After": "86400"}, {"RateLimit": '"resolvers";r=0;t=87'}],
)
@pytest.mark.parametrize("status", [429, 503])
def test_a_wait_over_the_cap_fails_at_once(headers: dict[str, str], status: int) -> None:
    responses.get(f"{EP}/api/x", status=status, headers=headers)
    session, slept = make_session()
    with pytest.raises(ServerError) as exc:
        session.get_json("/api/x", what="alice/m")
    assert exc.value.exit_code == 5
    assert slept == [] and len(responses.calls) == 1
    assert "asks to wait" in str(exc.value) and "HUBCLI_MAX_RETRY_WAIT" in str(exc.value)
    assert ("24 h (86400 s)" if "Retry-After" in headers else "87 s") in str(exc.value)


@responses.activate
def test_the_cap_is_a_setting() -> None:
    responses.get(f"{EP}/api/x", status=429, headers={"Retry-After": "90"})
    responses.get(f"{EP}/api/x", json={"ok": 1})
    session, slept = make_session(HUBCLI_MAX_RETRY_WAIT="120", HUBCLI_METADATA_TIMEOUT="200")
    assert session.get_json("/api/x") == {"ok": 1}
    assert slept == [90.0]


@responses.activate
def test_a_wait_past_the_metadata_deadline_fails_at_once() -> None:
    responses.get(f"{EP}/api/x", status=503, headers={"Retry-After": "50"})
    session, slept = make_session(HUBCLI_METADATA_TIMEOUT="20")
    with pytest.raises(NetworkError, match=r"within 20 s.*next try would be in 50 s"):
        session.get_json("/api/x")
    assert slept == []


@responses.activate
def test_small_waits_retry_with_the_larger_header() -> None:
    responses.get(
        f"{EP}/api/x", status=429, headers={"Retry-After": "1", "RateLimit": '"api";r=0;t=4'}
    )
    responses.get(f"{EP}/api/x", json=[1])
    session, slept = make_session()
    assert session.get_json("/api/x") == [1]
    assert slept == [4.0]


@responses.activate
def test_429_retries_are_capped_like_5xx() -> None:
    responses.get(f"{EP}/api/x", status=429, headers={"Retry-After": "0"})
    session, slept = make_session()
    with pytest.raises(ServerError):
        session.get_json("/api/x")
    assert len(responses.calls) == session.max_retries + 1 and len(slept) == session.max_retries


# -- the stall meter ----------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_stall_meter_needs_a_full_window_under_the_rate() -> None:
    clock = FakeClock()
    meter = StallMeter(30, 1024, clock=clock)
    clock.t += 29
    assert not meter.stalled()  # not a whole window yet
    clock.t += 2
    assert meter.stalled()  # 31 s, 0 bytes
    meter.add(40 * 1024)
    assert not meter.stalled()  # 40 KiB in the last 30 s
    clock.t += 29
    assert not meter.stalled()
    clock.t += 2
    assert meter.stalled()  # the burst left the window


def test_stall_meter_one_byte_a_second_is_a_stall() -> None:
    clock = FakeClock()
    meter = StallMeter(30, 1024, clock=clock)
    for _ in range(31):
        clock.t += 1
        meter.add(1)
    assert meter.stalled()


def test_stall_meter_excludes_user_rate_limit_waits() -> None:
    clock = FakeClock()
    meter = StallMeter(30, 1024, clock=clock)
    meter.add(31 * 1024)
    clock.t += 10
    with meter.excluded():
        clock.t += 1000  # e.g. --limit-rate pacing
        assert not meter.stalled()
    clock.t += 10
    assert not meter.stalled()  # 20 s of counted time since the bytes
    clock.t += 11
    assert meter.stalled()


def test_stall_meter_keeps_few_samples() -> None:
    clock = FakeClock()
    meter = StallMeter(30, 1024, clock=clock)
    for _ in range(100_000):
        clock.t += 0.001
        meter.add(100)
    assert len(meter._samples) < 100
    assert not meter.stalled()


def test_watch_gives_a_new_connection_its_grace() -> None:
    clock = FakeClock()
    meter = StallMeter(30, 1024, clock=clock)
    watch = Watch(meter=meter, grace=3)
    clock.t += 31
    assert watch.verdict() == "stall"
    watch.new_attempt()
    assert watch.verdict() is None
    clock.t += 3
    assert watch.verdict() == "stall"


# -- JSON answers -------------------------------------------------------------------------------
@responses.activate
def test_json_answer_over_the_size_cap_is_a_protocol_error() -> None:
    responses.get(f"{EP}/api/big", body=b"[" + b"1," * 600 + b"1]")
    session, _ = make_session()
    with pytest.raises(ProtocolError, match="larger than"):
        session.request_json("GET", "/api/big", max_bytes=1000)
    assert session.request_json("GET", "/api/big", max_bytes=2000)[0] == 1


@responses.activate
def test_deeply_nested_json_is_a_protocol_error() -> None:
    responses.get(f"{EP}/api/deep", body=b"[" * 100_000)
    session, _ = make_session()
    with pytest.raises(ProtocolError, match="invalid JSON"):
        session.get_json("/api/deep")


@responses.activate
def test_a_dropped_json_answer_is_retried_then_network_error() -> None:
    responses.get(f"{EP}/api/x", body=requests.ConnectionError("reset"))
    session, _ = make_session()
    with pytest.raises(NetworkError):
        session.get_json("/api/x")


# -- the attempt cap ----------------------------------------------------------------------------
def test_transfer_attempt_cap_comes_from_settings(tmp_path: Path) -> None:
    from hubcli.transfer.engine import Transfer

    session, _ = make_session(HUBCLI_MAX_ATTEMPTS="7")
    assert Transfer(session).max_attempts == 7
    assert Transfer(make_session()[0]).max_attempts == 3
