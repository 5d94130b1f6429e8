""" "Use it" snippets: how to load a repo, derived from its own metadata, never guessed.

Pure: no network, no printing. :class:`RepoFacts` holds what the Hub (or the cache) says about a
repo; :func:`snippets` turns it into code to copy. Sources, most trusted first:

- the Hub's ``transformersInfo`` (``auto_model``, ``pipeline_tag``, ``processor``);
- ``library_name`` and ``pipeline_tag`` (repo info or card);
- ``config.json``: ``architectures`` (the Auto class from the architecture's suffix, else the
  architecture class itself) and ``model_type``;
- the files present: ``*.gguf`` (llama.cpp), ``modules.json`` or
  ``config_sentence_transformers.json`` (sentence-transformers), ``model_index.json``
  (diffusers), ``adapter_config.json`` (PEFT), tokenizer and processor files;
- for datasets, the configs and splits of :mod:`hubcli.datasets_info`.

Each snippet names what it was derived from. Every repo also gets its ``hubcli download`` line
pinned to the commit shown. Against an endpoint other than huggingface.co every snippet sets it
(``HF_ENDPOINT`` for Python and hubcli, ``MODEL_ENDPOINT`` for llama.cpp, which reads it first).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubcli.datasets_info import ConfigInfo

DEFAULT_ENDPOINT = "https://huggingface.co"

# config.json architecture suffix -> the transformers Auto class that loads it (one meaning each)
ARCH_SUFFIX_TO_AUTO: tuple[tuple[str, str], ...] = (
    ("ForCausalLM", "AutoModelForCausalLM"),
    ("LMHeadModel", "AutoModelForCausalLM"),
    ("ForMaskedLM", "AutoModelForMaskedLM"),
    ("ForSequenceClassification", "AutoModelForSequenceClassification"),
    ("ForTokenClassification", "AutoModelForTokenClassification"),
    ("ForQuestionAnswering", "AutoModelForQuestionAnswering"),
    ("ForMultipleChoice", "AutoModelForMultipleChoice"),
    ("ForNextSentencePrediction", "AutoModelForNextSentencePrediction"),
    ("ForPreTraining", "AutoModelForPreTraining"),
    ("ForImageClassification", "AutoModelForImageClassification"),
    ("ForObjectDetection", "AutoModelForObjectDetection"),
    ("ForSemanticSegmentation", "AutoModelForSemanticSegmentation"),
    ("ForDepthEstimation", "AutoModelForDepthEstimation"),
    ("ForAudioClassification", "AutoModelForAudioClassification"),
    ("ForCTC", "AutoModelForCTC"),
    ("ForSpeechSeq2Seq", "AutoModelForSpeechSeq2Seq"),
    ("ForZeroShotImageClassification", "AutoModelForZeroShotImageClassification"),
    ("ForImageTextToText", "AutoModelForImageTextToText"),
    # transformers 5 has no AutoModelForVision2Seq: image-text-to-text is its successor (4.46+).
    ("ForVision2Seq", "AutoModelForImageTextToText"),
    ("ForTextToWaveform", "AutoModelForTextToWaveform"),
    ("ForTextToSpectrogram", "AutoModelForTextToSpectrogram"),
    ("ForMaskGeneration", "AutoModelForMaskGeneration"),
    ("Model", "AutoModel"),
)
"""``...ForConditionalGeneration`` is not here: it means seq2seq, speech or vision-language
depending on the model, so the snippet imports the architecture's own class instead."""

AUTO_CLASSES = frozenset(
    {auto for _, auto in ARCH_SUFFIX_TO_AUTO}
    | {"AutoTokenizer", "AutoProcessor", "AutoConfig", "AutoImageProcessor"}
    | {"AutoFeatureExtractor", "AutoModelForSeq2SeqLM"}
)
"""Every transformers class name the snippets may import besides a config's architecture."""

RENAMED_AUTO = {"AutoModelForVision2Seq": "AutoModelForImageTextToText"}
"""Auto classes transformers 5 removed that the Hub's ``transformersInfo`` still names, and the
class that replaced them; ``AutoModelWithLMHead`` (removed, split by task) is ignored instead and
the config's architecture decides."""
REMOVED_AUTO = frozenset({"AutoModelWithLMHead"})

