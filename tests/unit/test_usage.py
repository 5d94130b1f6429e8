""" "Use it" snippets from metadata (hubcli.usage) and dataset configs (hubcli.datasets_info).

transformers is in the test extra: every class name a snippet imports is looked up on the real
``transformers`` module (without torch the model classes are placeholders, but a name transformers
does not have raises AttributeError).
"""

from __future__ import annotations

from typing import Any

import pytest
import transformers

from hubcli.datasets_info import dataset_configs, glob_regex, pick
from hubcli.errors import NotFoundError
from hubcli.models import FileEntry
from hubcli.usage import (
    AUTO_CLASSES,
    REMOVED_AUTO,
    RENAMED_AUTO,
    RepoFacts,
    Snippet,
    auto_class_for,
    snippets,
)

SHA = "a" * 40


def entry(path: str, size: int = 10) -> FileEntry:
    return FileEntry.from_tree_item({"path": path, "size": size, "oid": "b" * 40})


def by_lib(items: list[Snippet]) -> dict[str, Snippet]:
    return {s.library: s for s in items}


def compile_all(items: list[Snippet]) -> None:
    for s in items:
        if s.language == "python":
            compile(s.code, f"<{s.library}>", "exec")


def imported_names(code: str, module: str) -> set[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and node.module == module:
            names |= {a.name for a in node.names}
    return names


def check_transformers_names(names: set[str], archs: set[str]) -> None:
    """Every imported name is a known Auto class, the config's architecture or ``pipeline``, and
    exists in the installed transformers."""
    assert names <= AUTO_CLASSES | archs | {"pipeline"}, names
    for name in names:
        assert hasattr(transformers, name), f"transformers {transformers.__version__}: no {name}"


def test_every_auto_class_exists_in_transformers() -> None:
    missing = sorted(n for n in AUTO_CLASSES if not hasattr(transformers, n))
    assert missing == [], f"transformers {transformers.__version__} has no {missing}"
    for old, new in RENAMED_AUTO.items():
        assert not hasattr(transformers, old) and hasattr(transformers, new), (old, new)
    assert not any(hasattr(transformers, n) for n in REMOVED_AUTO)


def test_transformers_from_config_architecture_and_tokenizer() -> None:
    facts = RepoFacts(
        "alice/tiny", commit=SHA, library_name="transformers", pipeline_tag="text-classification",
        config={"architectures": ["BertForSequenceClassification"], "model_type": "bert"},
        files=("config.json", "tokenizer.json", "model.safetensors"),
    )  # fmt: skip
    items = by_lib(snippets(facts))
    code = items["transformers"].code
    assert 'pipeline("text-classification", model="alice/tiny")' in code
    assert 'AutoModelForSequenceClassification.from_pretrained("alice/tiny")' in code
    assert "AutoTokenizer.from_pretrained" in code
    assert "HF_ENDPOINT" not in code  # the default endpoint needs nothing
    assert items["hubcli"].code == f"hubcli download alice/tiny --revision {SHA}"
    compile_all(list(items.values()))
    check_transformers_names(imported_names(code, "transformers"), set())


def test_transformers_info_wins_and_custom_endpoint_is_set_everywhere() -> None:
    facts = RepoFacts(
        "alice/gpt", commit=SHA, endpoint="http://127.0.0.1:9/",
        transformers_info={"auto_model": "AutoModelForCausalLM", "pipeline_tag": "text-generation",
                           "processor": "AutoTokenizer"},
        config={"architectures": ["GPT2LMHeadModel"]}, files=("config.json",),
        revision="v1",
    )  # fmt: skip
    items = snippets(facts)
    code = by_lib(items)["transformers"].code
    assert 'pipeline("text-generation", model="alice/gpt", revision="v1")' in code
    assert "AutoModelForCausalLM.from_pretrained" in code
    assert "transformersInfo.auto_model" in by_lib(items)["transformers"].derived_from
    for s in items:
        assert "http://127.0.0.1:9" in s.code, s
    assert by_lib(items)["hubcli"].code.startswith("HF_ENDPOINT=http://127.0.0.1:9 hubcli")
    compile_all(items)
    check_transformers_names(imported_names(code, "transformers"), set())


@pytest.mark.parametrize(
    ("auto_model", "expected"),
    [
        ("AutoModelForVision2Seq", "AutoModelForImageTextToText"),  # renamed in transformers 5
        ("AutoModelWithLMHead", "AutoModelForCausalLM"),  # removed: the architecture decides
    ],
)
def test_transformers_info_auto_classes_transformers_removed(
    auto_model: str, expected: str
) -> None:
    facts = RepoFacts(
        "a/vlm", transformers_info={"auto_model": auto_model},
        config={"architectures": ["LlavaForCausalLM"]}, files=("config.json",),
    )  # fmt: skip
    code = by_lib(snippets(facts))["transformers"].code
    assert f"model = {expected}.from_pretrained" in code and auto_model not in code
    check_transformers_names(imported_names(code, "transformers"), set())


@pytest.mark.parametrize(
    ("arch", "auto"),
    [
        ("LlamaForCausalLM", "AutoModelForCausalLM"),
        ("GPT2LMHeadModel", "AutoModelForCausalLM"),
        ("BertModel", "AutoModel"),
        ("ViTForImageClassification", "AutoModelForImageClassification"),
        ("SomeVlmForVision2Seq", "AutoModelForImageTextToText"),
        ("T5ForConditionalGeneration", None),
        ("Model", None),
    ],
)
def test_auto_class_from_architecture(arch: str, auto: str | None) -> None:
    assert auto_class_for(arch) == auto


def test_conditional_generation_imports_the_architecture_itself() -> None:
    facts = RepoFacts(
        "a/t5", library_name="transformers",
        config={"architectures": ["T5ForConditionalGeneration"]},
        files=("config.json", "spiece.model"),
    )  # fmt: skip
    code = by_lib(snippets(facts))["transformers"].code
    assert "from transformers import AutoTokenizer, T5ForConditionalGeneration" in code
    check_transformers_names(imported_names(code, "transformers"), {"T5ForConditionalGeneration"})


def test_remote_code_is_flagged() -> None:
    facts = RepoFacts(
        "a/custom", library_name="transformers",
        config={"architectures": ["MyModel"], "auto_map": {"AutoModel": "m.MyModel"}},
        files=("config.json",),
    )  # fmt: skip
    code = by_lib(snippets(facts))["transformers"].code
    assert "trust_remote_code=True" in code and "runs code from the repo" in code


def test_sentence_transformers_diffusers_peft_gguf() -> None:
    st = by_lib(snippets(RepoFacts("a/st", files=("modules.json", "config.json"))))
    assert 'SentenceTransformer("a/st")' in st["sentence-transformers"].code
    df = by_lib(
        snippets(
            RepoFacts(
                "a/sd", files=("model_index.json",),
                model_index={"_class_name": "StableDiffusionPipeline"},
            )
        )
    )  # fmt: skip
    assert 'DiffusionPipeline.from_pretrained("a/sd")' in df["diffusers"].code
    assert "StableDiffusionPipeline" in df["diffusers"].code
    peft = by_lib(
        snippets(
            RepoFacts(
                "a/lora", library_name="peft", files=("adapter_config.json",),
                adapter_config={"base_model_name_or_path": "a/base", "task_type": "CAUSAL_LM"},
            )
        )
    )  # fmt: skip
    assert 'AutoPeftModelForCausalLM.from_pretrained("a/lora")' in peft["peft"].code
    assert "a/base" in peft["peft"].code and "transformers" not in peft
    gguf = by_lib(
        snippets(
            RepoFacts(
                "a/g", commit=SHA, endpoint="http://h:1",
                files=("m.Q8_0.gguf", "m.Q4_K_M.gguf", "README.md"),
            )
        )
    )  # fmt: skip
    code = gguf["llama.cpp"].code.replace(" \\\n ", "")
    assert "MODEL_ENDPOINT=http://h:1/ llama-cli --hf-repo a/g --hf-file m.Q4_K_M.gguf" in code
    assert f"hubcli download a/g m.Q4_K_M.gguf --revision {SHA} -q)" in code
    assert all(len(line) <= 80 for line in gguf["llama.cpp"].code.splitlines())
    for items in (st, df, peft, gguf):
        compile_all(list(items.values()))


def test_nothing_known_gives_only_the_download_line() -> None:
    items = snippets(RepoFacts("a/x", files=("weights.bin",)))
    assert [s.library for s in items] == ["hubcli"]
    assert items[0].code == "hubcli download a/x"


def test_dataset_snippet_uses_config_and_split() -> None:
    card = {
        "configs": [
            {"config_name": "en", "data_files": [{"split": "train", "path": "en/train-*"},
                                                 {"split": "test", "path": "en/test.csv"}]},
            {"config_name": "fr", "data_files": "fr/*.csv"},
        ]
    }  # fmt: skip
    files = [entry("en/train-0.csv", 5), entry("en/train-1.csv", 7), entry("en/test.csv", 3),
             entry("fr/a.csv"), entry("README.md")]  # fmt: skip
    configs = dataset_configs(files, card)
    assert [c.name for c in configs] == ["en", "fr"]
    assert [(s.name, len(s.files), s.size) for s in configs[0].splits] == [
        ("train", 2, 12),
        ("test", 1, 3),
    ]
    facts = RepoFacts("a/d", repo_type="dataset", dataset_configs=tuple(configs))
    code = by_lib(snippets(facts))["datasets"].code
    assert 'load_dataset("a/d", "en", split="train")' in code and "fr" in code
    compile_all(snippets(facts))


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet",
          "data/test-00000-of-00001.parquet"], {"train": 2, "test": 1}),
        (["train/a.csv", "valid/b.csv", "evaluation/c.csv"],
         {"train": 1, "validation": 1, "test": 1}),
        (["data/my_train.jsonl", "data/dev.jsonl", "data/test-1.jsonl"],
         {"train": 1, "validation": 1, "test": 1}),
        (["a.csv", "b.csv", ".hidden/train.csv"], {"train": 2}),
        (["trainer.csv", "x.csv"], {"train": 2}),
    ],
)  # fmt: skip
def test_conventions(paths: list[str], expected: dict[str, int]) -> None:
    files = [entry(p) for p in [*paths, "README.md", ".gitattributes"]]
    (config,) = dataset_configs(files, {})
    assert {s.name: len(s.files) for s in config.splits} == expected
    assert config.default and config.source == "conventions"


def test_rows_from_dataset_info_and_pick() -> None:
    card: dict[str, Any] = {"dataset_info": {"splits": [{"name": "train", "num_examples": 42}]}}
    configs = dataset_configs([entry("train.csv"), entry("test.csv")], card)
    assert configs[0].split("train").num_rows == 42  # type: ignore[union-attr]
    assert pick(configs, None, "test")[1].name == "test"
    with pytest.raises(NotFoundError, match="no split 'dev'"):
        pick(configs, None, "dev")
    with pytest.raises(NotFoundError, match="no config 'x'"):
        pick(configs, "x", None)


def test_glob_regex() -> None:
    assert glob_regex("data/*.csv").fullmatch("data/a.csv")
    assert not glob_regex("data/*.csv").fullmatch("data/sub/a.csv")
    assert glob_regex("**/*.csv").fullmatch("a/b/c.csv")
    assert glob_regex("**/*.csv").fullmatch("c.csv")
    assert glob_regex("data/train-[0-9]*").fullmatch("data/train-0001.parquet")
