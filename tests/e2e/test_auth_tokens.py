"""Named tokens (`auth login --token-name`, `auth list`, `auth switch`, `auth logout --token-name`)
shared byte for byte with huggingface_hub's ``stored_tokens`` file: hf runs in a subprocess with
the same HF_HOME and sees what hubcli stored, and hubcli lists and switches what hf stored."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.fixtures.hub import hf_environment, run_hf


def _home() -> Path:
    return Path(os.environ["HF_HOME"])


def _hf(hub_server: Any, code: str) -> str:
    """Run huggingface_hub code against the same HF_HOME (and no HF_TOKEN) as hubcli."""
    return run_hf(code, hf_environment(hub_server.url, _home())).stdout


def _no_secret(res: Any, *tokens: str) -> None:
    for token in tokens:
        assert token not in res.stdout + res.stderr, res


def test_hf_sees_the_tokens_hubcli_stored_byte_for_byte(run_cli: Any, hub_server: Any) -> None:
    url = hub_server.url
    a = run_cli(
        "--endpoint",
        url,
        "auth",
        "login",
        "--token",
        hub_server.alice_token,
        "--token-name",
        "work",
    )
    b = run_cli(
        "--endpoint", url, "auth", "login", "--token", hub_server.bob_token, "--name", "zz bob %s"
    )
    assert a.returncode == 0 and b.returncode == 0, (a, b)
    _no_secret(a, hub_server.alice_token)
    _no_secret(b, hub_server.bob_token)
    stored = _home() / "stored_tokens"
    assert (stored.stat().st_mode & 0o777) == 0o600
    assert ((_home() / "token").stat().st_mode & 0o777) == 0o600

    out = _hf(
        hub_server,
        """
        import io, json
        from pathlib import Path
        from huggingface_hub import constants, get_token
        from huggingface_hub.utils._auth import (
            _read_stored_tokens_full, _save_stored_tokens_full, get_stored_tokens,
        )
        raw = Path(constants.HF_STORED_TOKENS_PATH).read_bytes()
        tokens = get_stored_tokens()
        _save_stored_tokens_full(_read_stored_tokens_full())  # hf rewrites the file its own way
        same = Path(constants.HF_STORED_TOKENS_PATH).read_bytes() == raw
        print(json.dumps({"tokens": tokens, "active": get_token(), "same": same}))
        """,
    )
    seen = json.loads(out)
    assert seen["tokens"] == {"work": hub_server.alice_token, "zz bob %s": hub_server.bob_token}
    assert seen["active"] == hub_server.bob_token  # the last login is the active token
    assert seen["same"], "hubcli's stored_tokens differs from what huggingface_hub writes"

    # hf switches to hubcli's name; hubcli sees the switch.
    _hf(hub_server, "from huggingface_hub import auth_switch; auth_switch('work')")
    who = run_cli("--endpoint", url, "auth", "whoami")
    assert who.returncode == 0 and who.stdout.strip() == "alice", who


def test_hubcli_lists_and_switches_the_tokens_hf_stored(run_cli: Any, hub_server: Any) -> None:
    # hf's real login (stores under the token's displayName, "local" on the local hub) plus a
    # second name saved by hf's own helper; bob is active.
    _hf(
        hub_server,
        f"""
        from huggingface_hub import login
        from huggingface_hub.utils._auth import _save_token
        _save_token({hub_server.alice_token!r}, "alice-ci")
        login(token={hub_server.bob_token!r})
        """,
    )
    res = run_cli("--endpoint", hub_server.url, "auth", "list")
    assert res.returncode == 0, res
    _no_secret(res, hub_server.alice_token, hub_server.bob_token)
    lines = res.stdout.splitlines()
    assert [ln.split()[-2] for ln in lines] == ["alice-ci", "local"], lines
    assert lines[1].startswith("* ") and lines[0].startswith("  "), lines

    data = json.loads(run_cli("auth", "list", "--json").stdout)
    assert data["active"] == "local"
    assert [(t["name"], t["active"]) for t in data["tokens"]] == [
        ("alice-ci", False),
        ("local", True),
    ]
    assert all(t["token"].startswith("hf_****") for t in data["tokens"])
    assert run_cli("auth", "list", "-q").stdout.splitlines() == ["alice-ci", "local"]

    sw = run_cli("auth", "switch", "alice-ci")
    assert sw.returncode == 0, sw
    _no_secret(sw, hub_server.alice_token, hub_server.bob_token)
    assert (_home() / "token").read_text() == hub_server.alice_token
    assert ((_home() / "token").stat().st_mode & 0o777) == 0o600
    who = run_cli("--endpoint", hub_server.url, "auth", "whoami")
    assert who.stdout.strip() == "alice", who
    # hf's own view of the switch: its active token and its `auth list` marker.
    out = _hf(
        hub_server,
        """
        from huggingface_hub import HfApi
        from huggingface_hub._login import auth_list
        print(HfApi().whoami()["name"])
        auth_list()
        """,
    )
    assert out.splitlines()[0] == "alice"
    assert any(ln.startswith("*") and "alice-ci" in ln for ln in out.splitlines()), out
    # hf's spelling works too.
    sw = run_cli("auth", "switch", "--token-name", "local", "--json")
    assert sw.returncode == 0 and json.loads(sw.stdout)["active"] == "local", sw
    assert (_home() / "token").read_text() == hub_server.bob_token


def test_unknown_name_exits_4_with_the_known_names(run_cli: Any, hub_server: Any) -> None:
    res = run_cli("auth", "switch", "nope")
    assert res.returncode == 4, res
    assert "No tokens are stored" in res.stderr
    run_cli("auth", "login", "--token", hub_server.alice_token, "--no-verify", "--name", "one")
    run_cli("auth", "login", "--token", hub_server.bob_token, "--no-verify", "--name", "two")
    res = run_cli("auth", "switch", "nope")
    assert res.returncode == 4, res
    assert res.stderr.startswith("error: ") and len(res.stderr.splitlines()) == 1, res
    assert "one, two" in res.stderr
    _no_secret(res, hub_server.alice_token, hub_server.bob_token)
    assert (_home() / "token").read_text() == hub_server.bob_token  # unchanged
    res = run_cli("--debug", "auth", "logout", "--token-name", "nope")
    assert res.returncode == 4 and "one, two" in res.stderr, res


def test_logout_token_name_forgets_one_token(run_cli: Any, hub_server: Any) -> None:
    run_cli("auth", "login", "--token", hub_server.alice_token, "--no-verify", "--name", "one")
    run_cli("auth", "login", "--token", hub_server.bob_token, "--no-verify", "--name", "two")
    res = run_cli("auth", "logout", "--token-name", "one")  # not the active one
    assert res.returncode == 0, res
    assert (_home() / "token").read_text() == hub_server.bob_token
    assert run_cli("auth", "list", "-q").stdout.splitlines() == ["two"]
    res = run_cli("auth", "logout", "--token-name", "two")  # the active one: token file goes too
    assert res.returncode == 0, res
    assert not (_home() / "token").exists()
    out = _hf(
        hub_server,
        "from huggingface_hub.utils._auth import get_stored_tokens; print(get_stored_tokens())",
    )
    assert out.strip() == "{}"


def test_bad_names_and_an_env_token_are_explained(run_cli: Any, hub_server: Any) -> None:
    for bad in ("DEFAULT", " padded", "a]b", "line\nbreak", ""):
        res = run_cli(
            "auth", "login", "--token", hub_server.alice_token, "--no-verify", "--name", bad
        )
        assert res.returncode == 2, (bad, res)
        assert not (_home() / "token").exists()
    run_cli("auth", "login", "--token", hub_server.alice_token, "--no-verify", "--name", "one")
    res = run_cli("auth", "list", env={"HF_TOKEN": hub_server.bob_token})
    assert res.returncode == 0, res
    assert "HF_TOKEN is set" in res.stderr
    assert not res.stdout.startswith("*")
    _no_secret(res, hub_server.alice_token, hub_server.bob_token)


def test_an_unreadable_stored_tokens_file_is_named_not_overwritten(
    run_cli: Any, hub_server: Any
) -> None:
    stored = _home() / "stored_tokens"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_text(f"no section here\nhf_token = {hub_server.alice_token}\n")
    res = run_cli("--debug", "auth", "list")
    assert res.returncode == 8, res
    assert str(stored) in res.stderr
    _no_secret(res, hub_server.alice_token)
    res = run_cli("auth", "login", "--token", hub_server.bob_token, "--no-verify", "--name", "x")
    assert res.returncode == 8, res
    assert hub_server.alice_token in stored.read_text()
