"""Supply-chain kinds (hubcli.lock.policy): pickle by content, remote code by auto_map, deny."""

from __future__ import annotations

import collections
import datetime
import io
import json
import pickle
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubcli.errors import UsageError
from hubcli.hashing import CommitSha, GitSha1, Sha256
from hubcli.lock.lockfile import LockedFile, LockedRepo, LockFile
from hubcli.lock.policy import (
    HEAD_BYTES,
    PICKLE,
    PolicyError,
    Violation,
    check_kinds,
    classify,
    classify_file,
    classify_stream,
    enforce,
    is_pickle_head,
    module_path,
    remote_code_files,
    violations,
)

OBJECTS = [
    {"a": 1, "b": [1, 2, (3, 4)], "c": "x" * 10},
    collections.OrderedDict(a={1}, b=frozenset({2}), c=b"raw", d=bytearray(b"ba")),
    None,
    1.5,
    [list(range(5000))],  # bigger than the head: decided on a cut stream
    {"nested": [{"k": i, "v": str(i)} for i in range(400)]},
    datetime.datetime(2020, 1, 1, 12, 0),
    2**100,
]


def _kinds(data: bytes, name: str = "weights.dat") -> tuple[str, ...]:
    return classify_stream(name, io.BytesIO(data))


def _torch_like_zip(extra: int = 0) -> bytes:
    """What torch.save writes: a zip of <name>/data.pkl, <name>/data/<n>, <name>/version."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"weight": 1}, protocol=2))
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/data/0", b"\x00" * 64 + b"\x01" * extra)
        zf.writestr("archive/version", "3\n")
    return buf.getvalue()


def _safetensors_bytes() -> bytes:
    header = json.dumps(
        {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, "__metadata__": {}}
    ).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * 16


@pytest.mark.parametrize("protocol", range(6))
def test_pickles_of_every_protocol_are_pickle_by_content(protocol: int) -> None:
    for obj in OBJECTS:
        data = pickle.dumps(obj, protocol=protocol)
        assert _kinds(data) == (PICKLE,), (protocol, data[:40])
        assert _kinds(data, "model.safetensors") == (PICKLE,)  # the name does not hide it


@pytest.mark.parametrize("protocol", range(6))
def test_recursive_and_memoised_pickles(protocol: int) -> None:
    loop: list[object] = []
    loop.append(loop)
    shared = ["s"]
    for obj in (loop, (shared, shared), {"x": (1, 2), "y": (1, 2)}):
        assert _kinds(pickle.dumps(obj, protocol=protocol)) == (PICKLE,)


def test_legacy_torch_save_starts_with_a_protocol_2_pickle() -> None:
    # torch.save(..., _use_new_zipfile_serialization=False): a pickled magic number first.
    data = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
    assert _kinds(data + b"\x00" * 10_000, "old.bin") == (PICKLE,)


def test_a_head_cut_inside_a_big_pickle_is_still_pickle() -> None:
    for protocol in range(6):
        data = pickle.dumps([str(i) * 3 for i in range(3000)], protocol=protocol)
        assert len(data) > HEAD_BYTES
        assert is_pickle_head(data[:HEAD_BYTES], size=len(data)), protocol
        # the same head as a whole file is not a pickle: it never reaches STOP
        assert not is_pickle_head(data[:HEAD_BYTES], size=HEAD_BYTES)


def test_torch_zip_with_data_pkl_is_pickle() -> None:
    assert _kinds(_torch_like_zip(), "pytorch_model.bin") == (PICKLE,)
    assert _kinds(_torch_like_zip(), "model.safetensors") == (PICKLE,)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mymodel/data.pkl", b"\x80\x02N.")
    assert _kinds(buf.getvalue(), "x.pt") == (PICKLE,)


def test_a_zip_without_data_pkl_is_not_pickle() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("images/cat.png", b"\x89PNG")
        zf.writestr("archive/data.pkl.txt", b"no")
    assert _kinds(buf.getvalue(), "images.zip") == ()
    assert _kinds(buf.getvalue(), "images.pt") == ()  # content read: the name does not count


def test_safetensors_is_not_pickle_even_named_bin() -> None:
    data = _safetensors_bytes()
    assert _kinds(data, "model.safetensors") == ()
    assert _kinds(data, "pytorch_model.bin") == ()


@pytest.mark.parametrize(
    "text",
    [
        b"# A model card\n\nHello.\n",
        b'{"architectures": ["BertModel"], "hidden_size": 768}',
        b"import torch\n\nclass MyModel(torch.nn.Module):\n    pass\n",
        b"(c) 2024 Someone\nAll rights reserved\n",
        b"I like cats\n" * 500,
        b"\x80\x06unknown protocol",
        b"\x80\x02" + b"\xff" * 100,
        b"PK\x03\x04 not really a zip",
        b"",
        b"N",
    ],
)
def test_text_and_other_bytes_are_not_pickle(text: bytes) -> None:
    assert _kinds(text, "notes.txt") == ()


def test_unreadable_content_falls_back_to_the_extension(tmp_path: Path) -> None:
    for name in ("a.bin", "b.PT", "c.pth", "d.pkl", "e.pickle", "f.ckpt", "g.joblib", "h.pt2"):
        assert classify_file(name, None) == (PICKLE,)
        assert classify_file(name, tmp_path / "missing") == (PICKLE,)
        assert classify_stream(name, None) == (PICKLE,)
    for name in ("model.safetensors", "config.json", "README.md", "binary"):
        assert classify_file(name, None) == ()

    def broken(n: int) -> bytes:
        raise OSError("range request failed")

    assert classify("w.bin", broken, size=100) == (PICKLE,)
    assert classify("w.safetensors", broken, size=100) == ()
    assert classify("w.bin", None, size=100) == (PICKLE,)
    # a zip that is not one (truncated directory): the name decides
    assert _kinds(b"PK\x03\x04" + b"\x00" * 100, "x.pt") == (PICKLE,)
    assert _kinds(b"PK\x03\x04" + b"\x00" * 100, "x.zip") == ()


def test_classify_file_reads_a_local_copy(tmp_path: Path) -> None:
    (tmp_path / "p").write_bytes(pickle.dumps({"a": 1}))
    (tmp_path / "s").write_bytes(_safetensors_bytes())
    (tmp_path / "z").write_bytes(_torch_like_zip())
    assert classify_file("x.dat", tmp_path / "p") == (PICKLE,)
    assert classify_file("x.bin", tmp_path / "s") == ()
    assert classify_file("x.dat", tmp_path / "z") == (PICKLE,)


def test_classify_through_head_and_range_readers() -> None:
    data = pickle.dumps(OBJECTS[0], protocol=4)
    heads: list[int] = []

    def read_head_of(blob: bytes):  # type: ignore[no-untyped-def]
        def read_head(n: int) -> bytes:
            heads.append(n)
            return blob[:n]

        return read_head

    assert classify("x", read_head_of(data), size=len(data)) == (PICKLE,)
    assert heads == [len(data)]  # a small file: only what exists, once
    big = b"\x80\x04" + b"\x95" + struct.pack("<Q", 10**9) + b"\x8c\x01a\x94." + b"\0" * 10**6
    heads.clear()
    assert classify("x", read_head_of(big), size=len(big)) == (PICKLE,)
    assert heads == [HEAD_BYTES]
    # a small zip is read whole through read_head; a big one needs random access
    small_zip = _torch_like_zip()
    assert classify("x", read_head_of(small_zip), size=len(small_zip)) == (PICKLE,)
    big_zip = _torch_like_zip(extra=2 << 20)
    assert classify("m.bin", read_head_of(big_zip), size=len(big_zip)) == (PICKLE,)  # name
    assert classify("m.dat", read_head_of(big_zip), size=len(big_zip)) == ()  # unknown: name
    reads: list[tuple[int, int]] = []

    def read_at(offset: int, length: int) -> bytes:
        reads.append((offset, length))
        return big_zip[offset : offset + length]

    assert classify("m.dat", None, size=len(big_zip), read_at=read_at) == (PICKLE,)
    # the head and the central directory, never the 2 MB entry in between
    assert sum(n for _, n in reads) < 300_000, reads


@settings(max_examples=400, deadline=None)
@given(
    prefix=st.sampled_from([b"", b"\x80\x02", b"\x80\x04\x95", b"PK\x03\x04", b"(", b"}q\x00("]),
    data=st.binary(max_size=600),
    size_extra=st.integers(min_value=0, max_value=10_000),
)
def test_arbitrary_bytes_never_crash_classify(prefix: bytes, data: bytes, size_extra: int) -> None:
    blob = prefix + data
    assert classify_stream("x.bin", io.BytesIO(blob)) in ((), (PICKLE,))
    assert is_pickle_head(blob, size=len(blob) + size_extra) in (True, False)
    assert classify("x", lambda n: blob[:n], size=len(blob)) in ((), (PICKLE,))


# -- remote code ----------------------------------------------------------------------------------
def test_remote_code_from_config_and_tokenizer_auto_map() -> None:
    paths = {
        "config.json",
        "configuration_acme.py",
        "modeling_acme.py",
        "tokenization_acme.py",
        "tokenization_acme_fast.py",
        "pipeline_acme.py",
        "unrelated.py",
    }
    config = {
        "auto_map": {
            "AutoConfig": "configuration_acme.AcmeConfig",
            "AutoModel": "modeling_acme.AcmeModel",
            "AutoModelForCausalLM": "other/repo--modeling_missing.X",
        },
        "custom_pipelines": {"acme-task": {"impl": "pipeline_acme.AcmePipeline"}},
    }
    tokenizer = {
        "auto_map": {"AutoTokenizer": ["tokenization_acme.AcmeTok", "tokenization_acme_fast.F"]}
    }
    assert remote_code_files(config, tokenizer, paths) == {
        "configuration_acme.py",
        "modeling_acme.py",
        "tokenization_acme.py",
        "tokenization_acme_fast.py",
        "pipeline_acme.py",
    }
    # the legacy tokenizer form (a list, with a None for the missing fast class)
    legacy = {"auto_map": ["tokenization_acme.AcmeTok", None]}
    assert remote_code_files({}, legacy, paths) == {"tokenization_acme.py"}
    assert remote_code_files({}, None, paths) == set()
    assert remote_code_files({"auto_map": "junk"}, {"auto_map": 3}, paths) == set()


def test_remote_code_follows_relative_imports() -> None:
    sources = {
        "modeling_acme.py": "from .configuration_acme import AcmeConfig\nimport torch\n",
        "configuration_acme.py": "from .helpers import x\nfrom transformers import Config\n",
        "helpers.py": "import os\n",
        "unrelated.py": "print('hi')\n",
    }
    config = {"auto_map": {"AutoModel": "modeling_acme.AcmeModel"}}
    found = remote_code_files(config, None, set(sources), read_text=sources.get)
    assert found == {"modeling_acme.py", "configuration_acme.py", "helpers.py"}


def test_module_path() -> None:
    assert module_path("modeling_x.MyModel") == "modeling_x.py"
    assert module_path("org/repo--modeling_x.MyModel") == "modeling_x.py"
    assert module_path("NoDot") is None


# -- deny -----------------------------------------------------------------------------------------
def _file(path: str, *kinds: str) -> LockedFile:
    return LockedFile(path, 10, Sha256("a" * 64), GitSha1("b" * 40), True, kinds)


def _lock() -> LockFile:
    model = LockedRepo(
        "acme/bert",
        "model",
        "main",
        CommitSha("1" * 40),
        (),
        (),
        None,
        (
            _file("config.json"),
            _file("modeling_acme.py", "remote-code"),
            _file("pytorch_model.bin", "pickle"),
        ),
    )
    data = LockedRepo(
        "acme/data", "dataset", "v1", CommitSha("2" * 40), (), (), None, (_file("d.pkl", "pickle"),)
    )
    return LockFile(1, "sha256:" + "0" * 64, (model, data))


def test_violations_and_enforce() -> None:
    lock = _lock()
    assert violations(lock, []) == []
    assert violations(lock, ["remote-code"]) == [
        Violation("acme/bert", "modeling_acme.py", "remote-code")
    ]
    assert violations(lock, ["pickle"]) == [
        Violation("acme/bert", "pytorch_model.bin", "pickle"),
        Violation("datasets/acme/data", "d.pkl", "pickle"),
    ]
    enforce(lock, [])
    with pytest.raises(PolicyError) as info:
        enforce(lock, ["pickle", "remote-code"])
    err = info.value
    assert err.exit_code == 2 and err.code == "policy_denied"
    assert len(err.violations) == 3
    assert "3 locked files are denied" in err.message
    assert "datasets/acme/data: d.pkl (pickle)" in err.message
    assert err.hint and "[policy] deny" in err.hint
    with pytest.raises(PolicyError, match="and 2 more"):
        enforce(lock, ["pickle", "remote-code"], shown=1)


def test_unknown_policy_kinds_are_usage_errors() -> None:
    assert check_kinds(["remote-code", "pickle", "pickle"]) == ("pickle", "remote-code")
    with pytest.raises(UsageError, match="'pickles'"):
        check_kinds(["pickles"])
    with pytest.raises(UsageError):
        enforce(_lock(), ["nope"])
