#!/usr/bin/env bash
# End-to-end demo against the embedded local hub (no internet needed):
# start `hubcli serve`, publish a small model with `hubcli upload`, find it, read its card,
# download it into a fresh cache, verify the cache, and load it offline with huggingface_hub.
set -euo pipefail

work=$(mktemp -d -t hubcli-demo-XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export HF_HOME="$work/hf_home" HF_HUB_CACHE="$work/cache" HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_XET=1
export NO_PROXY="127.0.0.1,localhost"
step() { printf '\n== %s\n' "$*" >&2; }

step "start the local hub"
mkfifo "$work/url"
hubcli serve --root "$work/hub" --port 0 --token "hf_demo_token_0001:demo" >"$work/url" &
server_pid=$!
read -r url <"$work/url"
export HF_ENDPOINT="$url"
echo "local hub at $url" >&2

step "log in (token file shared with huggingface_hub)"
hubcli auth login --token hf_demo_token_0001

step "make a small model: config, tokenizer, safetensors weights, a model card"
model="$work/tiny-model"
mkdir -p "$model"
python - "$model" <<'PY'
import json, struct, sys, pathlib
root = pathlib.Path(sys.argv[1])
(root / "config.json").write_text(json.dumps({"model_type": "tiny", "hidden_size": 4, "vocab_size": 8}))
(root / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "hello", "world", "hub", "cli", "fast", "safe"]))
weights = struct.pack("<32f", *[i / 10 for i in range(32)])
header = json.dumps({"embed.weight": {"dtype": "F32", "shape": [8, 4], "data_offsets": [0, len(weights)]}}).encode()
(root / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + weights)
(root / "README.md").write_text("""---
license: mit
language: [en]
pipeline_tag: feature-extraction
library_name: transformers
tags: [demo, tiny]
model-index:
- name: tiny-model
  results:
  - task: {type: feature-extraction}
    dataset: {name: demo-set, type: demo}
    metrics:
    - {type: accuracy, value: 0.99, name: Accuracy}
---
# Tiny model

A four-dimensional embedding of eight words, published to a **local** hub by `hubcli upload`.

| file | what |
|---|---|
| config.json | shape |
| model.safetensors | weights (LFS) |

```python
from huggingface_hub import snapshot_download
path = snapshot_download("demo/tiny-model", local_files_only=True)
```
""")
PY

step "upload it (creates the repo; the weights go through LFS)"
hubcli upload demo/tiny-model "$model" --commit-message "Add tiny model"

step "search and inspect"
hubcli search tiny
hubcli info demo/tiny-model
hubcli card demo/tiny-model

step "download into a fresh cache; the path is the last stdout line"
MODEL=$(hubcli download demo/tiny-model -q)
echo "downloaded to $MODEL" >&2
ls -l "$MODEL" >&2

step "verify every blob in the cache against its hash"
hubcli cache verify demo/tiny-model
hubcli cache ls

step "load it offline with huggingface_hub (HF_HUB_OFFLINE=1), parse the weights"
HF_HUB_OFFLINE=1 python - "$MODEL" <<'PY'
import json, struct, sys
from huggingface_hub import snapshot_download, scan_cache_dir
path = snapshot_download("demo/tiny-model", local_files_only=True)
assert path == sys.argv[1], (path, sys.argv[1])
config = json.load(open(f"{path}/config.json"))
raw = open(f"{path}/model.safetensors", "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
meta = json.loads(raw[8 : 8 + n])
values = struct.unpack("<32f", raw[8 + n :])
info = scan_cache_dir()
assert not info.warnings, info.warnings
print(f"offline load OK: {config['model_type']} model, embed.weight {meta['embed.weight']['shape']}, "
      f"first row {[round(v, 1) for v in values[:4]]}; huggingface_hub sees {len(info.repos)} repo, no warnings")
PY
