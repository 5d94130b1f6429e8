"""Repo cards: README text -> (front-matter metadata, Markdown body), and model-index metrics.

Pure text processing, no network and no Rich. Never raises on bad input: a card with broken or
hostile YAML front matter gives empty metadata, the body kept, and a warning saying why.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# The opening fence must be the first line (a BOM and blank lines before it are tolerated, as the
# Hub does); the closing fence is the next line that is exactly '---' (trailing spaces allowed).
_OPEN_RE = re.compile(r"\A\ufeff?(?:[ \t]*\r?\n)*---[ \t]*\r?\n")
_CLOSE_RE = re.compile(r"^---[ \t]*(?:\r?\n|\Z)", re.MULTILINE)

MAX_FRONT_MATTER_CHARS = 1_000_000
"""Front matter bigger than this is not parsed (a YAML document of MBs is not metadata)."""
MAX_METADATA_NODES = 200_000
"""Guard against alias bombs: metadata whose expansion has more nodes than this is dropped."""

# Metadata keys shown in a card's header, in order, with their labels.
SUMMARY_KEYS: tuple[tuple[str, str], ...] = (
    ("license", "license"),
    ("license_name", "license name"),
    ("language", "language"),
    ("pipeline_tag", "task"),
    ("task_categories", "task"),
    ("library_name", "library"),
    ("base_model", "base model"),
    ("datasets", "datasets"),
    ("tags", "tags"),
    ("size_categories", "size"),
    ("sdk", "sdk"),
    ("sdk_version", "sdk version"),
    ("app_file", "app file"),
    ("suggested_hardware", "hardware"),
    ("pretty_name", "name"),
)


class _TooBig(Exception):
    pass


@dataclass(frozen=True)
class MetricRow:
    """One result of a card's ``model-index``: which task, on which dataset, which metric."""

    model: str
    task: str
    dataset: str
    split: str
    metric: str
    value: Any
    verified: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "task": self.task,
            "dataset": self.dataset,
            "split": self.split,
            "metric": self.metric,
            "value": self.value,
            "verified": self.verified,
        }


