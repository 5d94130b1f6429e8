"""huggingface_hub 2.x (in a subprocess) reads from the local hub: listings, info, tree, downloads,
cache layout, errors, private and gated repos."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.fixtures.hub import HubFixture, run_hf

CARD = """---
license: mit
library_name: transformers
pipeline_tag: fill-mask
language: en
datasets:
- alice/ds
tags:
- bert
---
# Tiny BERT
"""

DS_CARD = """---
license: cc-by-4.0
language:
- en
task_categories:
- text-classification
---
# DS
"""

SPACE_CARD = """---
title: Demo
sdk: gradio
---
"""

LFS_BYTES = bytes(range(256)) * 40  # 10 KiB, *.safetensors -> LFS


def seed(hub: HubFixture) -> dict[str, str]:
    shas = {}
    shas["bert"] = hub.seed_repo(
        "alice/tiny-bert",
        {
            "README.md": CARD,
            "config.json": '{"hidden": 8}\n',
            "model.safetensors": LFS_BYTES,
            "tokenizer/vocab.txt": "a\nb\nc\n",
            "tokenizer/merges.txt": "x y\n",
        },
        downloads=50,
        likes=7,
        tags=["v1.0"],
        created_at="2024-05-01T10:00:00.000Z",
    )
    for i in range(5):
        hub.seed_repo(f"bob/model-{i}", {"config.json": f'{{"i": {i}}}'}, downloads=i)
    hub.seed_repo(
        "alice/ds", {"README.md": DS_CARD, "data/train.csv": "a,b\n1,2\n"}, repo_type="dataset"
    )
    hub.seed_repo("alice/other-ds", {"x.txt": "x"}, repo_type="dataset")
    hub.seed_repo(
        "alice/demo", {"README.md": SPACE_CARD, "app.py": "print(1)\n"}, repo_type="space"
    )
    hub.seed_repo("alice/secret", {"config.json": "{}"}, private=True)
    hub.seed_repo("alice/gated", {"config.json": '{"g": 1}'}, gated=True)
    hub.seed_repo("alice/gated-ok", {"config.json": '{"g": 2}'}, gated="manual")
    hub.grant_access("alice/gated-ok", "bob")
    return shas


READ_CODE = r"""
import json, os
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError, GatedRepoError,
)
api = HfApi()
out = {}
out["search"] = sorted(m.id for m in api.list_models(search="tiny"))
out["author_bob"] = sorted(m.id for m in api.list_models(author="bob"))
out["filter"] = sorted(m.id for m in api.list_models(filter="license:mit"))
out["all"] = [m.id for m in api.list_models()]
out["limit"] = len(list(api.list_models(limit=3)))
out["sorted"] = [m.id for m in api.list_models(author="bob", sort="downloads")]
full = [m for m in api.list_models(search="tiny-bert", full=True, cardData=True)]
out["full_card"] = full[0].card_data.to_dict() if full and full[0].card_data else None
out["ds_search"] = sorted(d.id for d in api.list_datasets(search="ds"))
out["ds_lang"] = sorted(d.id for d in api.list_datasets(language="en"))
out["ds_author"] = sorted(d.id for d in api.list_datasets(author="alice"))
out["spaces"] = sorted(s.id for s in api.list_spaces())
info = api.model_info("alice/tiny-bert", files_metadata=True)
out["info"] = {
    "sha": info.sha, "pipeline": info.pipeline_tag, "library": info.library_name,
    "tags": info.tags, "downloads": info.downloads, "likes": info.likes,
    "created": info.created_at.isoformat(), "card_license": info.card_data.license,
    "siblings": {s.rfilename: [s.size, s.blob_id, s.lfs.sha256 if s.lfs else None]
                 for s in info.siblings},
    "private": info.private, "gated": info.gated,
}
ds = api.dataset_info("alice/ds")
out["ds_info"] = {"id": ds.id, "tags": ds.tags, "files": sorted(s.rfilename for s in ds.siblings)}
sp = api.space_info("alice/demo")
out["space"] = {"id": sp.id, "sdk": sp.sdk}
out["tree_root"] = sorted((e.path, type(e).__name__) for e in api.list_repo_tree("alice/tiny-bert"))
out["tree_rec"] = sorted(e.path for e in api.list_repo_tree("alice/tiny-bert", recursive=True))
sub = api.list_repo_tree("alice/tiny-bert", path_in_repo="tokenizer")
out["tree_sub"] = sorted(e.path for e in sub)
out["tree_lfs"] = [
    e.lfs.sha256 for e in api.list_repo_tree("alice/tiny-bert") if getattr(e, "lfs", None)
]
out["tree_expand"] = [
    e.last_commit.title for e in api.list_repo_tree("alice/tiny-bert", expand=True)
    if getattr(e, "last_commit", None)
][:1]
out["paths_info"] = sorted(
    p.path for p in api.get_paths_info("alice/tiny-bert", ["config.json", "tokenizer", "nope"])
)
refs = api.list_repo_refs("alice/tiny-bert")
out["refs"] = {"branches": [b.name for b in refs.branches], "tags": [t.name for t in refs.tags]}
out["commits"] = [c.title for c in api.list_repo_commits("alice/tiny-bert")]
# downloads
p_reg = hf_hub_download("alice/tiny-bert", "config.json")
p_lfs = hf_hub_download("alice/tiny-bert", "model.safetensors")
p_sub = hf_hub_download("alice/tiny-bert", "tokenizer/vocab.txt", revision="v1.0")
out["paths"] = [p_reg, p_lfs, p_sub]
out["links"] = [os.readlink(p) for p in (p_reg, p_lfs, p_sub)]
snap = snapshot_download("alice/tiny-bert", allow_patterns=["*.json", "tokenizer/*"])
out["snapshot"] = sorted(
    os.path.relpath(os.path.join(d, f), snap) for d, _, fs in os.walk(snap) for f in fs
)
def err(fn):
    try:
        fn()
        return "ok"
    except Exception as e:
        return type(e).__name__
