"""A seeded hub for the web page tests: a model with a rich card, an XSS card, a private and a
gated repo, a dataset, a Space, a pull request, and a repo with many files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.hub import HubFixture

CARD = """---
license: apache-2.0
library_name: transformers
pipeline_tag: text-classification
tags: [demo, tiny]
datasets: [alice/dset]
base_model: org/base
model-index:
- name: m
  results:
  - task: {type: text-classification, name: Text Classification}
    dataset: {name: GLUE MRPC, type: glue, split: validation}
    metrics:
    - {type: accuracy, value: 0.917, name: Accuracy}
    - {type: f1, value: 0.88, name: F1}
---
# Tiny model

| col a | col b |
|-------|-------|
| one   | two   |

```python
from transformers import pipeline
print("<b>hello</b>")
```

See [the config](config.json) and ![a plot](images/plot.png).
"""

XSS_CARD = """---
license: mit
tags: ["<script>alert('tag')</script>", "x\\" onmouseover=\\"alert(1)"]
model-index:
- name: "<img src=x onerror=alert(2)>"
  results:
  - task: {type: "<svg onload=alert(3)>"}
    dataset: {name: "<b>ds</b>", type: d}
    metrics:
    - {type: acc, value: "<script>alert(4)</script>"}
---
# Evil <script>alert(5)</script>

<script>alert(6)</script>
<img src=x onerror="alert(7)">
<a href="javascript:alert(8)">raw html link</a>
<iframe src="https://example.com"></iframe>
<div style="background:url(javascript:alert(9))" onclick="alert(10)">div</div>

[md js link](javascript:alert(11)) [spaced](  JaVaScRiPt:alert(12)) [tab](java\tscript:alert(13))
[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxNCk8L3NjcmlwdD4=)
[vb](vbscript:msgbox(15)) <javascript:alert(16)> [entity](&#106;avascript:alert(17))
![img js](javascript:alert(18)) ![img data](data:image/svg+xml,<svg onload=alert(19)>)
[ok](https://example.com/ok) [up](../../etc/passwd)

```html
<script>alert(20)</script>
```
"""


def seed(srv: HubFixture) -> dict[str, Any]:
    shas = {}
    shas["m"] = srv.seed_repo(
        "alice/m",
        {
            "README.md": CARD,
            "config.json": '{"hidden_size": 8}',
            "src/model.py": "def f(x):\n    return '<x>' + x\n",
            "model.safetensors": b"\0" * 2048,
            "blob.bin.txt": b"\x00\x01\x02binary",
            "page.html": "<script>alert('file')</script>",
        },
        downloads=5,
        likes=2,
    )
    srv.seed_repo("alice/xss", {"README.md": XSS_CARD})
    srv.seed_repo(
        "alice/secret-model", {"README.md": "# Secret\n", "w.txt": "private data"}, private=True
    )
    srv.seed_repo(
        "alice/gated-model", {"README.md": "# Gated card\n", "w.txt": "gated data"}, gated=True
    )
    srv.seed_repo(
        "alice/dset", {"README.md": "# A dataset\n", "data.csv": "a,b\n1,2\n"}, repo_type="dataset"
    )
    srv.seed_repo(
        "alice/space",
        {"README.md": "---\nsdk: gradio\n---\n# A space\n", "app.py": "print(1)\n"},
        repo_type="space",
    )
    srv.seed_repo("alice/many", {f"f{i:04d}.txt": f"{i}\n" for i in range(120)})
    return shas


@pytest.fixture
def web_hub(hub_server_factory: Callable[..., HubFixture], tmp_path: Path) -> HubFixture:
    srv = hub_server_factory(log_path=tmp_path / "requests.jsonl")
    seed(srv)
    return srv
