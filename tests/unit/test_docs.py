"""Docs that cannot drift: README test command == CI; exit-code table == the error tree."""

from __future__ import annotations

import re
from pathlib import Path

from hubcli.errors import EXIT_CODES

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)


def test_ci_runs_the_readme_test_command() -> None:
    commands = _readme_commands()
    assert len(commands) >= 2
    test_command = commands[1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def test_exit_code_tables_match_error_tree() -> None:
    for doc in ("README.md", "docs/configuration.md"):
        text = (ROOT / doc).read_text()
        for code, meaning in EXIT_CODES:
            assert f"| {code} | {meaning} |" in text, (doc, code)


def test_cli_reference_is_generated_from_the_current_help() -> None:
    from hubcli.cli.docgen import render_cli_docs

    current = (ROOT / "docs" / "cli.md").read_text()
    assert current == render_cli_docs(), (
        "docs/cli.md is stale: run `python -m hubcli.cli.docgen > docs/cli.md`"
    )
    for command in ("upload", "download", "cache repair", "repo tag create", "serve"):
        assert f"## `hubcli {command}`" in current