out["rev_missing"] = err(lambda: hf_hub_download("alice/tiny-bert", "config.json", revision="nope"))
out["entry_missing"] = err(lambda: hf_hub_download("alice/tiny-bert", "missing.txt"))
out["isinst_entry"] = err(lambda: (_ for _ in ()).throw(EntryNotFoundError("x")))
out["repo_missing"] = err(lambda: api.model_info("alice/does-not-exist"))
out["info_rev_missing"] = err(lambda: api.model_info("alice/tiny-bert", revision="nope"))
out["private_anon"] = err(lambda: api.model_info("alice/secret"))
out["private_anon_dl"] = err(lambda: hf_hub_download("alice/secret", "config.json"))
out["private_bob"] = err(lambda: api.model_info("alice/secret", token="hf_bob_token"))
out["private_alice"] = err(lambda: api.model_info("alice/secret", token="hf_alice_token"))
out["private_alice_dl"] = err(
    lambda: hf_hub_download("alice/secret", "config.json", token="hf_alice_token")
)
out["private_listed_anon"] = "alice/secret" in [m.id for m in api.list_models(author="alice")]
out["private_listed_alice"] = "alice/secret" in [
    m.id for m in api.list_models(author="alice", token="hf_alice_token")
]
out["gated_bob"] = err(lambda: hf_hub_download("alice/gated", "config.json", token="hf_bob_token"))
out["gated_anon"] = err(lambda: hf_hub_download("alice/gated", "config.json"))
out["gated_alice"] = err(
    lambda: hf_hub_download("alice/gated", "config.json", token="hf_alice_token")
)
out["gated_granted"] = err(
    lambda: hf_hub_download("alice/gated-ok", "config.json", token="hf_bob_token")
)
out["gated_exists"] = api.repo_exists("alice/gated", token="hf_bob_token")
out["whoami"] = api.whoami(token="hf_alice_token")["name"]
print(json.dumps(out))
"""


def test_hf_read_suite(hub_server: HubFixture, hf_env: dict[str, str]) -> None:
    hub = hub_server
    hub.page_size = 2  # force Link pagination everywhere
    shas = seed(hub)
    proc = run_hf(READ_CODE, hf_env)
    out = json.loads(proc.stdout.strip().splitlines()[-1])

    assert out["search"] == ["alice/tiny-bert"]
    assert out["author_bob"] == [f"bob/model-{i}" for i in range(5)]
    assert out["filter"] == ["alice/tiny-bert"]
    assert len(out["all"]) == 8 and "alice/secret" not in out["all"]
    assert out["limit"] == 3
    assert out["sorted"] == [f"bob/model-{i}" for i in (4, 3, 2, 1, 0)]
    assert out["full_card"]["license"] == "mit"
    assert out["ds_search"] == ["alice/ds", "alice/other-ds"]
    assert out["ds_lang"] == ["alice/ds"]
    assert out["ds_author"] == ["alice/ds", "alice/other-ds"]
    assert out["spaces"] == ["alice/demo"]

    info = out["info"]
    assert info["sha"] == shas["bert"]
    assert info["pipeline"] == "fill-mask" and info["library"] == "transformers"
    assert {"transformers", "bert", "license:mit", "dataset:alice/ds"} <= set(info["tags"])
    assert info["downloads"] == 50 and info["likes"] == 7
    assert info["created"].startswith("2024-05-01T10:00:00")
    assert info["card_license"] == "mit"
    lfs_sha = hashlib.sha256(LFS_BYTES).hexdigest()
    assert info["siblings"]["model.safetensors"][0] == len(LFS_BYTES)
    assert info["siblings"]["model.safetensors"][2] == lfs_sha
    assert info["siblings"]["config.json"][2] is None
    assert out["ds_info"]["files"] == ["README.md", "data/train.csv"]
    assert "language:en" in out["ds_info"]["tags"]
    assert out["space"] == {"id": "alice/demo", "sdk": "gradio"}

    assert out["tree_root"] == [
        ["README.md", "RepoFile"],
        ["config.json", "RepoFile"],
        ["model.safetensors", "RepoFile"],
        ["tokenizer", "RepoFolder"],
    ]
    assert "tokenizer/vocab.txt" in out["tree_rec"] and len(out["tree_rec"]) == 6
    assert out["tree_sub"] == ["tokenizer/merges.txt", "tokenizer/vocab.txt"]
    assert out["tree_lfs"] == [lfs_sha]
    assert out["tree_expand"] == ["seed"]
    assert out["paths_info"] == ["config.json", "tokenizer"]
    assert out["refs"] == {"branches": ["main"], "tags": ["v1.0"]}
    assert out["commits"] == ["seed"]

    # cache layout: blobs named by etag (git sha1 / sha256), relative symlinks, refs/main
    p_reg, p_lfs, _p_sub = (Path(p) for p in out["paths"])
    repo_cache = Path(hf_env["HF_HUB_CACHE"]) / "models--alice--tiny-bert"
    assert p_reg == repo_cache / "snapshots" / shas["bert"] / "config.json"
    assert out["links"][0] == "../../blobs/" + _git_sha1(b'{"hidden": 8}\n')
    assert out["links"][1] == "../../blobs/" + lfs_sha
    assert out["links"][2].startswith("../../../blobs/")
    assert p_lfs.read_bytes() == LFS_BYTES
    assert (repo_cache / "refs" / "main").read_text() == shas["bert"]
    assert (repo_cache / "refs" / "v1.0").read_text() == shas["bert"]
    # (model.safetensors is there from the hf_hub_download above; README.md was filtered out)
    assert out["snapshot"] == [
        "config.json",
        "model.safetensors",
        "tokenizer/merges.txt",
        "tokenizer/vocab.txt",
    ]

    assert out["rev_missing"] == "RevisionNotFoundError"
    assert out["entry_missing"] in ("RemoteEntryNotFoundError", "EntryNotFoundError")
    assert out["repo_missing"] == "RepositoryNotFoundError"
    assert out["info_rev_missing"] == "RevisionNotFoundError"
    assert out["private_anon"] == "RepositoryNotFoundError"
    assert out["private_anon_dl"] == "RepositoryNotFoundError"
    assert out["private_bob"] == "RepositoryNotFoundError"
    assert out["private_alice"] == "ok" and out["private_alice_dl"] == "ok"
    assert out["private_listed_anon"] is False and out["private_listed_alice"] is True
    assert out["gated_bob"] == "GatedRepoError"
    assert out["gated_anon"] == "GatedRepoError"
    assert out["gated_alice"] == "ok" and out["gated_granted"] == "ok"
    assert out["gated_exists"] is True
    assert out["whoami"] == "alice"

    # LFS download: HEAD on the API origin, then the GET on the CDN origin without Authorization
    reqs = hub.requests()
    cdn = [r for r in reqs if r["origin"] == "cdn"]
    assert cdn and all(r["method"] == "GET" for r in cdn)
    assert all(r["status"] == 200 for r in cdn)
    heads = [r for r in reqs if r["method"] == "HEAD" and "model.safetensors" in r["path"]]
    assert heads and heads[0]["status"] == 302


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_cdn_request_has_no_authorization(hub_server: HubFixture, hf_env: dict[str, str]) -> None:
    hub_server.seed_repo("alice/priv-lfs", {"w.bin": b"\x00" * 5000}, private=True)
    code = """
    from huggingface_hub import hf_hub_download
    p = hf_hub_download("alice/priv-lfs", "w.bin", token="hf_alice_token")
    assert open(p, "rb").read() == b"\\x00" * 5000
    """
    run_hf(code, hf_env)
    reqs = hub_server.requests()
    head = [r for r in reqs if r["method"] == "HEAD"]
    cdn = [r for r in reqs if r["origin"] == "cdn"]
    assert head and head[0]["auth"] is True and head[0]["status"] == 302
    assert len(cdn) == 1 and cdn[0]["auth"] is False and cdn[0]["status"] == 200
    assert cdn[0]["download_counter"] == "1"