TOKENIZER_FILES = frozenset(
    {
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.txt",
        "vocab.json",
        "spiece.model",
        "tokenizer.model",
        "sentencepiece.bpe.model",
    }
)
PROCESSOR_FILES = frozenset(
    {"preprocessor_config.json", "processor_config.json", "feature_extractor_config.json"}
)
SENTENCE_TRANSFORMERS_FILES = frozenset(
    {"modules.json", "config_sentence_transformers.json", "sentence_bert_config.json"}
)
PEFT_TASKS = {
    "CAUSAL_LM": "AutoPeftModelForCausalLM",
    "SEQ_CLS": "AutoPeftModelForSequenceClassification",
    "SEQ_2_SEQ_LM": "AutoPeftModelForSeq2SeqLM",
    "TOKEN_CLS": "AutoPeftModelForTokenClassification",
    "QUESTION_ANS": "AutoPeftModelForQuestionAnswering",
    "FEATURE_EXTRACTION": "AutoPeftModelForFeatureExtraction",
}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class RepoFacts:
    """What is known about a repo at one commit (from the Hub, or from the cache offline)."""

    repo_id: str
    repo_type: str = "model"
    commit: str | None = None
    revision: str | None = None
    """The revision the user asked for (``None``/``main``: snippets load the default branch)."""
    endpoint: str = DEFAULT_ENDPOINT
    library_name: str | None = None
    pipeline_tag: str | None = None
    transformers_info: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    adapter_config: dict[str, Any] | None = None
    model_index: dict[str, Any] | None = None
    files: tuple[str, ...] = ()
    dataset_configs: tuple[ConfigInfo, ...] = ()

    @property
    def custom_endpoint(self) -> str | None:
        ep = self.endpoint.rstrip("/")
        return None if ep == DEFAULT_ENDPOINT else ep


@dataclass(frozen=True)
class Snippet:
    """One way to use the repo: code in ``language`` (python or bash) and what it came from."""

    library: str
    language: str
    code: str
    derived_from: tuple[str, ...] = field(default_factory=tuple)
    note: str | None = None
    """A short line for the heading instead of "from <derived_from>"."""

    def to_json(self) -> dict[str, Any]:
        return {
            "library": self.library,
            "language": self.language,
            "code": self.code,
            "derived_from": list(self.derived_from),
        }


# -- helpers --------------------------------------------------------------------------------------
def _q(text: str) -> str:
    """A Python string literal (JSON quoting is valid Python for any str)."""
    return json.dumps(text, ensure_ascii=False)


def _py(facts: RepoFacts, body: list[str]) -> str:
    head: list[str] = []
    if facts.custom_endpoint:
        head = [
            "import os",
            f'os.environ["HF_ENDPOINT"] = {_q(facts.custom_endpoint)}  # before any HF import',
            "",
        ]
    return "\n".join([*head, *body])


def _rev_arg(facts: RepoFacts) -> str:
    rev = facts.revision
    return f", revision={_q(rev)}" if rev and rev != "main" else ""


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _has(facts: RepoFacts, names: frozenset[str]) -> bool:
    return any(_basename(f) in names and "/" not in f for f in facts.files)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def auto_class_for(architecture: str) -> str | None:
    """The Auto class loading ``architecture`` by its suffix, None when the suffix is ambiguous."""
    if architecture.endswith("ForConditionalGeneration"):
        return None
    for suffix, auto in ARCH_SUFFIX_TO_AUTO:
        if architecture.endswith(suffix) and len(architecture) > len(suffix):
            return auto
    return None


