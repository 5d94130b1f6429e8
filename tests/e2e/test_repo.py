"""End-to-end: `hubcli repo create|delete`, `repo branch`, `repo tag` against the local hub."""

from __future__ import annotations

import json
from typing import Any


def _env(hub: Any, token: str | None = "alice") -> dict[str, str]:
    env = {"HF_ENDPOINT": hub.url}
    if token:
        env["HF_TOKEN"] = hub.alice_token if token == "alice" else hub.bob_token
    return env


def test_create_prints_url_and_conflicts_without_exist_ok(hub_server: Any, run_cli: Any):
    r = run_cli("repo", "create", "alice/new", env=_env(hub_server))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{hub_server.url}/alice/new"
    again = run_cli("repo", "create", "alice/new", env=_env(hub_server))
    assert again.returncode == 10
    assert "already exists" in again.stderr and "--exist-ok" in again.stderr
    ok = run_cli("repo", "create", "alice/new", "--exist-ok", env=_env(hub_server))
    assert ok.returncode == 0, ok.stderr


def test_create_private_dataset_and_space_json(hub_server: Any, run_cli: Any):
    r = run_cli(
        "repo", "create", "alice/ds", "--type", "dataset", "--private", "--json",
        env=_env(hub_server),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["url"] == f"{hub_server.url}/datasets/alice/ds"
    assert hub_server.storage.get_repo("dataset", "alice/ds").meta["private"] is True
    s = run_cli(
        "repo", "create", "alice/sp", "--type", "space", "--space-sdk", "docker",
        env=_env(hub_server),
    )  # fmt: skip
    assert s.returncode == 0, s.stderr
    assert hub_server.storage.get_repo("space", "alice/sp") is not None
    bad = run_cli("repo", "create", "alice/m2", "--space-sdk", "docker", env=_env(hub_server))
    assert bad.returncode == 2


def test_create_errors_map_to_exit_codes(hub_server: Any, run_cli: Any):
    assert run_cli("repo", "create", "alice/x", env=_env(hub_server, None)).returncode == 3
    r = run_cli("repo", "create", "alice/x", env=_env(hub_server, "bob"))
    assert r.returncode == 3, r
    assert run_cli("repo", "create", "bad--id", env=_env(hub_server)).returncode == 2


def test_delete_refuses_without_yes_when_not_interactive(hub_server: Any, run_cli: Any):
    hub_server.seed_repo("alice/gone", {"a.txt": "a"})
    r = run_cli("repo", "delete", "alice/gone", env=_env(hub_server))
    assert r.returncode == 2
    assert "--yes" in r.stderr
    assert hub_server.storage.get_repo("model", "alice/gone") is not None
    ok = run_cli("repo", "delete", "alice/gone", "--yes", env=_env(hub_server))
    assert ok.returncode == 0, ok.stderr
    assert hub_server.storage.get_repo("model", "alice/gone") is None
    missing = run_cli("repo", "delete", "alice/gone", "--yes", env=_env(hub_server))
    assert missing.returncode == 4
    tolerant = run_cli("repo", "delete", "alice/gone", "-y", "--missing-ok", env=_env(hub_server))
    assert tolerant.returncode == 0


def test_branch_and_tag_lifecycle(hub_server: Any, run_cli: Any):
    sha = hub_server.seed_repo("alice/refs", {"a.txt": "a"})
    env = _env(hub_server)
    assert run_cli("repo", "branch", "create", "alice/refs", "dev", env=env).returncode == 0
    assert hub_server.head("alice/refs", "dev") == sha
    dup = run_cli("repo", "branch", "create", "alice/refs", "dev", env=env)
    assert dup.returncode == 10 and "already exists" in dup.stderr
    assert (
        run_cli("repo", "branch", "create", "alice/refs", "dev", "--exist-ok", env=env).returncode
        == 0
    )
    assert (
        run_cli("repo", "tag", "create", "alice/refs", "v1", "-m", "first", env=env).returncode == 0
    )
    repo = hub_server.storage.get_repo("model", "alice/refs")
    assert repo.refs["tags"]["v1"] == sha
    assert run_cli("repo", "tag", "delete", "alice/refs", "v1", env=env).returncode == 2
    assert run_cli("repo", "tag", "delete", "alice/refs", "v1", "--yes", env=env).returncode == 0
    assert "v1" not in repo.refs["tags"]
    assert run_cli("repo", "branch", "delete", "alice/refs", "dev", "-y", env=env).returncode == 0
    assert "dev" not in repo.refs["heads"]
    gone = run_cli("repo", "branch", "delete", "alice/refs", "nope", "-y", env=env)
    assert gone.returncode == 4
