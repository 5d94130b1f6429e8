"""docs/ci.md: its YAML parses, and the recipes' hubcli shell steps run verbatim in bash against
the local hub (a cold run with a token fills the cache; an exact hit, with no token, makes no
request). Only the environment around the steps (endpoint, cache, PATH to `hubcli`) is ours."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _yaml_blocks() -> list[dict[str, Any]]:
    text = (ROOT / "docs" / "ci.md").read_text()
    blocks = re.findall(r"```yaml\n(.+?)\n```", text, flags=re.S)
    assert len(blocks) == 2, "docs/ci.md has a GitHub Actions and a GitLab CI recipe"
    return [yaml.safe_load(b) for b in blocks]


def _hubcli_lines(lines: list[str]) -> list[str]:
    """The recipe's shell steps that run hubcli (installing it is the test's job)."""
    return [line for line in lines if "hubcli" in line and not line.startswith("pip install")]


def _github_steps() -> list[str]:
    workflow = _yaml_blocks()[0]
    steps = workflow["jobs"]["test"]["steps"]
    return _hubcli_lines([s["run"] for s in steps if "run" in s])


def _project(tmp_path: Path, hub: Any) -> Path:
    hub.seed_repo("alice/private", {"config.json": '{"a": 1}', "w.safetensors": b"w" * 5000})
    hub.set_repo_meta("alice/private", private=True)
    hub.seed_repo("alice/gated", {"config.json": '{"g": 1}'}, gated=True)
    hub.grant_access("alice/gated", "alice")
    project = tmp_path / "project"
    project.mkdir()
    (project / "hubcli.toml").write_text(
        '[[repo]]\nid = "alice/private"\n\n[[repo]]\nid = "alice/gated"\ninclude = ["*.json"]\n'
    )
    env = _env(tmp_path, hub, token=hub.alice_token)
    lock = subprocess.run(
        [sys.executable, "-m", "hubcli", "lock"], cwd=project, env=env, capture_output=True
    )
    assert lock.returncode == 0, lock.stderr
    return project


def _env(tmp_path: Path, hub: Any, *, token: str | None, **extra: str) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / "hubcli"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hubcli "$@"\n')
    exe.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    env.update(PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", HF_ENDPOINT=hub.url, **extra)
    if token:
        env["HF_TOKEN"] = token
    return env


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--norc", "--noprofile", "-e", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_recipes_parse() -> None:
    github, gitlab = _yaml_blocks()
    names = [
        s.get("name") or s.get("run") or s.get("uses") for s in github["jobs"]["test"]["steps"]
    ]
    assert any("cache/restore" in str(s.get("uses")) for s in github["jobs"]["test"]["steps"])
    assert "Sync the locked models" in names
    sync = next(s for s in github["jobs"]["test"]["steps"] if s.get("name") == names[-3])
    assert sync["run"] == "hubcli sync --frozen" and "HF_TOKEN" in sync["env"]
    assert gitlab["test"]["cache"]["key"]["files"] == ["hubcli.lock"]
    assert "hubcli sync --frozen" in gitlab["test"]["before_script"]


def test_github_recipe_cold_then_exact_hit_without_token(tmp_path: Path, hub_server: Any) -> None:
    project = _project(tmp_path, hub_server)
    steps = _github_steps()
    assert steps[-1] == "hubcli sync --frozen"
    cache = tmp_path / "home" / ".cache" / "huggingface" / "hub"  # the path the recipe caches
    for run, token in (("cold", hub_server.alice_token), ("hit", None)):
        output = tmp_path / f"github_output_{run}"
        env = _env(
            tmp_path,
            hub_server,
            token=token,
            HOME=str(tmp_path / "home"),
            HF_HOME=str(tmp_path / "home" / ".cache" / "huggingface"),
            GITHUB_OUTPUT=str(output),
        )
        env.pop("HF_HUB_CACHE", None)
        hub_server.clear_requests()
        for step in steps:
            res = _bash(step, project, env)
            assert res.returncode == 0, (step, res.stderr)
        key = output.read_text().strip()
        assert re.fullmatch(r"key=hf-hubcli-[0-9a-f]{32}", key), key
        if run == "hit":
            assert hub_server.requests() == []  # an exact hit: no request, no token
    snaps = list((cache / "models--alice--private" / "snapshots").iterdir())
    assert [p.name for p in snaps] == [hub_server.head("alice/private")]
    assert (snaps[0] / "w.safetensors").read_bytes() == b"w" * 5000


def test_gitlab_recipe_runs_verbatim(tmp_path: Path, hub_server: Any) -> None:
    project = _project(tmp_path, hub_server)
    job = _yaml_blocks()[1]["test"]
    variables = {k: v.replace("$CI_PROJECT_DIR", str(project)) for k, v in job["variables"].items()}
    for run, token in (("cold", hub_server.alice_token), ("hit", None)):
        env = _env(tmp_path, hub_server, token=token, CI_PROJECT_DIR=str(project), **variables)
        env.pop("HF_HUB_CACHE", None)
        hub_server.clear_requests()
        for line in _hubcli_lines(job["before_script"]):
            res = _bash(line, project, env)
            assert res.returncode == 0, (line, res.stderr)
        if run == "hit":
            assert hub_server.requests() == []
    cached = project / job["cache"]["paths"][0] / "models--alice--gated"
    assert (cached / "refs" / "main").read_text() == hub_server.head("alice/gated")
