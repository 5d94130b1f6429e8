"""Property-based tests of the bundle importer: random and mutated manifests never raise anything
but the documented errors (IntegrityError / UnsafePathError, exit 6), never write outside the
cache, and never leave a partial import (the cache is unchanged, or the import is complete)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hubcli.cache import bundle_import
from hubcli.cache.bundle import export_bundle, import_bundle
from hubcli.cache.bundle_manifest import parse_manifest
from hubcli.cache.layout import RepoCache
from hubcli.cache.verify import verify_cache
from hubcli.errors import IntegrityError
from tests.fixtures.bundles import Members, listing, members_of, write_bundle
from tests.unit.test_bundle_import import write_tree
from tests.unit.test_cache_bundle import C1, FILES, build_cache

NASTY = [
    "", ".", "..", "../x", "a/../b", "../../../../outside", "/abs", "a//b", "C:x", "a\\b",
    "x\x00y", "\n", "config.json", "config.json/x", "sub", "sub/v.txt/deeper", "refs/pr/1",
    "main", "a" * 300, "é/ü", "\ud800", ".hubcli-staging", "blobs/x", C1, "0" * 40, "f" * 64,
    "F" * 40, " " + "1" * 40, "models--alice--m", "model", "dataset", "alice/m", "bob/x",
    "a--b/c",
]  # fmt: skip
TEXT = st.one_of(st.sampled_from(NASTY), st.text(max_size=12))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=2**64),
    st.floats(allow_nan=False),
    TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)


def _containers(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for key, value in items:
        if isinstance(value, dict | list):
            out.extend(_containers(value, (*path, key)))
    return out


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _mutate(data: st.DataObject, doc: Any) -> None:
    node = _at(doc, data.draw(st.sampled_from(_containers(doc))))
    op = data.draw(st.sampled_from(["set", "rename", "add", "delete", "copy"]))
    if isinstance(node, list):
        if node and op != "add":
            node[data.draw(st.integers(0, len(node) - 1))] = data.draw(VALUES)
        else:
            node.append(data.draw(VALUES))
        return
    keys = sorted(node, key=str)
    if not keys or op == "add":
        node[data.draw(TEXT)] = data.draw(VALUES)
        return
    key = data.draw(st.sampled_from(keys))
    if op == "set":
        node[key] = data.draw(VALUES)
    elif op == "rename":
        node[data.draw(TEXT)] = node.pop(key)
    elif op == "delete":
        del node[key]
    else:  # the same value under a second, hostile name (file/folder clash, '..', ...)
        node[data.draw(TEXT)] = json.loads(json.dumps(node[key]))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Members]:
    base = tmp_path_factory.mktemp("prop")
    src = base / "src"
    rc = build_cache(src, FILES)
    write_tree(rc, C1, FILES)
    bundle = base / "good.tar"
    export_bundle(src, ["alice/m"], bundle)
    template = base / "template"
    build_cache(template, {"other.txt": b"keep me"}, repo="bob/x")
    half = build_cache(template, {"config.json": b"{}"})  # alice/m partly cached already
    write_tree(half, C1, FILES)
    return template, members_of(bundle)


def _check_import(template: Path, members: Members, doc: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cache = root / "a" / "b" / "cache"
        shutil.copytree(template, cache, symlinks=True)
        (root / "sentinel").mkdir()
        data = json.dumps(doc).encode()
        bundle = write_bundle(root / "bundle.tar", [(members[0][0], data), *members[1:]])
        outside = listing(root, skip=("a",))
        before = listing(cache)
        try:
            res = import_bundle(cache, bundle)
        except IntegrityError as exc:
            event(f"refused: {type(exc).__name__}")
            assert listing(cache) == before  # refused: nothing changed
        else:
            event("imported")
            manifest = parse_manifest(data)
            for plan in manifest.repos:
                rc = RepoCache(cache, plan.ref)
                for rev in plan.revisions.values():
                    for path in rev.files:
                        assert rc.snapshot_file(rev.commit, path).is_file()
            assert verify_cache(cache).ok and res.files == sum(
                len(r.files) for p in manifest.repos for r in p.revisions.values()
            )
        assert listing(root, skip=("a",)) == outside
        assert sorted(p.name for p in (root / "a" / "b").iterdir()) == ["cache"]
        assert not (cache / bundle_import.STAGING).exists()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_manifests(world: tuple[Path, Members], data: st.DataObject) -> None:
    template, members = world
    doc = json.loads(members[0][1])
    for _ in range(data.draw(st.integers(1, 3))):
        _mutate(data, doc)
    _check_import(template, members, doc)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=VALUES)
def test_random_manifests(world: tuple[Path, Members], doc: Any) -> None:
    template, members = world
    _check_import(template, members, doc)
