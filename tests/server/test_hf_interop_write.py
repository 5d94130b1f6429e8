"""huggingface_hub 2.x (in a subprocess, HF_HUB_DISABLE_XET=1) writes to the local hub: create_repo,
upload_file/upload_folder (regular, LFS basic, LFS multipart), create_pr, branches, tags, deletes;
and resumes downloads under --fail-rate."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from tests.fixtures.hub import HubFixture, hf_environment, run_hf

WRITE_CODE = r"""
import json, os, sys
from pathlib import Path
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(os.environ["WORK"])
api = HfApi(token="hf_alice_token")
out = {}
url = api.create_repo("m")
out["create_url"] = str(url)
out["create_repo_id"] = url.repo_id
try:
    api.create_repo("alice/m")
    out["create_again"] = "ok"
except HfHubHTTPError as e:
    out["create_again"] = e.response.status_code
out["exist_ok"] = str(api.create_repo("alice/m", exist_ok=True))
out["create_ds"] = str(api.create_repo("alice/d", repo_type="dataset", private=True))
try:
    api.create_repo("alice/x", token="hf_bob_token")
    out["create_other_ns"] = "ok"
except HfHubHTTPError as e:
    out["create_other_ns"] = e.response.status_code

small = work / "small.txt"; small.write_text("hello\n")
lfs = work / "weights.bin"; lfs.write_bytes(os.urandom(50_000))
multi = work / "big.safetensors"; multi.write_bytes(os.urandom(300_000))
info = api.upload_file(path_or_fileobj=str(small), path_in_repo="small.txt", repo_id="alice/m",
                       commit_message="add small")
out["commit_url"] = info.commit_url
out["oid1"] = info.oid
api.upload_file(path_or_fileobj=str(lfs), path_in_repo="weights.bin", repo_id="alice/m")
api.upload_file(path_or_fileobj=str(multi), path_in_repo="big.safetensors", repo_id="alice/m")
folder = work / "folder"; (folder / "sub").mkdir(parents=True)
(folder / "a.json").write_text('{"a": 1}')
(folder / "sub" / "b.txt").write_text("b")
(folder / "sub" / "c.bin").write_bytes(b"\x01" * 2048)
api.upload_folder(folder_path=str(folder), repo_id="alice/m", path_in_repo="fold",
                  commit_message="folder")
# no-op upload: same content -> no new commit
before = api.model_info("alice/m").sha
api.upload_file(path_or_fileobj=str(small), path_in_repo="small.txt", repo_id="alice/m")
out["noop_same_sha"] = api.model_info("alice/m").sha == before
# PR
pr = api.upload_file(path_or_fileobj=b"pr content", path_in_repo="pr.txt", repo_id="alice/m",
                     create_pr=True, commit_message="a PR")
out["pr_url"] = pr.pr_url
out["pr_num"] = pr.pr_num
out["pr_rev"] = pr.pr_revision
p = hf_hub_download("alice/m", "pr.txt", revision=pr.pr_revision)
out["pr_file"] = open(p).read()
out["pr_not_on_main"] = "pr.txt" not in [s.rfilename for s in api.model_info("alice/m").siblings]
prs = api.list_repo_refs("alice/m", include_pull_requests=True).pull_requests
out["prs"] = [p.ref for p in prs]
# dataset README via create_pr (validate-yaml)
r = api.upload_file(path_or_fileobj=b"---\nlicense: mit\n---\n# d\n", path_in_repo="README.md",
                    repo_id="alice/d", repo_type="dataset", create_pr=True)
out["ds_pr"] = r.pr_url
# branches / tags / deletes
api.create_branch("alice/m", branch="dev")
api.upload_file(path_or_fileobj=b"dev only", path_in_repo="dev.txt", repo_id="alice/m",
                revision="dev")
api.create_tag("alice/m", tag="v1", revision="dev")
refs = api.list_repo_refs("alice/m")
out["branches"] = sorted(b.name for b in refs.branches)
out["tags"] = [t.name for t in refs.tags]
api.delete_file("weights.bin", repo_id="alice/m")
api.delete_folder("fold/sub", repo_id="alice/m")
out["files_main"] = sorted(api.list_repo_files("alice/m"))
out["files_v1"] = sorted(api.list_repo_files("alice/m", revision="v1"))
api.delete_tag("alice/m", tag="v1")
api.delete_branch("alice/m", branch="dev")
out["branches_after"] = sorted(b.name for b in api.list_repo_refs("alice/m").branches)
# parent_commit conflict
try:
    api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/m",
                    parent_commit="0" * 40)
    out["stale_parent"] = "ok"
except HfHubHTTPError as e:
    out["stale_parent"] = e.response.status_code