@dataclass(frozen=True)
class Card:
    """A parsed card. ``warnings`` explains anything that was ignored (e.g. broken YAML)."""

    metadata: dict[str, Any]
    body: str
    has_front_matter: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_empty(self) -> bool:
        return not self.metadata and not self.body.strip()

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` shape: ``{"metadata": {...}, "body": "..."}`` plus warnings if any."""
        out: dict[str, Any] = {"metadata": self.metadata, "body": self.body}
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def split_front_matter(text: str) -> tuple[str | None, str]:
    """Split ``text`` into (front-matter YAML or None, body). Never raises."""
    opening = _OPEN_RE.match(text)
    if not opening:
        return None, text.removeprefix("\ufeff")
    start = opening.end()
    closing = _CLOSE_RE.search(text, start)
    if not closing:
        return None, text.removeprefix("\ufeff")
    yaml_text = text[start : closing.start()]
    body = text[closing.end() :]
    return yaml_text, body


def parse_card(text: str) -> Card:
    """Parse a README: YAML front matter (``yaml.safe_load``) and the Markdown body after it.

    Broken YAML, a front matter that is not a mapping, or one that is absurdly large gives
    ``metadata == {}`` with a warning; the body is always kept.
    """
    if not text:
        return Card(metadata={}, body="")
    yaml_text, body = split_front_matter(text)
    if yaml_text is None:
        return Card(metadata={}, body=body)
    body = body.lstrip("\r\n")
    if len(yaml_text) > MAX_FRONT_MATTER_CHARS:
        return Card(
            metadata={},
            body=body,
            has_front_matter=True,
            warnings=(f"front matter ignored: too large ({len(yaml_text):,} characters).",),
        )
    metadata, warning = load_metadata(yaml_text)
    return Card(
        metadata=metadata,
        body=body,
        has_front_matter=True,
        warnings=(warning,) if warning else (),
    )


def load_metadata(yaml_text: str) -> tuple[dict[str, Any], str | None]:
    """YAML text -> (JSON-safe dict, warning or None). Safe loader only; never raises."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # same rules as safe_load, faster
    try:
        data = yaml.load(yaml_text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        return {}, f"front matter ignored: invalid YAML{where}: {problem}."
    except (ValueError, TypeError, RecursionError) as exc:  # odd scalars, deep nesting
        return {}, f"front matter ignored: {exc.__class__.__name__}."
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        return {}, f"front matter ignored: expected a mapping, got {type(data).__name__}."
    try:
        clean = _jsonable(data, [MAX_METADATA_NODES], 0)
    except (_TooBig, RecursionError):
        return {}, "front matter ignored: too large once expanded."
    assert isinstance(clean, dict)
    return clean, None


def _jsonable(obj: Any, budget: list[int], depth: int) -> Any:
    """Copy YAML data into plain JSON types (dates -> ISO strings, keys -> str) under a budget."""
    budget[0] -= 1
    if budget[0] < 0 or depth > 100:
        raise _TooBig
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else str(obj)
    if isinstance(obj, _dt.date | _dt.datetime):
        return obj.isoformat()
    if isinstance(obj, dict):
        return {_key(k): _jsonable(v, budget, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [_jsonable(v, budget, depth + 1) for v in obj]
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="replace")
    return str(obj)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, _dt.date):
        return key.isoformat()
    return str(key)


def as_text(value: Any, *, sep: str = ", ") -> str:
    """A metadata value as one line of text: lists joined, mappings as k=v."""
    if value is None:
        return ""
    if isinstance(value, list):
        return sep.join(as_text(v) for v in value if v is not None and v != "")
    if isinstance(value, dict):
        return sep.join(f"{k}={as_text(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def summary(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    """The header lines of a card: (label, text) for the well-known keys that are present."""
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key, label in SUMMARY_KEYS:
        text = as_text(metadata.get(key))
        if text and label not in seen:
            rows.append((label, text))
            seen.add(label)
    return rows


def _name(obj: Any) -> str:
    if isinstance(obj, dict):
        for key in ("name", "type", "id"):
            if obj.get(key) not in (None, ""):
                return str(obj[key])
        return ""
    return "" if obj is None else str(obj)


def _iter_results(model_index: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(model_index, dict):
        model_index = [model_index]
    if not isinstance(model_index, list):
        return
    for model in model_index:
        if not isinstance(model, dict):
            continue
        model_name = str(model.get("name") or "")
        results = model.get("results")
        if isinstance(results, dict):
            results = [results]
        if not isinstance(results, list):
            continue
        for result in results:
            if isinstance(result, dict):
                yield model_name, result


def metrics(metadata: dict[str, Any]) -> list[MetricRow]:
    """Flatten ``model-index`` into rows (task, dataset, split, metric, value); tolerant of junk."""
    rows: list[MetricRow] = []
    for model_name, result in _iter_results(metadata.get("model-index")):
        task = _name(result.get("task"))
        dataset_obj = result.get("dataset")
        dataset = _name(dataset_obj)
        split = ""
        if isinstance(dataset_obj, dict):
            config = dataset_obj.get("config")
            if config not in (None, "") and str(config) not in dataset:
                dataset = f"{dataset} ({config})" if dataset else str(config)
            split = str(dataset_obj.get("split") or "")
        metric_list = result.get("metrics")
        if isinstance(metric_list, dict):
            metric_list = [metric_list]
        if not isinstance(metric_list, list):
            continue
        for metric in metric_list:
            if not isinstance(metric, dict) or "value" not in metric:
                continue
            rows.append(
                MetricRow(
                    model=model_name,
                    task=task,
                    dataset=dataset,
                    split=split,
                    metric=_name(metric),
                    value=metric.get("value"),
                    verified=bool(metric.get("verified", False)),
                )
            )
    return rows
