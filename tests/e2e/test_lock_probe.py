"""`hubcli lock` marks LFS files by content, read with small Range requests (issue 14)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

from hubcli.lock.lockfile import loads

MIB = 1 << 20


def _safetensors(size: int) -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [size // 4], "data_offsets": [0, size]}})
    head = header.encode().ljust(((len(header) + 7) // 8) * 8)
    return struct.pack("<Q", len(head)) + head + os.urandom(size)


def _big_pickle() -> bytes:
    data = pickle.dumps({"weights": os.urandom(2 * MIB), "step": 3}, protocol=4)
    assert len(data) > MIB
    return data


def _torch_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"a": 1}, protocol=2))
        zf.writestr("archive/data/0", os.urandom(2 * MIB))
        zf.writestr("archive/version", b"3\n")
    return buf.getvalue()


def _plain_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("corpus/part-0.txt", os.urandom(2 * MIB))
    return buf.getvalue()


def test_lock_classifies_lfs_files_by_content_with_small_ranged_reads(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    files = {
        "model.safetensors": _big_pickle(),  # a pickle in disguise
        "pytorch_model.bin": _safetensors(2 * MIB),  # safetensors under a pickle name
        "weights.pt": _torch_zip(),  # torch.save format
        "data.zip": _plain_zip(),  # a zip without data.pkl
        "config.json": b'{"model_type": "bert"}',
    }
    hub_server.seed_repo("alice/disguised", files)
    env = {"HF_ENDPOINT": hub_server.url, "HF_HUB_CACHE": str(tmp_path / "cache")}
    assert run_cli("add", "alice/disguised", env=env).returncode == 0
    hub_server.clear_requests()
    res = run_cli("lock", "--json", env=env)
    assert res.returncode == 0, res.stderr
    json.loads(res.stdout)  # stdout is the JSON document only
    assert "warning" not in res.stderr
    text = (tmp_path / "hubcli.lock").read_text()
    repo = loads(text).repo("alice/disguised")
    assert repo is not None
    by_path = {f.path: f for f in repo.files}
    for path in ("model.safetensors", "pytorch_model.bin", "weights.pt", "data.zip"):
        assert by_path[path].lfs, path
        assert by_path[path].size >= MIB
    kinds = {f.path: f.kinds for f in repo.files}
    assert kinds["model.safetensors"] == ("pickle",)
    assert kinds["pytorch_model.bin"] == ()
    assert kinds["weights.pt"] == ("pickle",)
    assert kinds["data.zip"] == ()
    assert kinds["config.json"] == ()

    # only small ranged reads of the LFS files: the head, and for a zip its end
    log = hub_server.requests()
    for path, data in files.items():
        if path == "config.json":
            continue
        sha = hashlib.sha256(data).hexdigest()
        mine = [r for r in log if r["path"].split("?")[0].endswith((f"/{path}", f"/{sha}"))]
        assert mine, path
        assert all(r["range"] for r in mine), mine
        served = sum(r["bytes"] for r in mine)
        cdn = [r for r in mine if r["origin"] == "cdn"]
        assert not any(r["auth"] for r in cdn)  # the token stays on the Hub's origin
        assert served <= 3 * 4096, (path, served)
        assert len(cdn) <= 3, (path, cdn)
        assert all("/resolve/" + repo.commit + "/" in r["path"] for r in mine if r not in cdn)
    blobs = tmp_path / "cache" / "models--alice--disguised" / "blobs"
    assert not any((blobs / hashlib.sha256(d).hexdigest()).exists() for d in files.values())

    # deterministic: locking again from scratch gives the same bytes
    (tmp_path / "hubcli.lock").unlink()
    res = run_cli("lock", env=env)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "hubcli.lock").read_text() == text


def test_lock_falls_back_to_the_extension_when_lfs_content_is_unreadable(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    files = {"model.safetensors": _big_pickle(), "pytorch_model.bin": _safetensors(MIB)}
    hub_server.seed_repo("alice/gone", files)
    env = {"HF_ENDPOINT": hub_server.url, "HF_HUB_CACHE": str(tmp_path / "cache")}
    assert run_cli("add", "alice/gone", env=env).returncode == 0
    for data in files.values():  # the CDN lost the objects: the listing still has them
        os.remove(hub_server.storage.lfs_path(hashlib.sha256(data).hexdigest()))
    res = run_cli("lock", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("warning") == 0
    assert "pytorch_model.bin: content not readable" in res.stderr
    repo = loads((tmp_path / "hubcli.lock").read_text()).repo("alice/gone")
    assert repo is not None
    kinds = {f.path: f.kinds for f in repo.files}
    assert kinds == {"model.safetensors": (), "pytorch_model.bin": ("pickle",)}
