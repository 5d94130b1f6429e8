"""transformers and datasets (the real libraries, no torch) load what hubcli downloaded, offline.

hubcli downloads a model repo (a tiny BERT config, a real ``tokenizers`` tokenizer, a safetensors
file) and a dataset repo (JSONL, two configs in the card's ``configs:``) into a fresh cache; then a
subprocess with ``HF_HUB_OFFLINE=1``, ``HF_DATASETS_OFFLINE=1`` and ``HF_HUB_CACHE`` on that cache
loads them: ``AutoConfig`` / ``AutoTokenizer.from_pretrained(repo_id)``, the weights file through
transformers' own resolver (``cached_file``, what ``from_pretrained`` uses) read back with
``safetensors``, and ``datasets.load_dataset`` with the config and split. The subprocess keeps
HF_ENDPOINT on the local hub, which must see no request; the socket guard refuses anything else.

datasets offline resolves a repo id only from its own prepared cache (HF_DATASETS_CACHE, written by
an earlier online ``load_dataset``), never from the hub cache, so the dataset is loaded from its
snapshot folder: ``load_dataset(snapshot_download(id, repo_type="dataset"), config)``, which
reads the card's ``configs:`` like the Hub does. That is datasets' documented offline recipe.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from tests.fixtures.hub import hf_environment, run_hf

VOCAB = {"[UNK]": 0, "[PAD]": 1, "hello": 2, "world": 3, "good": 4, "bad": 5}
CONFIG = {
    "architectures": ["BertForSequenceClassification"],
    "model_type": "bert",
    "vocab_size": len(VOCAB),
    "hidden_size": 8,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 16,
    "id2label": {"0": "NEGATIVE", "1": "POSITIVE"},
    "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
}
DATA_CARD = """---
license: mit
configs:
- config_name: en
  default: true
  data_files:
  - split: train
    path: en/train.jsonl
  - split: test
    path: en/test.jsonl
- config_name: fr
  data_files: fr/*.jsonl
---
# Tiny data
"""
DATA = {
    "README.md": DATA_CARD,
    "en/train.jsonl": '{"text": "hello world", "label": 1}\n{"text": "bad", "label": 0}\n',
    "en/test.jsonl": '{"text": "good", "label": 1}\n',
    "fr/a.jsonl": '{"text": "salut", "label": 1}\n',
}


def model_files() -> dict[str, str | bytes]:
    """config.json, a real word-level tokenizer, and safetensors weights when the package is
    there (it comes with transformers; without it the weights part is skipped)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel(VOCAB, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok_config = {"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]",
                  "pad_token": "[PAD]"}  # fmt: skip
    files: dict[str, str | bytes] = {
        "README.md": "---\nlibrary_name: transformers\n---\n# tiny\n",
        "config.json": json.dumps(CONFIG),
        "tokenizer.json": tok.to_str(),
        "tokenizer_config.json": json.dumps(tok_config),
    }
    if importlib.util.find_spec("safetensors") and importlib.util.find_spec("numpy"):
        import numpy as np
        from safetensors.numpy import save

        weights = {"classifier.weight": np.arange(16, dtype=np.float32).reshape(2, 8)}
        files["model.safetensors"] = save(weights, metadata={"format": "pt"})
    return files


OFFLINE_LOAD = """
import json
from huggingface_hub import snapshot_download
from transformers import AutoConfig, AutoTokenizer
from datasets import load_dataset

out = {}
config = AutoConfig.from_pretrained("alice/tiny-bert")
out["config"] = [type(config).__name__, config.architectures, config.hidden_size,
                 config.id2label]
tokenizer = AutoTokenizer.from_pretrained("alice/tiny-bert")
out["ids"] = tokenizer("hello good world bad")["input_ids"]
if %(weights)r:
    from safetensors.numpy import load_file
    from transformers.utils import cached_file

    path = cached_file("alice/tiny-bert", "model.safetensors")
    out["weights"] = {k: v.tolist() for k, v in load_file(path).items()}
snap = snapshot_download("alice/tiny-data", repo_type="dataset")
out["data_snapshot"] = snap
out["en"] = {split: load_dataset(snap, "en", split=split).to_list() for split in ("train", "test")}
out["default"] = load_dataset(snap, split="train").info.config_name
out["fr"] = load_dataset(snap, "fr", split="train").to_list()
print(json.dumps(out))
"""


def test_transformers_and_datasets_load_hubcli_cache_offline(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    files = model_files()
    model_commit = hub_server.seed_repo("alice/tiny-bert", files)
    hub_server.seed_repo("alice/tiny-data", DATA, repo_type="dataset")
    cache = tmp_path / "hub-cache"
    online = {"HF_HUB_CACHE": str(cache), "HF_ENDPOINT": hub_server.url}
    snaps = {}
    for repo in ("alice/tiny-bert", "datasets/alice/tiny-data"):
        res = run_cli("download", repo, "-q", env=online)
        assert res.returncode == 0, res
        snaps[repo] = res.stdout.strip().splitlines()[-1]
    assert snaps["alice/tiny-bert"].endswith(f"/snapshots/{model_commit}")

    hub_server.clear_requests()
    env = hf_environment(hub_server.url, tmp_path / "hf")  # a fresh HF_HOME: nothing else cached
    env.update(
        HF_HUB_CACHE=str(cache),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_DATASETS_CACHE=str(tmp_path / "datasets-cache"),
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
    )
    weights = "model.safetensors" in files
    proc = run_hf(OFFLINE_LOAD % {"weights": weights}, env, timeout=180)
    doc = json.loads(proc.stdout.strip().splitlines()[-1])

    assert doc["config"] == [
        "BertConfig", ["BertForSequenceClassification"], 8, {"0": "NEGATIVE", "1": "POSITIVE"}
    ]  # fmt: skip
    assert doc["ids"] == [2, 4, 3, 5]  # no special tokens configured
    if weights:
        assert doc["weights"] == {"classifier.weight": [list(range(8)), list(range(8, 16))]}
    assert doc["data_snapshot"] == snaps["datasets/alice/tiny-data"]
    assert doc["en"] == {
        "train": [{"text": "hello world", "label": 1}, {"text": "bad", "label": 0}],
        "test": [{"text": "good", "label": 1}],
    }
    assert doc["default"] == "en"
    assert doc["fr"] == [{"text": "salut", "label": 1}]
    assert hub_server.requests() == []  # offline: not one request to the hub
