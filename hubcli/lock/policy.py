"""Supply-chain kinds of locked files, and the ``[policy] deny`` check over a lock.

Two kinds are marked, each from what the files *are*, not what they are called:

- ``pickle``: a file whose bytes are a pickle stream (``\\x80`` + protocol 2..5, or a
  protocol 0/1 stream that parses as pickle opcodes with a consistent stack), or a zip holding
  ``*/data.pkl`` (the format of ``torch.save``). Loading one runs code. Only the first
  :data:`HEAD_BYTES` are read for the opcodes, and only a zip's central directory for
  ``data.pkl``; the extensions in :data:`PICKLE_EXTENSIONS` decide only when the content
  cannot be read. A ``.bin`` holding safetensors is not a pickle.
- ``remote-code``: the Python files ``trust_remote_code=True`` would import: the modules
  named by ``auto_map`` (and ``custom_pipelines``) in ``config.json`` and
  ``tokenizer_config.json``, and the modules those import relatively.

Pure functions: no network, no cache layout. The caller says how to read a file.
"""

from __future__ import annotations

import fnmatch
import io
import os
import pickletools
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any

from hubcli.errors import HubError, UsageError
from hubcli.lock.lockfile import KINDS, LockFile
from hubcli.repo import display_id

PICKLE = "pickle"
REMOTE_CODE = "remote-code"

HEAD_BYTES = 4096
"""How much of a file's start the opcode check reads."""
ZIP_INLINE_MAX = 1 << 20
"""A zip this small is read whole when only the head can be read (no random access)."""
PICKLE_EXTENSIONS = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".pt2")
"""Names that count as pickle only when the content cannot be read."""
CODE_CONFIGS = ("config.json", "tokenizer_config.json")
"""The files whose ``auto_map`` names the code ``trust_remote_code`` runs."""

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
# Opcodes a protocol 0/1 pickle can start with: each pushes onto an empty stack.
_HEADLESS_START = frozenset(b"(}])NILFSVcJKMUTXGP")
_MIN_OPS_TRUNCATED = 16  # a protocol 0/1 head cut before STOP must parse at least this far
_MIN_OPS_TRUNCATED_PROTO = 2  # PROTO 2..5 and one valid opcode
_GLOBAL_RE = re.compile(r"[A-Za-z_][\w.]* [A-Za-z_][\w.]*")
_MEMO_PUT = {"PUT", "BINPUT", "LONG_BINPUT"}
_MEMO_GET = {"GET", "BINGET", "LONG_BINGET"}


class PolicyError(HubError):
    """The lock holds files of a kind the project's ``[policy] deny`` forbids (exit 2)."""

    code = "policy_denied"
    exit_code = 2

    def __init__(
        self, message: str, *, hint: str | None = None, violations: tuple[Violation, ...] = ()
    ) -> None:
        super().__init__(message, hint=hint)
        self.violations = violations


@dataclass(frozen=True, order=True)
class Violation:
    """One locked file of a denied kind. ``repo`` is the Hub form (``datasets/org/x``)."""

    repo: str
    path: str
    kind: str


# -- pickle ---------------------------------------------------------------------------------------
def _walk(data: bytes) -> tuple[bool, int, bool]:
    """Parse the pickle opcodes of ``data``, checking the stack and the memo.

    Returns (reached STOP with one object left, opcodes parsed, found an inconsistency). An
    opcode whose argument does not parse (as at the cut of a head) just ends the walk."""
    depth = 0
    marks: list[int] = []
    memo: set[object] = set()
    count = 0
    ops = pickletools.genops(data)
    while True:
        try:
            op, arg, pos = next(ops)
        except StopIteration:
            return False, count, False
        except Exception:  # a bad or cut argument (ValueError, UnicodeDecodeError, ...)
            return False, count, False
        name = op.name
        if name == "PROTO" and pos != 0:
            return False, count, True
        if name in ("GLOBAL", "INST") and not (isinstance(arg, str) and _GLOBAL_RE.fullmatch(arg)):
            return False, count, True
        if name in _MEMO_GET and arg not in memo:
            return False, count, True
        count += 1
        before, after = op.stack_before, op.stack_after
        floor = marks[-1] if marks else 0
        if name == "POP" and marks and depth == floor:
            marks.pop()  # POP with nothing above the mark pops the mark itself
            continue
        if pickletools.markobject in before:
            if not marks:
                return False, count, True
            idx = before.index(pickletools.markobject)
            above = [x for x in before[idx + 1 :] if x is not pickletools.stackslice]
            top = marks.pop()
            below = marks[-1] if marks else 0
            if depth - top < len(above) or top - below < idx:
                return False, count, True
            depth = top - idx
        else:
            if depth - floor < len(before):
                return False, count, True
            depth -= len(before)
        if name == "STOP":
            return depth == 0 and not marks, count, depth != 0 or bool(marks)
        if pickletools.markobject in after:
            marks.append(depth)
        else:
            depth += len(after)
        if name in _MEMO_PUT:
            memo.add(arg)
        elif name == "MEMOIZE":
            memo.add(len(memo))


