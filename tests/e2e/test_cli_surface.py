"""Issue 13, the CLI surface: global options anywhere, one-line errors naming the real cause,
offline answers from the cache, cards fit for copying code, words and colours."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CARD = (
    "---\nlicense: apache-2.0\n---\n# tiny\n\n![logo](https://example.com/logo.png)\n\n"
    "```python\nfrom transformers import AutoModel; model = AutoModel.from_pretrained("
    '"alice/tiny-bert", trust_remote_code=False, revision="main")  # END-OF-LONG-LINE\n```\n'
)


@pytest.fixture
def hub(hub_server: Any) -> Any:
    hub_server.seed_repo(
        "alice/tiny-bert",
        {"README.md": CARD, "config.json": '{"hidden": 8}', "tokenizer/vocab.txt": "a\nb\n"},
    )
    hub_server.seed_repo("alice/secret", {"config.json": "{}"}, private=True)
    return hub_server


def one_error_line(res: Any) -> str:
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res
    return str(lines[0])


def error_line(res: Any) -> str:
    """The one ``error:`` line (talk such as 'Uploading ...' may come before it)."""
    lines = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and res.stderr.rstrip("\n").endswith(lines[0]), res
    return str(lines[0])


# -- item 2: global options before or after the command ----------------------------------------
def test_token_and_endpoint_after_the_command(run_cli: Any, hub: Any, tmp_path: Path) -> None:
    res = run_cli(
        "download",
        "alice/secret",
        "config.json",
        "--token",
        hub.alice_token,
        f"--endpoint={hub.url}",
        "--cache-dir",
        str(tmp_path / "c"),
        "-q",
    )
    assert res.returncode == 0, res
    assert Path(res.stdout.strip()).read_text() == "{}"


def test_settings_after_a_nested_command(run_cli: Any, hub: Any) -> None:
    res = run_cli("auth", "whoami", "--token", hub.bob_token, "--endpoint", hub.url, "--debug")
    assert res.returncode == 0, res
    assert res.stdout.strip() == "bob"


def test_json_and_quiet_before_the_command(run_cli: Any, hub: Any) -> None:
    res = run_cli("--json", "--endpoint", hub.url, "files", "alice/tiny-bert")
    assert res.returncode == 0, res
    assert {e["path"] for e in json.loads(res.stdout)["entries"]} >= {"config.json", "README.md"}
    res = run_cli("-q", "files", "alice/tiny-bert", "--endpoint", hub.url)
    assert res.returncode == 0, res
    assert res.stdout.splitlines() == ["README.md", "config.json", "tokenizer/"]


def test_output_flags_before_a_nested_command(run_cli: Any, tmp_path: Path) -> None:
    res = run_cli("--json", "cache", "ls", "--cache-dir", str(tmp_path / "empty"))
    assert res.returncode == 0, res
    json.loads(res.stdout)
    res = run_cli("-q", "cache", "--offline", "ls", "--cache-dir", str(tmp_path / "empty"))
    assert res.returncode == 0 and res.stdout == "", res


def test_values_and_double_dash_are_left_alone(run_cli: Any, hub: Any) -> None:
    # "--json" is the value of --author here, not a flag to move
    res = run_cli("search", "--author", "--json", "--endpoint", hub.url, "-q")
    assert res.returncode == 0, res
    assert res.stdout == ""


def test_output_flag_a_command_lacks_is_a_usage_error(run_cli: Any) -> None:
    res = run_cli("--json", "serve", "--port", "0")
    assert res.returncode == 2
    assert "hubcli serve" in json.loads(res.stderr)["error"]["message"]


def test_serve_keeps_its_own_token(run_cli: Any) -> None:
    # after `serve`, --token is TOKEN:USERNAME for the server: a bad pair is its usage error
    res = run_cli("serve", "--port", "0", "--token", "no-colon", timeout=30)
    assert res.returncode == 2, res
    assert "TOKEN:USERNAME" in res.stderr


# -- item 6: one line, the documented code, the real cause ---------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ("download",),
        ("download", "alice/x", "--no-such-flag"),
        ("no-such-command",),
        ("cache", "ls", "--limit-nope"),
        ("--color", "purple", "env"),
    ],
)
def test_usage_errors_are_one_line(run_cli: Any, args: tuple[str, ...]) -> None:
    res = run_cli(*args)
    assert res.returncode == 2, res
    line = one_error_line(res)
    assert "Usage:" not in res.stderr and "Traceback" not in res.stderr
    assert "help" in line


def test_missing_upload_path_exits_8(run_cli: Any, hub: Any, tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": hub.alice_token}
    res = run_cli("upload", "alice/new", str(tmp_path / "missing.bin"), env=env)
    assert res.returncode == 8, res
    assert "missing.bin" in one_error_line(res)


def test_rejected_token_is_named(run_cli: Any, hub: Any) -> None:
    res = run_cli("auth", "login", "--token", "hf_wrongtoken123", "--endpoint", hub.url)
    assert res.returncode == 3, res
    line = one_error_line(res)
    assert f"token rejected by {hub.url}" in line and "auth login" not in line
    env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_wrongtoken123"}
    res = run_cli("info", "alice/tiny-bert", env=env)
    assert res.returncode == 3, res
    assert f"token rejected by {hub.url}" in one_error_line(res)


def test_rejected_token_on_upload_is_not_a_metadata_error(
    run_cli: Any, hub: Any, tmp_path: Path
) -> None:
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n# x\n")
    env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_wrongtoken123"}
    res = run_cli("upload", "alice/tiny-bert", str(tmp_path / "README.md"), env=env)
    assert res.returncode == 3, res
    line = error_line(res)
    assert f"token rejected by {hub.url}" in line and "metadata" not in line


def test_anonymous_unknown_repo_suggests_close_matches(run_cli: Any, hub: Any) -> None:
    res = run_cli("info", "alice/tiny-bret", env={"HF_ENDPOINT": hub.url})
    assert res.returncode == 3, res
    line = one_error_line(res)
    assert "not found (or private)" in line
    assert line.index("not found (or private)") < line.index("did you mean alice/tiny-bert")
    assert line.index("did you mean") < line.index("auth login")
    # a typo in the org too; and offline never searches
    res = run_cli("files", "alicee/tiny-bert", env={"HF_ENDPOINT": hub.url})
    assert "did you mean alice/tiny-bert" in one_error_line(res)


def test_suggestions_for_datasets_and_never_offline(run_cli: Any, hub: Any, tmp_path: Path) -> None:
    hub.seed_repo("alice/squad-mini", {"data.csv": "a\n"}, repo_type="dataset")
    env = {"HF_ENDPOINT": hub.url}
    res = run_cli("info", "datasets/alice/squad-mni", env=env)
    assert res.returncode == 3, res
    assert "did you mean datasets/alice/squad-mini?" in one_error_line(res)
    res = run_cli("download", "alice/tiny-bret", "--cache-dir", str(tmp_path / "c"), env=env)
    assert res.returncode == 3, res
    assert "did you mean alice/tiny-bert?" in error_line(res)
    res = run_cli("info", "alice/tiny-bret", env={**env, "HF_HUB_OFFLINE": "1"})
    assert res.returncode == 7 and "did you mean" not in res.stderr, res


def test_no_suggestion_when_nothing_is_close(run_cli: Any, hub: Any) -> None:
    res = run_cli("info", "zed/quantum-llama", env={"HF_ENDPOINT": hub.url})
    assert res.returncode == 3, res
    line = one_error_line(res)
    assert "not found (or private)" in line and "did you mean" not in line


# -- item 7: offline answers from the cache -----------------------------------------------------
def test_offline_info_and_files_answer_from_the_cache(
    run_cli: Any, hub: Any, tmp_path: Path
) -> None:
    env = {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(tmp_path / "c")}
    res = run_cli("download", "alice/tiny-bert", "config.json", env=env)
    assert res.returncode == 0, res
    off = {**env, "HF_HUB_OFFLINE": "1"}
    res = run_cli("files", "alice/tiny-bert", "-q", env=off)
    assert res.returncode == 0, res
    assert res.stdout.splitlines() == ["README.md", "config.json", "tokenizer/"]
    assert "offline: from the cache" in res.stderr
    res = run_cli("files", "alice/tiny-bert", "tokenizer", "--json", env=off)
    assert res.returncode == 0, res
    assert [e["path"] for e in json.loads(res.stdout)["entries"]] == ["tokenizer/vocab.txt"]
    res = run_cli("info", "alice/tiny-bert", "--json", env=off)
    assert res.returncode == 0, res
    doc = json.loads(res.stdout)
    assert {f["rfilename"]: f["cached"] for f in doc["siblings"]} == {
        "README.md": False,
        "config.json": True,
        "tokenizer/vocab.txt": False,
    }
    assert "offline: from the cache" in res.stderr
    res = run_cli("info", "alice/tiny-bert", env=off)
    assert res.returncode == 0 and "3 files" in res.stdout, res


def test_offline_info_from_a_snapshot_only(
    run_cli: Any, hub: Any, hf_env: dict[str, str], tmp_path: Path
) -> None:
    from tests.fixtures.hub import run_hf

    run_hf(
        'from huggingface_hub import hf_hub_download\nhf_hub_download("alice/tiny-bert", '
        '"config.json")',
        hf_env,
    )
    off = {"HF_HUB_CACHE": hf_env["HF_HUB_CACHE"], "HF_HUB_OFFLINE": "1"}
    res = run_cli("files", "alice/tiny-bert", "-q", env=off)
    assert res.returncode == 0, res
    assert "config.json" in res.stdout.splitlines()


def test_offline_without_a_cache_exits_7(run_cli: Any, tmp_path: Path) -> None:
    off = {"HF_HUB_CACHE": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1"}
    for cmd in ("info", "files"):
        res = run_cli(cmd, "alice/tiny-bert", env=off)
        assert res.returncode == 7, res
        assert "offline" in one_error_line(res)


# -- item 10: words, colours, columns, a file's entry --------------------------------------------
def test_files_of_a_file_prints_its_entry(run_cli: Any, hub: Any) -> None:
    env = {"HF_ENDPOINT": hub.url}
    res = run_cli("files", "alice/tiny-bert", "config.json", "--json", env=env)
    assert res.returncode == 0, res
    (entry,) = json.loads(res.stdout)["entries"]
    assert entry["path"] == "config.json" and entry["size"] == len('{"hidden": 8}')
    res = run_cli("files", "alice/tiny-bert", "tokenizer/vocab.txt", env=env)
    assert res.returncode == 0 and "vocab.txt" in res.stdout, res
    assert "1 file," in res.stderr and "1 files" not in res.stderr
    res = run_cli("files", "alice/tiny-bert", "nope.txt", env=env)
    assert res.returncode == 4, res


def test_plural_words(run_cli: Any, hub: Any) -> None:
    hub.seed_repo("alice/one", {"only.txt": "x"})
    res = run_cli("info", "alice/one", env={"HF_ENDPOINT": hub.url})
    assert res.returncode == 0, res
    assert "1 file," in res.stdout and "1 files" not in res.stdout


def test_force_color_and_no_color(run_cli: Any, hub: Any) -> None:
    env = {"HF_ENDPOINT": hub.url}
    plain = run_cli("info", "alice/tiny-bert", env=env)
    assert "\x1b[" not in plain.stdout
    forced = run_cli("info", "alice/tiny-bert", env={**env, "FORCE_COLOR": "1"})
    assert forced.returncode == 0 and "\x1b[" in forced.stdout, forced
    res = run_cli("info", "alice/tiny-bert", env={**env, "FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b[" not in res.stdout
    res = run_cli("info", "alice/tiny-bert", "--color", "never", env={**env, "FORCE_COLOR": "1"})
    assert "\x1b[" not in res.stdout
    res = run_cli("--color", "always", "info", "alice/tiny-bert", env={**env, "NO_COLOR": "1"})
    assert "\x1b[" in res.stdout


def test_search_spaces_labels_the_sdk_column(run_cli: Any, hub: Any) -> None:
    hub.seed_repo(
        "alice/demo", {"README.md": "---\nsdk: gradio\n---\n", "app.py": ""}, repo_type="space"
    )
    res = run_cli("search", "--type", "space", env={"HF_ENDPOINT": hub.url, "COLUMNS": "120"})
    assert res.returncode == 0, res
    header = res.stdout.splitlines()[0].split()
    assert header[:2] == ["id", "sdk"] and "task" not in header, res


# -- item 9: cards for copying code --------------------------------------------------------------
LONG_LINE = (
    'from transformers import AutoModel; model = AutoModel.from_pretrained("alice/tiny-bert", '
    'trust_remote_code=False, revision="main")  # END-OF-LONG-LINE'
)


@pytest.mark.parametrize("columns", ["40", "80", "200"])
def test_card_code_lines_are_never_wrapped_and_images_keep_their_url(
    run_cli: Any, hub: Any, columns: str
) -> None:
    res = run_cli("card", "alice/tiny-bert", env={"HF_ENDPOINT": hub.url, "COLUMNS": columns})
    assert res.returncode == 0, res
    assert LONG_LINE in res.stdout.splitlines(), res.stdout
    assert "[image: logo] https://example.com/logo.png" in res.stdout


def test_card_code_lines_are_never_wrapped_with_colours(run_cli: Any, hub: Any) -> None:
    env = {"HF_ENDPOINT": hub.url, "COLUMNS": "60", "FORCE_COLOR": "1"}
    res = run_cli("card", "alice/tiny-bert", env=env)
    assert res.returncode == 0, res
    import re

    plain = re.sub(r"\x1b\[[0-9;]*m", "", res.stdout)
    assert any(LONG_LINE in line for line in plain.splitlines()), plain


def test_info_files_card_take_a_hub_url(run_cli: Any, hub: Any) -> None:
    env = {"HF_ENDPOINT": hub.url}
    for cmd in ("info", "files", "card"):
        res = run_cli(cmd, f"{hub.url}/alice/tiny-bert", "--json", env=env)
        assert res.returncode == 0, (cmd, res)
        json.loads(res.stdout)
