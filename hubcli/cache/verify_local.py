"""Verify a ``--local-dir`` download: re-hash each file against its download metadata.

huggingface_hub (and ``hubcli download --local-dir``) record ``<commit>\\n<etag>\\n<time>`` in
``DIR/.cache/huggingface/download/<path>.metadata``. A file is re-hashed whatever its mtime says
(an edit that kept an old mtime is still ``modified``); a file with metadata but gone is
``missing``; a file without metadata cannot be checked (``unverifiable``, informational), and a
file the cached ``trees/<commit>.json`` lists but that is not here is ``not_downloaded``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hubcli.cache.layout import read_tree_file
from hubcli.cache.verify import FileProblem, VerifyReport
from hubcli.errors import LocalFileError
from hubcli.globs import wanted
from hubcli.hashing import file_digest, is_content_id
from hubcli.repo import is_commit_sha

_META = Path(".cache") / "huggingface"


def _metadata(root: Path) -> dict[str, tuple[str, str]]:
    """path -> (commit, etag) from every readable ``.metadata`` file."""
    base = root / _META / "download"
    out: dict[str, tuple[str, str]] = {}
    for dirpath, _dirs, files in os.walk(base):
        for name in files:
            if not name.endswith(".metadata"):
                continue
            full = Path(dirpath) / name
            rel = full.relative_to(base).as_posix()[: -len(".metadata")]
            try:
                lines = full.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            if len(lines) >= 2:
                out[rel] = (lines[0].strip(), lines[1].strip())
    return out


def _local_files(root: Path) -> set[str]:
    out: set[str] = set()
    for dirpath, dirs, files in os.walk(root):
        if Path(dirpath) == root:
            dirs[:] = [d for d in dirs if d != ".cache"]
        for name in files:
            out.add((Path(dirpath) / name).relative_to(root).as_posix())
    return out


def verify_local_dir(
    root: Path,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    workers: int = 8,
) -> VerifyReport:
    """Verify the files of a ``--local-dir`` folder (see the module doc); never raises for what
    it finds, only LocalFileError when ``root`` is not a folder."""
    root = Path(root)
    if not root.is_dir():
        raise LocalFileError(f"{root} is not a folder.")
    where = str(root)
    meta = {p: m for p, m in _metadata(root).items() if wanted(p, include, exclude)}
    present = {p for p in _local_files(root) if wanted(p, include, exclude)}
    report = VerifyReport(repos=1)
    commits = {c for c, _e in meta.values() if is_commit_sha(c)}
    report.revisions = len(commits)

    def add(path: str, commit: str, kind: str, etag: str | None, detail: str) -> None:
        report.problems.append(FileProblem(where, "local", commit, path, kind, etag, detail))

    to_hash: list[tuple[str, str, str]] = []
    for path in sorted(present | set(meta)):
        if path not in meta:
            report.files += 1
            add(path, "", "unverifiable", None, "no download metadata for this file")
            continue
        commit, etag = meta[path]
        if path not in present:
            add(path, commit, "missing", etag, "its download metadata exists, the file does not")
            continue
        report.files += 1
        if not is_content_id(etag):
            add(path, commit, "unverifiable", etag, "no content hash known for this file")
            continue
        to_hash.append((path, commit, etag))
    for commit in sorted(commits):
        tree = read_tree_file(root / _META / "trees" / f"{commit}.json") or {}
        for path in sorted(tree):
            if path not in meta and path not in present and wanted(path, include, exclude):
                add(path, commit, "not_downloaded", None, "listed for this commit, not here")

    def work(item: tuple[str, str, str]) -> tuple[str, str, str, str | None, int]:
        path, commit, etag = item
        full = root / path
        try:
            return path, commit, etag, file_digest(str(full), etag), os.stat(full).st_size
        except (OSError, ValueError):
            return path, commit, etag, None, 0

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for path, commit, etag, digest, size in pool.map(work, to_hash):
            report.blobs_hashed += 1
            report.bytes_hashed += size
            if digest != etag:
                why = "cannot read the file" if digest is None else f"content hashes to {digest}"
                add(path, commit, "modified", etag, f"{why}, downloaded as {etag}")
    report.problems.sort(key=lambda p: (p.path, p.kind))
    return report
