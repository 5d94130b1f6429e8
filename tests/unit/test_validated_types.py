"""Validated types: hashes, listings, paths and mount detection (property-based where it pays)."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubcli.errors import HubError, IntegrityError, ProtocolError
from hubcli.fsinfo import fs_type, is_network_fs, parse_mountinfo, unique_partials
from hubcli.hashing import (
    CommitSha,
    GitSha1,
    Sha256,
    etag_from_headers,
    is_content_id,
    parse_commit,
    parse_etag,
)
from hubcli.models import FileEntry, check_listing, parse_siblings

HEX = "0123456789abcdef"
A = "a" * 40
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(st.text(max_size=100))
def test_parse_etag_accepts_only_hex_of_the_two_lengths(value: str) -> None:
    try:
        etag = parse_etag(value, what="t")
    except ProtocolError as exc:
        assert exc.exit_code == 5
        assert not is_content_id(value.strip().lower())
        return
    assert isinstance(etag, Sha256 | GitSha1)
    assert len(etag) in (40, 64) and set(etag) <= set(HEX)
    assert "/" not in etag and "." not in etag


@given(st.text(alphabet=HEX + HEX.upper(), min_size=40, max_size=40))
def test_hex_of_any_case_becomes_lowercase(value: str) -> None:
    assert parse_commit(value, what="t") == value.lower()
    assert isinstance(parse_etag(value, what="t"), GitSha1)


def test_types_cannot_be_built_from_bad_values() -> None:
    for cls, good in ((Sha256, "a" * 64), (GitSha1, "b" * 40), (CommitSha, "c" * 40)):
        assert cls(good) == good
        for bad in ("", "../" + good[3:], good.upper(), good[:-1], good + "0", "g" * len(good)):
            with pytest.raises(ValueError):
                cls(bad)


def test_etag_headers() -> None:
    sha = "a" * 64
    assert etag_from_headers({"X-Linked-Etag": f'"{sha}"', "ETag": '"x"'}) == sha
    assert etag_from_headers({"ETag": 'W/"' + "b" * 40 + '"'}) == "b" * 40
    assert etag_from_headers({"ETag": '"d41d8cd98f00b204e9800998ecf8427e"'}) is None  # an MD5
    assert etag_from_headers({"ETag": '"../../../x"'}) is None
    assert etag_from_headers({}) is None


@settings(max_examples=300)
@given(json_values)
def test_listing_parser_never_fails_but_with_protocol_error(data: Any) -> None:
    try:
        entries = parse_siblings({"siblings": data}, what="r")
    except ProtocolError:
        return
    for e in entries:
        assert is_content_id(e.etag) and e.size >= 0 and not e.path.startswith("/")
        assert ".." not in e.path.split("/")


sibling = st.fixed_dictionaries(
    {
        "rfilename": st.text(alphabet=string.ascii_letters + "./\\\0-_", min_size=0, max_size=12),
        "size": st.one_of(st.integers(-5, 10**16), st.floats(), st.text(max_size=3), st.none()),
        "blobId": st.one_of(st.text(alphabet=HEX + "./", min_size=38, max_size=42), st.none()),
    },
    optional={
        "lfs": st.fixed_dictionaries(
            {"sha256": st.text(alphabet=HEX + "G", min_size=63, max_size=65)},
            optional={"size": st.integers(-1, 10**6), "pointerSize": st.integers(0, 200)},
        )
    },
)


@settings(max_examples=400)
@given(st.lists(sibling, max_size=6))
def test_listing_entries_are_valid_or_refused(items: list[dict[str, Any]]) -> None:
    try:
        entries = parse_siblings({"siblings": items}, what="r")
    except ProtocolError as exc:
        assert "server" in str(exc) or "listed" in str(exc)
        return
    paths = [e.path for e in entries]
    assert len(set(paths)) == len(paths)
    for e in entries:
        assert "\\" not in e.path and "\0" not in e.path and e.path
        assert all(seg not in ("", ".", "..") for seg in e.path.split("/"))
        assert not any(p.startswith(e.path + "/") for p in paths)
        assert type(e.size) is int and 0 <= e.size <= 1 << 50


@pytest.mark.parametrize(
    ("siblings", "needle"),
    [
        (
            [
                {"rfilename": "a", "size": 1, "blobId": "a" * 40},
                {"rfilename": "a/b", "size": 1, "blobId": "b" * 40},
            ],
            "file and as a folder",
        ),
        ([{"size": 1, "blobId": "a" * 40}], "path"),
        ([{"rfilename": "a", "size": "abc", "blobId": "a" * 40}], "size"),
        ([{"rfilename": "a", "size": 1e15, "blobId": "a" * 40}], "size"),
        ([{"rfilename": "a", "size": True, "blobId": "a" * 40}], "size"),
        ([{"rfilename": "a", "size": 1}], "no content hash"),
        ([{"rfilename": "a", "size": 1, "blobId": "../../../../outside/evil"}], "sha1"),
        (
            [{"rfilename": "a", "size": 1, "blobId": A, "lfs": {"sha256": "../x", "size": 1}}],
            "sha256",
        ),
        (
            [
                {"rfilename": "a", "size": 1, "blobId": A},
                {"rfilename": "a", "size": 1, "blobId": A},
            ],
            "twice",
        ),
        ("not a list", "not a list"),
    ],
)
def test_malformed_listings_are_protocol_errors(siblings: Any, needle: str) -> None:
    with pytest.raises(ProtocolError, match=needle) as info:
        parse_siblings({"siblings": siblings}, what="r")
    assert info.value.exit_code == 5


def test_corrupt_cached_tree_is_integrity_not_protocol() -> None:
    from hubcli.download.plan import entries_from_tree

    with pytest.raises(IntegrityError):
        entries_from_tree({"../x": {"size": 1, "blob_id": "a" * 40}}, what="cached")
    ok = entries_from_tree(
        {"w": {"size": 3, "blob_id": "a" * 40, "lfs_sha256": "b" * 64, "lfs_size": 3}}, what="c"
    )
    assert ok[0].etag == "b" * 64 and isinstance(ok[0].etag, Sha256)


def test_file_entry_refuses_unvalidated_strings() -> None:
    with pytest.raises(TypeError):
        FileEntry(path="a", size=1, blob_id="a" * 40)  # type: ignore[arg-type]
    check_listing([FileEntry(path="a/b", size=1, blob_id=GitSha1("a" * 40))], what="x")
    assert json.dumps(FileEntry(path="a", size=1, blob_id=GitSha1("a" * 40)).to_tree_cache())


MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
40 27 0:50 / /mnt/team rw,relatime - nfs4 server:/export rw
41 40 0:51 / /mnt/team/local rw,relatime - ext4 /dev/sdb1 rw
42 27 0:52 / /lustre rw - lustre 10.0.0.1@tcp:/fs rw
43 27 0:53 / /mnt/with\\040space rw - fuse.sshfs host: rw
"""


