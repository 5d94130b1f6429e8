"""The project input: ``hubcli.toml`` (or ``[tool.hubcli]`` in pyproject.toml), read and edited.

The project root is the first folder upwards from the working directory that holds a
``hubcli.toml``, or a ``pyproject.toml`` with a ``[tool.hubcli]`` table; when a folder holds
both, hubcli.toml wins. The lock is ``<root>/hubcli.lock``.

Input (hubcli.toml; in pyproject.toml the same keys live under ``[tool.hubcli]``)::

    [[repo]]                      # or `repos = [...]`
    id = "org/model"              # `datasets/org/x` also works (then `type` may be left out)
    type = "model"                # model (default), dataset or space
    revision = "main"             # branch, tag or 40-hex commit (default main)
    include = ["*.json"]          # globs (hubcli.globs); empty = everything
    exclude = []
    local-dir = "models/x"        # optional: also place the files there (relative to the root)

    [policy]
    deny = ["pickle", "remote-code"]

:func:`input_hash` is the sha256 of a canonical JSON of the normalized entries (sorted by
(type, id), defaults filled in) and the policy, so formatting, comments and entry order do not
change it but any meaningful edit does. :func:`add_repo` / :func:`remove_repo` edit the file
through tomlkit, so the user's comments and layout stay.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.errors import HubError, LocalFileError, UsageError
from hubcli.lock.lockfile import LOCK_NAME, parse_toml
from hubcli.repo import REPO_TYPES, RepoRef, RepoType, normalize_repo_type, parse_repo_ref

if TYPE_CHECKING:
    from hubcli.lock.lockfile import LockFile

INPUT_NAME = "hubcli.toml"
PYPROJECT = "pyproject.toml"
DEFAULT_REVISION = "main"
_REPO_KEYS = ("repo", "repos")
_ENTRY_KEYS = {"id", "type", "revision", "include", "exclude", "local-dir"}


@dataclass(frozen=True)
class RepoSpec:
    """One input entry, normalized (type and revision filled in)."""

    id: str
    type: RepoType = "model"
    revision: str = DEFAULT_REVISION
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    local_dir: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.id)

    @property
    def ref(self) -> RepoRef:
        return RepoRef(self.id, self.type, revision=self.revision)

    def canonical(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "revision": self.revision,
            "include": list(self.include),
            "exclude": list(self.exclude),
            "local-dir": self.local_dir,
        }


@dataclass(frozen=True)
class Project:
    root: Path
    input_path: Path  # hubcli.toml or pyproject.toml
    repos: tuple[RepoSpec, ...]
    deny: tuple[str, ...] = ()

    @property
    def in_pyproject(self) -> bool:
        return self.input_path.name == PYPROJECT

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_NAME

    @property
    def input_hash(self) -> str:
        return input_hash(self.repos, self.deny)

    def spec(self, repo_id: str, repo_type: str = "model") -> RepoSpec | None:
        for spec in self.repos:
            if spec.id == repo_id and spec.type == repo_type:
                return spec
        return None


def input_hash(repos: Sequence[RepoSpec], deny: Sequence[str] = ()) -> str:
    """``sha256:<hex>`` of the canonical JSON of the entries (sorted) and the policy."""
    doc = {
        "repos": [r.canonical() for r in sorted(repos, key=lambda r: r.key)],
        "policy": {"deny": sorted(set(deny))},
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def stale_reason(project: Project, lock: LockFile | None) -> str | None:
    """Why ``lock`` does not match the project's input (None: it does); no request."""
    if lock is None:
        return "there is no lock file"
    if lock.input_hash != project.input_hash:
        return "the input changed since it was locked"
    if {r.key for r in lock.repos} != {s.key for s in project.repos}:
        return "its repos differ from the input"
    return None


# ---------------------------------------------------------------------------------------------
# Finding and reading


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise LocalFileError(f"Cannot read {path}: {reason}.") from None


def _parse(path: Path) -> dict[str, Any]:
    try:
        return parse_toml(_read_text(path))
    except HubError:
        raise
    except Exception as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None


def _has_tool_table(pyproject: Path) -> bool:
    data = _parse(pyproject)
    tool = data.get("tool")
    return isinstance(tool, dict) and isinstance(tool.get("hubcli"), dict)