def is_pickle_head(head: bytes, *, size: int) -> bool:
    """Whether ``head``, the first bytes of a file of ``size`` bytes, starts a pickle stream.

    A stream that reaches STOP with a consistent stack is one. A head cut before STOP is one
    when the file goes on past it and what was read parses consistently: at least
    the opcode after a ``PROTO 2..5`` header, or 16 opcodes without a header (protocols 0/1
    have no magic number, so text must not pass by chance)."""
    if len(head) < 2:
        return False
    if head[0] == 0x80:
        if not 2 <= head[1] <= 5:
            return False
        needed = _MIN_OPS_TRUNCATED_PROTO
    elif head[0] in _HEADLESS_START:
        needed = _MIN_OPS_TRUNCATED
    else:
        return False
    stopped, ops, bad = _walk(head)
    if stopped:
        return True
    return not bad and len(head) < size and ops >= needed


def zip_has_data_pkl(fh: IO[bytes]) -> bool | None:
    """Whether the zip in ``fh`` has a ``data.pkl`` entry (``archive/data.pkl``); None when
    it is not a readable zip. Reads the central directory only, never an entry."""
    try:
        with zipfile.ZipFile(fh) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return None
    return any(n == "data.pkl" or fnmatch.fnmatchcase(n, "*/data.pkl") for n in names)


def by_extension(path: str) -> tuple[str, ...]:
    """The fallback when the content cannot be read."""
    return (PICKLE,) if path.lower().endswith(PICKLE_EXTENSIONS) else ()


def classify_stream(path: str, fh: IO[bytes] | None, *, size: int | None = None) -> tuple[str, ...]:
    """The kinds of the file ``path`` whose bytes ``fh`` (seekable, at any position) reads;
    ``fh`` None = unreadable, the extension decides. ``size`` defaults to seeking to the end."""
    if fh is None:
        return by_extension(path)
    try:
        if size is None:
            size = fh.seek(0, os.SEEK_END)
        fh.seek(0)
        head = fh.read(HEAD_BYTES)
        if head.startswith(_ZIP_MAGICS):
            fh.seek(0)
            found = zip_has_data_pkl(fh)
            if found is None:
                return by_extension(path)
            return (PICKLE,) if found else ()
    except OSError:
        return by_extension(path)
    return (PICKLE,) if is_pickle_head(head, size=size) else ()


def classify(
    path: str,
    read_head: Callable[[int], bytes] | None,
    *,
    size: int,
    read_at: Callable[[int, int], bytes] | None = None,
) -> tuple[str, ...]:
    """The kinds of the file ``path`` (``size`` bytes) by content, without a local copy.

    ``read_head(n)`` gives the first ``n`` bytes (a ranged GET, a cache blob). A zip needs
    its central directory, at the end: ``read_at(offset, length)`` gives random access for it;
    without it a zip of up to :data:`ZIP_INLINE_MAX` bytes is read whole through ``read_head``
    and a bigger one falls back to the extension. A reader raising OSError or a HubError, or
    no reader, means the content cannot be read: the extension decides.
    """
    if read_at is not None:
        fh = io.BufferedReader(_RangeFile(read_at, size), buffer_size=64 * 1024)
        return classify_stream(path, fh, size=size)
    if read_head is None:
        return by_extension(path)
    try:
        head = read_head(min(HEAD_BYTES, size))
        if head.startswith(_ZIP_MAGICS):
            if size > ZIP_INLINE_MAX:
                return by_extension(path)
            found = zip_has_data_pkl(io.BytesIO(read_head(size)))
            if found is None:
                return by_extension(path)
            return (PICKLE,) if found else ()
    except (OSError, HubError):
        return by_extension(path)
    return (PICKLE,) if is_pickle_head(head, size=size) else ()


def classify_file(path: str, local: str | os.PathLike[str] | None) -> tuple[str, ...]:
    """The kinds of the repo file ``path`` whose bytes are at ``local`` (None: not readable)."""
    if local is None:
        return by_extension(path)
    try:
        with open(local, "rb") as fh:
            return classify_stream(path, fh)
    except OSError:
        return by_extension(path)


class _RangeFile(io.RawIOBase):
    """A read-only seekable file over ``read_at(offset, length)`` (e.g. HTTP ranges)."""

    def __init__(self, read_at: Callable[[int, int], bytes], size: int) -> None:
        self._read_at = read_at
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), max(0, self._size - self._pos))
        if n == 0:
            return 0
        try:
            data = self._read_at(self._pos, n)
        except HubError as exc:
            raise OSError(str(exc)) from exc
        data = data[:n]
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