# -- families -------------------------------------------------------------------------------------
def _transformers(facts: RepoFacts) -> Snippet | None:
    info = facts.transformers_info if isinstance(facts.transformers_info, dict) else {}
    config = facts.config if isinstance(facts.config, dict) else {}
    archs = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    arch = next((a for a in archs if _IDENT.fullmatch(a)), None)
    is_tf = (
        facts.library_name == "transformers"
        or bool(info)
        or (arch is not None and facts.library_name in (None, ""))
    )
    if not is_tf:
        return None
    repo = _q(facts.repo_id)
    rev = _rev_arg(facts)
    derived: list[str] = []
    remote = isinstance(config.get("auto_map"), dict) and bool(config.get("auto_map"))
    trust = ", trust_remote_code=True" if remote else ""
    body: list[str] = []
    if remote:
        body.append("# config.json has auto_map: this runs code from the repo, read it first")
    task = _str(info.get("pipeline_tag")) or facts.pipeline_tag
    if task:
        derived.append(
            "transformersInfo.pipeline_tag" if info.get("pipeline_tag") else "pipeline_tag"
        )
        body += [
            "from transformers import pipeline",
            "",
            f"pipe = pipeline({_q(task)}, model={repo}{rev}{trust})",
        ]
    auto = _str(info.get("auto_model"))
    auto = None if auto in REMOVED_AUTO else RENAMED_AUTO.get(auto or "", auto)
    if auto and _IDENT.fullmatch(auto):
        derived.append("transformersInfo.auto_model")
    elif arch:
        auto = auto_class_for(arch) or arch
        derived.append(f"config.json architectures ({arch})")
    else:
        auto = None
    processor = _str(info.get("processor"))
    if processor and _IDENT.fullmatch(processor):
        derived.append("transformersInfo.processor")
    elif _has(facts, PROCESSOR_FILES):
        processor = "AutoProcessor"
        derived.append("files (preprocessor/processor config)")
    elif _has(facts, TOKENIZER_FILES):
        processor = "AutoTokenizer"
        derived.append("files (tokenizer)")
    else:
        processor = None
    if auto:
        names = ", ".join(n for n in (processor, auto) if n)
        if body:
            body += ["", "# or load the model directly"]
        body.append(f"from transformers import {names}")
        body.append("")
        if processor:
            var = "tokenizer" if processor.endswith("Tokenizer") else "processor"
            body.append(f"{var} = {processor}.from_pretrained({repo}{rev}{trust})")
        body.append(f"model = {auto}.from_pretrained({repo}{rev}{trust})")
    elif config:
        body += ["", "from transformers import AutoConfig", ""]
        body.append(f"config = AutoConfig.from_pretrained({repo}{rev}{trust})")
        derived.append("config.json")
    if not body:
        return None
    if facts.library_name == "transformers":
        derived.insert(0, "library_name")
    return Snippet("transformers", "python", _py(facts, body), tuple(derived))


def _sentence_transformers(facts: RepoFacts) -> Snippet | None:
    by_files = _has(facts, SENTENCE_TRANSFORMERS_FILES)
    if facts.library_name != "sentence-transformers" and not by_files:
        return None
    derived = ["library_name"] if facts.library_name == "sentence-transformers" else []
    if by_files:
        derived.append("files (sentence-transformers config)")
    body = [
        "from sentence_transformers import SentenceTransformer",
        "",
        f"model = SentenceTransformer({_q(facts.repo_id)}{_rev_arg(facts)})",
        'embeddings = model.encode(["The weather is lovely today.", "It is sunny outside."])',
        "print(embeddings.shape)",
    ]
    return Snippet("sentence-transformers", "python", _py(facts, body), tuple(derived))


def _diffusers(facts: RepoFacts) -> Snippet | None:
    by_file = "model_index.json" in facts.files
    if facts.library_name != "diffusers" and not by_file:
        return None
    derived = ["library_name"] if facts.library_name == "diffusers" else []
    body = []
    index = facts.model_index if isinstance(facts.model_index, dict) else {}
    cls = _str(index.get("_class_name"))
    if by_file:
        derived.append("model_index.json")
    if cls and _IDENT.fullmatch(cls):
        body.append(f"# model_index.json: {cls}")
    body += [
        "from diffusers import DiffusionPipeline",
        "",
        f"pipe = DiffusionPipeline.from_pretrained({_q(facts.repo_id)}{_rev_arg(facts)})",
    ]
    return Snippet("diffusers", "python", _py(facts, body), tuple(derived))


def _peft(facts: RepoFacts) -> Snippet | None:
    if "adapter_config.json" not in facts.files and facts.library_name != "peft":
        return None
    adapter = facts.adapter_config if isinstance(facts.adapter_config, dict) else {}
    task = _str(adapter.get("task_type"))
    cls = PEFT_TASKS.get(task or "", "AutoPeftModel")
    derived = ["adapter_config.json" if "adapter_config.json" in facts.files else "library_name"]
    body = []
    base = _str(adapter.get("base_model_name_or_path"))
    if base:
        body.append(f"# adapter_config.json: base model {base}, task {task or '-'}")
    if task:
        derived.append("adapter_config.json task_type")
    body += [
        f"from peft import {cls}",
        "",
        f"model = {cls}.from_pretrained({_q(facts.repo_id)}{_rev_arg(facts)})",
    ]
    return Snippet("peft", "python", _py(facts, body), tuple(derived))


def gguf_files(files: Sequence[str]) -> list[str]:
    return sorted(f for f in files if f.lower().endswith(".gguf"))


