"""`hubcli info` / `hubcli card`: "use it" snippets, Spaces using a model, dataset configs and
splits, end to end against the local hub.

The Python snippets run with the real transformers and datasets (the test extra; no torch), in a
subprocess with no HF_ENDPOINT of its own, so the snippet's HF_ENDPOINT line is what sends them
to the hub shown (the socket guard refuses anything but loopback): the ``AutoTokenizer`` /
``AutoConfig`` lines load a real tokenizer and config from the local hub, ``load_dataset`` loads
the config and split the snippet names. Model-loading lines (``pipeline(...)``,
``AutoModel….from_pretrained``) need torch: they are compiled, their class names looked up on the
real ``transformers`` module, the pipeline task checked with ``transformers.pipelines.check_task``
and their repo id checked, but not run.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CARD = (
    "---\nlicense: mit\nlibrary_name: transformers\npipeline_tag: text-classification\n---\n"
    "# Tiny sentiment\n\nA small model.\n"
)
# A real (tiny) BERT config: AutoConfig builds a BertConfig from it.
CONFIG = {
    "architectures": ["BertForSequenceClassification"],
    "model_type": "bert",
    "vocab_size": 6,
    "hidden_size": 8,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 16,
    "id2label": {"0": "NEGATIVE", "1": "POSITIVE"},
    "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
}
VOCAB = {"[UNK]": 0, "[PAD]": 1, "hello": 2, "world": 3, "good": 4, "bad": 5}
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
  data_files: fr/*.csv
---
# Data
"""
# Runnable without torch: what the snippet loads with these is checked after the run.
RUNNABLE = {"AutoTokenizer", "AutoConfig"}


def tokenizer_files() -> dict[str, str]:
    """A real word-level tokenizer (``tokenizers``), saved the way the Hub stores one."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel(VOCAB, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]",
              "pad_token": "[PAD]"}  # fmt: skip
    return {"tokenizer.json": tok.to_str(), "tokenizer_config.json": json.dumps(config)}


@pytest.fixture
def hub(hub_server: Any) -> Any:
    hub_server.seed_repo(
        "alice/tiny-sentiment",
        {
            "README.md": CARD,
            "config.json": json.dumps(CONFIG),
            **tokenizer_files(),
            "model.safetensors": b"\1" * 2048,
        },
    )
    hub_server.seed_repo(
        "alice/tiny-config",
        {
            "README.md": "---\nlibrary_name: transformers\n---\n# config only\n",
            "config.json": json.dumps({"model_type": "bert", "hidden_size": 8}),
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
            # CSV like en: datasets builds every config of a Hub repo with the builder of the
            # repo's data files (a JSONL config beside CSV ones is parsed as CSV: no rows)
            "fr/a.csv": "text,label\nsalut,1\n",
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


def _callee(node: ast.AST) -> str | None:
    """The function or class a ``x = f(…)`` / ``x = Cls.from_pretrained(…)`` line calls."""
    if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
        return None
    func = node.value.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id
    return None


def split_snippet(code: str) -> tuple[str, list[dict[str, Any]]]:
    """The snippet as printed, with each line that needs torch (a model load or a pipeline)
    commented out; and those calls: the class or function, the task, the repo id, the keywords."""
    lines = code.splitlines()
    skipped: list[dict[str, Any]] = []
    for node in ast.parse(code).body:
        name = _callee(node)
        if name is None or name in RUNNABLE or name in ("load_dataset",):
            continue
        call = node.value  # type: ignore[attr-defined]
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        skipped.append({"name": name, "args": args, "kwargs": kwargs})
        for i in range(node.lineno - 1, node.end_lineno or node.lineno):
            lines[i] = "# needs torch, not run: " + lines[i]
    return "\n".join(lines) + "\n", skipped


PROBE = """
import json as _json
import transformers as _tf
from transformers.pipelines import check_task as _check_task

_out = {"names": {}}
for _name in %r:
    _out["names"][_name] = getattr(_tf, _name).__module__  # AttributeError: no such name
for _task in %r:
    _out.setdefault("tasks", []).append(_check_task(_task)[0])  # KeyError: unknown task
if "tokenizer" in globals():
    _out["tokenizer"] = {"class": type(tokenizer).__name__,
                         "ids": tokenizer("hello good world")["input_ids"]}
