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


SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("text", "repo_id", "kind", "rev", "path"),
    [
        ("model/acme/x", "acme/x", "model", None, None),
        ("dataset/org/y", "org/y", "dataset", None, None),
        ("space/org/z", "org/z", "space", None, None),
        (f"dataset/org/y@{SHA}", "org/y", "dataset", SHA, None),  # never a model `dataset/org`
        ("hf://dataset/org/y@main/a.csv", "org/y", "dataset", "main", "a.csv"),
        ("https://huggingface.co/org/x", "org/x", "model", None, None),
        ("https://huggingface.co/gpt2/tree/main", "gpt2", "model", "main", None),
        ("https://huggingface.co/datasets/org/y/tree/main", "org/y", "dataset", "main", None),
        ("https://huggingface.co/datasets/org/y/tree/main/d/", "org/y", "dataset", "main", "d"),
        (f"https://hf.co/org/x/resolve/{SHA}/a/b.json", "org/x", "model", SHA, "a/b.json"),
        ("https://huggingface.co/spaces/o/z/blob/main/app.py", "o/z", "space", "main", "app.py"),
        ("https://huggingface.co/org/x/tree/refs%2Fpr%2F2/s", "org/x", "model", "refs/pr/2", "s"),
        ("https://huggingface.co/org/x/tree/refs/pr/2", "org/x", "model", "refs/pr/2", None),
        ("https://huggingface.co/org/x?library=t#top", "org/x", "model", None, None),
    ],
)
def test_parse_accepts_printed_forms_and_urls(
    text: str, repo_id: str, kind: str, rev: str | None, path: str | None
) -> None:
    ref = parse_repo_ref(text)
    assert (ref.repo_id, ref.repo_type, ref.revision, (ref.path or "").rstrip("/") or None) == (
        repo_id,
        kind,
        rev,
        path,
    )


def test_configured_endpoint_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "http://127.0.0.1:8080/hub/datasets/org/y/resolve/main/a.csv"
    with pytest.raises(UsageError):
        parse_repo_ref(url)
    ref = parse_repo_ref(url, endpoint="http://127.0.0.1:8080/hub/")
    assert (str(ref), ref.revision, ref.path) == ("datasets/org/y", "main", "a.csv")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:8080/hub")
    assert parse_repo_ref(url) == ref


_PART = st.from_regex(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,8}[A-Za-z0-9_])?", fullmatch=True).filter(
    lambda p: "--" not in p  # the Hub refuses "--" in ids (it is the cache folder separator)
)


@given(
    st.lists(_PART, min_size=1, max_size=2),
    st.sampled_from(["model", "dataset", "space"]),
    st.one_of(st.none(), st.from_regex(r"[0-9a-f]{40}", fullmatch=True)),
)
def test_printed_form_round_trips(parts: list[str], kind: str, rev: str | None) -> None:
    from hubcli.repo import RepoRef

    ref = RepoRef("/".join(parts), kind, rev)  # type: ignore[arg-type]
    assert parse_repo_ref(ref.display) == ref
    singular = f"{kind}/{ref.repo_id}" + (f"@{rev}" if rev else "")
    assert parse_repo_ref(singular) == ref
    bare = RepoRef(ref.repo_id, ref.repo_type)
    assert parse_repo_ref("https://huggingface.co/" + str(ref)) == bare
