"""The first rows of a dataset split, reading only what they need.

Library side of ``hubcli preview``: no printing. The split's first data file is read from the
local cache when it is there (offline too), else through HTTP ``Range`` requests at the commit
(growing reads: 64 KiB, then doubling, never more than :data:`MAX_FETCH` of one file).
CSV, TSV, JSON (an array, or JSON Lines) and JSONL are read natively, plain or compressed with
gzip, bz2 or xz (zstd with the ``zstandard`` package); Parquet needs ``pyarrow`` and reads the
footer and the first row group only. The data is untrusted: decompressed text is capped at
:data:`MAX_TEXT`, every cell at :data:`MAX_CELL` characters, and rows at :data:`MAX_ROWS`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hubcli.datasets_info import data_format
from hubcli.errors import HubError, NetworkError, OfflineError, UsageError

if TYPE_CHECKING:
    from hubcli.config import Settings
    from hubcli.http import HubSession
    from hubcli.models import FileEntry
    from hubcli.repo import RepoRef

MAX_ROWS = 1000
MAX_CELL = 2000
"""Characters kept of one cell (longer text is cut and ends with '…')."""
MAX_FETCH = 32 * 1024 * 1024
"""Bytes read of one (compressed) text file at most, however few rows it yields."""
MAX_TEXT = 64 * 1024 * 1024
"""Decompressed characters examined at most (a zip bomb stops here)."""
FIRST_READ = 64 * 1024
MAX_READ = 4 * 1024 * 1024
NATIVE = ("csv", "json")


class UnsupportedFormatError(UsageError):
    """The split's files are in a format preview cannot read (exit 2)."""

    code = "unsupported_format"


class MissingDependencyError(UsageError):
    """Reading this format needs an optional package that is not installed (exit 2)."""

    code = "missing_dependency"


class Source(Protocol):
    size: int
    origin: str
    fetched: int

    def read_at(self, offset: int, length: int) -> bytes: ...


class LocalSource:
    """A cached file."""

    origin = "cache"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        self.fetched = 0

    def read_at(self, offset: int, length: int) -> bytes:
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(length)
        self.fetched += len(data)
        return data


class RangeSource:
    """A file on the Hub read with ``Range`` GETs at one commit (after the first redirect,
    straight from the URL it pointed to: the token stays on the Hub's origin)."""

    origin = "hub"

    def __init__(self, session: HubSession, ref: RepoRef, commit: str, entry: FileEntry) -> None:
        from hubcli.repo import display_id, resolve_path

        self.session = session
        self.target = resolve_path(ref, commit, entry.path)
        self.size = entry.size
        self.label = f"{display_id(ref.repo_id, ref.repo_type)}@{commit[:12]}: {entry.path}"
        self.location: str | None = None
        self.fetched = 0
        self.requests = 0
        self.buffer: tuple[int, bytes] = (0, b"")

    def read_at(self, offset: int, length: int) -> bytes:
        """Bytes from ``offset`` (fewer at the end of the file); small reads are served from
        one read-ahead block of FIRST_READ bytes."""
        start, data = self.buffer
        if start <= offset and offset + length <= start + len(data):
            return data[offset - start : offset - start + length]
        block = self._fetch(offset, max(length, FIRST_READ))
        self.buffer = (offset, block)
        return block[:length]

    def _fetch(self, offset: int, length: int) -> bytes:
        from hubcli.errors import ProtocolError
        from hubcli.liveness import watching
        from hubcli.transfer.stream import content_range_start

        end = min(self.size, offset + length)
        if offset >= end:
            return b""
        self.requests += 1
        headers = {"Range": f"bytes={offset}-{end - 1}"}
        with watching(self.session.file_watch()) as watch:
            resp = self.session.request(
                "GET", self.location or self.target, headers=headers, stream=True, what=self.label
            )
            if self.location is None and resp.history:
                self.location = resp.url
            try:
                if resp.status_code == 200 and offset != 0:
                    raise ProtocolError(f"{self.label}: the server ignores Range requests.")
                if resp.status_code == 206:
                    start = content_range_start(resp.headers.get("Content-Range"))
                    if start != offset:
                        raise ProtocolError(f"{self.label}: the server sent other bytes.")
                data = self.session.read_body(
                    resp, watch, limit=end - offset, label=self.label, truncate=True
                )
            finally:
                resp.close()
        self.fetched += len(data)
        return data


