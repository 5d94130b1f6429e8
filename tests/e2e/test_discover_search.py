"""`hubcli search` end to end against the local hub: filters, sorts, pagination, output modes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from typing import Any

import pytest

ANSI = re.compile(r"\x1b\[")
BOX = set("─│╭╮╰╯┌┐└┘├┤┬┴┼━┃")
LONG_ID = "alice/a-model-with-a-really-long-name-that-does-not-fit-in-a-narrow-terminal"


def seed_catalog(hub: Any) -> None:
    """Five models, a dataset and a Space with distinct downloads, likes and creation dates."""
    models = [
        # id, pipeline_tag, library, downloads, likes, created
        (
            "alice/tiny-sentiment",
            "text-classification",
            "transformers",
            1_234_567,
            42,
            "2024-01-01",
        ),
        ("bob/gpt-mini", "text-generation", "transformers", 99, 500, "2023-06-01"),
        ("carol/vision-net", "image-classification", "timm", 5_000, 7, "2024-06-01"),
        ("alice/old-thing", "fill-mask", "transformers", 10, 0, "2020-02-02"),
        (LONG_ID, "text-generation", "transformers", 7, 3, "2022-03-03"),
    ]
    for repo_id, task, lib, downloads, likes, created in models:
        card = f"---\npipeline_tag: {task}\nlibrary_name: {lib}\nlicense: mit\n---\n# {repo_id}\n"
        hub.seed_repo(
            repo_id,
            {"README.md": card, "config.json": "{}"},
            downloads=downloads,
            likes=likes,
            created_at=f"{created}T00:00:00.000Z",
        )
    hub.seed_repo(
        "alice/squad-mini",
        {"README.md": "---\ntask_categories: [question-answering]\n---\n# data\n"},
        repo_type="dataset",
        downloads=321,
    )
    hub.seed_repo(
        "alice/demo",
        {"README.md": "---\nsdk: gradio\napp_file: app.py\n---\n", "app.py": "print(1)\n"},
        repo_type="space",
        likes=9,
    )


@pytest.fixture
def hub(hub_server: Any) -> Any:
    seed_catalog(hub_server)
    return hub_server


def ids(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line]


def env_for(hub: Any, **extra: str) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, **extra}


CASES: list[tuple[list[str], list[str]]] = [
    (
        ["--sort", "downloads"],
        [
            "alice/tiny-sentiment",
            "carol/vision-net",
            "bob/gpt-mini",
            "alice/old-thing",
            LONG_ID,
        ],
    ),
    (
        ["--sort", "likes"],
        [
            "bob/gpt-mini",
            "alice/tiny-sentiment",
            "carol/vision-net",
            LONG_ID,
            "alice/old-thing",
        ],
    ),
    (
        ["--sort", "created"],
        [
            "carol/vision-net",
            "alice/tiny-sentiment",
            "bob/gpt-mini",
            LONG_ID,
            "alice/old-thing",
        ],
    ),
    (
        ["--sort", "downloads", "--asc"],
        [
            LONG_ID,
            "alice/old-thing",
            "bob/gpt-mini",
            "carol/vision-net",
            "alice/tiny-sentiment",
        ],
    ),
    (["--task", "text-generation", "--sort", "likes"], ["bob/gpt-mini", LONG_ID]),
    (["--library", "timm"], ["carol/vision-net"]),
    (
        ["--author", "alice", "--sort", "downloads"],
        ["alice/tiny-sentiment", "alice/old-thing", LONG_ID],
    ),
    (["tiny"], ["alice/tiny-sentiment"]),
    (["--filter", "fill-mask", "--filter", "license:mit"], ["alice/old-thing"]),
    (["--sort", "likes", "--limit", "2"], ["bob/gpt-mini", "alice/tiny-sentiment"]),
    (["--type", "dataset"], ["alice/squad-mini"]),
    (["--type", "space", "--sort", "likes"], ["alice/demo"]),
    (["no-such-thing"], []),
]


def test_filters_and_sorts_in_order(run_cli: Any, hub: Any) -> None:
    """Every case is its own CLI run; they run side by side to keep the suite fast."""
    from concurrent.futures import ThreadPoolExecutor

    def one(flags: list[str]) -> Any:
        return run_cli("search", *flags, "-q", env=env_for(hub))

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(one, [flags for flags, _ in CASES]))
    for (flags, expected), res in zip(CASES, results, strict=True):
        assert res.returncode == 0, (flags, res)
        assert ids(res.stdout) == expected, flags
        assert res.stderr == "", flags


def test_sort_sends_hub_names_and_no_direction_by_default(run_cli: Any, hub: Any) -> None:
    hub.clear_requests()
    assert run_cli("search", "--sort", "trending", "-q", env=env_for(hub)).returncode == 0
    assert run_cli("search", "--sort", "modified", "--asc", "-q", env=env_for(hub)).returncode == 0
    paths = [r["path"] for r in hub.requests() if r["path"].startswith("/api/models")]
    assert "sort=trendingScore" in paths[0] and "direction" not in paths[0]
    assert "sort=lastModified" in paths[1] and "direction=1" in paths[1]
    assert "expand=lastModified" in paths[0]


def test_pagination_is_lazy_and_complete(run_cli: Any, hub: Any) -> None:
    hub.page_size = 2
    hub.clear_requests()
    res = run_cli("search", "--limit", "0", "--sort", "downloads", "-q", env=env_for(hub))
    assert res.returncode == 0, res
    assert len(ids(res.stdout)) == 5
    listing = [r for r in hub.requests() if r["path"].startswith("/api/models")]
    assert len(listing) == 3  # pages of 2, 2, 1 followed through Link headers
    assert all("cursor=" in r["path"] for r in listing[1:])

    hub.clear_requests()
    res = run_cli("search", "--limit", "3", "--sort", "downloads", "-q", env=env_for(hub))
    assert ids(res.stdout) == ["alice/tiny-sentiment", "carol/vision-net", "bob/gpt-mini"]
    listing = [r for r in hub.requests() if r["path"].startswith("/api/models")]
    assert len(listing) == 2  # stops as soon as --limit is reached


def test_json_shape_exact_numbers(run_cli: Any, hub: Any) -> None:
    res = run_cli("search", "--sort", "downloads", "--json", env=env_for(hub))
    assert res.returncode == 0, res
    full = json.loads(res.stdout)
    assert full["schema_version"] == 1 and full["repo_type"] == "model"
    doc = full["results"]
    assert isinstance(doc, list) and len(doc) == 5
    for item in doc:
        for key in ("id", "repo_type", "downloads", "likes", "last_modified", "tags"):
            assert key in item, (key, item)
        assert item["repo_type"] == "model"
        assert isinstance(item["tags"], list)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", item["last_modified"])
    top = doc[0]
    assert top["id"] == "alice/tiny-sentiment"
    assert top["downloads"] == 1_234_567 and top["likes"] == 42
    assert top["pipeline_tag"] == "text-classification"
    assert "license:mit" in top["tags"]
    assert LONG_ID in [d["id"] for d in doc]  # never truncated in JSON

    empty = run_cli("search", "nothing-matches", "--json", env=env_for(hub))
    assert json.loads(empty.stdout) == {"schema_version": 1, "repo_type": "model", "results": []}


def test_table_in_a_pipe_is_plain_and_fits(run_cli: Any, hub: Any) -> None:
    res = run_cli("search", "--sort", "downloads", env=env_for(hub, COLUMNS="100"))
    assert res.returncode == 0, res
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["id", "task", "downloads", "likes", "updated", "size"]
    assert not ANSI.search(res.stdout) and not (set(res.stdout) & BOX)
    assert all(len(line) <= 100 for line in lines)
    first = lines[1]
    assert first.startswith("alice/tiny-sentiment")
    assert "text-classification" in first and "1.2M" in first and "42" in first
    assert any(line.startswith("carol/vision-net") and " 5k " in line for line in lines)
    assert "5 results" in res.stderr


def test_long_names_truncated_in_tables_only(run_cli: Any, hub: Any) -> None:
    narrow = run_cli("search", "--author", "alice", env=env_for(hub, COLUMNS="60"))
    assert narrow.returncode == 0, narrow
    assert all(len(line) <= 60 for line in narrow.stdout.splitlines())
    assert LONG_ID not in narrow.stdout
    assert "alice/a-model-with-a-really-long" in narrow.stdout and "…" in narrow.stdout
    quiet = run_cli("search", "--author", "alice", "-q", env=env_for(hub, COLUMNS="60"))
    assert LONG_ID in ids(quiet.stdout)


def test_color_always_forces_styles_in_a_pipe(run_cli: Any, hub: Any) -> None:
    res = run_cli("--color", "always", "search", env=env_for(hub))
    assert res.returncode == 0, res
    assert ANSI.search(res.stdout)
    never = run_cli("--color", "never", "search", env=env_for(hub))
    assert not ANSI.search(never.stdout)


def test_bad_flags_are_usage_errors(run_cli: Any, hub: Any) -> None:
    res = run_cli("search", "--type", "space", "--sort", "downloads", env=env_for(hub))
    assert res.returncode == 2
    assert "likes or trending" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("search", "--sort", "stars", env=env_for(hub))
    assert res.returncode == 2 and "Unknown sort" in res.stderr


def test_first_row_arrives_before_the_last_page(hub_server: Any, tmp_path: Any) -> None:
    """Time to first row is one request: rows print while later pages are still on the wire."""
    seed_catalog(hub_server)
    hub_server.page_size = 1
    hub_server.set_knobs(latency_ms=400)
    env = dict(os.environ, HF_ENDPOINT=hub_server.url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubcli", "search", "--limit", "0", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(tmp_path),
    )
    try:
        assert proc.stdout is not None
        start = time.monotonic()
        first = proc.stdout.readline()
        waited = time.monotonic() - start
        still_running = proc.poll() is None
        rest, _err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert first.strip()
    assert still_running, "the first id should be printed before the remaining 4 pages arrive"
    assert len([x for x in rest.splitlines() if x]) == 4
    assert waited < 5 * 0.4 + 5  # not everything fetched first (generous for slow machines)
