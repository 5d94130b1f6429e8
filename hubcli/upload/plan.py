"""Upload plans: which local files go where in the repo (walk, globs, default ignores, symlinks).

No network here; :func:`hubcli.upload.engine.upload` consumes the :class:`UploadPlan`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hubcli.errors import LocalFileError, UsageError
from hubcli.globs import matches, wanted
from hubcli.repo import validate_repo_path

_FORBIDDEN_SEGMENTS = (".git", ".cache")


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A file to publish: where it is on disk and where it goes in the repo."""

    local_path: Path
    path_in_repo: str
    size: int


@dataclass(frozen=True)
class UploadPlan:
    """What to upload (already filtered) and which remote files to delete (globs under prefix)."""

    files: tuple[LocalFile, ...]
    prefix: str = ""
    delete_patterns: tuple[str, ...] = ()


def _join_repo(prefix: str, rel: str) -> str:
    return f"{prefix}/{rel}" if prefix else rel


def _check_repo_path(path: str) -> str:
    validate_repo_path(path)
    for seg in path.split("/"):
        if seg in _FORBIDDEN_SEGMENTS:
            raise UsageError(
                f"Cannot upload {path!r}: the Hub refuses files under a {seg!r} folder.",
                hint="Exclude it with --exclude.",
            )
    return path


def _clean_prefix(path_in_repo: str | None) -> str:
    p = (path_in_repo or "").strip()
    while p.startswith("./"):
        p = p[2:]
    p = p.strip("/")
    if p in ("", "."):
        return ""
    return _check_repo_path(p)


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class _Walk:
    root: str  # the folder's real path: symlinks must resolve inside it
    prefix: str
    include: Sequence[str]
    exclude: Sequence[str]


def _scan(top: str, rel_dir: str, w: _Walk, files: list[LocalFile], refused: list[str]) -> None:
    """One folder of the walk (``os.walk`` order: its folders, its files, then each subfolder):
    one ``scandir`` and one ``stat`` per file (the entry tells links and folders apart)."""
    try:
        with os.scandir(top) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return  # an unreadable folder is skipped, as os.walk does
    subdirs: list[tuple[str, str]] = []
    names: list[os.DirEntry[str]] = []
    for e in entries:
        try:
            is_dir = e.is_dir()
        except OSError:
            is_dir = False
        if not is_dir:
            names.append(e)
            continue
        rel = _join_repo(rel_dir, e.name)
        if e.name == ".git" or rel == ".cache/huggingface" or rel.endswith("/.cache/huggingface"):
            continue
        if e.is_symlink():
            if not _inside(os.path.realpath(e.path), w.root) and not matches(rel + "/", w.exclude):
                refused.append(rel + "/")
            continue  # never follow directory links (loops, duplicates)
        subdirs.append((e.path, rel))
    folder = Path(top)  # one parse per folder: each file's path is a cheap child of it
    for e in names:
        rel = _join_repo(rel_dir, e.name)
        if (w.include or w.exclude) and not wanted(rel, w.include, w.exclude):
            continue
        if e.is_symlink():
            target = os.path.realpath(e.path)
            if not _inside(target, w.root) or not os.path.isfile(target):
                refused.append(rel)
                continue
        try:
            size = e.stat().st_size
        except OSError as exc:
            raise LocalFileError(f"{e.path}: cannot read ({exc.strerror}).") from exc
        files.append(LocalFile(folder / e.name, _check_repo_path(_join_repo(w.prefix, rel)), size))
    for path, rel in subdirs:
        _scan(path, rel, w, files, refused)


def plan_upload(
    local_path: str | os.PathLike[str],
    *,
    path_in_repo: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    delete: Sequence[str] = (),
) -> UploadPlan:
    """Walk ``local_path`` (a file or a folder) into an :class:`UploadPlan`.

    Never uploads ``.git/`` or ``.cache/huggingface/``; ``include``/``exclude`` are globs on paths
    relative to the folder. Symlinks that resolve outside the folder are refused (UsageError), as
    are broken ones; a missing ``local_path`` raises LocalFileError.
    """
    src = Path(local_path)
    if not src.exists():
        raise LocalFileError(f"{src}: no such file or folder.")
    if src.is_file():
        name = src.name
        if path_in_repo is None or path_in_repo.strip() in ("", "."):
            dest = name
        elif path_in_repo.endswith("/"):
            dest = _join_repo(_clean_prefix(path_in_repo), name)
        else:
            dest = _clean_prefix(path_in_repo)
        _check_repo_path(dest)
        prefix = dest.rpartition("/")[0]
        return UploadPlan(
            files=(LocalFile(src, dest, src.stat().st_size),),
            prefix=prefix,
            delete_patterns=tuple(delete),
        )
    if not src.is_dir():
        raise LocalFileError(f"{src}: not a regular file or folder.")
    prefix = _clean_prefix(path_in_repo)
    files: list[LocalFile] = []
    refused: list[str] = []
    _scan(
        os.fspath(src), "", _Walk(os.path.realpath(src), prefix, include, exclude), files, refused
    )
    if refused:
        shown = ", ".join(refused[:5]) + (
            f" (+{len(refused) - 5} more)" if len(refused) > 5 else ""
        )
        raise UsageError(
            f"Refusing symlinks that point outside {src} (or nowhere): {shown}.",
            hint="Exclude them with --exclude, or copy the files into the folder.",
        )
    files.sort(key=lambda f: f.path_in_repo)
    return UploadPlan(files=tuple(files), prefix=prefix, delete_patterns=tuple(delete))