def open_source(
    settings: Settings, session: HubSession | None, ref: RepoRef, commit: str, entry: FileEntry
) -> Source:
    """The cached copy of ``entry`` at ``commit`` if there is one, else ranged reads (online)."""
    from hubcli.cache.layout import RepoCache
    from hubcli.errors import UnsafePathError

    repo = RepoCache(settings.cache_dir, ref)
    try:
        path = repo.snapshot_file(commit, entry.path)
        if path.is_file():
            return LocalSource(path)
        blob = repo.blob_path(entry.etag)
        if blob.is_file():
            return LocalSource(blob)
    except (UnsafePathError, OSError):
        pass
    if session is None or settings.offline:
        raise OfflineError(
            f"{ref}@{commit[:12]}: {entry.path} is not in the cache and offline mode is on.",
            hint=f"Download it once online: hubcli download {ref} {entry.path}",
        )
    return RangeSource(session, ref, commit, entry)


# -- text -----------------------------------------------------------------------------------------
def _decompressor(compression: str | None, path: str) -> Any:
    import zlib

    if compression is None:
        return None
    if compression == ".gz":
        return zlib.decompressobj(wbits=47)
    if compression == ".bz2":
        import bz2

        return bz2.BZ2Decompressor()
    if compression == ".xz":
        import lzma

        return lzma.LZMADecompressor()
    if compression in (".zst", ".zstd"):
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:
            raise MissingDependencyError(
                f"{path}: reading zstd-compressed files needs the zstandard package.",
                hint="pip install zstandard",
            ) from None
        return zstandard.ZstdDecompressor().decompressobj()
    raise UnsupportedFormatError(f"{path}: {compression} compression is not supported.")


