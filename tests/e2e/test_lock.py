"""`hubcli add/remove/lock/outdated` end to end against the local hub (issue 14)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from hubcli.lock.lockfile import loads

CONFIG = b'{"model_type": "bert", "hidden_size": 8}\n'
VOCAB = b"[PAD]\n[UNK]\nhello\nworld\n"
# *.safetensors -> LFS on the test hub; a safetensors-like header (an 8-byte little-endian length,
# then JSON) so the content classifier can never read it as a pickle by chance.
_HEADER = b'{"__metadata__": {}}'
WEIGHTS = len(_HEADER).to_bytes(8, "little") + _HEADER + os.urandom(200_000)
README = b"# tiny\n"

INPUT = """\
# the models this project needs
[[repo]]
id = "alice/tiny"  # main model
exclude = ["*.md"]
"""


def _env(hub: Any, cache: Path) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache)}


def _seed(hub: Any) -> str:
    files = {
        "config.json": CONFIG,
        "tok/vocab.txt": VOCAB,
        "model.safetensors": WEIGHTS,
        "README.md": README,
    }
    return str(hub.seed_repo("alice/tiny", files))


def _sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_add_lock_writes_the_right_hashes(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    commit = _seed(hub_server)
    hub_server.seed_repo("alice/data", {"a.csv": b"x,y\n1,2\n"}, repo_type="dataset")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "hubcli.toml").write_text(INPUT)
    env = _env(hub_server, tmp_path / "cache")
    res = run_cli("add", "datasets/alice/data", "--include", "*.csv", "--json", env=env, cwd=proj)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["action"] == "added" and doc["repo_type"] == "dataset"
    assert "# main model" in (proj / "hubcli.toml").read_text()

    sub = proj / "src"
    sub.mkdir()
    res = run_cli("lock", "--json", env=env, cwd=sub)  # the root is found upwards
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert {r["status"] for r in doc["repos"]} == {"added"}
    text = (proj / "hubcli.lock").read_text()
    lock = loads(text)
    assert "http" not in text and "hf_" not in text  # no endpoint, no token
    tiny = lock.repo("alice/tiny")
    assert tiny is not None and tiny.commit == commit and tiny.requested == "main"
    files = {f.path: f for f in tiny.files}
    assert "README.md" not in files  # excluded
    expected = {"config.json": CONFIG, "tok/vocab.txt": VOCAB, "model.safetensors": WEIGHTS}
    for path, data in expected.items():
        f = files[path]
        assert f.size == len(data)
        assert f.sha256 == hashlib.sha256(data).hexdigest()
        assert f.lfs == (path == "model.safetensors")
        if not f.lfs:
            assert f.blob_id == _sha1(data)
    data_repo = lock.repo("alice/data", "dataset")
    assert data_repo is not None and [f.path for f in data_repo.files] == ["a.csv"]
    # regular files went through the cache; the LFS weights were not downloaded
    blobs = tmp_path / "cache" / "models--alice--tiny" / "blobs"
    assert (blobs / _sha1(CONFIG)).read_bytes() == CONFIG
    assert not (blobs / hashlib.sha256(WEIGHTS).hexdigest()).exists()

    # the same input again: same bytes, no request at all
    hub_server.clear_requests()
    res = run_cli("lock", env=env, cwd=proj)
    assert res.returncode == 0, res.stderr
    assert (proj / "hubcli.lock").read_text() == text
    assert hub_server.requests() == []
    assert run_cli("lock", "--check", env=env, cwd=proj).returncode == 0


def test_pins_are_kept_until_upgrade_and_outdated(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    first = _seed(hub_server)
    other = str(hub_server.seed_repo("alice/other", {"x.txt": b"one"}))
    env = _env(hub_server, tmp_path / "cache")
    for repo in ("alice/tiny", "alice/other"):
        assert run_cli("add", repo, env=env).returncode == 0
    assert run_cli("lock", env=env).returncode == 0

    second = str(hub_server.seed_repo("alice/tiny", {"config.json": b'{"v": 2}\n'}))
    other2 = str(hub_server.seed_repo("alice/other", {"x.txt": b"two"}))
    assert second != first and other2 != other
    res = run_cli("outdated", "--json", env=env)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["outdated"] == 2
    row = {r["repo_id"]: r for r in doc["repos"]}["alice/tiny"]
    assert (row["locked"], row["latest"], row["outdated"]) == (first, second, True)

    res = run_cli("lock", env=env)  # input unchanged: pins stay
    assert res.returncode == 0, res.stderr
    assert loads((tmp_path / "hubcli.lock").read_text()).repo("alice/tiny").commit == first  # type: ignore[union-attr]

    res = run_cli("lock", "--upgrade-repo", "alice/tiny", "--json", env=env)
    assert res.returncode == 0, res.stderr
    lock = loads((tmp_path / "hubcli.lock").read_text())
    assert lock.repo("alice/tiny").commit == second  # type: ignore[union-attr]
    assert lock.repo("alice/other").commit == other  # type: ignore[union-attr]
    cfg = {f.path: f for f in lock.repo("alice/tiny").files}["config.json"]  # type: ignore[union-attr]
    assert cfg.sha256 == hashlib.sha256(b'{"v": 2}\n').hexdigest()

    assert run_cli("lock", "--upgrade", env=env).returncode == 0
    assert loads((tmp_path / "hubcli.lock").read_text()).repo("alice/other").commit == other2  # type: ignore[union-attr]
    res = run_cli("outdated", env=env)
    assert res.returncode == 0 and "0 pins behind" in res.stderr


def test_input_change_relocks_that_repo_and_check_fails(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    _seed(hub_server)
    env = _env(hub_server, tmp_path / "cache")
    assert run_cli("add", "alice/tiny", env=env).returncode == 0
    assert run_cli("lock", env=env).returncode == 0
    newer = str(hub_server.seed_repo("alice/tiny", {"new.txt": b"new"}))
    res = run_cli("add", "alice/tiny", "--include", "*.json", env=env)
    assert res.returncode == 0, res.stderr
    res = run_cli("lock", "--check", env=env)
    assert res.returncode == 9, res.stderr
    res = run_cli("lock", "--json", env=env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["repos"][0]["status"] == "reselected"
    tiny = loads((tmp_path / "hubcli.lock").read_text()).repo("alice/tiny")
    assert tiny is not None and tiny.commit != newer  # same pin, new selection
    assert [f.path for f in tiny.files] == ["config.json"]
    assert run_cli("lock", "--check", env=env).returncode == 0

    res = run_cli("remove", "alice/tiny", env=env)
    assert res.returncode == 0, res.stderr
    assert run_cli("lock", "--check", env=env).returncode == 9
    assert run_cli("remove", "alice/tiny", env=env).returncode == 2
    res = run_cli("lock", "--json", env=env)
    assert json.loads(res.stdout)["repos"][0]["status"] == "removed"
    assert loads((tmp_path / "hubcli.lock").read_text()).repos == ()


def test_cache_key_is_stable_and_request_free(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    _seed(hub_server)
    env = _env(hub_server, tmp_path / "cache")
    assert run_cli("add", "alice/tiny", env=env).returncode == 0
    assert run_cli("lock", env=env).returncode == 0
    hub_server.clear_requests()
    one = run_cli("lock", "--cache-key", env=env)
    two = run_cli("lock", "--cache-key", env={**env, "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    key = one.stdout.strip()
    expected = hashlib.sha256((tmp_path / "hubcli.lock").read_bytes()).hexdigest()[:32]
    assert key == two.stdout.strip() == "hubcli-" + expected
    assert hub_server.requests() == []
    res = run_cli("lock", "--cache-key", "--json", env=env)
    assert json.loads(res.stdout)["cache_key"] == key


def test_no_project_and_bad_input(run_cli: Any, tmp_path: Path) -> None:
    res = run_cli("lock")
    assert res.returncode == 2 and "hubcli add" in res.stderr
    (tmp_path / "hubcli.toml").write_text('[[repo]]\nid = "alice/tiny"\nrevison = "v1"\n')
    res = run_cli("lock")
    assert res.returncode == 2 and "revison" in res.stderr
    res = run_cli("lock", "--cache-key")  # no lock yet (the input is not read)
    assert res.returncode == 8 and "hubcli.lock" in res.stderr


def test_lock_marks_pickle_and_remote_code(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    import pickle

    config = b'{"auto_map": {"AutoModel": "modeling_x.MyModel"}}'
    files = {
        "config.json": config,
        "modeling_x.py": b"from .helpers import f\n",
        "helpers.py": b"def f(): pass\n",
        "other.py": b"x = 1\n",
        "state.dat": pickle.dumps({"a": 1}, protocol=4),  # a pickle by content, any name
        "model.safetensors": WEIGHTS,
    }
    hub_server.seed_repo("alice/code", files)
    env = _env(hub_server, tmp_path / "cache")
    assert run_cli("add", "alice/code", env=env).returncode == 0
    res = run_cli("lock", env=env)
    assert res.returncode == 0, res.stderr
    repo = loads((tmp_path / "hubcli.lock").read_text()).repo("alice/code")
    assert repo is not None
    kinds = {f.path: f.kinds for f in repo.files}
    assert kinds["modeling_x.py"] == kinds["helpers.py"] == ("remote-code",)
    assert kinds["state.dat"] == ("pickle",)
    assert kinds["other.py"] == kinds["config.json"] == kinds["model.safetensors"] == ()
