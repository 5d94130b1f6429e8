"""hubcli.card: front matter splitting, safe YAML, hostile input, model-index metrics."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubcli.card import as_text, metrics, parse_card, split_front_matter, summary

REALISTIC = """---
license: apache-2.0
language: [en, fr]
pipeline_tag: text-classification
library_name: transformers
datasets: [glue]
base_model: bert-base-uncased
model-index:
- name: m
  results:
  - task: {type: text-classification, name: Text Classification}
    dataset: {name: GLUE, type: glue, config: sst2, split: validation}
    metrics:
    - {type: accuracy, value: 0.91, name: Accuracy, verified: true}
    - {type: f1, value: 0.9}
---

# Title

| a | b |
|---|---|
| 1 | 2 |
"""


def test_realistic_card() -> None:
    card = parse_card(REALISTIC)
    assert card.has_front_matter and card.warnings == ()
    assert card.metadata["license"] == "apache-2.0"
    assert card.metadata["language"] == ["en", "fr"]
    assert card.body.startswith("# Title\n")
    assert "| 1 | 2 |" in card.body
    rows = metrics(card.metadata)
    assert [(r.task, r.dataset, r.split, r.metric, r.value) for r in rows] == [
        ("Text Classification", "GLUE (sst2)", "validation", "Accuracy", 0.91),
        ("Text Classification", "GLUE (sst2)", "validation", "f1", 0.9),
    ]
    assert rows[0].verified and not rows[1].verified
    labels = dict(summary(card.metadata))
    assert labels["task"] == "text-classification" and labels["language"] == "en, fr"
    assert labels["base model"] == "bert-base-uncased"
    assert json.loads(json.dumps(card.to_json()))["metadata"] == card.metadata


@pytest.mark.parametrize(
    ("text", "meta", "body"),
    [
        ("", {}, ""),
        ("# Just markdown\n", {}, "# Just markdown\n"),
        ("---\n---\nbody", {}, "body"),
        ("---\nlicense: mit\n---\n", {"license": "mit"}, ""),
        ("\ufeff---\r\nlicense: mit\r\n---\r\n\r\nHello", {"license": "mit"}, "Hello"),
        ("\n\n---\nlicense: mit\n---\nx", {"license": "mit"}, "x"),
        ("--- \nlicense: mit\n---  \nx", {"license": "mit"}, "x"),
        ("---\nlicense: mit\n", {}, "---\nlicense: mit\n"),  # never closed: all body
        ("text\n---\nlicense: mit\n---\n", {}, "text\n---\nlicense: mit\n---\n"),
        ("---\na: 1\n---\n---\nz", {"a": 1}, "---\nz"),  # only the first closing fence counts
    ],
)
def test_front_matter_shapes(text: str, meta: dict[str, object], body: str) -> None:
    card = parse_card(text)
    assert card.metadata == meta
    assert card.body == body
    assert card.warnings == ()


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        ("---\nlicense: [mit\n---\nBody", "invalid YAML (line"),
        ("---\n- a\n- b\n---\nBody", "expected a mapping, got list"),
        ("---\njust a string\n---\nBody", "expected a mapping, got str"),
        ("---\n!!python/object:os.system {}\n---\nBody", "invalid YAML"),
        ("---\na: !!binary notbase64%%\n---\nBody", "front matter ignored"),
    ],
)
def test_broken_front_matter_keeps_body(text: str, warning: str) -> None:
    card = parse_card(text)
    assert card.metadata == {}
    assert card.body == "Body"
    assert len(card.warnings) == 1 and warning in card.warnings[0]
    assert card.to_json()["warnings"] == list(card.warnings)


def test_yaml_types_become_json_safe() -> None:
    text = "---\ndate: 2024-01-02\n2: two\ntrue: yes\nnan: .nan\nset: !!set {a: null}\n---\n"
    card = parse_card(text)
    assert card.metadata == {
        "date": "2024-01-02",
        "2": "two",
        "true": True,
        "nan": "nan",
        "set": ["a"],
    }
    json.dumps(card.metadata, allow_nan=False)


def test_alias_bomb_is_refused_quickly() -> None:
    levels = ["a: &a [x,x,x,x,x,x,x,x,x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    start = time.monotonic()
    card = parse_card("---\n" + "\n".join(levels) + "\n---\nstill here\n")
    assert time.monotonic() - start < 5
    assert card.metadata == {} and card.body == "still here\n"
    assert "too large" in card.warnings[0]


def test_huge_cards() -> None:
    body = "word " * 700_000
    start = time.monotonic()
    card = parse_card("---\nlicense: mit\n---\n" + body)
    assert card.metadata == {"license": "mit"} and card.body == body
    huge_yaml = "---\n" + "k: v\n" * 300_000 + "---\nbody"
    card = parse_card(huge_yaml)
    assert card.metadata == {} and card.body == "body" and "too large" in card.warnings[0]
    assert time.monotonic() - start < 5


def test_split_front_matter_none_without_fence() -> None:
    assert split_front_matter("hello") == (None, "hello")
    assert split_front_matter("---\nx: 1\n---\nrest") == ("x: 1\n", "rest")


@pytest.mark.parametrize(
    "model_index",
    [
        None,
        "nonsense",
        [1, 2, "x"],
        [{"name": "m", "results": "bad"}],
        [{"results": [{"task": "t", "metrics": "bad"}]}],
        [{"results": [{"metrics": [{"type": "acc"}]}]}],  # no value
        {"name": "single", "results": {"metrics": {"name": "acc", "value": 1}}},
    ],
)
def test_metrics_tolerate_junk(model_index: object) -> None:
    rows = metrics({"model-index": model_index})
    if isinstance(model_index, dict):
        assert [(r.model, r.metric, r.value) for r in rows] == [("single", "acc", 1)]
    else:
        assert rows == []


def test_as_text() -> None:
    assert as_text(["a", None, "b"]) == "a, b"
    assert as_text({"k": 1}) == "k=1"
    assert as_text(True) == "yes"
    assert as_text(None) == ""


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("-: \n\r[]{}&*!#|>'\"ab1\ufeff\t")), max_size=200))
def test_parse_card_never_raises(text: str) -> None:
    card = parse_card(text)
    assert isinstance(card.metadata, dict)
    json.dumps(card.to_json())
    if not card.has_front_matter:
        assert card.body == text.removeprefix("\ufeff")