def text_chunks(source: Source, compression: str | None, path: str) -> Iterator[str]:
    """The file's text, chunk by chunk (decoded as UTF-8), under MAX_FETCH and MAX_TEXT."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    unzip = _decompressor(compression, path)
    offset, step, produced = 0, FIRST_READ, 0
    while offset < min(source.size, MAX_FETCH):
        raw = source.read_at(offset, min(step, MAX_FETCH - offset))
        if not raw:
            break
        offset += len(raw)
        step = min(step * 2, MAX_READ)
        if unzip is not None:
            try:
                raw = (
                    unzip.decompress(raw, MAX_TEXT - produced)
                    if compression == ".gz"
                    else (unzip.decompress(raw))
                )
            except Exception as exc:  # zlib.error, OSError, lzma.LZMAError, zstd errors
                raise UnsupportedFormatError(f"{path}: cannot decompress: {exc}") from None
        produced += len(raw)
        text = decoder.decode(raw, final=offset >= source.size)
        if text:
            yield text
        if produced >= MAX_TEXT:
            return


def _cell(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_CELL:
        return value[: MAX_CELL - 1] + "…"
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, default=str)
        return _cell(text) if len(text) > MAX_CELL else value
    if isinstance(value, bytes):
        return _cell(value.decode("utf-8", errors="replace"))
    return value


def _csv_rows(chunks: Iterator[str], n: int, delimiter: str) -> tuple[list[str], list[list[str]]]:
    import csv

    text = ""
    done = False
    while True:
        chunk = next(chunks, None)
        if chunk is None:
            done = True
        else:
            text += chunk
        if not done and text.count("\n") < n + 2:
            continue
        body = text if done else text[: text.rfind("\n") + 1]
        rows = list(csv.reader(io.StringIO(body), delimiter=delimiter))
        if done or len(rows) > n + 1:
            break
    if not rows:
        return [], []
    header = [_cell(h) for h in rows[0]]
    # a row cut by the end of what was read is dropped (unless the file ended)
    data = rows[1 : n + 1] if (done or len(rows) > n + 1) else rows[1:n]
    width = len(header)
    return header, [[_cell(c) for c in (r + [""] * (width - len(r)))[:width]] for r in data if r]


def _json_rows(chunks: Iterator[str], n: int, path: str) -> list[Any]:
    """Rows of a JSON array document, or of JSON Lines."""
    decoder = json.JSONDecoder()
    text = ""
    pos = 0
    rows: list[Any] = []
    mode: str | None = None
    done = False
    while len(rows) < n:
        chunk = next(chunks, None)
        if chunk is None:
            done = True
        else:
            text += chunk
        if mode is None:
            stripped = text.lstrip("\ufeff \t\r\n")
            if not stripped and not done:
                continue
            mode = "array" if stripped.startswith("[") else "lines"
            pos = len(text) - len(stripped) + (1 if mode == "array" else 0)
        while len(rows) < n:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(text) or (mode == "array" and text[pos] == "]"):
                break
            if mode == "lines":
                end = text.find("\n", pos)
                if end == -1 and not done:
                    break
                line = text[pos : None if end == -1 else end]
                pos = len(text) if end == -1 else end + 1
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    if not rows and line.lstrip().startswith("{"):
                        raise UnsupportedFormatError(
                            f"{path}: a JSON object, not rows (an array or JSON Lines)."
                        ) from None
                    raise UnsupportedFormatError(f"{path}: invalid JSON Lines.") from None
            else:
                try:
                    obj, pos = decoder.raw_decode(text, pos)
                except ValueError:
                    if done:
                        raise UnsupportedFormatError(f"{path}: invalid JSON.") from None
                    break
                rows.append(obj)
        if done:
            break
    return rows


# -- parquet --------------------------------------------------------------------------------------
class _SourceFile(io.RawIOBase):
    """A read-only, seekable file over a :class:`Source` (what pyarrow reads Parquet from)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.source.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.source.size - self.pos
        data = self.source.read_at(self.pos, size)
        self.pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _parquet_rows(source: Source, n: int, path: str) -> tuple[list[str], dict[str, str], list[Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError(
            f"{path}: previewing Parquet needs pyarrow, which is not installed.",
            hint="pip install pyarrow",
        ) from None
    try:
        pf = pq.ParquetFile(_SourceFile(source))
        names = list(pf.schema_arrow.names)
        types = {f.name: str(f.type) for f in pf.schema_arrow}
        rows: list[Any] = []
        if pf.metadata.num_row_groups:
            for batch in pf.iter_batches(batch_size=n, row_groups=[0]):
                rows.extend(batch.to_pylist())
                break
    except HubError:
        raise
    except Exception as exc:  # pyarrow's ArrowInvalid, OSError...
        raise UnsupportedFormatError(f"{path}: not a readable Parquet file ({exc}).") from None
    return names, types, rows[:n]


# -- the preview ----------------------------------------------------------------------------------
@dataclass
class Preview:
    """The first rows of one split: from which file, its columns and their types."""

    repo_id: str
    config: str
    split: str
    path: str
    format: str
    columns: list[str]
    types: dict[str, str]
    rows: list[dict[str, Any]]
    origin: str
    bytes_read: int
    file_size: int
    commit: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "config": self.config,
            "split": self.split,
            "path": self.path,
            "format": self.format,
            "commit": self.commit,
            "columns": [{"name": c, "type": self.types.get(c, "")} for c in self.columns],
            "rows": self.rows,
            "origin": self.origin,
            "bytes_read": self.bytes_read,
            "file_size": self.file_size,
        }


def _type_of(values: list[Any]) -> str:
    kinds = {type(v).__name__ for v in values if v is not None and v != ""}
    if not kinds:
        return "null"
    if kinds <= {"int"}:
        return "int"
    if kinds <= {"int", "float"}:
        return "float"
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _typed_csv(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


def read_rows(
    source: Source, entry_path: str, n: int
) -> tuple[str, list[str], dict[str, str], list[dict[str, Any]]]:
    """(format, columns, types, rows) of the first ``n`` rows of one data file."""
    fmt, compression = data_format(entry_path)
    name = entry_path.lower()
    if fmt == "parquet":
        if compression:
            raise UnsupportedFormatError(f"{entry_path}: compressed Parquet files are not read.")
        names, ptypes, prows = _parquet_rows(source, n, entry_path)
        return "parquet", names, ptypes, [{k: _cell(v) for k, v in r.items()} for r in prows]
    if fmt not in NATIVE:
        raise UnsupportedFormatError(
            f"{entry_path}: preview reads CSV, TSV, JSON, JSONL and Parquet, not {fmt or 'this'}"
            " files."
        )
    chunks = text_chunks(source, compression, entry_path)
    if fmt == "csv":
        base = name.removesuffix(compression or "")
        header, raw_rows = _csv_rows(chunks, n, "\t" if base.endswith(".tsv") else ",")
        typed = [[_typed_csv(c) for c in r] for r in raw_rows]
        rows = [dict(zip(header, r, strict=True)) for r in typed]
        types = {h: _type_of([r[i] for r in typed]) for i, h in enumerate(header)}
        return ("tsv" if base.endswith(".tsv") else "csv"), header, types, rows
    items = _json_rows(chunks, n, entry_path)
    columns: list[str] = []
    rows = []
    for item in items:
        row = item if isinstance(item, dict) else {"value": item}
        row = {str(k): _cell(v) for k, v in row.items()}
        columns += [k for k in row if k not in columns]
        rows.append(row)
    types = {c: _type_of([r.get(c) for r in rows]) for c in columns}
    return "json", columns, types, rows


def preview(
    settings: Settings,
    session: HubSession | None,
    ref: RepoRef,
    *,
    revision: str,
    config: str | None = None,
    split: str | None = None,
    n: int = 10,
) -> Preview:
    """The first ``n`` rows of ``config``/``split`` (the default config and its first split).

    Online: one repo info request, then ranged reads of the split's first file unless it is
    cached. Offline (``settings.offline``, or the Hub unreachable): the cached listing, card
    and file. Raises UsageError (bad n, unsupported format, missing pyarrow), NotFoundError
    (unknown config or split), OfflineError, and the Hub's errors."""
    from hubcli.card import parse_card
    from hubcli.datasets_info import dataset_configs, pick
    from hubcli.discover import cached_card, cached_listing

    if not 1 <= n <= MAX_ROWS:
        raise UsageError(f"-n must be between 1 and {MAX_ROWS}.")
    if ref.repo_type != "dataset":
        raise UsageError(f"{ref}: preview reads datasets (use datasets/ORG/NAME).")
    files: tuple[FileEntry, ...] | None = None
    commit: str | None = None
    meta: dict[str, Any] = {}
    live = session if not settings.offline else None
    if live is not None:
        from hubcli.client import HubClient

        try:
            info = HubClient(live).repo_info(ref, revision=revision, files_metadata=True)
            files, commit = info.files, info.sha
            card = info.get("cardData")
            meta = card if isinstance(card, dict) else {}
        except NetworkError:
            live = None
    if files is None or commit is None:
        listing = cached_listing(settings.cache_dir, ref, revision)
        if listing is None:
            raise OfflineError(
                f"{ref}@{revision}: not in the cache and offline mode is on.",
                hint="Download it once online (hubcli download), or drop --offline.",
            )
        files, commit = listing.files, listing.commit
        source_card = cached_card(settings.cache_dir, ref, commit)
        if source_card is not None and source_card.text:
            meta = parse_card(source_card.text).metadata
    chosen_config, chosen_split = pick(dataset_configs(files, meta), config, split)
    if not chosen_split.files:
        raise UsageError(f"config {chosen_config.name!r}, split {chosen_split.name!r}: no files.")
    entry = sorted(chosen_split.files, key=lambda f: f.path)[0]
    source = open_source(settings, live, ref, commit, entry)
    fmt, columns, types, rows = read_rows(source, entry.path, n)
    return Preview(
        repo_id=ref.repo_id,
        config=chosen_config.name,
        split=chosen_split.name,
        path=entry.path,
        format=fmt,
        columns=columns,
        types=types,
        rows=rows[:n],
        origin=source.origin,
        bytes_read=source.fetched,
        file_size=entry.size,
        commit=commit,
    )
