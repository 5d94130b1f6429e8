"""docs/library.md's examples run, in order, in one namespace, against the local hub."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "library.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.+?)\n```", DOC.read_text(), flags=re.S)


def test_library_doc_examples_run(
    hub_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub_server.seed_repo(
        "alice/demo",
        {
            "config.json": '{"hidden_size": 4}',
            "README.md": "---\nlicense: mit\n---\n# Demo\n\nA demo model.\n",
        },
    )
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HF_TOKEN", hub_server.alice_token)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    blocks = _blocks()
    assert len(blocks) >= 6
    namespace: dict[str, Any] = {}
    out = io.StringIO()
    for i, code in enumerate(blocks):
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"docs/library.md block {i + 1}", "exec"), namespace)
    printed = out.getvalue()
    assert "models--alice--demo" in printed and "add weights" not in printed
    assert namespace["config"] == '{"hidden_size": 4}'
    assert namespace["card"].metadata["license"] == "mit"
    assert "4 " in printed  # the NotFoundError's exit code
    assert namespace["bundle"].stat().st_size > 0
