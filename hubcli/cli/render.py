"""Rendering for humans: Rich tables, panels and Markdown, human numbers, widths and truncation.

Two looks: *fancy* (a terminal, or ``--color always``): colours, boxes, clickable links; and *plain*
(a pipe): no colours, no box drawing, links written out as ``text (url)``. Truncation with an
ellipsis happens here, in tables only; ``--json`` and ``--quiet`` never come through this module.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from hubcli.units import human_size as human_size  # re-exported: tables show sizes

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
    from rich.table import Table

    from hubcli.card import Card
    from hubcli.discover import SearchHit
    from hubcli.models import DirEntry, FileEntry

MAX_RENDERED_BODY = 256 * 1024
"""Card bodies longer than this are cut for display (the full text stays in --raw / --json)."""


# -- numbers ------------------------------------------------------------------------------------
def human_count(n: int | float | None) -> str:
    """1234 -> '1.2k', 1_200_000 -> '1.2M'; exact below 1000; '-' for unknown."""
    if n is None:
        return "-"
    value = float(n)
    if abs(value) < 1000:
        return str(int(value)) if value == int(value) else f"{value:.1f}"
    for unit in ("k", "M", "B", "T"):
        value /= 1000.0
        if abs(value) < 999.95 or unit == "T":
            text = f"{value:.1f}".removesuffix(".0")
            return f"{text}{unit}"
    return str(n)  # pragma: no cover


def short_date(value: str | None) -> str:
    """An ISO timestamp as YYYY-MM-DD ('-' if absent; the raw text if unparsable)."""
    if not value:
        return "-"
    try:
        return _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        return value[:10]


def emit(console: Console, renderable: RenderableType, *, fancy: bool) -> None:
    """Print ``renderable``; in plain mode without the trailing spaces Rich pads lines with."""
    if fancy:
        console.print(renderable, crop=False)
        return
    with console.capture() as capture:
        console.print(renderable, crop=False)  # a long code line stays one line
    text = "\n".join(line.rstrip() for line in capture.get().split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)  # one blank line between blocks is enough
    console.file.write(text)
    console.file.flush()


# -- streaming tables ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    header: str
    width: int
    justify: str = "left"
    style: str = ""
    grow: bool = False
    drop: int = 0
    """Narrow terminals drop columns with the highest ``drop`` first (0 = never dropped)."""


class RowPrinter:
    """Prints a table row by row with fixed column widths, so rows can stream as pages arrive.

    The one ``grow`` column takes the width left by the others. Cells longer than their column are
    cut with an ellipsis.
    """

    GAP = 2
    MIN_GROW = 24

    def __init__(self, console: Console, columns: Sequence[Column], *, fancy: bool) -> None:
        self.console = console
        self.fancy = fancy
        total = max(console.width, 20)
        cols = list(columns)
        while True:
            fixed = sum(c.width for c in cols if not c.grow) + self.GAP * (len(cols) - 1)
            droppable = [c for c in cols if c.drop]
            if fixed + self.MIN_GROW <= total or not droppable:
                break
            cols.remove(max(droppable, key=lambda c: c.drop))
        spare = max(8, total - fixed)
        self.columns = [
            Column(c.header, spare if c.grow else c.width, c.justify, c.style, c.grow, c.drop)
            for c in cols
        ]
        self.keep = [columns.index(c) for c in cols]
        self.rows = 0

    def _line(self, cells: Sequence[str], styles: Sequence[str]) -> Any:
        from rich.text import Text

        line = Text(no_wrap=True, overflow="ellipsis", end="\n")
        for i, (col, cell, style) in enumerate(zip(self.columns, cells, styles, strict=True)):
            if i:
                line.append(" " * self.GAP)
            text = Text(cell.replace("\n", " "), style=style if self.fancy else "")
            text.truncate(col.width, overflow="ellipsis")
            pad = " " * max(0, col.width - text.cell_len)
            if col.justify == "right":
                line.append(pad)
                line.append_text(text)
            else:
                line.append_text(text)
                if i < len(self.columns) - 1:
                    line.append(pad)
        return line

    def header(self) -> None:
        heads = [c.header for c in self.columns]
        self.console.print(self._line(heads, ["bold"] * len(heads)), soft_wrap=True)
        if self.fancy:
            width = sum(c.width for c in self.columns) + self.GAP * (len(self.columns) - 1)
            self.console.print("─" * width, style="dim", soft_wrap=True)

    def row(self, cells: Sequence[str]) -> None:
        """Print one row; ``cells`` has one value per column given at construction."""
        styles = [c.style for c in self.columns]
        kept = [cells[i] for i in self.keep]
        self.console.print(self._line(kept, styles), soft_wrap=True)
        self.rows += 1


SEARCH_COLUMNS = (
    Column("id", 0, style="bold cyan", grow=True),
    Column("task", 20, style="magenta", drop=2),
    Column("downloads", 9, justify="right", style="green"),
    Column("likes", 6, justify="right", style="yellow", drop=1),
    Column("updated", 10, drop=3),
    Column("size", 9, justify="right", drop=4),
)


def search_printer(console: Console, *, fancy: bool, repo_type: str = "model") -> RowPrinter:
    """Rows of search hits; for Spaces the second column is the SDK, and is labelled so."""
    columns = SEARCH_COLUMNS
    if repo_type == "space":
        columns = (columns[0], Column("sdk", 10, style="magenta", drop=2), *columns[2:])
    return RowPrinter(console, columns, fancy=fancy)


def search_cells(hit: SearchHit) -> list[str]:
    return [
        hit.id,
        hit.kind or "-",
        human_count(hit.downloads),
        human_count(hit.likes),
        short_date(hit.last_modified),
        human_size(hit.size),
    ]


# -- generic tables -----------------------------------------------------------------------------
def new_table(*, fancy: bool, title: str | None = None, show_header: bool = True) -> Table:
    """A Rich table: rounded boxes in a terminal, bare aligned columns in a pipe."""
    from rich import box
    from rich.table import Table

    return Table(
        title=title,
        box=box.ROUNDED if fancy else None,
        show_header=show_header,
        header_style="bold" if fancy else "",
        title_style="bold" if fancy else "",
        pad_edge=fancy,
        show_edge=fancy,
        expand=False,
    )


def key_value_table(rows: Iterable[tuple[str, str]], *, fancy: bool) -> Table:
    """Two columns, 'label  value', the value folding onto more lines if it is long."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold" if fancy else "", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def files_table(
    files: Sequence[FileEntry | DirEntry],
    *,
    fancy: bool,
    cached: set[str] | None = None,
    title: str | None = None,
) -> Table:
    """Path, size, LFS mark (and 'cached' when ``cached`` is given); long paths get an ellipsis."""
    from hubcli.models import DirEntry

    table = new_table(fancy=fancy, title=title)
    table.add_column("path", overflow="ellipsis", no_wrap=True, ratio=1, min_width=12)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("lfs", no_wrap=True)
    if cached is not None:
        table.add_column("cached", no_wrap=True)
    for entry in files:
        if isinstance(entry, DirEntry):
            cells = [entry.path + "/", "-", ""]
        else:
            cells = [entry.path, human_size(entry.size), "LFS" if entry.is_lfs else ""]
        if cached is not None:
            mark = "✓" if fancy else "yes"
            cells.append(mark if entry.path in cached else "")
        style = "blue" if fancy and isinstance(entry, DirEntry) else ""
        table.add_row(*cells, style=style or None)
    return table


