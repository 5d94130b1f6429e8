"""`hubcli card` end to end: a realistic card, --raw/--json, the offline cache path, bad cards."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.hub import run_hf

ANSI = re.compile(r"\x1b\[")
BOX = set("─│╭╮╰╯┌┐└┘├┤┬┴┼━┃")

CARD = """---
license: apache-2.0
language:
- en
- fr
library_name: transformers
pipeline_tag: text-classification
datasets:
- glue
base_model: google-bert/bert-base-uncased
tags:
- sentiment
model-index:
- name: tiny-sentiment
  results:
  - task:
      type: text-classification
      name: Text Classification
    dataset:
      name: GLUE SST-2
      type: glue
      config: sst2
      split: validation
    metrics:
    - type: accuracy
      value: 0.9123
      name: Accuracy
    - type: f1
      value: 0.905
      name: F1
---

# Tiny sentiment model

A **small** model fine-tuned on [SST-2](https://example.org/sst2) for sentiment.

## Results

| split      | accuracy | f1    |
|------------|----------|-------|
| validation | 91.2     | 90.5  |

## Usage

```python
from transformers import pipeline
clf = pipeline("text-classification", model="alice/tiny-sentiment")
print(clf("I love this"))
```
"""


def env_for(hub: Any, **extra: str) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, **extra}


@pytest.fixture
def hub(hub_server: Any) -> Any:
    hub_server.seed_repo(
        "alice/tiny-sentiment",
        {"README.md": CARD, "config.json": "{}", "model.safetensors": b"\0" * 2048},
    )
    return hub_server


def test_realistic_card_rendered_plain(run_cli: Any, hub: Any) -> None:
    res = run_cli("card", "alice/tiny-sentiment", env=env_for(hub, COLUMNS="100"))
    assert res.returncode == 0, res
    out = res.stdout
    assert not ANSI.search(out) and not (set(out) & BOX)  # a pipe: no colours, no box drawing
    assert out.startswith("alice/tiny-sentiment @ main (")
    header, _, body = out.partition("# Tiny sentiment model")
    # metadata panel
    assert re.search(r"^license\s+apache-2\.0$", header, re.M)
    assert re.search(r"^language\s+en, fr$", header, re.M)
    assert re.search(r"^task\s+text-classification$", header, re.M)
    assert re.search(r"^library\s+transformers$", header, re.M)
    assert re.search(r"^base model\s+google-bert/bert-base-uncased$", header, re.M)
    assert re.search(r"^datasets\s+glue$", header, re.M)
    # model-index as a metrics table
    assert re.search(
        r"Text Classification\s+GLUE SST-2 \(sst2\)\s+validation\s+Accuracy\s+0\.9123", header
    )
    assert re.search(r"validation\s+F1\s+0\.905", header)
    # Markdown body: headings, emphasis without markers, link as text, table, code block
    assert body  # the heading was found
    assert "## Results" in body and "## Usage" in body
    assert "A small model fine-tuned on SST-2 (https://example.org/sst2) for sentiment." in body
    assert "**" not in body
    assert re.search(r"split\s+accuracy\s+f1", body)
    assert re.search(r"validation\s+91\.2\s+90\.5", body)
    assert "from transformers import pipeline" in body
    assert 'print(clf("I love this"))' in body
    assert "```" not in body
    assert all(len(line) <= 100 for line in out.splitlines())
    assert all(line == line.rstrip() for line in out.splitlines())


def test_card_fancy_with_color_always(run_cli: Any, hub: Any) -> None:
    res = run_cli("--color", "always", "card", "alice/tiny-sentiment", env=env_for(hub))
    assert res.returncode == 0, res
    assert ANSI.search(res.stdout)  # styles (and syntax colours in the code block)
    plain = ANSI.sub("", re.sub(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\", "", res.stdout))
    assert "╭" in plain and "apache-2.0" in plain and "0.9123" in plain
    assert "Tiny sentiment model" in plain and "from transformers import pipeline" in plain


def test_card_json_and_raw(run_cli: Any, hub: Any) -> None:
    res = run_cli("card", "alice/tiny-sentiment", "--json", env=env_for(hub))
    assert res.returncode == 0, res
    doc = json.loads(res.stdout)
    assert set(doc) >= {"metadata", "body"}
    meta = doc["metadata"]
    assert meta["license"] == "apache-2.0" and meta["language"] == ["en", "fr"]
    assert meta["model-index"][0]["results"][0]["metrics"][0]["value"] == 0.9123
    assert doc["body"].startswith("# Tiny sentiment model\n")
    assert "| validation | 91.2     | 90.5  |" in doc["body"]

    raw = run_cli("card", "alice/tiny-sentiment", "--raw", env=env_for(hub))
    assert raw.returncode == 0 and raw.stdout == CARD


def test_offline_card_from_a_cache_filled_by_huggingface_hub(
    run_cli: Any, hub: Any, hf_env: dict[str, str], tmp_path: Path
) -> None:
    cache = tmp_path / "hf_home" / "hub"
    run_hf(
        """
        from huggingface_hub import hf_hub_download
        hf_hub_download("alice/tiny-sentiment", "README.md")
        """,
        hf_env,
    )
    hub.stop()  # nothing to talk to any more
    env = {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache)}
    res = run_cli("card", "alice/tiny-sentiment", "--offline", env=env)
    assert res.returncode == 0, res
    assert "from cache" in res.stderr
    assert "0.9123" in res.stdout and "from transformers import pipeline" in res.stdout

    res = run_cli("--offline", "card", "alice/tiny-sentiment", "--json", env=env)
    assert json.loads(res.stdout)["metadata"]["license"] == "apache-2.0"
    res = run_cli("card", "alice/tiny-sentiment", "--raw", env={**env, "HF_HUB_OFFLINE": "1"})
    assert res.stdout == CARD

    miss = run_cli("card", "alice/other", "--offline", env=env)
    assert miss.returncode == 7
    assert miss.stderr.count("\n") == 1 and "not in the cache" in miss.stderr


def test_card_caches_the_readme_for_offline_use(run_cli: Any, hub: Any) -> None:
    hub.seed_repo("alice/no-readme", {"config.json": "{}"})
    env = env_for(hub)
    assert run_cli("card", "alice/tiny-sentiment", "--raw", env=env).stdout == CARD
    assert run_cli("card", "alice/no-readme", env=env).returncode == 0
    hub.stop()
    res = run_cli("card", "alice/tiny-sentiment", "--offline", "--raw", env=env)
    assert res.returncode == 0 and res.stdout == CARD and "from cache" in res.stderr
    res = run_cli("card", "alice/no-readme", "--offline", env=env)  # .no_exist remembered
    assert res.returncode == 0 and "has no README.md" in res.stderr
    # the Hub is down and nothing says offline: the cached card is still shown
    res = run_cli("card", "alice/tiny-sentiment", "--json", env=env, timeout=60)
    assert res.returncode == 0, res
    assert "could not be reached" in res.stderr
    assert json.loads(res.stdout)["metadata"]["license"] == "apache-2.0"


def test_bad_cards_never_traceback(run_cli: Any, hub_server: Any) -> None:
    hub_server.seed_repo("alice/no-readme", {"config.json": "{}"})
    hub_server.seed_repo("alice/empty", {"README.md": ""})
    hub_server.seed_repo(
        "alice/broken-yaml",
        {"README.md": "---\nlicense: [mit\ntags: {oops\n---\n# Still readable\n\nBody text.\n"},
    )
    hub_server.seed_repo("alice/list-yaml", {"README.md": "---\n- a\n- b\n---\nHello\n"})
    big_body = (
        "# Huge\n\n"
        + ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20 + "\n\n") * 2700
    )
    hub_server.seed_repo("alice/huge", {"README.md": "---\nlicense: mit\n---\n" + big_body})
    env = env_for(hub_server, COLUMNS="100")

    res = run_cli("card", "alice/no-readme", env=env)
    assert res.returncode == 0 and res.stdout == ""
    assert "has no README.md" in res.stderr
    res = run_cli("card", "alice/no-readme", "--json", env=env)
    assert json.loads(res.stdout)["metadata"] == {} and json.loads(res.stdout)["body"] == ""

    res = run_cli("card", "alice/empty", env=env)
    assert res.returncode == 0 and "(no metadata)" in res.stdout and "no text" in res.stdout

    res = run_cli("card", "alice/broken-yaml", env=env)
    assert res.returncode == 0, res
    assert "warning: front matter ignored: invalid YAML" in res.stderr
    assert "# Still readable" in res.stdout and "Body text." in res.stdout
    res = run_cli("card", "alice/broken-yaml", "--json", env=env)
    doc = json.loads(res.stdout)
    assert doc["metadata"] == {} and doc["body"].startswith("# Still readable")
    assert doc["warnings"]

    res = run_cli("card", "alice/list-yaml", "--json", env=env)
    assert json.loads(res.stdout)["metadata"] == {} and "expected a mapping" in res.stderr

    res = run_cli("card", "alice/huge", env=env, timeout=60)
    assert len(big_body) > 3_000_000
    assert res.returncode == 0, res.stderr
    assert re.search(r"^license\s+mit$", res.stdout, re.M) and "# Huge" in res.stdout
    assert "cut at 256 KiB" in res.stdout and "--raw" in res.stderr
    res = run_cli("card", "alice/huge", "--json", env=env)
    assert json.loads(res.stdout)["body"] == big_body
    res = run_cli("card", "alice/huge", "--raw", env=env)
    assert len(res.stdout) == len(big_body) + len("---\nlicense: mit\n---\n")


def test_card_errors_are_one_line(run_cli: Any, hub_server: Any) -> None:
    hub_server.seed_repo("alice/secret", {"README.md": "# secret"}, private=True)
    env = env_for(hub_server)
    res = run_cli("card", "alice/nope", env={**env, "HF_TOKEN": hub_server.alice_token})
    assert res.returncode == 4 and res.stderr.count("\n") == 1 and "not found" in res.stderr
    res = run_cli("card", "alice/secret", env=env)
    assert res.returncode == 3 and res.stderr.count("\n") == 1
    ok = run_cli("card", "alice/secret", "--raw", env={**env, "HF_TOKEN": hub_server.alice_token})
    assert ok.returncode == 0 and ok.stdout == "# secret"
    res = run_cli(
        "card", "alice/secret", "--revision", "v9", env={**env, "HF_TOKEN": "hf_alice_token"}
    )
    assert res.returncode == 4 and "revision" in res.stderr


def test_dataset_and_space_cards(run_cli: Any, hub_server: Any) -> None:
    hub_server.seed_repo(
        "alice/squad-mini",
        {
            "README.md": "---\nlicense: cc-by-4.0\ntask_categories: [question-answering]\n"
            "size_categories: [1K<n<10K]\npretty_name: Squad Mini\n---\n# Squad mini\n"
        },
        repo_type="dataset",
    )
    hub_server.seed_repo(
        "alice/demo",
        {
            "README.md": "---\ntitle: Demo\nsdk: gradio\nsdk_version: 4.0.0\napp_file: app.py\n"
            "suggested_hardware: t4-small\n---\n# A demo\n",
            "app.py": "print(1)\n",
        },
        repo_type="space",
    )
    res = run_cli("card", "datasets/alice/squad-mini", env=env_for(hub_server))
    assert res.returncode == 0, res
    assert re.search(r"^task\s+question-answering$", res.stdout, re.M)
    assert re.search(r"^size\s+1K<n<10K$", res.stdout, re.M) and "# Squad mini" in res.stdout
    res = run_cli("card", "alice/demo", "--type", "space", env=env_for(hub_server))
    assert res.returncode == 0, res
    assert re.search(r"^sdk\s+gradio$", res.stdout, re.M)
    assert re.search(r"^app file\s+app\.py$", res.stdout, re.M)
    assert re.search(r"^hardware\s+t4-small$", res.stdout, re.M)


def test_card_snapshot_fixed_width(run_cli: Any, hub: Any) -> None:
    """The header block at COLUMNS=100, line for line."""
    res = run_cli("card", "alice/tiny-sentiment", env=env_for(hub, COLUMNS="100"))
    lines = res.stdout.splitlines()
    assert lines[1] == "=" * len(lines[0])
    assert lines[2:12] == [
        "license     apache-2.0",
        "language    en, fr",
        "task        text-classification",
        "library     transformers",
        "base model  google-bert/bert-base-uncased",
        "datasets    glue",
        "tags        sentiment",
        "",
        "metrics (model-index)",
        "task                 dataset            split       metric     value",
    ]
