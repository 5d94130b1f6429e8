"""End-to-end (issue 13): every command's --json through the real CLI against the local hub --
one versioned JSON document on stdout, hf's field names, the one-line JSON error -- and the
singular/plural words of download/upload."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def _env(hub: Any, tmp_path: Path, token: str | None = "alice") -> dict[str, str]:
    env = {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(tmp_path / "cache")}
    if token:
        env["HF_TOKEN"] = hub.alice_token if token == "alice" else hub.bob_token
    return env


def _doc(res: Any) -> dict[str, Any]:
    """The one JSON document on stdout, checked for the schema version."""
    assert res.returncode == 0, res
    doc = json.loads(res.stdout)
    assert isinstance(doc, dict) and doc["schema_version"] == 1, doc
    assert next(iter(doc)) == "schema_version"
    return doc


def test_every_read_command_prints_one_versioned_document(
    run_cli: Any, hub_server: Any, tmp_path: Path
) -> None:
    hub_server.seed_repo(
        "alice/j", {"config.json": '{"a": 1}', "README.md": "---\nlicense: mit\n---\n# J\n"}
    )
    env = _env(hub_server, tmp_path)
    cache = str(tmp_path / "cache")
    commands = [
        ("env",),
        ("auth", "whoami"),
        ("search", "j"),
        ("info", "alice/j"),
        ("files", "alice/j"),
        ("ls", "alice/j"),
        ("card", "alice/j"),
        ("download", "alice/j"),
        ("repo", "refs", "alice/j"),
        ("cache", "ls"),
        ("cache", "du"),
        ("cache", "verify"),
        ("cache", "repair"),
        ("cache", "dedup", "--dry-run"),
        ("cache", "prune", "--dry-run"),
        ("cache", "rm", "alice/j", "--dry-run"),
        ("cache", "export", "alice/j", "-o", str(tmp_path / "b.tar")),
        ("cache", "import", str(tmp_path / "b.tar"), "--cache-dir", str(tmp_path / "other")),
    ]
    docs = {}
    for cmd in commands:
        docs[cmd[:2]] = _doc(run_cli(*cmd, "--json", env=env))
    assert docs[("auth", "whoami")]["user"] == "alice"
    assert [r["id"] for r in docs[("search", "j")]["results"]] == ["alice/j"]
    info = docs[("info", "alice/j")]
    assert info["repo_type"] == "model" and {s["rfilename"] for s in info["siblings"]} == {
        "config.json",
        "README.md",
    }
    assert "last_modified" in info and "lastModified" not in info
    assert docs[("card", "alice/j")]["metadata"] == {"license": "mit"}
    dl = docs[("download", "alice/j")]
    assert dl["repo_id"] == "alice/j" and dl["repo_type"] == "model" and Path(dl["path"]).is_dir()
    assert docs[("cache", "ls")]["rows"][0]["repo_id"] == "alice/j"
    assert docs[("cache", "verify")]["ok"] is True
    assert cache in docs[("env",)]["cache_dir"]


def test_repo_writes_print_hf_field_names(run_cli: Any, hub_server: Any, tmp_path: Path) -> None:
    env = _env(hub_server, tmp_path)
    doc = _doc(run_cli("repo", "create", "alice/w", "--json", env=env))
    assert doc["repo_id"] == "alice/w" and doc["repo_type"] == "model" and "repo" not in doc
    hub_server.seed_repo("alice/w", {"a.txt": "a"})
    doc = _doc(run_cli("repo", "branch", "create", "alice/w", "dev", "--json", env=env))
    assert doc == {
        "schema_version": 1,
        "branch": "dev",
        "repo_type": "model",
        "repo_id": "alice/w",
        "revision": None,
        "created": True,
    }
    doc = _doc(run_cli("repo", "branch", "create", "w", "dev", "--exist-ok", "--json", env=env))
    assert doc["created"] is False and doc["repo_id"] == "alice/w"  # a bare name is alice's
    doc = _doc(run_cli("repo", "tag", "create", "alice/w", "v1", "--json", env=env))
    assert (doc["tag"], doc["repo_id"], doc["revision"]) == ("v1", "alice/w", "main")
    doc = _doc(run_cli("repo", "tag", "delete", "alice/w", "v1", "--yes", "--json", env=env))
    assert (doc["tag"], doc["repo_id"]) == ("v1", "alice/w")
    doc = _doc(run_cli("repo", "branch", "delete", "alice/w", "dev", "-y", "--json", env=env))
    assert (doc["branch"], doc["repo_id"]) == ("dev", "alice/w")
    refs = _doc(run_cli("repo", "refs", "alice/w", "--json", env=env))
    assert [b["name"] for b in refs["branches"]] == ["main"] and refs["tags"] == []
    doc = _doc(run_cli("repo", "delete", "alice/w", "--yes", "--json", env=env))
    assert doc == {"schema_version": 1, "repo_id": "alice/w", "repo_type": "model", "deleted": True}
    doc = _doc(run_cli("repo", "delete", "alice/w", "--yes", "--missing-ok", "--json", env=env))
    assert doc["deleted"] is False


def test_auth_login_logout_json(run_cli: Any, hub_server: Any, tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": hub_server.url}
    token_path = Path(os.environ["HF_HOME"]) / "token"
    doc = _doc(run_cli("auth", "login", "--token", hub_server.alice_token, "--json", env=env))
    assert doc["user"] == "alice" and doc["verified"] is True
    assert doc["endpoint"] == hub_server.url and doc["token_path"] == str(token_path)
    doc = _doc(run_cli("auth", "logout", "--json", env=env))
    assert doc["token_file_removed"] is True and not token_path.exists()
    doc = _doc(run_cli("auth", "logout", "--json", env=env))
    assert doc["token_file_removed"] is False


def test_json_error_stays_one_line_on_stderr(run_cli: Any, hub_server: Any, tmp_path: Path) -> None:
    res = run_cli("info", "alice/missing", "--json", env=_env(hub_server, tmp_path))
    assert res.returncode == 4 and res.stdout == "", res
    (line,) = res.stderr.splitlines()
    err = json.loads(line)["error"]
    assert err["exit_code"] == 4 and err["code"].endswith("not_found") and err["message"]


def test_upload_and_download_words_one_file(run_cli: Any, hub_server: Any, tmp_path: Path) -> None:
    env = _env(hub_server, tmp_path)
    src = tmp_path / "one.txt"
    src.write_text("one\n")
    up = run_cli("upload", "alice/one", str(src), env=env)
    assert up.returncode == 0, up
    assert "(s)" not in up.stderr and "1 file " in up.stderr and "1 commit." in up.stderr, up
    doc = _doc(run_cli("upload", "alice/one", str(src), "--json", env=env))
    assert doc["nothing_to_commit"] is True and doc["repo"] == "alice/one"
    dl = run_cli("download", "alice/one", "one.txt", env=env)
    assert dl.returncode == 0, dl
    assert ": 1 file," in dl.stderr and "1 files" not in dl.stderr, dl
    dry = run_cli("download", "alice/one", "--include", "one.*", "--dry-run", env=env)
    assert dry.returncode == 0, dry
    assert "1 file," in dry.stdout and "1 files" not in dry.stdout, dry
