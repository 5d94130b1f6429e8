"""hubcli lock --sbom: a CycloneDX 1.6 document validated against the schema cyclonedx-python-lib
ships (no machine here reaches the internet, so the schema comes from a package)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from hubcli.hashing import CommitSha, GitSha1, Sha256
from hubcli.hub import Hub
from hubcli.lock.lockfile import LockedFile, LockedRepo, LockFile, write_lock
from hubcli.lock.sbom import (
    _SPDX_IDS,
    card_licence,
    dumps_sbom,
    licence_entries,
    purl,
    sbom,
    write_sbom,
)

ENDPOINT = "http://127.0.0.1:8080"
MODEL_SHA = "0123456789abcdef0123456789abcdef01234567"
GPT2_SHA = "1" * 40
DATA_SHA = "2" * 40
SPACE_SHA = "3" * 40


def _file(path: str, n: int, *kinds: str, lfs: bool = False) -> LockedFile:
    return LockedFile(path, 100 + n, Sha256(f"{n:x}" * 64), GitSha1(f"{n:x}" * 40), lfs, kinds)


def _lock() -> LockFile:
    model = LockedRepo(
        "acme/bert-tiny",
        "model",
        "main",
        CommitSha(MODEL_SHA),
        ("*.json", "*.py", "*.bin", "*.safetensors"),
        (),
        None,
        (
            _file("config.json", 1),
            _file("modeling_acme.py", 2, "remote-code"),
            _file("pytorch_model.bin", 3, "pickle", lfs=True),
            _file("model.safetensors", 4, lfs=True),
            _file("sub dir/ünïcode #1.txt", 5),
        ),
    )
    gpt2 = LockedRepo(
        "gpt2", "model", "v1.0", CommitSha(GPT2_SHA), (), (), "models/gpt2", (_file("a.json", 6),)
    )
    data = LockedRepo(
        "acme/reviews",
        "dataset",
        DATA_SHA,
        CommitSha(DATA_SHA),
        (),
        ("*.parquet",),
        None,
        (_file("data/train.pkl", 7, "pickle"), _file("README.md", 8)),
    )
    space = LockedRepo(
        "acme/demo", "space", "main", CommitSha(SPACE_SHA), (), (), None, (_file("app.py", 9),)
    )
    return LockFile(1, "sha256:" + "a" * 64, (space, data, gpt2, model))


LICENCES = {
    ("model", "acme/bert-tiny"): "apache-2.0",
    ("model", "gpt2"): "mit",
    ("dataset", "acme/reviews"): ["cc-by-4.0", "odc-by"],
    ("space", "acme/demo"): "llama3",
}


def _validate(document: dict) -> None:  # type: ignore[type-arg]
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(
        json.dumps(document), all_errors=True
    )
    assert errors is None, [(list(e.data.path), e.data.message[:300]) for e in errors]


def test_sbom_of_a_realistic_lock_validates_against_cyclonedx_1_6() -> None:
    document = sbom(_lock(), endpoint=ENDPOINT, licenses=LICENCES)
    _validate(document)
    stamped = sbom(
        _lock(),
        endpoint=ENDPOINT,
        licenses=LICENCES,
        timestamp=datetime.datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=datetime.timezone.utc),
    )
    _validate(stamped)
    assert stamped["metadata"]["timestamp"] == "2026-01-02T03:04:05Z"
    _validate(sbom(LockFile(1, "sha256:" + "b" * 64, ()), endpoint=ENDPOINT, licenses={}))


def test_sbom_components() -> None:
    document = sbom(_lock(), endpoint=ENDPOINT, licenses=LICENCES)
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == "1.6"
    assert document["version"] == 1
    assert document["serialNumber"].startswith("urn:uuid:")
    tool = document["metadata"]["tools"]["components"][0]
    assert tool["name"] == "hubcli" and tool["version"]
    assert "timestamp" not in document["metadata"]
    by_name = {c["name"]: c for c in document["components"]}
    model, gpt2 = by_name["bert-tiny"], by_name["gpt2"]
    data, space = by_name["reviews"], by_name["demo"]

    assert model["type"] == "machine-learning-model" and model["group"] == "acme"
    assert model["version"] == MODEL_SHA
    assert model["purl"] == (
        f"pkg:huggingface/acme/bert-tiny@{MODEL_SHA}?repository_url=http://127.0.0.1:8080"
    )
    parsed = PackageURL.from_string(model["purl"])
    assert (parsed.type, parsed.namespace, parsed.name, parsed.version) == (
        "huggingface",
        "acme",
        "bert-tiny",
        MODEL_SHA,
    )
    assert parsed.qualifiers == {"repository_url": ENDPOINT}
    assert model["bom-ref"] == model["purl"]
    assert gpt2["purl"].startswith(f"pkg:huggingface/gpt2@{GPT2_SHA}") and "group" not in gpt2
    assert model["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert gpt2["licenses"] == [{"license": {"id": "MIT"}}]
    assert data["licenses"] == [{"license": {"id": "CC-BY-4.0"}}, {"license": {"name": "odc-by"}}]
    assert space["licenses"] == [{"license": {"name": "llama3"}}]

    assert data["type"] == "data" and "purl" not in data
    assert data["bom-ref"] == f"datasets/acme/reviews@{DATA_SHA}"
    assert space["type"] == "application" and "purl" not in space
    assert {"type": "website", "url": f"{ENDPOINT}/datasets/acme/reviews"} in data[
        "externalReferences"
    ]
    assert {"type": "website", "url": f"{ENDPOINT}/spaces/acme/demo"} in space["externalReferences"]
    assert {"type": "website", "url": f"{ENDPOINT}/acme/bert-tiny"} in model["externalReferences"]

    files = {f["name"]: f for f in model["components"]}
    assert set(files) == {f.path for f in _lock().repos[3].files}
    weights = files["pytorch_model.bin"]
    assert weights["type"] == "file"
    assert weights["hashes"] == [{"alg": "SHA-256", "content": "3" * 64}]
    assert {"name": "hubcli:kind", "value": "pickle"} in weights["properties"]
    assert {"name": "hubcli:lfs", "value": "true"} in weights["properties"]
    assert {"name": "hubcli:kind", "value": "remote-code"} in files["modeling_acme.py"][
        "properties"
    ]
    assert not [p for p in files["config.json"]["properties"] if p["name"] == "hubcli:kind"]
    kinds = {p["value"] for p in model["properties"] if p["name"] == "hubcli:kind"}
    assert kinds == {"pickle", "remote-code"}
    odd = files["sub dir/ünïcode #1.txt"]["externalReferences"][0]["url"]
    assert odd == (
        f"{ENDPOINT}/acme/bert-tiny/resolve/{MODEL_SHA}/sub%20dir/%C3%BCn%C3%AFcode%20%231.txt"
    )
    refs = [c["bom-ref"] for c in document["components"]]
    refs += [f["bom-ref"] for c in document["components"] for f in c.get("components", [])]
    assert len(refs) == len(set(refs))


def test_sbom_is_deterministic_and_tracks_its_inputs() -> None:
    one = dumps_sbom(sbom(_lock(), endpoint=ENDPOINT, licenses=LICENCES))
    assert one == dumps_sbom(sbom(_lock(), endpoint=ENDPOINT, licenses=dict(LICENCES)))
    serial = json.loads(one)["serialNumber"]
    other_endpoint = sbom(_lock(), endpoint="https://huggingface.co", licenses=LICENCES)
    no_licences = sbom(_lock(), endpoint=ENDPOINT, licenses={})
    assert other_endpoint["serialNumber"] != serial != no_licences["serialNumber"]
    moved = _lock()
    moved = LockFile(moved.version, moved.input_hash, moved.repos[:-1])
    assert sbom(moved, endpoint=ENDPOINT, licenses=LICENCES)["serialNumber"] != serial


def test_purl_follows_the_huggingface_purl_type() -> None:
    assert purl("microsoft/deberta-v3-base", "559062AD13D311B87B2C455E67DCD5F1C8F65111") == (
        "pkg:huggingface/microsoft/deberta-v3-base@559062ad13d311b87b2c455e67dcd5f1c8f65111"
    )
    assert purl("distilbert-base-uncased", "0" * 40) == (
        f"pkg:huggingface/distilbert-base-uncased@{'0' * 40}"
    )
    assert purl("a/b", "0" * 40, endpoint="https://huggingface.co/") == (
        f"pkg:huggingface/a/b@{'0' * 40}"
    )
    assert purl("a/b", "0" * 40, endpoint="https://hub-ci.huggingface.co").endswith(
        "?repository_url=https://hub-ci.huggingface.co"
    )


def test_licence_entries_use_spdx_ids_only_when_they_are_spdx() -> None:
    assert licence_entries(None) == [] and licence_entries("unknown") == []
    assert licence_entries("Apache-2.0") == [{"license": {"id": "Apache-2.0"}}]
    assert licence_entries("openrail") == [{"license": {"name": "openrail"}}]
    assert licence_entries(["mit", "MIT"]) == [{"license": {"id": "MIT"}}]
    assert card_licence({"license": "other", "license_name": "acme-lic"}) == "acme-lic"
    assert card_licence({"license": "other"}) == "other"
    assert card_licence({"license": ["mit", 3]}) == ["mit"]
    assert card_licence({}) is None


def test_every_spdx_id_in_the_table_is_in_the_schema() -> None:
    import cyclonedx.schema._res as res

    spdx = json.loads((Path(res.__file__).parent / "spdx.SNAPSHOT.schema.json").read_text())
    known = set(spdx["enum"])
    assert set(_SPDX_IDS.values()) <= known, set(_SPDX_IDS.values()) - known


def _cache_readme(cache: Path, folder: str, commit: str, text: str) -> None:
    snap = cache / folder / "snapshots" / commit
    snap.mkdir(parents=True)
    (snap / "README.md").write_text(text)


def test_write_sbom_reads_licences_from_cached_cards(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _cache_readme(cache, "models--acme--bert-tiny", MODEL_SHA, "---\nlicense: apache-2.0\n---\nx")
    _cache_readme(cache, "models--gpt2", GPT2_SHA, "no front matter\n")
    _cache_readme(cache, "datasets--acme--reviews", DATA_SHA, "---\nlicense: [cc0-1.0]\n---\n")
    _cache_readme(
        cache, "spaces--acme--demo", SPACE_SHA, "---\nlicense: other\nlicense_name: x-1\n---\n"
    )
    lock_path = tmp_path / "hubcli.lock"
    write_lock(lock_path, _lock())
    with Hub(endpoint=ENDPOINT, cache_dir=cache, offline=True) as hub:
        out = write_sbom(lock_path, tmp_path / "sbom.cdx.json", hub)
    document = json.loads(out.read_text())
    _validate(document)
    licences = {c["name"]: c.get("licenses") for c in document["components"]}
    assert licences == {
        "bert-tiny": [{"license": {"id": "Apache-2.0"}}],
        "gpt2": None,
        "reviews": [{"license": {"id": "CC0-1.0"}}],
        "demo": [{"license": {"name": "x-1"}}],
    }
    assert not list(tmp_path.glob(".sbom*"))


def test_write_sbom_offline_without_a_cached_card_is_exit_7(tmp_path: Path) -> None:
    from hubcli.errors import OfflineError

    lock_path = tmp_path / "hubcli.lock"
    write_lock(lock_path, _lock())
    with (
        Hub(endpoint=ENDPOINT, cache_dir=tmp_path / "empty", offline=True) as hub,
        pytest.raises(OfflineError),
    ):
        write_sbom(lock_path, tmp_path / "sbom.json", hub)
    assert not (tmp_path / "sbom.json").exists()