# download what was uploaded
big = open(hf_hub_download("alice/m", "big.safetensors"), "rb").read()
out["dl_big"] = big == multi.read_bytes()
out["commits"] = [c.title for c in api.list_repo_commits("alice/m")]
# move + delete
api.move_repo("alice/d", "alice/d2", repo_type="dataset")
out["moved"] = api.repo_exists("alice/d2", repo_type="dataset")
api.delete_repo("alice/d2", repo_type="dataset")
out["deleted"] = api.repo_exists("alice/d2", repo_type="dataset")
print(json.dumps(out))
"""


def test_hf_write_suite(hub_server: HubFixture, hf_env: dict[str, str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    hub = hub_server
    hub.lfs_threshold = 40_000  # weights.bin (50 KB) -> LFS by size and by pattern
    hub.set_knobs(multipart_threshold=200_000, multipart_chunk_size=100_000)  # 300 KB -> 3 parts
    env = dict(hf_env, WORK=str(tmp_path))
    proc = run_hf(WRITE_CODE, env)
    out = json.loads(proc.stdout.strip().splitlines()[-1])

    assert out["create_url"] == f"{hub.url}/alice/m"
    assert out["create_repo_id"] == "alice/m"
    assert out["create_again"] == 409
    assert out["exist_ok"] == f"{hub.url}/alice/m"
    assert out["create_ds"] == f"{hub.url}/datasets/alice/d"
    assert out["create_other_ns"] == 403
    assert out["commit_url"].startswith(f"{hub.url}/alice/m/commit/")
    assert out["noop_same_sha"] is True
    assert out["pr_url"] == f"{hub.url}/alice/m/discussions/1"
    assert out["pr_num"] == 1 and out["pr_rev"] == "refs/pr/1"
    assert out["pr_file"] == "pr content" and out["pr_not_on_main"] is True
    assert out["prs"] == ["refs/pr/1"]
    assert out["ds_pr"] == f"{hub.url}/datasets/alice/d/discussions/1"
    assert out["branches"] == ["dev", "main"] and out["tags"] == ["v1"]
    assert out["files_main"] == [".gitattributes", "big.safetensors", "fold/a.json", "small.txt"]
    assert "dev.txt" in out["files_v1"] and "weights.bin" in out["files_v1"]
    assert out["branches_after"] == ["main"]
    assert out["stale_parent"] == 412
    assert out["dl_big"] is True
    assert out["commits"][-1] == "initial commit"
    assert out["moved"] is True and out["deleted"] is False

    # server-side view: LFS vs regular storage and the transfer modes actually used
    repo = hub.storage.get_repo("model", "alice/m")
    assert repo is not None
    commit = hub.storage.get_commit(repo, hub.head("alice/m") or "")
    assert commit is not None
    assert commit.tree["big.safetensors"].sha256 is not None
    assert commit.tree["small.txt"].sha256 is None
    paths = [(r["method"], r["path"].split("?")[0]) for r in hub.requests()]
    assert sum(1 for m, p in paths if m == "PUT" and p.startswith("/_lfs/part/")) == 3
    assert any(m == "POST" and p.startswith("/_lfs/complete/") for m, p in paths)
    assert any(m == "PUT" and p.startswith("/_lfs/upload/") for m, p in paths)
    assert any(m == "POST" and p.startswith("/_lfs/verify/") for m, p in paths)
    assert ("POST", "/api/validate-yaml") in paths


def test_fail_rate_download_still_correct(
    hub_server_factory: Callable[..., HubFixture],
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    hub = hub_server_factory(fail_rate=0.35, seed=1)
    big = hashlib.sha256(b"seed").digest() * (25 * 1024 * 1024 // 32)  # 25 MiB, LFS by size
    small = b"0123456789" * 10_000
    hub.seed_repo("alice/flaky", {"big.dat": big, "small.txt": small})
    env = hf_environment(hub.url, tmp_path / "hf")
    code = """
    import hashlib
    from huggingface_hub import hf_hub_download
    for name in ("big.dat", "small.txt", "small.txt"):
        p = hf_hub_download("alice/flaky", name, force_download=True)
        print(name, hashlib.sha256(open(p, "rb").read()).hexdigest())
    """
    proc = run_hf(code, env, timeout=120)
    lines = proc.stdout.split("\n")
    assert f"big.dat {hashlib.sha256(big).hexdigest()}" in lines
    assert f"small.txt {hashlib.sha256(small).hexdigest()}" in lines
    gets = [r for r in hub.requests() if r["method"] == "GET"]
    full = {"big.dat": len(big), "small.txt": len(small)}
    dropped = [r for r in gets if r["status"] == 200 and r["bytes"] not in full.values()]
    assert dropped, "the fail-rate knob should have cut at least one body short"
    # seed 1 cuts the first big.dat GET after 10 MiB: huggingface_hub resumes with a Range request
    resumed = [r for r in gets if r["status"] == 206]
    assert resumed and resumed[0]["range"] == "bytes=10485760-"
