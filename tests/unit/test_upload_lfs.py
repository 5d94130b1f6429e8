"""Unit (request shapes with `responses`): LFS batch answers, href rewriting, credentials scope."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import requests
import responses

from hubcli.client import HubClient
from hubcli.config import resolve_settings
from hubcli.errors import AuthError, HTTPStatusError, NetworkError, ServerError
from hubcli.http import HubSession
from hubcli.repo import RepoRef
from hubcli.upload.lfs import LfsObject, LfsUploader, fix_endpoint

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


# -- resume or restart after a killed run ----------------------------------------------------------
MP_DATA = b"a" * 10 + b"b" * 10 + b"c" * 5  # three parts of a 10-byte chunk size


def _mp_answer(obj: LfsObject, href: str, urls: list[str]) -> dict[str, object]:
    header = {"chunk_size": "10", **{str(n): u for n, u in enumerate(urls, 1)}}
    upload = {"href": href, "header": header}
    return {"objects": [{"oid": obj.sha256, "size": obj.size, "actions": {"upload": upload}}]}


def _urls(tag: str) -> list[str]:
    return [f"https://s3.example/up/p{n}?sig={tag}" for n in (1, 2, 3)]


def _killed_after_two_parts(tmp_path: Path) -> LfsObject:
    """A first run that finished parts 1 and 2 of upload ``u1`` and then died (part 3 failed)."""
    obj = _obj(tmp_path, MP_DATA)
    with responses.RequestsMock() as rsps:
        rsps.post(BATCH, json=_mp_answer(obj, f"{EP}/complete/u1", _urls("1")))
        for n, url in enumerate(_urls("1")[:2], 1):
            rsps.put(url, headers={"ETag": f'"old{n}"'})
        rsps.put(_urls("1")[2], body=requests.ConnectionError("killed"))
        uploader = _uploader(tmp_path)
        uploader.workers = 1  # parts in order: 1 and 2 finish before 3 fails
        with pytest.raises(NetworkError):
            uploader.upload([obj])
    saved = json.loads((tmp_path / f"{obj.sha256}.json").read_text())
    assert saved["parts"] == {"1": '"old1"', "2": '"old2"'}
    return obj


def _sent(rsps: responses.RequestsMock) -> list[str]:
    return [str(c.request.url).split("?")[0][-2:] for c in rsps.calls if c.request.method == "PUT"]


def _completions(rsps: responses.RequestsMock) -> list[list[str]]:
    return [
        [p["etag"] for p in json.loads(c.request.body)["parts"]]
        for c in rsps.calls
        if c.request.method == "POST" and "/complete/" in str(c.request.url)
    ]


def test_same_upload_href_and_part_urls_resume_with_the_saved_parts(tmp_path: Path) -> None:
    obj = _killed_after_two_parts(tmp_path)
    with responses.RequestsMock() as rsps:
        rsps.post(BATCH, json=_mp_answer(obj, f"{EP}/complete/u1", _urls("1")))
        rsps.put(_urls("1")[2], headers={"ETag": '"new3"'})
        rsps.post(f"{EP}/complete/u1", json={})
        _uploader(tmp_path).upload([obj])
        assert _sent(rsps) == ["p3"]  # only the missing part
        assert _completions(rsps) == [['"old1"', '"old2"', '"new3"']]
    assert not (tmp_path / f"{obj.sha256}.json").exists()


@pytest.mark.parametrize(
    ("href", "tag"),
    [(f"{EP}/complete/u2", "2"), (f"{EP}/complete/u1", "2"), (f"{EP}/complete/u2", "1")],
    ids=["new-upload", "new-part-urls", "new-href"],
)
def test_another_upload_href_or_part_urls_restart_from_the_first_part(
    tmp_path: Path, href: str, tag: str
) -> None:
    obj = _killed_after_two_parts(tmp_path)
    with responses.RequestsMock() as rsps:
        rsps.post(BATCH, json=_mp_answer(obj, href, _urls(tag)))
        for n, url in enumerate(_urls(tag), 1):
            rsps.put(url, headers={"ETag": f'"new{n}"'})
        rsps.post(href, json={})
        _uploader(tmp_path).upload([obj])
        assert sorted(_sent(rsps)) == ["p1", "p2", "p3"]
        assert _completions(rsps) == [['"new1"', '"new2"', '"new3"']]
    assert not (tmp_path / f"{obj.sha256}.json").exists()


def test_completion_refusing_saved_parts_sends_them_again_once(tmp_path: Path) -> None:
    obj = _killed_after_two_parts(tmp_path)
    href = f"{EP}/complete/u1"
    with responses.RequestsMock() as rsps:
        rsps.post(BATCH, json=_mp_answer(obj, href, _urls("1")))
        for n, url in enumerate(_urls("1"), 1):
            rsps.put(url, headers={"ETag": f'"new{n}"'})
        rsps.post(href, status=400, json={"error": "InvalidPart: part 1 not found"})
        rsps.post(href, json={})
        _uploader(tmp_path).upload([obj])
        assert sorted(_sent(rsps)) == ["p1", "p2", "p3"]  # 3 first, then the two saved ones
        assert _sent(rsps)[0] == "p3"
        assert _completions(rsps) == [
            ['"old1"', '"old2"', '"new3"'],
            ['"new1"', '"new2"', '"new3"'],
        ]
    assert not (tmp_path / f"{obj.sha256}.json").exists()


def test_a_refused_completion_without_saved_parts_fails(tmp_path: Path) -> None:
    obj = _obj(tmp_path, MP_DATA)
    href = f"{EP}/complete/u1"
    with responses.RequestsMock() as rsps:
        rsps.post(BATCH, json=_mp_answer(obj, href, _urls("1")))
        for n, url in enumerate(_urls("1"), 1):
            rsps.put(url, headers={"ETag": f'"new{n}"'})
        rsps.post(href, status=400, json={"error": "InvalidPart"})
        with pytest.raises(HTTPStatusError, match="400"):
            _uploader(tmp_path).upload([obj])
        assert len(_completions(rsps)) == 1  # no loop


def test_a_part_put_answered_409_is_sent_again(tmp_path: Path) -> None:
    obj = _obj(tmp_path, MP_DATA)
    settings = resolve_settings(endpoint=EP, token="hf_secret", env={})
    client = HubClient(HubSession(settings, max_retries=2, sleep=lambda s: None))
    uploader = LfsUploader(client, RepoRef("alice/m"), revision="main", state_dir=tmp_path)
    with responses.RequestsMock() as rsps:
        rsps.post(BATCH, json=_mp_answer(obj, f"{EP}/complete/u1", _urls("1")))
        rsps.put(_urls("1")[0], status=409, json={"error": "being uploaded"})
        for n, url in enumerate(_urls("1"), 1):
            rsps.put(url, headers={"ETag": f'"new{n}"'})
        rsps.post(f"{EP}/complete/u1", json={})
        uploader.upload([obj])
        assert sorted(_sent(rsps)) == ["p1", "p1", "p2", "p3"]
