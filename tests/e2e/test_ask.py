"""`picscribe ask` and the offline captioner's honest answers.

The offline backend must answer only what its findings support and refuse
everything else; the refusal is an exit status scripts can see."""

from __future__ import annotations

import json

import pytest
from support.cli import Run
from support.paths import SAMPLES

from picscribe.indexer.captioners.offline._ask import NEEDS_VLM, answer
from picscribe.indexer.captioning import CaptionResult, ObjectCount

pytestmark = pytest.mark.models

DETECTABLE = {"person", "dog", "horse", "bus", "wine glass", "table", "car"}
FAMILY = CaptionResult(
    text="A photo of four people and a cake.",
    objects=(ObjectCount("person", 4, 0.9), ObjectCount("dog", 1, 0.6), ObjectCount("wine glass", 2, 0.5)),
    ocr_text="BRANDYWINE RIVER MUSEUM",
    extra={"place": "indoors", "colours": [{"name": "brown", "share": 0.5}, {"name": "black", "share": 0.2}]},
)


@pytest.mark.parametrize(
    ("question", "text", "source"),
    [
        ("How many people are there?", "The detector counts 4 people.", "detector"),
        ("how many men are at the table", "The detector counts 4 people.", "detector"),
        ("How many wine glasses?", "The detector counts 2 wine glasses.", "detector"),
        (
            "How many horses are in the picture?",
            "The detector found no horses (small or hidden ones can be missed).",
            "detector",
        ),
        ("Is there a dog?", "Yes, one.", "detector"),
        ("Are there people?", "Yes, four.", "detector"),
        (
            "Are there any buses in the photo?",
            "The detector found no bus (small or hidden ones can be missed).",
            "detector",
        ),
        ("Does the photo show a car?", "The detector found no car (small or hidden ones can be missed).", "detector"),
        ("What does the sign say?", 'The visible text reads: "BRANDYWINE RIVER MUSEUM"', "ocr"),
        ("Was this taken indoors or outside?", "It looks indoors.", "scene"),
        ("What are the main colours?", "The main colours are brown, black.", "colours"),
    ],
)
def test_answers_rest_on_findings(question: str, text: str, source: str) -> None:
    got = answer(question, FAMILY, DETECTABLE)
    assert (got.text, got.answered, got.source) == (text, True, source)


@pytest.mark.parametrize(
    "question",
    [
        "What is the woman thinking?",
        "Is there a unicorn?",  # the detector cannot see unicorns, so "no" would be a guess
        "How many clouds are there?",
        "Why are they celebrating?",
        "What colour is the dog?",
    ],
)
def test_questions_it_cannot_answer_are_refused(question: str) -> None:
    got = answer(question, FAMILY, DETECTABLE)
    assert (got.text, got.answered, got.source) == (NEEDS_VLM, False, "none")


def test_no_text_is_an_answer_not_a_refusal() -> None:
    got = answer("What does it say?", CaptionResult(text="A photo."), DETECTABLE)
    assert got.answered and "no readable text" in got.text


def test_cli_answers_from_ocr_on_a_real_photo(run: Run) -> None:
    result = run(
        "ask", str(SAMPLES / "000000525891.jpg"), "What does the sign say?", "--json", "--captioner", "offline"
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["answered"] is True and out["source"] == "ocr"
    assert "STOP" in out["answer"].upper()
    assert out["captioner"] == "offline"


def test_cli_refusal_exits_1_and_says_a_vlm_is_needed(run: Run) -> None:
    result = run("ask", str(SAMPLES / "000000525891.jpg"), "Why was the sign put here?", "--captioner", "offline")
    assert result.exit_code == 1
    assert "needs a vision-language model" in result.stdout


def test_cli_usage_errors(run: Run, tmp_path) -> None:
    missing = run("ask", str(tmp_path / "nope.jpg"), "What is this?")
    assert missing.exit_code == 2 and "nope.jpg" in missing.stderr
    empty = run("ask", str(SAMPLES / "000000525891.jpg"), "  ")
    assert empty.exit_code == 2 and "empty" in empty.stderr
    cannot = run("ask", str(SAMPLES / "000000525891.jpg"), "What is this?", "--captioner", "fake")
    assert cannot.exit_code == 2 and "cannot answer questions" in cannot.stderr
