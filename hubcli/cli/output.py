"""Output conventions: results on stdout (human, --json, --quiet), talk and progress on stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def force_color() -> bool:
    """``FORCE_COLOR`` set to anything but empty, ``0`` or ``false``."""
    value = os.environ.get("FORCE_COLOR")
    return value is not None and value.strip().lower() not in ("", "0", "false", "no")


SCHEMA_VERSION = 1
"""The version of every ``--json`` document (docs/json.md); bumped on a breaking change (a field
removed, renamed or retyped), never for an added field."""


def versioned(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with the top-level ``schema_version`` first: the one place it is added."""
    if not isinstance(doc, dict):
        raise TypeError(f"a --json document is a JSON object, not {type(doc).__name__}")
    return {"schema_version": SCHEMA_VERSION, **doc}


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 file``, ``2 files``, ``0 items`` (``nouns`` for irregular plurals)."""
    return f"{n} {noun}" if n == 1 else f"{n} {nouns or noun + 's'}"


class ToJson(Protocol):
    """A result that knows its JSON form (every engine result type has ``to_json``)."""

    def to_json(self) -> Any: ...


class Output:
    """Where and how a command writes. ``color`` is 'auto', 'always' or 'never'."""

    def __init__(
        self,
        *,
        json_mode: bool = False,
        quiet: bool = False,
        color: str = "auto",
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        self.json_mode = json_mode
        self.quiet = quiet or json_mode
        self.color = color
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._console: Console | None = None
        self._err_console: Console | None = None

    @property
    def stdout_is_tty(self) -> bool:
        return _isatty(self.stdout)

    @property
    def stderr_is_tty(self) -> bool:
        return _isatty(self.stderr)

    @property
    def use_color(self) -> bool:
        """Colours: ``--color always/never`` wins; then ``NO_COLOR``, then ``FORCE_COLOR`` (what
        CI systems set), then whether stdout is a terminal."""
        if self.color in ("always", "never"):
            return self.color == "always"
        if os.environ.get("NO_COLOR"):
            return False
        return force_color() or self.stdout_is_tty

    @property
    def fancy(self) -> bool:
        """Boxes and styles (a terminal, ``--color always`` or ``FORCE_COLOR``); else a plain
        look made for pipes."""
        if self.color in ("always", "never"):
            return self.color == "always"
        return force_color() or self.stdout_is_tty

    @property
    def show_progress(self) -> bool:
        """Progress bars only for a human watching stderr."""
        return not self.quiet and self.stderr_is_tty

    def console(self) -> Console:
        """A Rich console on stdout: colours and boxes only for a terminal (or --color always)."""
        if self._console is None:
            from rich.console import Console

            fancy = self.use_color
            width = None if self.stdout_is_tty else int(os.environ.get("COLUMNS", "0") or 0) or 100
            self._console = Console(
                file=self.stdout,
                force_terminal=fancy or None,
                no_color=not fancy,
                color_system="auto" if fancy else None,
                width=width,
                highlight=False,
                soft_wrap=False,
            )
        return self._console

    def err_console(self) -> Console:
        if self._err_console is None:
            from rich.console import Console

            self._err_console = Console(file=self.stderr, highlight=False)
        return self._err_console

    # -- results ----------------------------------------------------------------------------
    def line(self, text: str = "") -> None:
        """One plain line of result on stdout."""
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def json(self, obj: dict[str, Any]) -> None:
        """Exactly one JSON document on stdout, with its ``schema_version``."""
        text = json.dumps(versioned(obj), indent=2, ensure_ascii=False, default=str)
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def result(
        self,
        doc: ToJson | dict[str, Any] | Callable[[], dict[str, Any]],
        human: Callable[[], None],
    ) -> None:
        """Emit a command's result: with ``--json`` exactly one JSON document on stdout (``doc``,
        ``doc.to_json()``, or ``doc()`` when building it is only worth it for JSON), otherwise
        whatever the ``human`` renderer prints."""
        if not self.json_mode:
            human()
        elif isinstance(doc, dict):
            self.json(doc)
        elif hasattr(doc, "to_json"):
            self.json(doc.to_json())
        else:
            self.json(doc())

    def stream(self, head: dict[str, Any], key: str, items: Iterable[dict[str, Any]]) -> None:
        """One JSON document whose ``key`` array is written item by item as ``items`` yields
        them (``head`` first, with the ``schema_version``). Nothing reaches stdout before the
        first item (or the end) did, so an error on the way leaves stdout empty."""
        it = iter(items)
        first = next(it, None)
        opening = json.dumps(versioned(head), ensure_ascii=False, default=str)[:-1]
        sep = ", " if len(opening) > 1 else ""
        self.stdout.write(f"{opening}{sep}{json.dumps(key)}: [")
        if first is None:
            self.stdout.write("]}\n")
            self.stdout.flush()
            return
        self.stdout.write("\n  " + json.dumps(first, ensure_ascii=False, default=str))
        self.stdout.flush()
        for item in it:
            self.stdout.write(",\n  " + json.dumps(item, ensure_ascii=False, default=str))
            self.stdout.flush()
        self.stdout.write("\n]}\n")
        self.stdout.flush()

    # -- talk -------------------------------------------------------------------------------
    def info(self, message: str) -> None:
        """A message for the human, on stderr; silent with --quiet / --json."""
        if not self.quiet:
            self.stderr.write(message + "\n")
            self.stderr.flush()

    def warn(self, message: str) -> None:
        """A warning on stderr, shown even with --quiet (but one line)."""
        self.stderr.write(f"warning: {message}\n")
        self.stderr.flush()
