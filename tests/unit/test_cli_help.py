"""Every command's --help has an Examples section, and every command with --json has its JSON
schema in docs/json.md (issue 13)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import typer
from typer.testing import CliRunner

from hubcli.cli.app import build_app
from hubcli.cli.common import EXAMPLES
from hubcli.cli.docgen import _paths

ROOT = Path(__file__).resolve().parents[2]


def _root() -> Any:
    return typer.main.get_command(build_app(None))


def _command(path: tuple[str, ...]) -> Any:
    cmd = _root()
    for name in path:
        cmd = cmd.commands[name]
    return cmd


PATHS = list(_paths(_root()))


def _has_json(cmd: Any) -> bool:
    return any("--json" in getattr(p, "opts", ()) for p in getattr(cmd, "params", ()))


JSON_COMMANDS = [" ".join(p) for p in PATHS if p and _has_json(_command(p))]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "hubcli")
def test_every_help_has_examples(path: tuple[str, ...]) -> None:
    with mock.patch.dict(os.environ, {"COLUMNS": "100", "NO_COLOR": "1"}):
        res = CliRunner().invoke(build_app(None), [*path, "--help"], prog_name="hubcli")
    assert res.exit_code == 0, res.output
    _, found, examples = res.output.partition("\nExamples:\n")
    if not found:
        _, found, examples = res.output.partition("  Examples:\n")
    assert found, f"hubcli {' '.join(path)} --help has no Examples section"
    lines = [line.strip() for line in examples.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, lines
    # each line is a command to copy: it runs hubcli (maybe after an assignment or env)
    assert all("hubcli" in line for line in lines), lines
    if path:  # and shows this very command
        assert any(f"hubcli {' '.join(path)}" in line for line in lines), lines


def test_examples_name_only_real_commands() -> None:
    known = {" ".join(p) for p in PATHS}
    assert [k for k in EXAMPLES if k not in known] == []


def test_every_json_command_is_documented() -> None:
    text = (ROOT / "docs" / "json.md").read_text()
    documented = set(re.findall(r"^## `hubcli ([^`]+)`$", text, flags=re.M))
    assert "search" in JSON_COMMANDS and "cache ls" in JSON_COMMANDS
    missing = [c for c in JSON_COMMANDS if c not in documented]
    assert missing == [], f"add these to docs/json.md: {missing}"
    commands = {" ".join(p) for p in PATHS}
    assert documented <= commands, documented - commands


def test_json_doc_states_the_version_and_the_error_form() -> None:
    from hubcli.cli.output import SCHEMA_VERSION

    text = (ROOT / "docs" / "json.md").read_text()
    assert f'"schema_version": {SCHEMA_VERSION}' in text
    assert '{"error": {"code":' in text


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in PATHS
        # serve runs a server and completion prints a shell script: neither has a result
        if p and p[0] not in ("serve", "completion") and not hasattr(_command(p), "commands")
    ],
    ids=lambda p: " ".join(p),
)
def test_every_result_command_has_json(path: tuple[str, ...]) -> None:
    """--json on every command that has a result."""
    assert _has_json(_command(path)), f"hubcli {' '.join(path)} has no --json"
