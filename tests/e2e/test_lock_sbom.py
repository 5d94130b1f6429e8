"""`hubcli lock --sbom FILE` end to end against the local hub (issue 14, supply chain): the
document validates against the CycloneDX 1.6 schema shipped in cyclonedx-python-lib."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from hubcli.lock.lockfile import loads

PICKLED = pickle.dumps({"weight": list(range(100))}, protocol=2)
CONFIG = json.dumps({"model_type": "tiny", "auto_map": {"AutoModel": "modeling_tiny.TinyModel"}})
INPUT = """\
[[repo]]
id = "alice/tiny"

[[repo]]
id = "alice/data"
type = "dataset"

[[repo]]
id = "alice/demo"
type = "space"
"""


def test_lock_sbom_validates_and_carries_the_lock(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    model = hub_server.seed_repo(
        "alice/tiny",
        {
            "README.md": "---\nlicense: apache-2.0\n---\n# tiny\n",
            "config.json": CONFIG,
            "modeling_tiny.py": "import torch\n",
            "pytorch_model.bin": PICKLED,
        },
    )
    data = hub_server.seed_repo(
        "alice/data",
        {"README.md": "---\nlicense: other\nlicense_name: acme\n---\n", "a.csv": "x\n1\n"},
        repo_type="dataset",
    )
    hub_server.seed_repo("alice/demo", {"app.py": "print('hi')\n"}, repo_type="space")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "hubcli.toml").write_text(INPUT)
    env = {"HF_ENDPOINT": hub_server.url, "HF_HUB_CACHE": str(tmp_path / "cache")}

    res = run_cli("lock", "--sbom", "out/sbom.cdx.json", env=env, cwd=proj)
    assert res.returncode == 8, res  # the folder does not exist: a local I/O error
    (proj / "out").mkdir()
    res = run_cli("lock", "--sbom", "out/sbom.cdx.json", env=env, cwd=proj)
    assert res.returncode == 0, res
    text = (proj / "out" / "sbom.cdx.json").read_text()
    document = json.loads(text)
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    assert errors is None, [(list(e.data.path), e.data.message[:300]) for e in errors]

    lock = loads((proj / "hubcli.lock").read_text())
    by_name = {c["name"]: c for c in document["components"]}
    tiny, dataset, demo = by_name["tiny"], by_name["data"], by_name["demo"]
    assert tiny["type"] == "machine-learning-model" and tiny["version"] == str(model)
    assert tiny["purl"] == (
        f"pkg:huggingface/alice/tiny@{model}?repository_url={hub_server.url.rstrip('/')}"
    )
    assert tiny["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert dataset["type"] == "data" and dataset["version"] == str(data)
    assert dataset["licenses"] == [{"license": {"name": "acme"}}]
    assert demo["type"] == "application" and "licenses" not in demo  # no README
    locked = lock.repo("alice/tiny")
    assert locked is not None
    files = {f["name"]: f for f in tiny["components"]}
    assert set(files) == {f.path for f in locked.files}
    for f in locked.files:
        assert files[f.path]["hashes"] == [{"alg": "SHA-256", "content": f.sha256}]
        kinds = {p["value"] for p in files[f.path]["properties"] if p["name"] == "hubcli:kind"}
        assert kinds == set(f.kinds)
    marked = {f.path: f.kinds for f in locked.files if f.kinds}
    assert marked == {"pytorch_model.bin": ("pickle",), "modeling_tiny.py": ("remote-code",)}
    model_kinds = {p["value"] for p in tiny["properties"] if p["name"] == "hubcli:kind"}
    assert model_kinds == {"pickle", "remote-code"}
    assert files["pytorch_model.bin"]["hashes"][0]["content"] == hashlib.sha256(PICKLED).hexdigest()

    # the same lock gives the same bytes (no timestamp; the serial number is derived)
    res = run_cli("lock", "--sbom", "out/again.json", env=env, cwd=proj)
    assert res.returncode == 0, res
    assert (proj / "out" / "again.json").read_text() == text

    res = run_cli("lock", "--sbom", "out/j.json", "--json", env=env, cwd=proj)
    assert res.returncode == 0, res
    assert json.loads(res.stdout)["sbom"] == "out/j.json"
    for other in ("--check", "--cache-key"):
        res = run_cli("lock", other, "--sbom", "out/x.json", env=env, cwd=proj)
        assert res.returncode == 2 and "--sbom" not in res.stdout, res
        assert not (proj / "out" / "x.json").exists()
