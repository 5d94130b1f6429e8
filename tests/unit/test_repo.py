"""Repo reference parsing and the Hub's id and path rules, including hostile strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubcli.errors import InvalidRepoIdError, UnsafePathError, UsageError
from hubcli.repo import parse_repo_ref, repo_folder_name, validate_repo_id, validate_repo_path


@pytest.mark.parametrize(
    ("text", "rtype", "repo_id", "kind", "rev", "path"),
    [
        ("org/name", None, "org/name", "model", None, None),
        ("gpt2", None, "gpt2", "model", None, None),
        ("datasets/org/name", None, "org/name", "dataset", None, None),
        ("spaces/org/app", None, "org/app", "space", None, None),
        ("org/name", "dataset", "org/name", "dataset", None, None),
        ("org/name@v1.0", None, "org/name", "model", "v1.0", None),
        ("hf://org/name", None, "org/name", "model", None, None),
        (
            "hf://datasets/org/name@dev/data/train.csv",
            None,
            "org/name",
            "dataset",
            "dev",
            "data/train.csv",
        ),
        ("hf://models/org/name/config.json", None, "org/name", "model", None, "config.json"),
        ("hf://org/name@refs/pr/3/sub/x.bin", None, "org/name", "model", "refs/pr/3", "sub/x.bin"),
        ("hf://spaces/a/b@main", None, "a/b", "space", "main", None),
        ("hf://org/name@main/folder/", None, "org/name", "model", "main", "folder/"),
    ],
)
def test_parse_accepts(
    text: str, rtype: str | None, repo_id: str, kind: str, rev: str | None, path: str | None
) -> None:
    ref = parse_repo_ref(text, rtype)
    assert (ref.repo_id, ref.repo_type, ref.revision, ref.path) == (repo_id, kind, rev, path)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a/b/c",
        "-a/b",
        "a./b",
        "a--b/c",
        "a/b.git",
        "café/x",
        "a/..",
        "../etc",
        "a\x00b",
        "org/na me",
        "x" * 97,
        "http://evil.com/a/b",
        "hf://org/name@",
        "/abs/path",
    ],
)
def test_parse_rejects_with_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as exc:
        parse_repo_ref(text)
    assert exc.value.exit_code == 2
    assert exc.value.message  # says why


def test_type_conflict_is_usage_error() -> None:
    with pytest.raises(UsageError, match="--type"):
        parse_repo_ref("datasets/org/name", "model")


def test_unknown_type() -> None:
    with pytest.raises(UsageError, match="Unknown repo type"):
        parse_repo_ref("org/name", "kernelz")


def test_folder_name_is_reversible() -> None:
    assert repo_folder_name("alice/m", "model") == "models--alice--m"
    assert repo_folder_name("gpt2", "model") == "models--gpt2"
    assert repo_folder_name("a/d", "dataset") == "datasets--a--d"


@pytest.mark.parametrize(
    "path", ["../x", "/etc/x", "a/../../x", "a\\b", "C:x", "a//b", "./a", "a/.", "x\x00"]
)
def test_unsafe_paths_rejected(path: str) -> None:
    with pytest.raises(UnsafePathError):
        validate_repo_path(path)


def test_safe_paths_pass() -> None:
    for p in [
        "config.json",
        "sub/dir/file.bin",
        "unicode/ü.txt",
        "dots..in.name",
        ".gitattributes",
    ]:
        assert validate_repo_path(p) == p


@given(st.text(max_size=60))
def test_parser_never_crashes(text: str) -> None:
    try:
        ref = parse_repo_ref(text)
    except UsageError:
        return
    # anything accepted is a valid id by the Hub's rules, and can't escape a folder
    assert validate_repo_id(ref.repo_id) == ref.repo_id
    assert ".." not in ref.repo_id and "\\" not in ref.repo_id


@given(st.text(max_size=40))
def test_path_validator_never_accepts_escapes(path: str) -> None:
    try:
        validate_repo_path(path)
    except UnsafePathError:
        return
    parts = path.split("/")
    assert ".." not in parts and not path.startswith("/") and "\x00" not in path


def test_invalid_repo_id_error_is_usage() -> None:
    assert issubclass(InvalidRepoIdError, UsageError)
