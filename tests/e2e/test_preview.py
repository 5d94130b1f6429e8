"""`hubcli preview`: the first rows of a dataset split, end to end against the local hub."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

BIG_CSV = "id,text,score\n" + "".join(
    f'{i},"row {i}, with a comma",{i / 4}\n' for i in range(150_000)
)
JSONL = "".join(json.dumps({"q": f"question {i}", "tags": [i, i + 1]}) + "\n" for i in range(40))
HUGE_CELL = "x" * 100_000


@pytest.fixture
def hub(hub_server: Any) -> Any:
    hub_server.seed_repo(
        "alice/big",
        {"data/train.csv": BIG_CSV, "data/test.csv": "id,text,score\n7,seven,1.5\n"},
        repo_type="dataset",
    )
    hub_server.seed_repo(
        "alice/qa",
        {
            "README.md": "# qa\n",
            "train.jsonl": JSONL,
            "validation.json.gz": gzip.compress(json.dumps([{"x": i} for i in range(30)]).encode()),
            "test.jsonl": json.dumps({"q": HUGE_CELL}) + "\n",
        },
        repo_type="dataset",
    )
    hub_server.seed_repo(
        "alice/pq", {"data/train-00000-of-00001.parquet": b"PAR1" + b"\0" * 64 + b"PAR1"},
        repo_type="dataset",
    )  # fmt: skip
    hub_server.seed_repo("alice/arrow", {"data/train.arrow": b"\0" * 64}, repo_type="dataset")
    return hub_server


def env_for(hub: Any, **extra: str) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "COLUMNS": "120", **extra}


def test_csv_first_rows_with_ranged_reads(run_cli: Any, hub: Any) -> None:
    hub.clear_requests()
    res = run_cli("preview", "datasets/alice/big", "-n", "3", env=env_for(hub))
    assert res.returncode == 0, res
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["id", "(int)", "text", "(str)", "score", "(float)"]
    assert lines[1].split() == ["0", "row", "0,", "with", "a", "comma", "0.0"]
    assert len(lines) == 4
    assert "default/train: data/train.csv" in res.stderr
    data = [r for r in hub.requests() if "/resolve/" in r["path"] or r["origin"] == "cdn"]
    assert data and all(r["range"] for r in data)
    served = sum(r["bytes"] for r in data)
    assert served < len(BIG_CSV) / 10, served  # ~64 KiB of ~4 MB


def test_jsonl_json_gz_and_cell_caps(run_cli: Any, hub: Any) -> None:
    res = run_cli("preview", "alice/qa", "--json", "-n", "2", env=env_for(hub))
    assert res.returncode == 0, res
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert rows == [{"q": "question 0", "tags": [0, 1]}, {"q": "question 1", "tags": [1, 2]}]
    res = run_cli("preview", "alice/qa", "--split", "validation", "--json", env=env_for(hub))
    assert res.returncode == 0, res
    assert [json.loads(line) for line in res.stdout.splitlines()] == [{"x": i} for i in range(10)]
    res = run_cli("preview", "alice/qa", "--split", "test", "--json", env=env_for(hub))
    cell = json.loads(res.stdout)["q"]
    assert len(cell) == 2000 and cell.endswith("…")
    table = run_cli("preview", "alice/qa", "--split", "test", env=env_for(hub))
    assert table.returncode == 0 and max(len(line) for line in table.stdout.splitlines()) <= 120


def test_offline_after_download(run_cli: Any, hub: Any) -> None:
    assert run_cli("download", "datasets/alice/qa", env=env_for(hub)).returncode == 0
    hub.clear_requests()
    res = run_cli("preview", "alice/qa", "-n", "1", "--offline", "--json", env=env_for(hub))
    assert res.returncode == 0, res
    assert json.loads(res.stdout) == {"q": "question 0", "tags": [0, 1]}
    assert hub.requests() == []
    miss = run_cli("preview", "alice/big", "--offline", env=env_for(hub))
    assert miss.returncode == 7 and "Traceback" not in miss.stderr


def test_bad_input_one_line_distinct_codes(run_cli: Any, hub: Any) -> None:
    cases = [
        (("alice/big", "--split", "dev"), 4, "no split 'dev'"),
        (("alice/big", "--config", "xx"), 4, "no config 'xx'"),
        (("alice/big", "-n", "0"), 2, "-n must be"),
        (("alice/arrow",), 2, "not arrow files"),
        (("alice/nope",), 3, "not found"),
        (("spaces/alice/x",), 2, "preview reads datasets"),
    ]
    for args, code, text in cases:
        res = run_cli("preview", *args, env=env_for(hub))
        assert res.returncode == code, (args, res)
        assert text in res.stderr and "Traceback" not in res.stderr, res
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_parquet_without_pyarrow_says_what_to_install(
    run_cli: Any, hub: Any, tmp_path: Path
) -> None:
    # pyarrow is in the test extras; a package of that name that fails to import stands for a
    # machine without it (first on the subprocess's path).
    blocker = tmp_path / "no_pyarrow" / "pyarrow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('pyarrow is not installed here')\n")
    path = os.pathsep.join(p for p in (str(blocker.parent), os.environ.get("PYTHONPATH")) if p)
    res = run_cli("preview", "alice/pq", env=env_for(hub, PYTHONPATH=path))
    assert res.returncode == 2, res
    assert "needs pyarrow" in res.stderr and "pip install pyarrow" in res.stderr
    assert "Traceback" not in res.stderr


def test_parquet_reads_footer_and_first_row_group_only(
    run_cli: Any, hub_server: Any, tmp_path: Any
) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    n = 1_000_000
    table = pa.table({"id": list(range(n)), "blob": [f"{i:048d}" for i in range(n)]})
    path = tmp_path / "train.parquet"
    pq.write_table(table, path, row_group_size=n // 25, compression="none")
    data = path.read_bytes()
    assert len(data) > 50_000_000
    hub_server.seed_repo("alice/bigpq", {"data/train.parquet": data}, repo_type="dataset")
    hub_server.clear_requests()
    res = run_cli("preview", "alice/bigpq", "-n", "3", "--json", env=env_for(hub_server))
    assert res.returncode == 0, res
    assert [json.loads(line)["id"] for line in res.stdout.splitlines()] == [0, 1, 2]
    served = sum(r["bytes"] for r in hub_server.requests() if r["range"])
    assert served < len(data) / 10, served
