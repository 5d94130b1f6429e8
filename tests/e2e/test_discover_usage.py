"""`hubcli info` / `hubcli card`: "use it" snippets, Spaces using a model, dataset configs and
splits, end to end against the local hub.

transformers and datasets are not installed in the test environment: the Python snippets are
compiled, and run with stand-in ``transformers`` / ``datasets`` modules whose loaders fetch the
repo's files with huggingface_hub. That proves what the snippet controls: the ids, config and
split it names, and that its HF_ENDPOINT line sends huggingface_hub to the hub shown (the
subprocess has no HF_ENDPOINT of its own, and the socket guard refuses anything but loopback).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

CARD = (
    "---\nlicense: mit\nlibrary_name: transformers\npipeline_tag: text-classification\n---\n"
    "# Tiny sentiment\n\nA small model.\n"
)
CONFIG = {"architectures": ["BertForSequenceClassification"], "model_type": "bert"}
DATA_CARD = """---
license: mit
configs:
- config_name: en
  default: true
  data_files:
  - split: train
    path: en/train-*.csv
  - split: test
    path: en/test.csv
- config_name: fr
  data_files: fr/*.jsonl
---
# Data
"""

STUBS = {
    "transformers/__init__.py": """
import json
from huggingface_hub import hf_hub_download

CALLS = []

def _load(repo, revision=None, **kw):
    path = hf_hub_download(repo, "config.json", revision=revision)
    CALLS.append(repo)
    return json.load(open(path))

def pipeline(task, model=None, **kw):
    return ("pipeline", task, _load(model, **kw))

class _Auto:
    def __init__(self, name):
        self.name = name
    def from_pretrained(self, repo, **kw):
        return (self.name, _load(repo, **kw))

def __getattr__(name):
    if name.startswith("Auto"):
        return _Auto(name)
    raise AttributeError(name)
""",
    "datasets/__init__.py": """
from huggingface_hub import HfApi, hf_hub_download

def load_dataset(repo, name=None, split=None, revision=None):
    files = HfApi().list_repo_files(repo, repo_type="dataset", revision=revision)
    readme = hf_hub_download(repo, "README.md", repo_type="dataset", revision=revision)
    return {"repo": repo, "name": name, "split": split, "files": sorted(files), "card": readme}
""",
}


@pytest.fixture
def hub(hub_server: Any) -> Any:
    hub_server.seed_repo(
        "alice/tiny-sentiment",
        {
            "README.md": CARD,
            "config.json": json.dumps(CONFIG),
            "tokenizer.json": "{}",
            "model.safetensors": b"\1" * 2048,
        },
    )
    hub_server.seed_repo(
        "alice/demo",
        {"README.md": "---\nsdk: gradio\nmodels:\n- alice/tiny-sentiment\n---\n", "app.py": "x"},
        repo_type="space",
    )
    hub_server.seed_repo(
        "bob/other-demo",
        {"README.md": "---\nsdk: gradio\nmodels: bob/else\n---\n", "app.py": "x"},
        repo_type="space",
    )
    hub_server.seed_repo(
        "alice/tiny-gguf",
        {"README.md": "# g\n", "tiny.Q4_K_M.gguf": b"GGUF" + b"\0" * 60, "tiny.Q8_0.gguf": b"GGUF"},
    )
    hub_server.seed_repo(
        "alice/multi",
        {
            "README.md": DATA_CARD,
            "en/train-0.csv": "text,label\nhello,1\n",
            "en/train-1.csv": "text,label\nbye,0\n",
            "en/test.csv": "text,label\nmeh,0\n",
            "fr/a.jsonl": '{"text": "salut"}\n',
        },
        repo_type="dataset",
    )
    hub_server.seed_repo(
        "alice/plain",
        {
            "README.md": "# no configs\n",
            "data/train.csv": "a,b\n1,2\n",
            "data/validation.csv": "a,b\n3,4\n",
            "data/test.csv": "a,b\n5,6\n",
        },
        repo_type="dataset",
    )
    return hub_server


def env_for(hub: Any, **extra: str) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "COLUMNS": "120", **extra}


def run_snippet(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet with the stand-in modules, without HF_ENDPOINT in the environment."""
    stubs = tmp_path / "stubs"
    for rel, text in STUBS.items():
        (stubs / rel).parent.mkdir(parents=True, exist_ok=True)
        (stubs / rel).write_text(textwrap.dedent(text))
    env = {k: v for k, v in os.environ.items() if k != "HF_ENDPOINT"}
    env["PYTHONPATH"] = os.pathsep.join([str(stubs), env.get("PYTHONPATH", "")])
    env["HF_HUB_DISABLE_XET"] = "1"
    script = code + "\nimport json, sys\nprint(json.dumps({k: v for k, v in globals().items()"
    script += " if k in ('pipe', 'model', 'tokenizer', 'ds')}, default=str))\n"
    return subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )


def test_info_usage_transformers_snippet_runs_against_the_hub_shown(
    run_cli: Any, hub: Any, tmp_path: Path
) -> None:
    res = run_cli("info", "alice/tiny-sentiment", "--json", env=env_for(hub))
    assert res.returncode == 0, res
    doc = json.loads(res.stdout)
    usage = {u["library"]: u for u in doc["usage"]}
    assert set(usage) == {"transformers", "hubcli"}
    code = usage["transformers"]["code"]
    assert f'os.environ["HF_ENDPOINT"] = "{hub.url}"' in code
    assert 'pipeline("text-classification", model="alice/tiny-sentiment")' in code
    assert "AutoModelForSequenceClassification.from_pretrained" in code
    assert "AutoTokenizer.from_pretrained" in code
    assert "config.json architectures (BertForSequenceClassification)" in str(
        usage["transformers"]["derived_from"]
    )
    compile(code, "<snippet>", "exec")
    proc = run_snippet(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.splitlines()[-1])
    assert "BertForSequenceClassification" in str(loaded["model"])
    assert "text-classification" in str(loaded["pipe"])

    # the hubcli line, pinned to the commit shown, run as printed
    line = usage["hubcli"]["code"]
    assert line.replace(" \\\n ", "") == (
        f"HF_ENDPOINT={hub.url} hubcli download alice/tiny-sentiment --revision {doc['sha']}"
    )
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "hubcli").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hubcli "$@"\n')
    (bindir / "hubcli").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "HF_ENDPOINT"}
    env["PATH"] = f"{bindir}{os.pathsep}{env['PATH']}"
    done = subprocess.run(["sh", "-c", line + " -q"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(doc["sha"])


def test_info_human_shows_spaces_and_use_it(run_cli: Any, hub: Any) -> None:
    res = run_cli("info", "alice/tiny-sentiment", env=env_for(hub))
    assert res.returncode == 0, res
    assert "spaces using it  alice/demo" in res.stdout
    assert "bob/other-demo" not in res.stdout
    assert "use it" in res.stdout and "AutoModelForSequenceClassification" in res.stdout
    doc = json.loads(run_cli("info", "alice/tiny-sentiment", "--json", env=env_for(hub)).stdout)
    assert doc["spaces"] == ["alice/demo"]


def test_card_usage_prints_only_the_snippets(run_cli: Any, hub: Any) -> None:
    res = run_cli("card", "alice/tiny-sentiment", "--usage", env=env_for(hub))
    assert res.returncode == 0, res
    assert res.stdout.startswith("import os\n")
    assert "Tiny sentiment" not in res.stdout and "license" not in res.stdout
    assert "hubcli download alice/tiny-sentiment \\\n  --revision" in res.stdout
    full = run_cli("card", "alice/tiny-sentiment", env=env_for(hub))
    assert "# Tiny sentiment" in full.stdout and "use it" in full.stdout
    doc = json.loads(run_cli("card", "alice/tiny-sentiment", "--json", env=env_for(hub)).stdout)
    assert doc["metadata"]["license"] == "mit"
    assert [u["library"] for u in doc["usage"]] == ["transformers", "hubcli"]
    bad = run_cli("card", "alice/tiny-sentiment", "--usage", "--raw", env=env_for(hub))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_card_usage_offline_from_the_cache(run_cli: Any, hub: Any) -> None:
    assert run_cli("download", "alice/tiny-sentiment", env=env_for(hub)).returncode == 0
    res = run_cli("card", "alice/tiny-sentiment", "--usage", "--offline", env=env_for(hub))
    assert res.returncode == 0, res
    assert "AutoModelForSequenceClassification" in res.stdout  # config.json from the cache
    assert "--revision" in res.stdout


def test_gguf_snippet(run_cli: Any, hub: Any) -> None:
    res = run_cli("card", "alice/tiny-gguf", "--usage", env=env_for(hub))
    assert res.returncode == 0, res
    text = res.stdout.replace(" \\\n ", "")
    assert (
        f"MODEL_ENDPOINT={hub.url}/ llama-cli --hf-repo alice/tiny-gguf "
        "--hf-file tiny.Q4_K_M.gguf" in text
    )
    assert "hubcli download alice/tiny-gguf tiny.Q4_K_M.gguf --revision" in text


def test_search_spaces_by_model(run_cli: Any, hub: Any) -> None:
    res = run_cli("search", "--type", "space", "--model", "alice/tiny-sentiment", "-q",
                  env=env_for(hub))  # fmt: skip
    assert res.returncode == 0, res
    assert res.stdout.split() == ["alice/demo"]
    doc = json.loads(
        run_cli(
            "search", "--type", "space", "--model", "bob/else", "--json", env=env_for(hub)
        ).stdout
    )
    assert [r["id"] for r in doc["results"]] == ["bob/other-demo"]
    bad = run_cli("search", "--model", "alice/tiny-sentiment", env=env_for(hub))
    assert bad.returncode == 2 and "--type space" in bad.stderr and "Traceback" not in bad.stderr


def test_dataset_info_configs_splits_and_load_dataset_snippet(
    run_cli: Any, hub: Any, tmp_path: Path
) -> None:
    res = run_cli("info", "datasets/alice/multi", "--json", env=env_for(hub))
    assert res.returncode == 0, res
    doc = json.loads(res.stdout)
    configs = {c["name"]: c for c in doc["configs"]}
    assert set(configs) == {"en", "fr"} and configs["en"]["default"]
    en = {s["name"]: s for s in configs["en"]["splits"]}
    assert en["train"]["num_files"] == 2 and en["test"]["files"] == ["en/test.csv"]
    assert en["train"]["size"] == len("text,label\nhello,1\n") + len("text,label\nbye,0\n")
    assert configs["fr"]["splits"][0]["name"] == "train"
    code = {u["library"]: u for u in doc["usage"]}["datasets"]["code"]
    assert 'load_dataset("alice/multi", "en", split="train")' in code
    proc = run_snippet(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    ds = json.loads(proc.stdout.splitlines()[-1])["ds"]
    assert ds["name"] == "en" and ds["split"] == "train" and "en/test.csv" in ds["files"]

    human = run_cli("info", "datasets/alice/plain", env=env_for(hub))
    assert human.returncode == 0, human
    lines = [ln.split() for ln in human.stdout.splitlines()]
    assert ["default", "train", "1", "8", "B", "-"] in lines
    assert ["validation", "1", "8", "B", "-"] in lines and ["test", "1", "8", "B", "-"] in lines
    assert 'load_dataset("alice/plain", split="train")' in human.stdout
