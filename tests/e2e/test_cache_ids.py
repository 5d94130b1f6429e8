"""End-to-end: every id `cache` prints is accepted back (issue 13 items 1, 3, 8, 10), through the
real CLI against the local hub."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

CONFIG = '{"a": 1}'


@pytest.fixture
def env(hub_server: Any, tmp_path: Path, run_cli: Any) -> dict[str, str]:
    hub_server.seed_repo("alice/m", {"config.json": CONFIG, "w.bin": b"\x01" * 2000})
    hub_server.seed_repo(
        "bob/d", {"data/a.csv": "x\n1\n", "data/b.csv": "x\n2\n"}, repo_type="dataset"
    )
    e = {"HF_ENDPOINT": hub_server.url, "HF_HUB_CACHE": str(tmp_path / "cache")}
    for args in (("alice/m",), ("bob/d", "--type", "dataset")):
        res = run_cli("download", *args, env=e)
        assert res.returncode == 0, res
    return e


def _rows(run_cli: Any, env: dict[str, str], *extra: str) -> tuple[list[str], list[str]]:
    quiet = run_cli("cache", "ls", "-q", *extra, env=env)
    assert quiet.returncode == 0, quiet
    doc = run_cli("cache", "ls", "--json", *extra, env=env)
    assert doc.returncode == 0, doc
    rows = json.loads(doc.stdout)["rows"]
    paths = [r[k] for r in rows for k in ("path", "snapshot_path") if r.get(k)]
    return quiet.stdout.split(), [r["id"] for r in rows] + paths


def test_ls_prints_the_hubs_own_forms(env: dict[str, str], run_cli: Any) -> None:
    ids, _ = _rows(run_cli, env)
    assert sorted(ids) == ["alice/m", "datasets/bob/d"]
    revs, _ = _rows(run_cli, env, "--revisions")
    assert sorted(r.split("@")[0] for r in revs) == ["alice/m", "datasets/bob/d"]
    assert all(len(r.split("@")[1]) == 40 for r in revs)


@pytest.mark.parametrize("revisions", [False, True])
def test_every_printed_id_round_trips(
    env: dict[str, str], run_cli: Any, tmp_path: Path, revisions: bool
) -> None:
    quiet, from_json = _rows(run_cli, env, *(["--revisions"] if revisions else []))
    for ident in quiet + from_json:
        v = run_cli("cache", "verify", ident, env=env)
        assert v.returncode == 0, (ident, v)
        rm = run_cli("cache", "rm", "--dry-run", ident, env=env)
        assert rm.returncode == 0 and "would delete" in rm.stdout, (ident, rm)
        ex = run_cli("cache", "export", ident, "-o", str(tmp_path / "b.tar"), "-q", env=env)
        assert ex.returncode == 0 and ex.stdout.strip() == str(tmp_path / "b.tar"), (ident, ex)


@pytest.mark.parametrize(
    "form",
    [
        "dataset/bob/d",
        "datasets/bob/d",
        "hf://datasets/bob/d",
        "hf://datasets/bob/d@main/data/a.csv",
        "https://huggingface.co/datasets/bob/d",
        "https://huggingface.co/datasets/bob/d/tree/main",
        "https://huggingface.co/datasets/bob/d/resolve/main/data/a.csv",
        "https://huggingface.co/datasets/bob/d/blob/main/data/a.csv",
        "{endpoint}/datasets/bob/d/tree/main/data",
    ],
)
def test_other_forms_are_accepted(env: dict[str, str], run_cli: Any, form: str) -> None:
    ident = form.format(endpoint=env["HF_ENDPOINT"])
    res = run_cli("cache", "verify", ident, "--json", env=env)
    assert res.returncode == 0, res
    assert json.loads(res.stdout)["repos"] == 1
    rm = run_cli("cache", "rm", "--dry-run", "--json", ident, env=env)
    assert rm.returncode == 0, rm
    assert all(i["repo"] == "datasets/bob/d" for i in json.loads(rm.stdout)["items"])


def test_model_singular_prefix_and_no_misreading(env: dict[str, str], run_cli: Any) -> None:
    assert run_cli("cache", "verify", "model/alice/m", env=env).returncode == 0
    # a dataset revision id is a dataset, never a model named `dataset/bob`
    rev = run_cli("cache", "ls", "--revisions", "-q", "--filter", "type=dataset", env=env)
    commit = rev.stdout.split("@")[1].strip()
    res = run_cli("cache", "rm", "--dry-run", "--json", f"dataset/bob/d@{commit}", env=env)
    assert res.returncode == 0, res
    assert {i["repo"] for i in json.loads(res.stdout)["items"]} == {"datasets/bob/d"}


def test_xargs_pipeline_and_stdin(env: dict[str, str], run_cli: Any) -> None:
    listed = run_cli("cache", "ls", "--filter", "type=dataset", "-q", env=env).stdout
    res = run_cli("cache", "rm", "--yes", "-q", "-", input=listed, env=env)
    assert res.returncode == 0 and res.stdout == "", res
    assert run_cli("cache", "ls", "-q", env=env).stdout.split() == ["alice/m"]
    for cmd in (["rm", "--yes"], ["verify"], ["export", "-o", "x.tar"], ["repair"]):
        empty = run_cli("cache", *cmd, "-", input="", env=env)
        assert empty.returncode == 2, (cmd, empty)
    ok = run_cli("cache", "verify", "-", input="alice/m\n", env=env)
    assert ok.returncode == 0, ok


def test_export_refuses_an_incomplete_snapshot(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    hub_server.seed_repo("alice/p", {"a.txt": "a", "b.txt": "b"})
    e = {"HF_ENDPOINT": hub_server.url, "HF_HUB_CACHE": str(tmp_path / "cache")}
    assert run_cli("download", "alice/p", "--include", "a.txt", env=e).returncode == 0
    out = tmp_path / "p.tar"
    res = run_cli("cache", "export", "alice/p", "-o", str(out), env=e)
    assert res.returncode == 6, res
    assert "b.txt" in res.stderr and "--allow-incomplete" in res.stderr and not out.exists()
    ok = run_cli("cache", "export", "alice/p", "-o", str(out), "--allow-incomplete", env=e)
    assert ok.returncode == 0, ok
    with tarfile.open(out) as tf:
        assert len([m for m in tf.getmembers() if m.name.startswith("blobs/")]) == 1


def test_verify_include_exclude_does_not_report_unselected(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    hub_server.seed_repo("alice/p", {"a.txt": "a", "b.txt": "b", "c.bin": "c"})
    e = {"HF_ENDPOINT": hub_server.url, "HF_HUB_CACHE": str(tmp_path / "cache")}
    assert run_cli("download", "alice/p", "--include", "*.txt", env=e).returncode == 0
    res = run_cli("cache", "verify", "alice/p", "--include", "*.txt", "--json", env=e)
    doc = json.loads(res.stdout)
    assert res.returncode == 0 and doc["problems"] == [] and doc["files"] == 2, res
    res = run_cli("cache", "verify", "alice/p", "--exclude", "a.txt", "--json", env=e)
    doc = json.loads(res.stdout)
    assert doc["files"] == 1
    assert [(p["kind"], p["path"]) for p in doc["problems"]] == [("not_downloaded", "c.bin")]


def test_verify_local_dir(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    hub_server.seed_repo("alice/p", {"a.txt": "a", "sub/b.txt": "b", "c.bin": b"\x02" * 5000})
    e = {"HF_ENDPOINT": hub_server.url, "HF_HUB_CACHE": str(tmp_path / "cache")}
    d = tmp_path / "local"
    assert run_cli("download", "alice/p", "--local-dir", str(d), env=e).returncode == 0
    ok = run_cli("cache", "verify", "--local-dir", str(d), env=e)
    assert ok.returncode == 0 and "Verified 3 files" in ok.stdout, ok

    target = d / "sub" / "b.txt"
    st = target.stat()
    target.write_text("B")
    os.utime(target, (st.st_atime, st.st_mtime - 3600))  # an edit that kept an old mtime
    bad = run_cli("cache", "verify", "--local-dir", str(d), "--json", env=e)
    assert bad.returncode == 6, bad
    kinds = {(p["kind"], p["path"]) for p in json.loads(bad.stdout)["problems"]}
    assert kinds == {("modified", "sub/b.txt")}
    sel = run_cli("cache", "verify", "--local-dir", str(d), "--exclude", "sub/*", env=e)
    assert sel.returncode == 0, sel
    q = run_cli("cache", "verify", "--local-dir", str(d), "-q", env=e)
    assert q.returncode == 6 and q.stdout.split()[:2] == ["modified", "sub/b.txt"], q


def test_quiet_and_plurals(env: dict[str, str], run_cli: Any, tmp_path: Path) -> None:
    one = run_cli("cache", "verify", "datasets/bob/d", "--revision", "main", env=env)
    assert "in 1 revision of 1 repo " in one.stdout, one
    assert run_cli("cache", "verify", "-q", env=env).stdout == ""
    bundle = tmp_path / "m.tar"
    ex = run_cli("cache", "export", "alice/m", "-o", str(bundle), env=env)
    assert "1 revision, 2 files, 2 blobs" in ex.stdout, ex
    assert run_cli("cache", "rm", "alice/m", "--yes", "-q", env=env).stdout == ""
    imp = run_cli("cache", "import", str(bundle), "-q", env=env)
    assert imp.returncode == 0 and imp.stdout.split() == ["alice/m"], imp
    rm = run_cli("cache", "rm", "alice/m@main/config.json", "--yes", env=env)
    assert "Deleted 1 item," in rm.stdout or "Deleted 2 items," in rm.stdout, rm
    for cmd in (["prune", "--yes"], ["dedup"]):
        res = run_cli("cache", *cmd, "-q", env=env)
        assert res.returncode == 0 and res.stdout == "", (cmd, res)