def test_mountinfo_longest_prefix_wins(tmp_path: Path) -> None:
    assert ("/mnt/with space", "fuse.sshfs") in parse_mountinfo(MOUNTINFO)
    assert fs_type(Path("/mnt/team/models/hub"), MOUNTINFO) == "nfs4"
    assert fs_type(Path("/mnt/team/local/hub"), MOUNTINFO) == "ext4"
    assert fs_type(Path("/mnt/teamx"), MOUNTINFO) == "ext4"
    assert fs_type(Path("/lustre/x"), MOUNTINFO) == "lustre"
    assert fs_type(Path("/mnt/with space/x"), MOUNTINFO) == "fuse.sshfs"
    assert [is_network_fs(k) for k in ("nfs4", "lustre", "gpfs", "cifs", "fuse.sshfs")] == [
        True
    ] * 5
    assert not is_network_fs("ext4") and not is_network_fs("tmpfs") and not is_network_fs(None)


def test_partials_setting() -> None:
    assert unique_partials("unique", Path("/")) and not unique_partials("shared", Path("/"))


def test_hub_errors_all_have_documented_codes() -> None:
    from hubcli.errors import EXIT_CODES

    documented = {code for code, _ in EXIT_CODES}

    def walk(cls: type[HubError]) -> list[type[HubError]]:
        return [cls] + [c for sub in cls.__subclasses__() for c in walk(sub)]

    for cls in walk(HubError):
        assert cls.exit_code in documented, cls


def test_one_answer_to_what_an_etag_promises(tmp_path: Path) -> None:
    import hashlib

    from hubcli.hashing import etag_kind, file_digest, is_content_id

    data = b"abc"
    sha = hashlib.sha256(data).hexdigest()
    git = hashlib.sha1(b"blob 3\0abc").hexdigest()
    assert etag_kind(sha) == "sha256" and etag_kind(git) == "git-sha1"
    for bad in (sha.upper(), sha + "\n", "x" * 40, "", None, 5):
        assert etag_kind(bad) is None and not is_content_id(bad)
    p = tmp_path / "f"
    p.write_bytes(data)
    assert file_digest(p, sha) == sha and file_digest(p, git) == git
    assert file_digest(p, "opaque") is None
