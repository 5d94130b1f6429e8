"""hubcli.globs: the include/exclude language is huggingface_hub's ``filter_repo_objects``."""

from __future__ import annotations

import pytest

from hubcli.globs import filter_paths, matches, normalize, wanted

PATHS = [
    "README.md",
    "config.json",
    "model.safetensors",
    "data/train.parquet",
    "data/sub/test.parquet",
    "data2/x.bin",
    "Data/upper.txt",
    "tok/vocab.txt",
    "a[1]/b.txt",
]

CASES: list[tuple[list[str], list[str]]] = [
    ([], []),
    (["*.json"], []),
    (["*.parquet"], []),
    (["data/"], []),
    (["data/*"], ["*/test.*"]),
    ([], ["data/"]),
    (["*.md", "tok/"], []),
    (["?onfig.json"], []),
    (["[Dd]ata/*"], ["*.bin"]),
    (["DATA/"], []),
    (["a[1]/"], []),
    ([""], []),
]


@pytest.mark.parametrize(("include", "exclude"), CASES)
def test_same_answers_as_huggingface_hub(include: list[str], exclude: list[str]) -> None:
    hf_utils = pytest.importorskip("huggingface_hub.utils")
    expected = list(
        hf_utils.filter_repo_objects(
            PATHS, allow_patterns=include or None, ignore_patterns=exclude or None
        )
    )
    assert filter_paths(PATHS, include=include, exclude=exclude, key=str) == expected


def test_folder_patterns_and_case() -> None:
    assert normalize("data/") == "data/*" and normalize("*.bin") == "*.bin"
    assert matches("data/sub/test.parquet", ["data/"])
    assert not matches("data2/x.bin", ["data/"])
    assert not matches("Data/upper.txt", ["data/*"])  # case-sensitive
    assert matches("a/b/c.bin", ["*.bin"])  # '*' crosses '/'
    assert not matches("x", [""]) and not matches("x", [])


def test_wanted_include_then_exclude() -> None:
    assert wanted("a.bin") and wanted("a.bin", (), ())
    assert wanted("w/a.bin", ["w/"], ["*.txt"])
    assert not wanted("w/a.txt", ["w/"], ["*.txt"])
    assert not wanted("a.bin", ["w/"])
