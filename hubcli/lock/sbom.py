"""``hubcli lock --sbom``: the lock as a CycloneDX 1.6 JSON document.

One component per locked repo (models ``machine-learning-model`` with the purl
``pkg:huggingface/<namespace>/<name>@<commit>``, datasets ``data``, Spaces ``application``),
each with a ``bom-ref``, its page under the endpoint as external references, the licence from
its card and one nested ``file`` component per locked file carrying its SHA-256 and the kinds
:mod:`hubcli.lock.policy` marked (``hubcli:kind`` properties). The document is a function of
the lock, the endpoint and the licences alone: the serial number is a UUID5 over them and no
timestamp is written unless one is passed, so the same lock gives the same bytes.

Plain JSON at run time; the tests validate it against the CycloneDX 1.6 schema.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

from hubcli.errors import LocalFileError
from hubcli.lock.lockfile import LockedRepo, LockFile, dumps, read_lock
from hubcli.repo import display_id

if TYPE_CHECKING:
    from hubcli.hub import Hub

SPEC_VERSION = "1.6"
SCHEMA_URL = "http://cyclonedx.org/schema/bom-1.6.schema.json"
DEFAULT_ENDPOINT = "https://huggingface.co"
_SERIAL_NAMESPACE = uuid.UUID("6f1d7c2e-5b0a-5d3e-9c4b-1a2b3c4d5e6f")
_COMPONENT_TYPES = {"model": "machine-learning-model", "dataset": "data", "space": "application"}

# The Hub's licence ids (lowercase) that are SPDX ids, in SPDX's spelling. Anything else
# (openrail, llama3, other, ...) is written as a licence *name*, never as a made-up id.
_SPDX_IDS = {
    s.lower(): s
    for s in (
        "AFL-3.0",
        "AGPL-3.0",
        "Apache-2.0",
        "Artistic-2.0",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "BSD-3-Clause-Clear",
        "BSL-1.0",
        "CC-BY-2.0",
        "CC-BY-2.5",
        "CC-BY-3.0",
        "CC-BY-4.0",
        "CC-BY-NC-2.0",
        "CC-BY-NC-3.0",
        "CC-BY-NC-4.0",
        "CC-BY-NC-ND-3.0",
        "CC-BY-NC-ND-4.0",
        "CC-BY-NC-SA-2.0",
        "CC-BY-NC-SA-3.0",
        "CC-BY-NC-SA-4.0",
        "CC-BY-ND-4.0",
        "CC-BY-SA-3.0",
        "CC-BY-SA-4.0",
        "CC0-1.0",
        "CDLA-Permissive-1.0",
        "CDLA-Permissive-2.0",
        "CDLA-Sharing-1.0",
        "ECL-2.0",
        "EPL-1.0",
        "EPL-2.0",
        "etalab-2.0",
        "EUPL-1.1",
        "EUPL-1.2",
        "GPL-2.0",
        "GPL-3.0",
        "ISC",
        "LGPL-2.1",
        "LGPL-3.0",
        "LPPL-1.3c",
        "MIT",
        "MPL-2.0",
        "MS-PL",
        "NCSA",
        "OFL-1.1",
        "OSL-3.0",
        "PostgreSQL",
        "Unlicense",
        "WTFPL",
        "Zlib",
    )
}
_NO_LICENCE = {"", "unknown"}

Licence: TypeAlias = "str | Sequence[str] | None"


def purl(repo_id: str, commit: str, *, endpoint: str = DEFAULT_ENDPOINT) -> str:
    """The package URL of a Hub model: ``pkg:huggingface/<namespace>/<name>@<commit>``
    (no namespace for a bare name such as ``gpt2``; ``?repository_url=`` off the Hub)."""
    parts = [quote(p, safe="") for p in repo_id.split("/")]
    out = "pkg:huggingface/" + "/".join(parts) + "@" + commit.lower()
    if endpoint.rstrip("/") != DEFAULT_ENDPOINT:
        out += "?repository_url=" + quote(endpoint.rstrip("/"), safe=":/")
    return out


def licence_entries(licence: Licence) -> list[dict[str, Any]]:
    """CycloneDX ``licenses``: ``{"license": {"id": ...}}`` for SPDX ids, a name otherwise."""
    if licence is None:
        return []
    values = [licence] if isinstance(licence, str) else list(licence)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for value in values:
        if not isinstance(value, str) or value.strip().lower() in _NO_LICENCE:
            continue
        value = value.strip()
        spdx = _SPDX_IDS.get(value.lower())
        entry = {"id": spdx} if spdx else {"name": value}
        key = json.dumps(entry, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append({"license": entry})
    return out


def card_licence(metadata: Mapping[str, Any]) -> Licence:
    """The licence a card's metadata declares: ``license`` (a string or a list), with
    ``license_name`` standing in for the Hub's ``other``."""
    value = metadata.get("license")
    name = metadata.get("license_name")
    if isinstance(value, str):
        if value.strip().lower() == "other" and isinstance(name, str) and name.strip():
            return name.strip()
        return value
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return None


def _page(endpoint: str, repo: LockedRepo) -> str:
    return f"{endpoint.rstrip('/')}/{display_id(repo.id, repo.type)}"