# -- cards --------------------------------------------------------------------------------------
def metrics_table(card: Card, *, fancy: bool, limit: int = 20) -> Table | None:
    """model-index results as a small table (None when the card has none)."""
    from hubcli.card import metrics

    rows = metrics(card.metadata)
    if not rows:
        return None
    table = new_table(fancy=fancy)
    show_model = len({r.model for r in rows}) > 1
    if show_model:
        table.add_column("model", overflow="ellipsis", max_width=30)
    for name in ("task", "dataset", "split", "metric"):
        table.add_column(name, overflow="ellipsis", max_width=32)
    table.add_column("value", justify="right", no_wrap=True)
    for r in rows[:limit]:
        value = f"{r.value:.4g}" if isinstance(r.value, float) else str(r.value)
        cells = [r.task or "-", r.dataset or "-", r.split or "-", r.metric or "-", value]
        table.add_row(*([r.model or "-"] if show_model else []), *cells)
    if len(rows) > limit:
        extra = ["…"] * (len(table.columns) - 1)
        table.add_row(*extra, f"+{len(rows) - limit}")
    return table


def card_header(
    title: str, card: Card, *, fancy: bool, extra: Sequence[tuple[str, str]] = ()
) -> RenderableType:
    """The metadata panel: license, language, task, library, datasets, base model, metrics."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    from hubcli.card import summary

    rows = [*extra, *summary(card.metadata)]
    parts: list[RenderableType] = []
    if rows:
        parts.append(key_value_table(rows, fancy=fancy))
    table = metrics_table(card, fancy=fancy)
    if table is not None:
        if parts:
            parts.append(Text(""))
        parts.append(Text("metrics (model-index)", style="bold" if fancy else ""))
        parts.append(table)
    if not parts:
        parts.append(Text("(no metadata)", style="dim" if fancy else ""))
    if fancy:
        return Panel(
            Group(*parts), title=Text(title, style="bold"), title_align="left", expand=True
        )
    return Group(Text(title), Text("=" * min(len(title), 80)), *parts)


def markdown(body: str, *, fancy: bool) -> RenderableType:
    """The card body: Rich Markdown; in plain mode without box drawing and with links as text."""

    if fancy:
        fancy_md: RenderableType = _markdown_classes()[0](
            body, code_theme="monokai", hyperlinks=True
        )
        return fancy_md
    plain: RenderableType = _markdown_classes()[1](body, code_theme="bw", hyperlinks=False)
    return plain


_MD_CLASSES: tuple[type[Any], type[Any]] | None = None


def _markdown_classes() -> tuple[type[Any], type[Any]]:
    """(fancy, plain) Markdown classes. Both print code blocks unwrapped and uncut: a long line
    stays one line so the snippet can be copied (the terminal may fold it, the text does not)."""
    global _MD_CLASSES
    if _MD_CLASSES is not None:
        return _MD_CLASSES
    from rich.markdown import CodeBlock, Markdown
    from rich.syntax import Syntax
    from rich.text import Text

    class UnwrappedCode(CodeBlock):
        def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
            code = str(self.text).rstrip()
            if self.theme == "bw":
                text = Text(code)
            else:
                text = Syntax(code, self.lexer_name, theme=self.theme).highlight(code)
                text.rstrip()
            text.no_wrap = True
            text.overflow = "ignore"
            text.end = "\n"
            yield text

    class FancyMarkdown(Markdown):
        elements: ClassVar[dict[str, Any]] = {
            **Markdown.elements,
            "fence": UnwrappedCode,
            "code_block": UnwrappedCode,
        }

    plain = _plain_markdown_class()
    plain.elements = {**plain.elements, "fence": UnwrappedCode, "code_block": UnwrappedCode}
    _MD_CLASSES = (FancyMarkdown, plain)
    return _MD_CLASSES


_PLAIN_MD: type[Any] | None = None


def _plain_markdown_class() -> type[Any]:
    """A Markdown subclass whose tables use ASCII rules and images show as
    '[image: alt] URL' (the address is kept: a pipe has no hyperlinks)."""
    global _PLAIN_MD
    if _PLAIN_MD is not None:
        return _PLAIN_MD
    from rich import box
    from rich.markdown import Heading, ImageItem, Markdown, TableElement
    from rich.table import Table
    from rich.text import Text

    ascii_simple = box.Box("    \n    \n -- \n    \n    \n -- \n    \n    \n", ascii=True)

    class PlainTable(TableElement):
        def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
            table = Table(box=ascii_simple, pad_edge=False, show_edge=True, collapse_padding=True)
            if self.header is not None and self.header.row is not None:
                for column in self.header.row.cells:
                    table.add_column(column.content.copy())
            if self.body is not None:
                for row in self.body.rows:
                    table.add_row(*[cell.content for cell in row.cells])
            yield table

    class PlainImage(ImageItem):
        def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
            alt = self.text.plain if self.text else ""
            label = alt or self.destination.strip("/").rsplit("/", 1)[-1]
            url = f" {self.destination}" if self.destination else ""
            yield Text(f"[image: {label}]{url}", no_wrap=True, overflow="ignore")

    class PlainHeading(Heading):
        def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
            level = int(self.tag[1:]) if self.tag[1:].isdigit() else 1
            text = Text("#" * level + " ", justify="left")
            text.append_text(self.text)
            yield text

    class PlainMarkdown(Markdown):
        elements: ClassVar[dict[str, Any]] = {
            **Markdown.elements,
            "heading_open": PlainHeading,
            "table_open": PlainTable,
            "image": PlainImage,
        }

    _PLAIN_MD = PlainMarkdown
    return _PLAIN_MD


def render_card(
    console: Console,
    *,
    title: str,
    card: Card,
    fancy: bool,
    extra: Sequence[tuple[str, str]] = (),
    max_body: int = MAX_RENDERED_BODY,
) -> bool:
    """Print the header panel and the Markdown body; True if the body was cut for display."""
    from rich.text import Text

    emit(console, card_header(title, card, fancy=fancy, extra=extra), fancy=fancy)
    body = card.body.strip("\n")
    cut = len(body) > max_body
    if cut:
        body = body[:max_body]
        para = body.rfind("\n\n")  # end on a paragraph boundary when there is one
        if para > max_body // 2:
            body = body[:para]
        # Do not leave a code fence open: everything after it would turn into code.
        if body.count("```") % 2:
            body += "\n```"
    if body.strip():
        console.print()
        emit(console, markdown(body, fancy=fancy), fancy=fancy)
    else:
        console.print(Text("(the card has no text)", style="dim" if fancy else ""))
    if cut:
        console.print(Text(f"… (card cut at {max_body // 1024} KiB; use --raw for all)"))
    return cut


# -- use it, configs ------------------------------------------------------------------------------
def usage_block(snippets: Sequence[Any], *, fancy: bool) -> RenderableType:
    """The "use it" snippets: a panel of syntax-coloured code in a terminal; in a pipe a heading
    and the code as it is (each snippet led by a comment naming its library, so the text can be
    copied as a whole)."""
    from rich.console import Group
    from rich.text import Text

    parts: list[RenderableType] = []
    for i, snip in enumerate(snippets):
        if i:
            parts.append(Text(""))
        head = f"# {snip.library}" + (f" ({snip.note})" if snip.note else "")
        lexer = "python" if snip.language == "python" else "bash"
        code = f"{head}\n{snip.code}"
        if fancy:
            from rich.syntax import Syntax

            parts.append(Syntax(code, lexer, theme="monokai", word_wrap=False))
        else:
            parts.append(Text(code, no_wrap=True, overflow="ignore"))
    if fancy:
        from rich.panel import Panel

        return Panel(Group(*parts), title=Text("use it", style="bold"), title_align="left")
    return Group(Text("use it"), Text("------"), *parts)


def configs_table(configs: Sequence[Any], *, fancy: bool) -> Table:
    """A dataset's configs (subsets) and their splits: files, size, rows when the card says."""
    table = new_table(fancy=fancy, title="subsets and splits" if fancy else None)
    table.add_column("config", no_wrap=True, overflow="ellipsis", max_width=32)
    table.add_column("split", no_wrap=True, overflow="ellipsis", max_width=24)
    table.add_column("files", justify="right", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    for config in configs:
        name = config.name + (" (default)" if config.default and len(configs) > 1 else "")
        for i, split in enumerate(config.splits):
            rows = "-" if split.num_rows is None else human_count(split.num_rows)
            table.add_row(
                name if i == 0 else "",
                split.name,
                str(len(split.files)),
                human_size(split.size),
                rows,
            )
        if not config.splits:
            table.add_row(name, "-", "0", "-", "-")
    return table
