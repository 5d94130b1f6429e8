"""A dataset repo's subsets (configs) and splits, from its files and card (as ``datasets`` does).

Pure: no network, no printing. Two sources, in the order ``datasets.load_dataset`` uses them:

1. the card's ``configs:`` YAML (``config_name``; ``data_files`` as a pattern, a list of
   patterns, or a list of ``{split, path}``; ``data_dir``; ``default: true``);
2. without it, the conventions: ``data/{split}-NNNNN-of-NNNNN*`` shards, then split keywords in
   folder names, then in file names (train/training, validation/valid/dev/val,
   test/testing/eval/evaluation, delimited by ``-._ `` or digits), else everything is ``train``.

Patterns are fsspec globs: ``*`` stays inside a folder, ``**`` crosses folders. Hidden paths
(``.x``, ``__x``) never count, and only files of the most common data format are kept.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubcli.models import FileEntry

SPLIT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "dev", "val"),
    "test": ("test", "testing", "eval", "evaluation"),
}
_SEP = r"[-._ 0-9]"
_SHARD_RE = re.compile(r"data/(\w+)-\d+-of-\d+[^/]*\.[^/]+")
COMPRESSIONS = (".gz", ".zst", ".zstd", ".bz2", ".xz", ".lz4")

# extension -> format family (what decides the ``datasets`` builder)
_FORMATS: dict[str, str] = {
    "csv": "csv",
    "tsv": "csv",
    "json": "json",
    "jsonl": "json",
    "ndjson": "json",
    "parquet": "parquet",
    "arrow": "arrow",
    "txt": "text",
    "tar": "webdataset",
    "zip": "zip",
    "xml": "xml",
    "lance": "lance",
    "h5": "hdf5",
    "hdf5": "hdf5",
    **dict.fromkeys(("png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"), "imagefolder"),
    **dict.fromkeys(("wav", "mp3", "flac", "ogg", "opus", "m4a"), "audiofolder"),
    **dict.fromkeys(("mp4", "avi", "mkv", "mov", "webm"), "videofolder"),
    "pdf": "pdffolder",
}


def data_format(path: str) -> tuple[str | None, str | None]:
    """(format family, compression suffix) of a data file; (None, None) for other files."""
    name = path.rsplit("/", 1)[-1].lower()
    compression = next((c for c in COMPRESSIONS if name.endswith(c)), None)
    if compression:
        name = name[: -len(compression)]
    if "." not in name:
        return None, None
    return _FORMATS.get(name.rsplit(".", 1)[-1]), compression


def glob_regex(pattern: str) -> re.Pattern[str]:
    """An fsspec glob as a regex: ``**`` any path, ``*`` and ``?`` inside one folder, ``[..]``."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                body = "^" + body[1:] if body.startswith("!") else body
                out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


def _hidden(path: str) -> bool:
    return any(part.startswith((".", "__")) for part in path.split("/"))


@dataclass(frozen=True)
class SplitInfo:
    """One split of a config: its data files (their sum of sizes) and, if the card says, rows."""

    name: str
    files: tuple[FileEntry, ...]
    num_rows: int | None = None

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "num_files": len(self.files),
            "size": self.size,
            "num_rows": self.num_rows,
            "files": [f.path for f in self.files],
        }


