"""hubcli.lock.project: the root, the input, the input hash, edits that keep comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubcli.errors import UsageError
from hubcli.hashing import CommitSha
from hubcli.lock.lockfile import LOCK_VERSION, LockedRepo, LockFile
from hubcli.lock.project import (
    RepoSpec,
    add_repo,
    find_input,
    find_project,
    input_hash,
    load_project,
    remove_repo,
    stale_reason,
)

INPUT = """\
# Models this project needs
[[repo]]
id = "org/a"  # the main model
revision = "v1"

# a dataset
[[repo]]
id = "datasets/org/d"
include = ["*.json"]
local-dir = "data/d"

[policy]
deny = ["pickle"]  # no pickles here
"""


def test_root_search_and_precedence(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    sub = root / "src" / "pkg"
    sub.mkdir(parents=True)
    assert find_input(sub) is None
    (root / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_input(sub) is None  # a pyproject without [tool.hubcli] is not a project
    (root / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.hubcli]\nrepos = []\n')
    assert find_input(sub) == root / "pyproject.toml"
    (root / "hubcli.toml").write_text(INPUT)
    assert find_input(sub) == root / "hubcli.toml"  # hubcli.toml wins
    project = find_project(sub)
    assert project.root == root and project.lock_path == root / "hubcli.lock"
    assert project.repos == (
        RepoSpec("org/a", "model", "v1"),
        RepoSpec("org/d", "dataset", "main", ("*.json",), (), "data/d"),
    )
    assert project.deny == ("pickle",)
    with pytest.raises(UsageError, match="hubcli add"):
        find_project(tmp_path)


def test_input_hash_ignores_formatting_but_not_meaning(tmp_path: Path) -> None:
    a = tmp_path / "a" / "hubcli.toml"
    b = tmp_path / "b" / "hubcli.toml"
    a.parent.mkdir()
    b.parent.mkdir()
    a.write_text(INPUT)
    # other order, no comments, defaults spelled out
    b.write_text(
        '[policy]\ndeny=["pickle"]\n[[repo]]\nid="org/d"\ntype="dataset"\nrevision="main"\n'
        'include=["*.json"]\nexclude=[]\nlocal-dir="data/d"\n[[repo]]\nid="org/a"\nrevision="v1"\n'
    )
    assert load_project(a).input_hash == load_project(b).input_hash
    base = load_project(a).repos
    assert input_hash(base, ["pickle"]) != input_hash(base, [])
    changed = (RepoSpec("org/a", "model", "v2"), base[1])
    assert input_hash(changed, ["pickle"]) != input_hash(base, ["pickle"])
    assert load_project(a).input_hash.startswith("sha256:")


@pytest.mark.parametrize(
    "bad",
    [
        '[[repo]]\nrevision = "main"\n',
        '[[repo]]\nid = "../x"\n',
        '[[repo]]\nid = "org/a"\ntype = "thing"\n',
        '[[repo]]\nid = "org/a"\nrevison = "v1"\n',
        '[[repo]]\nid = "org/a"\ninclude = [1]\n',
        '[[repo]]\nid = "org/a"\n[[repo]]\nid = "org/a"\n',
        '[[repo]]\nid = "org/a@v1"\n',
        "repo = 1\n",
        "[[repo]\n",
        'policy = "x"\n',
    ],
)
def test_bad_input_is_a_usage_error(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "hubcli.toml"
    path.write_text(bad)
    with pytest.raises(UsageError):
        load_project(path)


def test_add_and_remove_keep_comments(tmp_path: Path) -> None:
    path = tmp_path / "hubcli.toml"
    path.write_text(INPUT)
    assert add_repo(path, RepoSpec("org/s", "space", "main", ("*.py",)))
    assert not add_repo(path, RepoSpec("org/a", "model", "v2"), given=["revision"])
    text = path.read_text()
    for comment in ("# Models this project needs", "# the main model", "# no pickles here"):
        assert comment in text
    project = load_project(path)
    assert project.spec("org/a") == RepoSpec("org/a", "model", "v2")
    assert project.spec("org/s", "space") == RepoSpec("org/s", "space", "main", ("*.py",))
    remove_repo(path, "dataset", "org/d")
    text = path.read_text()
    assert "# the main model" in text and "# no pickles here" in text and "org/d" not in text
    assert [s.id for s in load_project(path).repos] == ["org/a", "org/s"]
    with pytest.raises(UsageError, match="not in"):
        remove_repo(path, "dataset", "org/d")


def test_add_to_pyproject_and_new_file(tmp_path: Path) -> None:
    py = tmp_path / "pyproject.toml"
    py.write_text('[project]\nname = "x"  # keep me\n\n[tool.ruff]\nline-length = 100\n')
    add_repo(py, RepoSpec("org/a", "model", "main", (), ("*.bin",)))
    assert "# keep me" in py.read_text() and "[[tool.hubcli.repo]]" in py.read_text()
    assert find_input(tmp_path) == py
    assert load_project(py).repos == (RepoSpec("org/a", exclude=("*.bin",)),)
    new = tmp_path / "new" / "hubcli.toml"
    new.parent.mkdir()
    add_repo(new, RepoSpec("org/b"))
    assert load_project(new).repos == (RepoSpec("org/b"),)


def test_stale_reason(tmp_path: Path) -> None:
    path = tmp_path / "hubcli.toml"
    path.write_text(INPUT)
    project = load_project(path)
    assert stale_reason(project, None)
    repos = tuple(
        LockedRepo(
            s.id, s.type, s.revision, CommitSha("a" * 40), s.include, s.exclude, s.local_dir, ()
        )
        for s in project.repos
    )
    assert stale_reason(project, LockFile(LOCK_VERSION, project.input_hash, repos)) is None
    assert stale_reason(project, LockFile(LOCK_VERSION, "sha256:" + "0" * 64, repos))
    assert stale_reason(project, LockFile(LOCK_VERSION, project.input_hash, repos[:1]))