if "config" in globals():
    _out["config"] = {"class": type(config).__name__, "model_type": config.model_type,
                      "hidden_size": config.hidden_size}
if "ds" in globals():
    _out["ds"] = {"config": ds.info.config_name, "split": str(ds.split), "rows": ds.to_list()}
print(_json.dumps(_out))
"""


def run_snippet(code: str, tmp_path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run a Python snippet with the real libraries, without HF_ENDPOINT in the environment (the
    snippet's own line sets it), caches in ``tmp_path``; the lines needing torch are checked, not
    run. Returns what it loaded (:data:`PROBE`) and the calls not run (:func:`split_snippet`)."""
    compile(code, "<snippet>", "exec")
    runnable, skipped = split_snippet(code)
    names = sorted({c["name"] for c in skipped})
    tasks = [c["args"][0] for c in skipped if c["name"] == "pipeline"]
    env = {k: v for k, v in os.environ.items() if k != "HF_ENDPOINT"}
    env.update(
        HF_HOME=str(tmp_path / "hf"),
        HF_DATASETS_CACHE=str(tmp_path / "datasets"),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
    )
    proc = subprocess.run(
        [sys.executable, "-c", runnable + PROBE % (names, tasks)],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, f"{runnable}\n--- stderr\n{proc.stderr}"
    return json.loads(proc.stdout.splitlines()[-1]), skipped


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
    hub.clear_requests()
    loaded, skipped = run_snippet(code, tmp_path)
    # the tokenizer line ran: the real tokenizer, from the hub the snippet names
    assert loaded["tokenizer"]["ids"] == [VOCAB["hello"], VOCAB["good"], VOCAB["world"]]
    assert any(r["path"].endswith("/tokenizer.json") for r in hub.requests())
    # the lines that need torch: names transformers has, a task it knows, the repo shown
    assert set(loaded["names"]) == {"pipeline", "AutoModelForSequenceClassification"}
    assert loaded["tasks"] == ["text-classification"]
    assert [(c["name"], c["args"], c["kwargs"]) for c in skipped] == [
        ("pipeline", ["text-classification"], {"model": "alice/tiny-sentiment"}),
        ("AutoModelForSequenceClassification", ["alice/tiny-sentiment"], {}),
    ]

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
    hub.clear_requests()
    loaded, skipped = run_snippet(code, tmp_path)
    assert skipped == []
    assert loaded["ds"] == {
        "config": "en",
        "split": "train",
        "rows": [{"text": "hello", "label": 1}, {"text": "bye", "label": 0}],
    }
    fetched = {r["path"].rsplit("/", 2)[-2:][1] for r in hub.requests() if "/resolve/" in r["path"]}
    assert {"train-0.csv", "train-1.csv"} <= fetched

    human = run_cli("info", "datasets/alice/plain", env=env_for(hub))
    assert human.returncode == 0, human
    lines = [ln.split() for ln in human.stdout.splitlines()]
    assert ["default", "train", "1", "8", "B", "-"] in lines
    assert ["validation", "1", "8", "B", "-"] in lines and ["test", "1", "8", "B", "-"] in lines
    assert 'load_dataset("alice/plain", split="train")' in human.stdout

    doc = json.loads(run_cli("info", "datasets/alice/plain", "--json", env=env_for(hub)).stdout)
    code = {u["library"]: u for u in doc["usage"]}["datasets"]["code"]
    loaded, _ = run_snippet(code, tmp_path / "plain")
    assert loaded["ds"] == {"config": "default", "split": "train", "rows": [{"a": 1, "b": 2}]}


def test_config_only_snippet_loads_the_config(run_cli: Any, hub: Any, tmp_path: Path) -> None:
    """No architectures: the snippet loads the config, which runs without torch, in full."""
    res = run_cli("info", "alice/tiny-config", "--json", env=env_for(hub))
    assert res.returncode == 0, res
    code = {u["library"]: u for u in json.loads(res.stdout)["usage"]}["transformers"]["code"]
    assert 'config = AutoConfig.from_pretrained("alice/tiny-config")' in code
    loaded, skipped = run_snippet(code, tmp_path)
    assert skipped == []
    assert loaded["config"] == {"class": "BertConfig", "model_type": "bert", "hidden_size": 8}