@dataclass(frozen=True)
class ConfigInfo:
    """A subset: its name, splits, whether ``load_dataset(id)`` picks it, and where it came from
    (``card``: the ``configs:`` YAML; ``conventions``: file and folder names)."""

    name: str
    splits: tuple[SplitInfo, ...]
    default: bool = False
    source: str = "conventions"
    data_dir: str | None = None

    def split(self, name: str) -> SplitInfo | None:
        return next((s for s in self.splits if s.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "default": self.default,
            "source": self.source,
            "data_dir": self.data_dir,
            "splits": [s.to_json() for s in self.splits],
        }


def _split_patterns(data_files: Any) -> list[tuple[str, list[str]]]:
    """``data_files`` of a ``configs:`` entry -> [(split, [patterns])] (a bare pattern or list of
    patterns is the train split, as in ``datasets``)."""
    if isinstance(data_files, str):
        return [("train", [data_files])]
    if isinstance(data_files, dict):
        return [
            (str(k), [v] if isinstance(v, str) else [str(p) for p in v if isinstance(p, str)])
            for k, v in data_files.items()
            if isinstance(v, str | list)
        ]
    if not isinstance(data_files, list):
        return []
    out: list[tuple[str, list[str]]] = []
    bare = [p for p in data_files if isinstance(p, str)]
    if bare:
        out.append(("train", bare))
    for item in data_files:
        if isinstance(item, dict) and item.get("path") is not None:
            path = item["path"]
            pats = [path] if isinstance(path, str) else [str(p) for p in path if p is not None]
            out.append((str(item.get("split") or "train"), pats))
    return out


def _match(files: Sequence[FileEntry], patterns: list[str], base: str) -> tuple[FileEntry, ...]:
    prefix = f"{base.strip('/')}/" if base.strip("/") else ""
    regexes = [glob_regex(prefix + p.lstrip("/")) for p in patterns]
    return tuple(
        f for f in files if not _hidden(f.path) and any(r.fullmatch(f.path) for r in regexes)
    )


def _keyword_re(keyword: str, *, folder: bool) -> re.Pattern[str]:
    if folder:  # a folder named keyword, or with it between separators: train/, my-train_1/
        return re.compile(rf"(?:.*{_SEP})?{keyword}(?:{_SEP}.*)?")
    return re.compile(rf"(?:.*{_SEP})?{keyword}{_SEP}.*")  # train.csv, my_test-01.jsonl


def _by_keywords(files: Sequence[FileEntry], *, folder: bool) -> dict[str, list[FileEntry]]:
    found: dict[str, list[FileEntry]] = {}
    for split, keywords in SPLIT_KEYWORDS.items():
        regexes = [_keyword_re(k, folder=folder) for k in keywords]
        for f in files:
            parts = f.path.split("/")
            names = parts[:-1] if folder else parts[-1:]
            if any(r.fullmatch(n) for r in regexes for n in names):
                found.setdefault(split, []).append(f)
    return found


def conventional_splits(files: Sequence[FileEntry]) -> dict[str, list[FileEntry]]:
    """Splits by ``datasets``' naming conventions (no ``configs:`` in the card)."""
    shards: dict[str, list[FileEntry]] = {}
    for f in files:
        m = _SHARD_RE.fullmatch(f.path)
        if m:
            shards.setdefault(m.group(1), []).append(f)
    if shards:
        return shards
    for folder in (True, False):
        found = _by_keywords(files, folder=folder)
        if found:
            return found
    return {"train": list(files)} if files else {}


def data_files(files: Sequence[FileEntry], base: str = "") -> list[FileEntry]:
    """The repo's data files under ``base``: not hidden, of the most common data format."""
    prefix = f"{base.strip('/')}/" if base.strip("/") else ""
    candidates = [
        f
        for f in files
        if f.path.startswith(prefix) and not _hidden(f.path) and data_format(f.path)[0]
    ]
    if not candidates:
        return []
    counts = Counter(data_format(f.path)[0] for f in candidates)
    top = max(counts.items(), key=lambda kv: (kv[1], kv[0] == "parquet"))[0]
    return [f for f in candidates if data_format(f.path)[0] == top]


def _order(name: str) -> tuple[int, str]:
    known = list(SPLIT_KEYWORDS)
    return (known.index(name) if name in known else len(known), name)


def _rows(card: dict[str, Any], config: str) -> dict[str, int]:
    """Rows per split from the card's ``dataset_info`` (as ``datasets`` writes it), if any."""
    info = card.get("dataset_info")
    entries = info if isinstance(info, list) else [info] if isinstance(info, dict) else []
    out: dict[str, int] = {}
    for entry in entries:
        if not isinstance(entry, dict) or str(entry.get("config_name") or "default") != config:
            continue
        for split in entry.get("splits") or []:
            if isinstance(split, dict) and isinstance(split.get("num_examples"), int):
                out[str(split.get("name"))] = split["num_examples"]
    return out


def dataset_configs(files: Sequence[FileEntry], card: dict[str, Any] | None) -> list[ConfigInfo]:
    """The configs of a dataset repo and their splits (an empty list: no data files found)."""
    card = card if isinstance(card, dict) else {}
    entries = card.get("configs")
    configs: list[ConfigInfo] = []
    if isinstance(entries, list) and entries:
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            name = str(entry.get("config_name") or "default")
            data_dir = entry.get("data_dir")
            base = str(data_dir) if isinstance(data_dir, str) else ""
            patterns = _split_patterns(entry.get("data_files"))
            if patterns:
                splits = {s: list(_match(files, p, base)) for s, p in patterns}
            else:
                splits = conventional_splits(data_files(files, base))
            rows = _rows(card, name)
            configs.append(
                ConfigInfo(
                    name,
                    tuple(
                        SplitInfo(s, tuple(fs), rows.get(s))
                        for s, fs in sorted(splits.items(), key=lambda kv: _order(kv[0]))
                    ),
                    default=bool(entry.get("default")),
                    source="card",
                    data_dir=base or None,
                )
            )
        if configs and not any(c.default for c in configs):
            # load_dataset(id) picks the one config, or the one named "default"
            only = configs[0] if len(configs) == 1 else None
            first = next((c for c in configs if c.name == "default"), only)
            if first is not None:
                configs[configs.index(first)] = ConfigInfo(
                    first.name, first.splits, True, first.source, first.data_dir
                )
        return configs
    splits = conventional_splits(data_files(files))
    if not splits:
        return []
    rows = _rows(card, "default")
    ordered = sorted(splits.items(), key=lambda kv: _order(kv[0]))
    return [
        ConfigInfo(
            "default", tuple(SplitInfo(s, tuple(fs), rows.get(s)) for s, fs in ordered), True
        )
    ]


def pick(
    configs: Sequence[ConfigInfo], config: str | None, split: str | None
) -> tuple[ConfigInfo, SplitInfo]:
    """The config and split to use (the default config and its first split unless named).

    Raises NotFoundError (exit 4) naming what exists."""
    from hubcli.errors import NotFoundError

    if not configs:
        raise NotFoundError("no data files found (no configs: in the card, no data files).")
    if config is None:
        chosen = next((c for c in configs if c.default), configs[0])
    else:
        found = next((c for c in configs if c.name == config), None)
        if found is None:
            names = ", ".join(c.name for c in configs)
            raise NotFoundError(f"no config {config!r}: the configs are {names}.")
        chosen = found
    if not chosen.splits:
        raise NotFoundError(f"config {chosen.name!r} has no splits.")
    if split is None:
        return chosen, chosen.splits[0]
    part = chosen.split(split)
    if part is None:
        names = ", ".join(s.name for s in chosen.splits)
        raise NotFoundError(f"config {chosen.name!r} has no split {split!r}: it has {names}.")
    return chosen, part
