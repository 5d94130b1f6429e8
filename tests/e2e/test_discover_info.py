"""`hubcli info` and `hubcli files|ls` end to end: metadata, sizes, LFS and cache marks, errors."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.hub import run_hf

CARD = "---\nlicense: apache-2.0\nlibrary_name: transformers\npipeline_tag: fill-mask\n---\n# m\n"


@pytest.fixture
def hub(hub_server: Any) -> Any:
    hub_server.seed_repo(
        "alice/tiny-bert",
        {
            "README.md": CARD,
            "config.json": '{"hidden": 8}',
            "model.safetensors": b"\1" * 4096,
            "tokenizer/vocab.txt": "a\nb\nc\n",
            "tokenizer/deep/merges.txt": "x y\n",
        },
        downloads=1500,
        likes=12,
    )
    return hub_server


def env_for(hub: Any, **extra: str) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, **extra}


def test_info_json_has_metadata_files_and_cache_marks(
    run_cli: Any, hub: Any, hf_env: dict[str, str], tmp_path: Path
) -> None:
    cache = tmp_path / "hf_home" / "hub"
    run_hf(
        """
        from huggingface_hub import hf_hub_download
        hf_hub_download("alice/tiny-bert", "config.json")
        """,
        hf_env,
    )
    env = env_for(hub, HF_HUB_CACHE=str(cache))
    res = run_cli("info", "alice/tiny-bert", "--json", env=env)
    assert res.returncode == 0, res
    doc = json.loads(res.stdout)
    assert doc["schema_version"] == 1
    assert doc["id"] == "alice/tiny-bert" and doc["repo_type"] == "model"
    assert re.fullmatch(r"[0-9a-f]{40}", doc["sha"]) and doc["revision"] == "main"
    assert doc["downloads"] == 1500 and doc["likes"] == 12
    assert doc["pipeline_tag"] == "fill-mask" and doc["card_data"]["license"] == "apache-2.0"
    assert "lastModified" not in doc and "last_modified" in doc
    files = {f["rfilename"]: f for f in doc["siblings"]}
    assert set(files) == {
        "README.md",
        "config.json",
        "model.safetensors",
        "tokenizer/vocab.txt",
        "tokenizer/deep/merges.txt",
    }
    assert files["model.safetensors"]["size"] == 4096
    assert files["model.safetensors"]["lfs"]["size"] == 4096
    assert len(files["model.safetensors"]["lfs"]["sha256"]) == 64
    assert files["config.json"]["lfs"] is None
    assert files["config.json"]["cached"] is True
    assert files["README.md"]["cached"] is False
    assert doc["total_size"] == sum(f["size"] for f in doc["siblings"])

    human = run_cli(
        "info", "alice/tiny-bert", env=env_for(hub, HF_HUB_CACHE=str(cache), COLUMNS="100")
    )
    assert human.returncode == 0, human
    out = human.stdout
    assert re.search(r"^task\s+fill-mask$", out, re.M)
    assert re.search(r"^license\s+apache-2\.0$", out, re.M)
    assert re.search(r"^downloads\s+1\.5k$", out, re.M)
    assert re.search(r"^config\.json\s+13 B\s+yes$", out, re.M)  # cached mark
    assert re.search(r"^model\.safetensors\s+4\.1 kB\s+LFS$", out, re.M)
    assert re.search(r"^5 files, [\d.]+ kB \(1 cached\)$", out, re.M)


def test_info_space_shows_sdk_app_file_hardware(run_cli: Any, hub_server: Any) -> None:
    hub_server.seed_repo(
        "alice/demo",
        {
            "README.md": "---\nsdk: gradio\napp_file: main.py\nsuggested_hardware: t4-small\n---\n",
            "main.py": "print(1)\n",
        },
        repo_type="space",
    )
    res = run_cli("info", "spaces/alice/demo", env=env_for(hub_server))
    assert res.returncode == 0, res
    assert re.search(r"^sdk\s+gradio$", res.stdout, re.M)
    assert re.search(r"^app file\s+main\.py$", res.stdout, re.M)
    assert re.search(r"^hardware\s+t4-small$", res.stdout, re.M)
    doc = json.loads(
        run_cli("info", "alice/demo", "--type", "space", "--json", env=env_for(hub_server)).stdout
    )
    assert doc["sdk"] == "gradio" and doc["app_file"] == "main.py" and doc["repo_type"] == "space"


def test_info_revision(run_cli: Any, hub: Any) -> None:
    first = hub.head("alice/tiny-bert")
    hub.seed_repo("alice/tiny-bert", {"new.txt": "n"}, message="second")
    doc = json.loads(
        run_cli("info", "alice/tiny-bert", "--revision", first, "--json", env=env_for(hub)).stdout
    )
    assert doc["sha"] == first and "new.txt" not in {f["rfilename"] for f in doc["siblings"]}


def test_files_tree_json_quiet_and_ls_alias(run_cli: Any, hub: Any) -> None:
    env = env_for(hub, COLUMNS="100")
    top = run_cli("files", "alice/tiny-bert", "-q", env=env)
    assert top.returncode == 0, top
    assert top.stdout.splitlines() == [
        "README.md",
        "config.json",
        "model.safetensors",
        "tokenizer/",
    ]
    rec = run_cli("ls", "alice/tiny-bert", "--recursive", "-q", env=env)
    assert "tokenizer/deep/merges.txt" in rec.stdout.splitlines()
    assert "tokenizer/vocab.txt" in rec.stdout.splitlines()
    sub = run_cli("files", "alice/tiny-bert", "tokenizer", "--json", env=env)
    listing = json.loads(sub.stdout)
    assert listing["path"] == "tokenizer" and listing["repo_id"] == "alice/tiny-bert"
    items = listing["entries"]
    assert all(("blob_id" if i["type"] == "file" else "tree_id") in i for i in items)
    assert {i["path"]: i["type"] for i in items} == {
        "tokenizer/deep": "directory",
        "tokenizer/vocab.txt": "file",
    }
    assert [i["size"] for i in items if i["type"] == "file"] == [6]
    table = run_cli("ls", "alice/tiny-bert", env=env)
    assert re.search(r"^model\.safetensors\s+4\.1 kB\s+LFS$", table.stdout, re.M)
    assert re.search(r"^tokenizer/\s+-$", table.stdout, re.M)
    assert "3 files, 1 folder," in table.stderr
    missing = run_cli("files", "alice/tiny-bert", "nope", env=env)
    assert missing.returncode == 4 and missing.stderr.count("\n") == 1


def test_errors_exit_codes_one_line(run_cli: Any, hub: Any) -> None:
    hub.seed_repo("alice/secret", {"a.txt": "a"}, private=True)
    with_token = env_for(hub, HF_TOKEN=hub.bob_token)
    res = run_cli("info", "alice/does-not-exist", env=with_token)
    assert res.returncode == 4 and res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    res = run_cli("files", "alice/does-not-exist", "--json", env=with_token)
    assert res.returncode == 4
    assert json.loads(res.stderr)["error"]["exit_code"] == 4
    res = run_cli("info", "alice/secret", env=env_for(hub))
    assert res.returncode == 3 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    res = run_cli("info", "alice/secret", env=env_for(hub, HF_TOKEN=hub.alice_token))
    assert res.returncode == 0
    res = run_cli("info", "not a repo!", env=env_for(hub))
    assert res.returncode == 2


def test_server_down_exit_5(run_cli: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    res = run_cli("search", "-q", env={"HF_ENDPOINT": f"http://127.0.0.1:{port}"}, timeout=60)
    assert res.returncode == 5
    assert res.stderr.count("\n") == 1 and "connection failed" in res.stderr
    assert "Traceback" not in res.stderr
