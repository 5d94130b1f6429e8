"""Unit (request shapes with `responses`): LFS batch answers, href rewriting, credentials scope."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import responses

from hubcli.client import HubClient
from hubcli.config import resolve_settings
from hubcli.errors import AuthError, ServerError
from hubcli.http import HubSession
from hubcli.repo import RepoRef
from hubcli.upload_lfs import LfsObject, LfsUploader, fix_endpoint

EP = "https://hub.example"
BATCH = f"{EP}/alice/m.git/info/lfs/objects/batch"


def _uploader(tmp_path: Path) -> LfsUploader:
    settings = resolve_settings(endpoint=EP, token="hf_secret", env={})
    client = HubClient(HubSession(settings, max_retries=0))
    return LfsUploader(client, RepoRef("alice/m"), revision="main", workers=2, state_dir=tmp_path)


def _obj(tmp_path: Path, data: bytes) -> LfsObject:
    f = tmp_path / "blob"
    f.write_bytes(data)
    return LfsObject(f, hashlib.sha256(data).hexdigest(), len(data))


def test_fix_endpoint() -> None:
    assert fix_endpoint("https://huggingface.co/x/y", EP) == f"{EP}/x/y"
    assert fix_endpoint("https://s3.example/p", EP) == "https://s3.example/p"
    assert fix_endpoint("https://huggingface.co/x", "https://huggingface.co") == (
        "https://huggingface.co/x"
    )


@responses.activate
def test_basic_put_goes_without_token_and_hrefs_are_rewritten(tmp_path: Path) -> None:
    obj = _obj(tmp_path, b"hello world")
    responses.post(
        BATCH,
        json={
            "objects": [
                {
                    "oid": obj.sha256,
                    "size": obj.size,
                    "actions": {
                        "upload": {"href": "https://cdn.example/put/1", "header": {}},
                        "verify": {"href": "https://huggingface.co/alice/m.git/verify"},
                    },
                }
            ]
        },
    )
    responses.put("https://cdn.example/put/1", status=200)
    responses.post(f"{EP}/alice/m.git/verify", json={})
    _uploader(tmp_path).upload([obj])
    batch, put, verify = responses.calls
    body = json.loads(batch.request.body)
    assert body["operation"] == "upload" and body["ref"] == {"name": "main"}
    assert body["transfers"] == ["basic", "multipart"]
    assert "Authorization" not in put.request.headers
    assert put.request.headers["Content-Length"] == str(obj.size)
    assert verify.request.headers["Authorization"] == "Bearer hf_secret"
    assert json.loads(verify.request.body) == {"oid": obj.sha256, "size": obj.size}
    assert obj.sent


@responses.activate
def test_multipart_parts_completion_and_etags(tmp_path: Path) -> None:
    data = b"a" * 10 + b"b" * 10 + b"c" * 5
    obj = _obj(tmp_path, data)
    header = {"chunk_size": "10", "3": "https://s3.example/p3", "1": "https://s3.example/p1",
              "2": "https://s3.example/p2"}  # fmt: skip
    responses.post(
        BATCH,
        json={"objects": [{"oid": obj.sha256, "size": obj.size,
                           "actions": {"upload": {"href": f"{EP}/complete", "header": header}}}]},
    )  # fmt: skip
    for n in (1, 2, 3):
        responses.put(f"https://s3.example/p{n}", headers={"ETag": f'"e{n}"'})
    responses.post(f"{EP}/complete", json={})
    _uploader(tmp_path).upload([obj])
    puts = {c.request.url: c.request for c in responses.calls if c.request.method == "PUT"}
    assert sorted(puts) == [f"https://s3.example/p{n}" for n in (1, 2, 3)]
    assert all("Authorization" not in r.headers for r in puts.values())
    assert [puts[f"https://s3.example/p{n}"].headers["Content-Length"] for n in (1, 2, 3)] == [
        "10",
        "10",
        "5",
    ]
    complete = responses.calls[-1].request
    assert json.loads(complete.body) == {
        "oid": obj.sha256,
        "parts": [{"partNumber": n, "etag": f'"e{n}"'} for n in (1, 2, 3)],
    }
    assert complete.headers["Content-Type"] == "application/vnd.git-lfs+json"
    assert not list(tmp_path.glob("*.json"))  # part state cleared after completion


@responses.activate
def test_already_stored_objects_are_skipped(tmp_path: Path) -> None:
    obj = _obj(tmp_path, b"x")
    responses.post(BATCH, json={"objects": [{"oid": obj.sha256, "size": 1}]})
    _uploader(tmp_path).upload([obj])
    assert len(responses.calls) == 1 and not obj.sent


@responses.activate
def test_bad_answers_fail_clearly(tmp_path: Path) -> None:
    obj = _obj(tmp_path, b"x" * 25)
    responses.post(
        BATCH,
        json={
            "objects": [{"oid": obj.sha256, "size": 25, "error": {"code": 403, "message": "no"}}]
        },
    )
    with pytest.raises(AuthError, match="refused"):
        _uploader(tmp_path).upload([obj])
    responses.replace(
        responses.POST,
        BATCH,
        json={"objects": [{"oid": obj.sha256, "size": 25, "actions": {"upload": {
            "href": f"{EP}/c", "header": {"chunk_size": "10", "1": "https://s3/p1"}}}}]},
    )  # fmt: skip
    with pytest.raises(ServerError, match="expected 3"):
        _uploader(tmp_path).upload([obj])