# -- remote code ----------------------------------------------------------------------------------
_RELATIVE_IMPORT_RES = (
    re.compile(r"^\s*import\s+\.(\S+)\s*$", re.MULTILINE),
    re.compile(r"^\s*from\s+\.(\S+)\s+import", re.MULTILINE),
)


def _class_refs(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, str):
                yield item


def _auto_map_refs(doc: Mapping[str, Any] | None) -> list[str]:
    if not isinstance(doc, Mapping):
        return []
    refs: list[str] = []
    auto_map = doc.get("auto_map")
    if isinstance(auto_map, (list, tuple)):  # the legacy tokenizer form: [slow, fast]
        auto_map = {"AutoTokenizer": auto_map}
    if isinstance(auto_map, Mapping):
        for value in auto_map.values():
            refs.extend(_class_refs(value))
    pipelines = doc.get("custom_pipelines")
    if isinstance(pipelines, Mapping):
        for task in pipelines.values():
            if isinstance(task, Mapping):
                refs.extend(_class_refs(task.get("impl")))
    return refs


def module_path(class_ref: str) -> str | None:
    """``modeling_x.MyModel`` or ``org/repo--modeling_x.MyModel`` -> ``modeling_x.py``."""
    ref = class_ref.split("--", 1)[1] if "--" in class_ref else class_ref
    module, dot, _cls = ref.rpartition(".")
    if not dot or not module:
        return None
    return module.replace(".", "/") + ".py"


def remote_code_files(
    config_json: Mapping[str, Any] | None,
    tokenizer_config: Mapping[str, Any] | None,
    paths: set[str] | frozenset[str],
    *,
    read_text: Callable[[str], str | None] | None = None,
) -> set[str]:
    """The repo's Python files ``trust_remote_code`` would run: the modules ``auto_map``
    names (and ``custom_pipelines``' ``impl``), when present in ``paths``; with ``read_text``
    (repo path -> text or None), also the modules those import relatively, transitively.

    A reference into another repo (``org/repo--mod.Class``) is counted when ``mod.py`` is in
    this repo too: transformers loads it from that repo, but the same file here is the same risk
    and cheap to flag.
    """
    todo: list[str] = []
    for doc in (config_json, tokenizer_config):
        for ref in _auto_map_refs(doc):
            path = module_path(ref)
            if path is not None and path in paths:
                todo.append(path)
    found: set[str] = set()
    while todo:
        path = todo.pop()
        if path in found:
            continue
        found.add(path)
        if read_text is None:
            continue
        text = read_text(path)
        if not text:
            continue
        folder = path.rpartition("/")[0]
        for regex in _RELATIVE_IMPORT_RES:
            for name in regex.findall(text):
                rel = name.replace(".", "/") + ".py"
                dep = f"{folder}/{rel}" if folder else rel
                if dep in paths and dep not in found:
                    todo.append(dep)
    return found


# -- policy ---------------------------------------------------------------------------------------
def check_kinds(deny: Iterable[str]) -> tuple[str, ...]:
    """``deny`` validated and sorted; a kind hubcli does not mark is a UsageError (exit 2)."""
    kinds = tuple(sorted(set(deny)))
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise UsageError(
            f"Unknown policy kind {unknown[0]!r}: use one of {', '.join(KINDS)}.",
        )
    return kinds


def violations(lock: LockFile, deny: Iterable[str]) -> list[Violation]:
    """Every locked file of a denied kind, sorted by (repo, path, kind)."""
    denied = set(deny)
    out = [
        Violation(display_id(repo.id, repo.type), f.path, kind)
        for repo in lock.repos
        for f in repo.files
        for kind in f.kinds
        if kind in denied
    ]
    return sorted(out)


def enforce(lock: LockFile, deny: Iterable[str], *, shown: int = 10) -> None:
    """Raise PolicyError (exit 2) naming the files when the lock holds a denied kind."""
    found = violations(lock, check_kinds(deny))
    if not found:
        return
    lines = [f"{v.repo}: {v.path} ({v.kind})" for v in found[:shown]]
    more = f"; and {len(found) - shown} more" if len(found) > shown else ""
    noun = "file is" if len(found) == 1 else "files are"
    kinds = sorted({v.kind for v in found})
    raise PolicyError(
        f"{len(found)} locked {noun} denied by the policy ({', '.join(kinds)}): "
        + "; ".join(lines)
        + more,
        hint="Exclude them (exclude = [...] in hubcli.toml) or allow the kind in [policy] deny.",
        violations=tuple(found),
    )