def find_input(start: Path | None = None) -> Path | None:
    """The input file of the project holding ``start`` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / INPUT_NAME).is_file():
            return folder / INPUT_NAME
        py = folder / PYPROJECT
        if py.is_file() and _has_tool_table(py):
            return py
    return None


def _texts(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UsageError(f"{where}: expected a list of non-empty strings.")
    return tuple(value)


def parse_spec(entry: object, where: str) -> RepoSpec:
    """One ``[[repo]]`` table as a RepoSpec; UsageError (exit 2) naming ``where`` if invalid."""
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: expected a table with at least `id`.")
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise UsageError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_ENTRY_KEYS))})."
        )
    raw_id = entry.get("id")
    if not isinstance(raw_id, str) or not raw_id:
        raise UsageError(f"{where}: `id` is missing.")
    raw_type = entry.get("type")
    if raw_type is not None and raw_type not in (*REPO_TYPES, *(t + "s" for t in REPO_TYPES)):
        raise UsageError(f"{where}: `type` must be one of {', '.join(REPO_TYPES)}.")
    try:
        ref = parse_repo_ref(raw_id, normalize_repo_type(raw_type) if raw_type else None)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None
    if ref.revision or ref.path:
        raise UsageError(f"{where}: put the revision in `revision`, not in `id`.")
    revision = entry.get("revision", DEFAULT_REVISION)
    if not isinstance(revision, str) or not revision.strip() or not revision.isprintable():
        raise UsageError(f"{where}: `revision` must be a branch, tag or commit sha.")
    local_dir = entry.get("local-dir")
    if local_dir is not None and (not isinstance(local_dir, str) or not local_dir.strip()):
        raise UsageError(f"{where}: `local-dir` must be a non-empty path.")
    return RepoSpec(
        id=ref.repo_id,
        type=ref.repo_type,
        revision=revision.strip(),
        include=_texts(entry.get("include", []), f"{where} include"),
        exclude=_texts(entry.get("exclude", []), f"{where} exclude"),
        local_dir=local_dir,
    )


def _section(data: dict[str, Any], path: Path) -> dict[str, Any]:
    if path.name == PYPROJECT:
        section = data.get("tool", {}).get("hubcli", {})
        if not isinstance(section, dict):
            raise UsageError(f"{path}: [tool.hubcli] must be a table.")
        return section
    return data


def load_project(input_path: Path) -> Project:
    """Read and validate the input file at ``input_path``."""
    input_path = Path(input_path).absolute()
    data = _section(_parse(input_path), input_path)
    entries: list[Any] = []
    for key in _REPO_KEYS:
        value = data.get(key, [])
        if not isinstance(value, list):
            raise UsageError(f"{input_path}: `{key}` must be an array of tables ([[{key}]]).")
        entries += value
    specs = [parse_spec(e, f"{input_path}: repo #{i + 1}") for i, e in enumerate(entries)]
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        if spec.key in seen:
            raise UsageError(f"{input_path}: {spec.ref} is listed twice.")
        seen.add(spec.key)
    policy = data.get("policy", {})
    if not isinstance(policy, dict):
        raise UsageError(f"{input_path}: [policy] must be a table.")
    deny = _texts(policy.get("deny", []), f"{input_path}: policy.deny")
    return Project(input_path.parent, input_path, tuple(specs), tuple(sorted(set(deny))))


def find_project(start: Path | None = None) -> Project:
    """The project holding ``start`` (default cwd); UsageError when there is none."""
    path = find_input(start)
    if path is None:
        raise UsageError(
            f"No {INPUT_NAME} (or pyproject.toml with [tool.hubcli]) in {start or Path.cwd()} "
            "or any parent folder: create one with `hubcli add REPO`."
        )
    return load_project(path)


# ---------------------------------------------------------------------------------------------
# Editing (tomlkit keeps comments and layout)


def _write(path: Path, text: str) -> None:
    from hubcli.cache.layout import atomic_write_text

    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise LocalFileError(f"Cannot write {path}: {exc.strerror}.") from exc


def _document(path: Path) -> Any:
    import tomlkit

    try:
        return tomlkit.parse(_read_text(path)) if path.exists() else tomlkit.document()
    except Exception as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None


def _container(doc: Any, path: Path, create: bool) -> Any:
    import tomlkit

    if path.name != PYPROJECT:
        return doc
    if "tool" not in doc:
        if not create:
            return None
        doc["tool"] = tomlkit.table(is_super_table=True)
    tool = doc["tool"]
    if "hubcli" not in tool:
        if not create:
            return None
        tool["hubcli"] = tomlkit.table()
    return tool["hubcli"]


def _matches(entry: Any, spec_key: tuple[str, str], where: str) -> bool:
    return parse_spec(dict(entry), where).key == spec_key


def add_repo(path: Path, spec: RepoSpec, *, given: Sequence[str] = ()) -> bool:
    """Add ``spec`` to the input at ``path`` (created if absent) or update the entry for the same
    repo (only the keys named in ``given``: revision, include, exclude, local-dir). Returns
    whether an entry was added (False: updated)."""
    import tomlkit

    doc = _document(path)
    box = _container(doc, path, create=True)
    fields = {
        "revision": spec.revision,
        "include": list(spec.include),
        "exclude": list(spec.exclude),
        "local-dir": spec.local_dir,
    }
    for key in _REPO_KEYS:
        for i, entry in enumerate(box.get(key, [])):
            if _matches(entry, spec.key, f"{path}: {key} #{i + 1}"):
                for name in given:
                    if fields[name] in (None, []) and name != "revision":
                        entry.pop(name, None)
                    else:
                        entry[name] = fields[name]
                _write(path, tomlkit.dumps(doc))
                return False
    table = tomlkit.table()
    table["id"] = spec.id
    if spec.type != "model":
        table["type"] = spec.type
    if spec.revision != DEFAULT_REVISION or "revision" in given:
        table["revision"] = spec.revision
    if spec.include:
        table["include"] = list(spec.include)
    if spec.exclude:
        table["exclude"] = list(spec.exclude)
    if spec.local_dir is not None:
        table["local-dir"] = spec.local_dir
    table.add(tomlkit.nl())
    key = "repos" if "repos" in box and "repo" not in box else "repo"
    if key in box:
        box[key].append(table)
    else:
        aot = tomlkit.aot()
        aot.append(table)
        box[key] = aot
    _write(path, tomlkit.dumps(doc))
    return True


def remove_repo(path: Path, repo_type: str, repo_id: str) -> None:
    """Remove the entry for (type, id); UsageError when the input has none."""
    import tomlkit

    doc = _document(path)
    box = _container(doc, path, create=False)
    for key in _REPO_KEYS:
        entries = box.get(key, []) if box is not None else []
        for i, entry in enumerate(entries):
            if _matches(entry, (repo_type, repo_id), f"{path}: {key} #{i + 1}"):
                del entries[i]
                if not entries:
                    del box[key]
                _write(path, tomlkit.dumps(doc))
                return
    raise UsageError(f"{RepoRef(repo_id, normalize_repo_type(repo_type))} is not in {path}.")