def _gguf(facts: RepoFacts) -> Snippet | None:
    ggufs = gguf_files(facts.files)
    if not ggufs:
        return None
    # Not a guess: a Q4_K_M file when there is one (the usual default), else the first by name.
    chosen = next((f for f in ggufs if "q4_k_m" in f.lower()), ggufs[0])
    lines = []
    if len(ggufs) > 1:
        lines.append(f"# {len(ggufs)} GGUF files; pick one with --hf-file (e.g. {ggufs[-1]})")
    ep = facts.custom_endpoint
    pieces = [f"MODEL_ENDPOINT={shlex.quote(ep + '/')}"] if ep else []
    pieces += [f"llama-cli --hf-repo {shlex.quote(facts.repo_id)}"]
    pieces += [f"--hf-file {shlex.quote(chosen)}", '-p "Hello"']
    lines.append(shell_lines(pieces))
    if facts.commit:
        lines.append("# or the file hubcli downloads (pinned; offline afterwards)")
        pieces = _download_pieces(facts, [chosen], quiet=True)
        pieces[0] = f"GGUF=$({pieces[0]}"
        pieces[-1] += ")"
        lines.append(shell_lines(pieces))
        lines.append('llama-cli -m "$GGUF" -p "Hello"')
    return Snippet("llama.cpp", "bash", "\n".join(lines), ("files (*.gguf)",))


def _datasets(facts: RepoFacts) -> Snippet | None:
    if facts.repo_type != "dataset":
        return None
    configs = facts.dataset_configs
    body = ["from datasets import load_dataset", ""]
    derived = []
    if configs:
        default = next((c for c in configs if c.default), None)
        chosen = default or configs[0]
        args = [_q(facts.repo_id)]
        if default is None or (len(configs) > 1 and chosen.name != "default"):
            args.append(_q(chosen.name))
        split = chosen.splits[0].name if chosen.splits else None
        if split:
            args.append(f"split={_q(split)}")
        rev = _rev_arg(facts)
        body.append(f"ds = load_dataset({', '.join(args)}{rev})")
        derived.append(f"configs ({chosen.source})")
        others = [c.name for c in configs if c is not chosen]
        if others:
            body.append(f"# other configs: {', '.join(others)}")
    else:
        body.append(f"ds = load_dataset({_q(facts.repo_id)}{_rev_arg(facts)})")
    body.append("print(ds)")
    return Snippet("datasets", "python", _py(facts, body), tuple(derived))


SHELL_WIDTH = 80


def shell_lines(pieces: Sequence[str], width: int = SHELL_WIDTH) -> str:
    """One shell command from unbreakable ``pieces`` (already quoted), continued with a
    backslash where a line would get wider than ``width``: short lines, still one command."""
    lines: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 1 + len(piece) > width:
            lines.append(current)
            current = "  " + piece
        else:
            current = f"{current} {piece}" if current else piece
    lines.append(current)
    return " \\\n".join(lines)


def _download_pieces(
    facts: RepoFacts, files: Sequence[str] = (), *, quiet: bool = False
) -> list[str]:
    from hubcli.repo import display_id

    words = ["hubcli", "download", display_id(facts.repo_id, facts.repo_type), *files]
    pieces = [" ".join(shlex.quote(w) for w in words)]
    if facts.commit:
        pieces.append(f"--revision {facts.commit}")
    if quiet:
        pieces.append("-q")
    ep = facts.custom_endpoint
    if ep:
        pieces.insert(0, f"HF_ENDPOINT={shlex.quote(ep)}")
    return pieces


def _download(facts: RepoFacts) -> Snippet:
    lines = [shell_lines(_download_pieces(facts))]
    if facts.commit:
        return Snippet(
            "hubcli", "bash", "\n".join(lines), ("sha",), f"pinned to {facts.commit[:12]}"
        )
    return Snippet("hubcli", "bash", "\n".join(lines), (), "the default branch (no commit known)")


def snippets(facts: RepoFacts) -> list[Snippet]:
    """The snippets for ``facts``: each library family the metadata shows, then the download."""
    out: list[Snippet] = []
    if facts.repo_type == "dataset":
        found = [_datasets(facts)]
    elif facts.repo_type == "model":
        peft = _peft(facts)
        found = [
            peft,
            _sentence_transformers(facts),
            _diffusers(facts),
            None if peft else _transformers(facts),
            _gguf(facts),
        ]
    else:
        found = []
    out += [s for s in found if s is not None]
    out.append(_download(facts))
    return out


def as_text(items: Sequence[Snippet]) -> str:
    """All snippets as one text to copy (a blank line between them)."""
    return "\n\n".join(s.code for s in items) + "\n"
