"""hubcli.lock.lockfile: round trip, deterministic bytes, and refusal of every bad field."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubcli.errors import HubError, IntegrityError, LocalFileError, UsageError
from hubcli.hashing import CommitSha, GitSha1, Sha256
from hubcli.lock.lockfile import (
    LOCK_VERSION,
    LockedFile,
    LockedRepo,
    LockFile,
    dumps,
    loads,
    normalized,
    parse_toml,
    read_lock,
    write_lock,
)
from hubcli.repo import RepoRef, validate_repo_path

HEX = "0123456789abcdef"
INPUT_HASH = "sha256:" + "0" * 64


def _file(
    path: str, data: bytes = b"x", lfs: bool = False, kinds: tuple[str, ...] = ()
) -> LockedFile:
    return LockedFile(
        path=path,
        size=len(data),
        sha256=Sha256(hashlib.sha256(data).hexdigest()),
        blob_id=GitSha1(hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()),
        lfs=lfs,
        kinds=kinds,
    )


def _repo(repo_id: str = "org/model", **kw: object) -> LockedRepo:
    fields: dict[str, object] = {
        "id": repo_id,
        "type": "model",
        "requested": "main",
        "commit": CommitSha("a" * 40),
        "include": ("*.json",),
        "exclude": (),
        "local_dir": None,
        "files": (_file("config.json", b"{}"), _file("model.bin", b"\x80\x02", True, ("pickle",))),
    }
    fields.update(kw)
    return LockedRepo(**fields)  # type: ignore[arg-type]


def _lock(*repos: LockedRepo) -> LockFile:
    return LockFile(LOCK_VERSION, INPUT_HASH, repos or (_repo(),))


def test_round_trip_and_layout() -> None:
    lock = _lock(
        _repo("org/z", local_dir="models/z"),
        _repo("org/a", type="dataset", requested="v1.0", include=(), exclude=("*.md", 'q"uo\\te')),
    )
    text = dumps(lock)
    assert loads(text) == normalized(lock)
    assert dumps(loads(text)) == text
    data = parse_toml(text)
    assert data["version"] == 1 and data["input-hash"] == INPUT_HASH
    assert [r["type"] for r in data["repo"]] == ["dataset", "model"]  # sorted by (type, id)
    assert data["repo"][1]["local-dir"] == "models/z"
    assert "local-dir" not in data["repo"][0]
    assert data["repo"][1]["file"][1] == {
        "path": "model.bin",
        "size": 2,
        "sha256": hashlib.sha256(b"\x80\x02").hexdigest(),
        "blob-id": hashlib.sha1(b"blob 2\0\x80\x02").hexdigest(),
        "lfs": True,
        "kinds": ["pickle"],
    }
    assert "kinds" not in data["repo"][1]["file"][0]
    assert lock.repos[0].ref == RepoRef("org/z", "model", revision="a" * 40)
    assert lock.repo("org/a", "dataset") is not None and lock.repo("org/a") is None


def test_dumps_is_deterministic_whatever_the_order() -> None:
    files = (_file("b.txt"), _file("a/c.txt"), _file("a.txt", kinds=("remote-code", "pickle")))
    one = _lock(_repo("org/b", files=files), _repo("org/a"), _repo("org/a", type="space"))
    two = _lock(
        _repo("org/a", type="space"), _repo("org/a"), _repo("org/b", files=tuple(reversed(files)))
    )
    assert dumps(one) == dumps(two)
    text = dumps(one)
    assert text.index('path = "a.txt"') < text.index('path = "a/c.txt"') < text.index('"b.txt"')
    assert 'kinds = ["pickle", "remote-code"]' in text
    assert text.endswith("\n") and "\r" not in text


def test_no_secret_or_endpoint_fields() -> None:
    text = dumps(_lock())
    for word in ("token", "http", "endpoint", "hf_"):
        assert word not in text.lower()


def test_write_and_read(tmp_path: Path) -> None:
    path = tmp_path / "hubcli.lock"
    write_lock(path, _lock())
    assert read_lock(path) == normalized(_lock())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temp file left
    with pytest.raises(LocalFileError):
        read_lock(tmp_path / "missing.lock")


def _mutate(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


GOOD = dumps(_lock(_repo(local_dir="x")))
BAD_EDITS = [
    ('input-hash = "sha256:', 'input-hash = "md5:'),
    ("version = 1", 'version = "1"'),
    ('commit = "aaaa', 'commit = "AAAA'),
    ('commit = "aaaa', 'commit = "zzzz'),
    ('type = "model"', 'type = "thing"'),
    ('id = "org/model"', 'id = "../model"'),
    ('id = "org/model"', "id = 3"),
    ('requested = "main"', 'requested = ""'),
    ('path = "config.json"', 'path = "../etc/passwd"'),
    ('path = "config.json"', 'path = "/etc/passwd"'),
    ('path = "config.json"', 'path = "model.bin"'),  # duplicate
    ("size = 2", "size = -1"),
    ("size = 2", "size = 2.0"),
    ("size = 2", 'size = "2"'),
    ("lfs = false", 'lfs = "false"'),
    ('sha256 = "', 'sha256 = "00'),
    ('blob-id = "', 'blob-id = "../'),
    ('kinds = ["pickle"]', 'kinds = ["Pickle"]'),
    ('kinds = ["pickle"]', 'kinds = ["pickle", "pickle"]'),
    ('kinds = ["pickle"]', "kinds = 1"),
    ('include = ["*.json"]', "include = 1"),
    ('include = ["*.json"]', "include = [1]"),
    ('local-dir = "x"', 'local-dir = ""'),
    ('local-dir = "x"', 'local-dir = "x"\ntoken = "hf_x"'),
    ("lfs = false", "lfs = false\nurl = 1"),
    ("[[repo]]", "[repo]"),
    ("[[repo]]", "[[repo]]]"),
]


@pytest.mark.parametrize(("old", "new"), BAD_EDITS)
def test_bad_fields_are_integrity_errors(old: str, new: str) -> None:
    with pytest.raises(IntegrityError) as exc:
        loads(_mutate(GOOD, old, new), what="my.lock")
    assert exc.value.exit_code == 6
    assert str(exc.value).startswith("my.lock")


def test_missing_keys_and_duplicate_repos() -> None:
    with pytest.raises(IntegrityError, match="missing key 'commit'"):
        loads(_mutate(GOOD, 'commit = "' + "a" * 40 + '"\n', ""))
    with pytest.raises(IntegrityError, match="missing key 'input-hash'"):
        loads("version = 1\n")
    with pytest.raises(IntegrityError, match="twice"):
        loads(dumps(_lock(_repo(), _repo())))
    assert loads(f'version = 1\ninput-hash = "{INPUT_HASH}"\n').repos == ()


def test_unknown_version_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="version 2"):
        loads(_mutate(GOOD, "version = 1", "version = 2"))


def _valid_path(path: str) -> bool:
    try:
        validate_repo_path(path)
    except HubError:
        return False
    return True


names = st.text(alphabet="abcXYZ019_-.", min_size=1, max_size=12).filter(
    lambda s: s[0] not in "-." and s[-1] not in "-." and ".." not in s and "--" not in s
)
paths = (
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=10
        ).filter(
            lambda s: s not in (".", "..") and "/" not in s and "\\" not in s and s.isprintable()
        ),
        min_size=1,
        max_size=3,
    )
    .map("/".join)
    .filter(_valid_path)
)
hexes = st.text(alphabet=HEX, min_size=64, max_size=64)
locked_files = st.builds(
    LockedFile,
    path=paths,
    size=st.integers(0, 1 << 40),
    sha256=hexes.map(Sha256),
    blob_id=hexes.map(lambda h: GitSha1(h[:40])),
    lfs=st.booleans(),
    kinds=st.lists(st.sampled_from(["pickle", "remote-code"]), unique=True).map(tuple),
)
locked_repos = st.builds(
    LockedRepo,
    id=st.tuples(names, names).map("/".join),
    type=st.sampled_from(["model", "dataset", "space"]),
    requested=st.text(min_size=1, max_size=20).filter(str.isprintable),
    commit=hexes.map(lambda h: CommitSha(h[:40])),
    include=st.lists(st.text(min_size=1, max_size=8).filter(str.isprintable)).map(tuple),
    exclude=st.lists(st.text(min_size=1, max_size=8).filter(str.isprintable)).map(tuple),
    local_dir=st.none() | st.text(min_size=1, max_size=10).filter(str.isprintable),
    files=st.lists(locked_files, max_size=4, unique_by=lambda f: f.path).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(locked_repos, max_size=3, unique_by=lambda r: r.key), hexes)
def test_round_trip_property(repos: list[LockedRepo], digest: str) -> None:
    lock = LockFile(LOCK_VERSION, "sha256:" + digest, tuple(repos))
    text = dumps(lock)
    back = loads(text)
    assert back == normalized(lock)
    assert dumps(back) == text