def _repo_component(repo: LockedRepo, endpoint: str, licence: Licence) -> dict[str, Any]:
    shown = display_id(repo.id, repo.type)
    namespace, _, name = repo.id.rpartition("/")
    ref = purl(repo.id, repo.commit, endpoint=endpoint) if repo.type == "model" else None
    bom_ref = ref or f"{shown}@{repo.commit}"
    page = _page(endpoint, repo)
    component: dict[str, Any] = {"type": _COMPONENT_TYPES[repo.type], "bom-ref": bom_ref}
    if namespace:
        component["group"] = namespace
    component["name"] = name
    component["version"] = str(repo.commit)
    licences = licence_entries(licence)
    if licences:
        component["licenses"] = licences
    if ref:
        component["purl"] = ref
    component["externalReferences"] = [
        {"type": "website", "url": page},
        {"type": "vcs", "url": page},
    ]
    kinds = sorted({k for f in repo.files for k in f.kinds})
    properties = [
        {"name": "hubcli:repo-type", "value": repo.type},
        {"name": "hubcli:requested", "value": repo.requested},
    ]
    properties += [{"name": "hubcli:include", "value": p} for p in repo.include]
    properties += [{"name": "hubcli:exclude", "value": p} for p in repo.exclude]
    properties += [{"name": "hubcli:kind", "value": k} for k in kinds]
    component["properties"] = properties
    files = []
    for f in sorted(repo.files, key=lambda f: f.path):
        url = f"{page}/resolve/{repo.commit}/{quote(f.path)}"
        file_props = [
            {"name": "hubcli:size", "value": str(f.size)},
            {"name": "hubcli:lfs", "value": "true" if f.lfs else "false"},
            {"name": "hubcli:git-blob-id", "value": str(f.blob_id)},
        ]
        file_props += [{"name": "hubcli:kind", "value": k} for k in sorted(set(f.kinds))]
        files.append(
            {
                "type": "file",
                "bom-ref": f"{bom_ref}#{f.path}",
                "name": f.path,
                "hashes": [{"alg": "SHA-256", "content": str(f.sha256)}],
                "externalReferences": [{"type": "distribution", "url": url}],
                "properties": file_props,
            }
        )
    if files:
        component["components"] = files
    return component


def serial_number(lock: LockFile, *, endpoint: str, licences: Mapping[Any, Licence]) -> str:
    """``urn:uuid:`` of a UUID5 over the lock's bytes, the endpoint and the licences."""
    seed = json.dumps(
        {
            "lock": dumps(lock),
            "endpoint": endpoint.rstrip("/"),
            "licences": sorted(
                [list(k), v if v is None or isinstance(v, str) else list(v)]
                for k, v in licences.items()
            ),
        },
        sort_keys=True,
        default=str,
    )
    return uuid.uuid5(_SERIAL_NAMESPACE, seed).urn


def sbom(
    lock: LockFile,
    *,
    endpoint: str = DEFAULT_ENDPOINT,
    licenses: Mapping[tuple[str, str], Licence] | None = None,
    timestamp: _dt.datetime | None = None,
) -> dict[str, Any]:
    """The CycloneDX 1.6 document of ``lock``. ``licenses`` maps (type, id) to the card's
    licence (an SPDX id, another name, a list of them, or None). Deterministic: no timestamp
    unless given (then written in UTC)."""
    from hubcli import __version__

    licences = dict(licenses or {})
    repos = sorted(lock.repos, key=lambda r: r.key)
    metadata: dict[str, Any] = {}
    if timestamp is not None:
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=_dt.timezone.utc)
        when = timestamp.astimezone(_dt.timezone.utc).replace(microsecond=0)
        metadata["timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata["tools"] = {
        "components": [{"type": "application", "name": "hubcli", "version": __version__}]
    }
    metadata["properties"] = [{"name": "hubcli:lock-input-hash", "value": lock.input_hash}]
    return {
        "$schema": SCHEMA_URL,
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial_number(lock, endpoint=endpoint, licences=licences),
        "version": 1,
        "metadata": metadata,
        "components": [_repo_component(r, endpoint, licences.get((r.type, r.id))) for r in repos],
    }


def dumps_sbom(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def repo_licence(hub: Hub, repo: LockedRepo) -> Licence:
    """The licence on ``repo``'s card at its locked commit: from the cache when it has the
    README (or knows it is absent), else fetched (and cached) through :meth:`Hub.card`."""
    from hubcli.card import parse_card
    from hubcli.discover import cached_card

    cached = cached_card(hub.settings.cache_dir, repo.ref, str(repo.commit))
    if cached is not None:
        return card_licence(parse_card(cached.text).metadata) if cached.text else None
    card = hub.card(repo.ref, revision=str(repo.commit))
    return card_licence(card.metadata)


def write_sbom(lock_path: Path, out: Path, hub: Hub) -> Path:
    """Read the lock at ``lock_path``, write its SBOM to ``out`` (atomically) and return
    ``out``. Licences come from the cards, cached or fetched at the locked commits."""
    lock = read_lock(Path(lock_path))
    licences: dict[tuple[str, str], Licence] = {
        (r.type, r.id): repo_licence(hub, r) for r in lock.repos
    }
    document = sbom(lock, endpoint=hub.settings.endpoint, licenses=licences)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(dumps_sbom(document))
        os.replace(tmp, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise LocalFileError(f"Cannot write the SBOM {out}: {exc.strerror or exc}.") from exc
    return out
