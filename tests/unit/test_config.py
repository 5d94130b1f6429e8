"""Settings resolution: flags > environment > defaults, token sources and their order."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hubcli.auth import save_token
from hubcli.config import DEFAULT_ENDPOINT, mask_token, resolve_settings
from hubcli.errors import UsageError


def test_defaults_follow_home(tmp_path: Path) -> None:
    s = resolve_settings(env={"HOME": str(tmp_path)})
    assert s.endpoint == DEFAULT_ENDPOINT and s.endpoint_source == "default"
    assert s.hf_home == tmp_path / ".cache" / "huggingface"
    assert s.cache_dir == tmp_path / ".cache" / "huggingface" / "hub"
    assert s.token_path == s.hf_home / "token"
    assert s.token is None and s.token_source == "none"
    assert s.offline is False


def test_xdg_cache_home_moves_hf_home(tmp_path: Path) -> None:
    s = resolve_settings(env={"HOME": "/nowhere", "XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert s.hf_home == tmp_path / "xdg" / "huggingface"
    assert s.cache_dir == tmp_path / "xdg" / "huggingface" / "hub"


def test_hf_home_beats_xdg(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "HF_HOME": str(tmp_path / "hf")}
    s = resolve_settings(env=env)
    assert s.hf_home == tmp_path / "hf"
    assert s.cache_dir == tmp_path / "hf" / "hub"


@pytest.mark.parametrize(
    ("flag", "env", "expected", "source"),
    [
        (None, {}, DEFAULT_ENDPOINT, "default"),
        (None, {"HF_ENDPOINT": "http://mirror.local/hf///"}, "http://mirror.local/hf", "env"),
        ("http://flag.local/", {"HF_ENDPOINT": "http://env.local"}, "http://flag.local", "flag"),
    ],
)
def test_endpoint_precedence_and_trailing_slashes(
    flag: str | None, env: dict[str, str], expected: str, source: str
) -> None:
    s = resolve_settings(endpoint=flag, env=env)
    assert s.endpoint == expected
    assert s.endpoint_source.startswith(source)


def test_cache_dir_precedence(tmp_path: Path) -> None:
    env = {"HF_HOME": str(tmp_path / "home"), "HF_HUB_CACHE": str(tmp_path / "envcache")}
    assert resolve_settings(env=env).cache_dir == tmp_path / "envcache"
    flagged = resolve_settings(cache_dir=tmp_path / "flag", env=env)
    assert flagged.cache_dir == tmp_path / "flag" and flagged.cache_dir_source == "flag"
    legacy = resolve_settings(env={"HUGGINGFACE_HUB_CACHE": str(tmp_path / "legacy")})
    assert legacy.cache_dir == tmp_path / "legacy"


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "On"])
def test_offline_truthy_values(value: str) -> None:
    assert resolve_settings(env={"HF_HUB_OFFLINE": value}).offline is True


@pytest.mark.parametrize("value", ["0", "false", "no", "", "maybe"])
def test_offline_falsy_values(value: str) -> None:
    assert resolve_settings(env={"HF_HUB_OFFLINE": value}).offline is False


def test_offline_flag_wins() -> None:
    s = resolve_settings(offline=True, env={"HF_HUB_OFFLINE": "0"})
    assert s.offline and s.offline_source == "flag"


def test_token_order_flag_env_file(tmp_path: Path) -> None:
    hf_home = tmp_path / "hf"
    save_token(hf_home / "token", "hf_fromfile0000")
    base = {"HF_HOME": str(hf_home)}
    s = resolve_settings(env=base)
    assert s.token == "hf_fromfile0000" and s.token_source.startswith("file:")
    s = resolve_settings(env={**base, "HUGGING_FACE_HUB_TOKEN": "hf_legacy"})
    assert s.token == "hf_legacy"
    s = resolve_settings(env={**base, "HF_TOKEN": "hf_env", "HUGGING_FACE_HUB_TOKEN": "hf_legacy"})
    assert s.token == "hf_env" and s.token_source == "env:HF_TOKEN"
    s = resolve_settings(token="hf_flag", env={**base, "HF_TOKEN": "hf_env"})
    assert s.token == "hf_flag" and s.token_source == "flag"


def test_token_path_env_and_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "tok"
    path.parent.mkdir()
    path.write_text("  hf_spaced_token\r\n")
    s = resolve_settings(env={"HF_TOKEN_PATH": str(path), "HF_HOME": str(tmp_path / "x")})
    assert s.token == "hf_spaced_token"
    assert s.token_path == path


def test_empty_token_file_means_no_token(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    s = resolve_settings(env={"HF_HOME": str(tmp_path)})
    assert s.token is None


def test_blank_hf_token_env_falls_through(tmp_path: Path) -> None:
    save_token(tmp_path / "token", "hf_file_token_x")
    s = resolve_settings(env={"HF_HOME": str(tmp_path), "HF_TOKEN": "   "})
    assert s.token == "hf_file_token_x"


def test_save_token_permissions_and_no_newline(tmp_path: Path) -> None:
    path = save_token(tmp_path / "dir" / "token", "hf_secret_value_1234")
    assert path.read_text() == "hf_secret_value_1234"
    assert (os.stat(path).st_mode & 0o777) == 0o600
    assert (os.stat(path.parent).st_mode & 0o077) == 0


def test_mask_token_never_reveals_more_than_four_chars() -> None:
    assert mask_token(None) is None
    assert mask_token("hf_abcdefghijklmnop") == "hf_****mnop"
    assert mask_token("short") == "****"
    assert "secret" not in (mask_token("hf_secretsecret") or "")


def test_mirrors_from_env_and_flags() -> None:
    s = resolve_settings(env={"HUBCLI_MIRRORS": "http://a/, http://b"})
    assert s.mirrors == ("http://a", "http://b")
    s = resolve_settings(mirrors=["http://c/"], env={"HUBCLI_MIRRORS": "http://a"})
    assert s.mirrors == ("http://c",)


def test_command_flags_resolve_through_the_same_resolver(monkeypatch: Any, tmp_path: Path) -> None:
    from hubcli.cli.context import AppState

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "env-cache"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HUBCLI_MAX_WORKERS", "3")
    state = AppState.from_flags(endpoint=" http://hub.local/ ", color="never")
    assert state.settings.endpoint == "http://hub.local"
    assert state.settings.cache_dir == tmp_path / "env-cache"
    assert state.settings.max_workers == 3 and state.settings.source("max_workers") == (
        "env:HUBCLI_MAX_WORKERS"
    )
    cmd = state.with_flags(cache_dir="~/c", mirrors=["http://m.local/"], offline=False)
    # a new state; the global one is untouched
    assert state.settings.cache_dir == tmp_path / "env-cache" and state.settings.mirrors == ()
    assert cmd.settings.cache_dir == tmp_path / "c" and cmd.settings.cache_dir_source == "flag"
    assert cmd.settings.mirrors == ("http://m.local",) and cmd.settings.offline is False
    assert cmd.settings.endpoint == "http://hub.local" and cmd.color == "never"
    assert state.with_flags(cache_dir=None, offline=False) is state


def test_settings_know_workers_timeouts_and_state_dir(tmp_path: Path) -> None:
    s = resolve_settings(env={"HF_HOME": str(tmp_path)}, max_workers=5)
    assert s.max_workers == 5 and s.source("max_workers") == "flag"
    assert s.state_dir == tmp_path / "hubcli" and s.source("state_dir") == "default"
    assert s.connect_timeout == 10.0 and s.read_timeout == 60.0
    s = resolve_settings(env={"HF_HUB_DOWNLOAD_TIMEOUT": "5", "HUBCLI_STATE_DIR": "/x/y"})
    assert s.read_timeout == 5.0 and s.source("read_timeout") == "env:HF_HUB_DOWNLOAD_TIMEOUT"
    assert s.state_dir == Path("/x/y")
    with pytest.raises(UsageError):
        resolve_settings(env={"HUBCLI_MAX_WORKERS": "0"})
