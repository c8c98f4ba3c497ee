"""The CLI as a newcomer meets it: where --home may go, help for every option,
what the help claims, what status counts mean, and a short first line when
no VLM can run (issue 22, items 3, 12 and 13)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import click
import pytest
from click.shell_completion import BashComplete
from support.cli import Run, index_json
from support.paths import REPO

from picscribe.cli import main
from picscribe.indexer.registry import choose


def test_home_works_after_the_subcommand_too(run: Run, photos: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    result = run("index", str(photos), "--captioner", "fake", "--home", str(elsewhere))
    assert result.exit_code == 0, result.stderr
    assert (elsewhere / "index.sqlite").is_file()
    status = run("status", f"--home={elsewhere}", "--json")
    assert status.exit_code == 0, status.stderr
    assert json.loads(status.stdout)["home"] == str(elsewhere)
    # After `--` it is a query, not an option.
    search = run("search", "--home", str(elsewhere), "--json", "--", "--home")
    assert search.exit_code == 0, search.stderr


def test_every_option_has_help() -> None:
    missing = [f"picscribe {p.name}" for p in main.params if isinstance(p, click.Option) and not p.help]
    ctx = click.Context(main)
    # Commands load on first use (picscribe.cli.COMMANDS): ask for each, not main.commands.
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        assert command is not None
        missing += [
            f"picscribe {name} {p.opts[0]}"
            for p in command.params
            if isinstance(p, click.Option) and not p.hidden and not p.help
        ]
    assert missing == []


def test_top_level_help_does_not_promise_a_vlm(run: Run) -> None:
    text = run("--help").stdout
    first = text.split("\n\n")[1]
    assert "vision-language model" not in first
    assert "offline captioner" in text


def test_status_explains_its_counts_and_lists_every_stored_model(run: Run, photos: Path) -> None:
    shutil.copy2(next(photos.glob("*.jpg")), photos / "copy.jpg")
    (photos / "broken.jpg").write_text("not an image")
    assert index_json(run, str(photos))[0] == 1  # one file failed
    assert run("reindex", "--captioner", "fake:v2").exit_code == 0
    out = run("status").stdout
    assert "images:      8 files: 6 searchable, 1 copy of other files (found with them), 1 failed" in out, out
    assert "searched by fake (fake-v2)" in out
    assert "also stored" in out and "captioned by fake (fake-v1)" in out
    st = json.loads(run("status", "--json").stdout)
    assert st["copies"] == 1
    assert {(m["captioner"], m["model"]) for m in st["stored_models"]} == {("fake", "fake-v1"), ("fake", "fake-v2")}


def test_an_unusable_vlm_is_one_short_line_with_details_under_verbose(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="picscribe.indexer.registry"):
        choice = choose("auto", vlm="vlm:Qwen/Qwen2-VL-2B-Instruct")
    assert choice.captioner.name == "offline"
    assert "\n" not in choice.reason and len(choice.reason) < 220, choice.reason
    assert choice.reason.startswith(
        "captioner: offline, because auto found no VLM available (VLM model 'Qwen/Qwen2-VL-2B-Instruct' is not in the"
    )
    assert choice.reason.endswith("). Set PICSCRIBE_VLM= to skip this check (-v for details).")
    # The whole explanation, with how to get the model, is logged for -v.
    assert any("huggingface-cli download" in r.getMessage() for r in caplog.records)


def test_shell_completion_works_as_the_readme_says() -> None:
    readme = (REPO / "README.md").read_text()
    assert 'eval "$(_PICSCRIBE_COMPLETE=bash_source picscribe)"' in readme
    complete = BashComplete(main, {}, "picscribe", "_PICSCRIBE_COMPLETE")
    assert [c.value for c in complete.get_completions([], "sta")] == ["status"]
    assert "--labels" in [c.value for c in complete.get_completions(["status"], "--la")]


def test_a_move_is_summarised_as_moved(run: Run, photos: Path) -> None:
    assert index_json(run, str(photos))[0] == 0
    first = sorted(photos.glob("*.jpg"))[0]
    first.rename(photos / "renamed.jpg")
    result = run("index", str(photos), "--captioner", "fake")
    assert result.exit_code == 0, result.stderr
    assert "0 captioned, 1 moved, 0 reused (copies of indexed files)" in result.stderr, result.stderr
    assert "0 removed" in result.stderr
    first.with_name("again.jpg").write_bytes((photos / "renamed.jpg").read_bytes())
    code, report = index_json(run, str(photos))
    assert code == 0 and (report["moved"], report["reused"]) == (0, 1)
