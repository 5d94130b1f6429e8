"""hubcli.cli.common: shared options, the size option, the worker alias, the one confirm prompt."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from hubcli.cli.common import (
    MaxWorkersOpt,
    WorkersAliasOpt,
    confirm,
    make_typer,
    max_workers,
    size_option,
    size_option_value,
)
from hubcli.cli.output import Output
from hubcli.errors import UsageError


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_size_option_value() -> None:
    assert size_option_value("2GiB") == 2 * 2**30 and size_option_value(7) == 7
    with pytest.raises(typer.BadParameter, match=r"3MB .* 3MiB"):
        size_option_value("3M")


def _app() -> typer.Typer:
    app = make_typer()

    @app.command()
    def run(
        budget: Annotated[int, size_option("--max-size", help="A budget.")] = 0,
        workers: MaxWorkersOpt = None,
        workers_alias: WorkersAliasOpt = None,
    ) -> None:
        typer.echo(f"{budget} {max_workers(workers, workers_alias)}")

    return app


def test_options_through_typer() -> None:
    runner = CliRunner()
    app = _app()
    assert runner.invoke(app, ["--max-size", "1.5MB"]).output == "1500000 8\n"
    assert runner.invoke(app, ["--max-workers", "3"]).output == "0 3\n"
    assert runner.invoke(app, ["--workers", "4"]).output == "0 4\n"  # the hidden alias
    bad = runner.invoke(app, ["--max-size", "2G"])
    assert bad.exit_code == 2 and "2GB" in bad.output and "2GiB" in bad.output
    assert runner.invoke(app, ["--max-workers", "2", "--workers", "3"]).exit_code == 2
    help_text = runner.invoke(app, ["--help"]).output
    assert "--max-workers" in help_text and "--workers" not in help_text and "SIZE" in help_text


def test_max_workers() -> None:
    assert max_workers(None, None) == 8 and max_workers(None, None, default=2) == 2
    assert max_workers(3, None) == 3 and max_workers(None, 5) == 5 and max_workers(4, 4) == 4
    with pytest.raises(typer.BadParameter):
        max_workers(65, None, maximum=64)


def test_confirm_yes_skips_the_question(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    confirm("delete everything", yes=True)


def test_confirm_refuses_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    with pytest.raises(UsageError) as info:
        confirm("delete everything", yes=False, hint="Pass --yes to confirm.")
    assert info.value.exit_code == 2 and "stdin is not a terminal" in str(info.value)
    assert info.value.hint is not None and "--yes" in info.value.hint


@pytest.mark.parametrize(
    ("answer", "ok"), [("y\n", True), ("YES\n", True), ("n\n", False), ("", False)]
)
def test_confirm_asks_in_a_terminal(monkeypatch: pytest.MonkeyPatch, answer: str, ok: bool) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stdin", _Tty(answer))
    monkeypatch.setattr("sys.stderr", err)
    if ok:
        confirm("delete x", yes=False)
    else:
        with pytest.raises(typer.Exit) as info:
            confirm("delete x", yes=False)
        assert info.value.exit_code == 1 and "nothing changed" in err.getvalue()
    assert err.getvalue().startswith("Really delete x? [y/N] ")


class _Result:
    def to_json(self) -> dict[str, int]:
        return {"n": 1}


@pytest.mark.parametrize("json_mode", [True, False])
@pytest.mark.parametrize("doc", [_Result(), {"n": 1}, lambda: {"n": 1}])
def test_result_is_json_or_human(doc: object, json_mode: bool) -> None:
    buf = io.StringIO()
    out = Output(json_mode=json_mode, stdout=buf)
    out.result(doc, lambda: out.line("human"))  # type: ignore[arg-type]
    expected = '{\n  "schema_version": 1,\n  "n": 1\n}\n'
    assert buf.getvalue() == (expected if json_mode else "human\n")


def test_result_refuses_a_bare_list() -> None:
    """Every document is an object: its schema_version sits at the top (docs/json.md)."""
    out = Output(json_mode=True, stdout=io.StringIO())
    with pytest.raises(TypeError):
        out.result(lambda: [1], lambda: None)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize("items", [[], [{"id": "a"}], [{"id": "a"}, {"id": "b"}]])
def test_stream_is_one_versioned_document(items: list[dict[str, str]]) -> None:
    buf = io.StringIO()
    Output(json_mode=True, stdout=buf).stream({"repo_type": "model"}, "results", iter(items))
    assert json.loads(buf.getvalue()) == {
        "schema_version": 1,
        "repo_type": "model",
        "results": items,
    }


def test_stream_writes_nothing_before_the_first_item() -> None:
    buf = io.StringIO()

    def failing() -> Iterator[dict[str, str]]:
        raise RuntimeError("first page failed")
        yield {}

    with pytest.raises(RuntimeError):
        Output(json_mode=True, stdout=buf).stream({}, "results", failing())
    assert buf.getvalue() == ""
