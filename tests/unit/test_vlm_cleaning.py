"""Output cleaning and prompts of the VLM backend: pure functions, real-looking model outputs."""

from __future__ import annotations

import pytest

from picscribe.indexer.captioners._cleaning import (
    MAX_ALT_TEXT_CHARS,
    clean_output,
    drop_incomplete_tail,
    strip_markdown,
    trim_alt_text,
)
from picscribe.indexer.captioners._prompts import FLORENCE2, INSTRUCTIONS, TASK_ASK, prompt_for, supported_tasks

CAPTION_CASES = [
    # Qwen2-VL, asked for a caption
    (
        "The image shows a golden retriever lying on a wooden dock next to a calm lake.",
        "A golden retriever lying on a wooden dock next to a calm lake.",
    ),
    (
        "This image depicts two children flying a red kite on a windy beach",
        "Two children flying a red kite on a windy beach.",
    ),
    (
        "In this picture, we can see a man riding a bicycle down a cobblestone street.",
        "A man riding a bicycle down a cobblestone street.",
    ),
    ("In this image there are three cats sleeping on a sofa.", "Three cats sleeping on a sofa."),
    # LLaVA's chattiness
    (
        "Sure! Here's a one-sentence caption for the image:\n\n"
        "**A golden retriever lying on a wooden dock by a lake.**",
        "A golden retriever lying on a wooden dock by a lake.",
    ),
    ("Certainly! The photo captures a busy night market in Taipei.", "A busy night market in Taipei."),
    (
        "The image is a close-up of a bowl of ramen with a soft-boiled egg.",
        "A close-up of a bowl of ramen with a soft-boiled egg.",
    ),
    ("Caption: A yellow taxi waiting at a red light.", "A yellow taxi waiting at a red light."),
    # template residue and self-continued conversations
    ("a man riding a wave on top of a surfboard<|im_end|>", "A man riding a wave on top of a surfboard."),
    ("ASSISTANT: A cat sleeping on a sofa.\nUSER: What colour is it?", "A cat sleeping on a sofa."),
    (" Assistant: A plate of pasta with basil.<end_of_utterance>", "A plate of pasta with basil."),
    # a second sentence is commentary, not caption
    (
        "A red double-decker bus drives past Big Ben. The sky is overcast and grey.",
        "A red double-decker bus drives past Big Ben.",
    ),
    # greedy decoding loops
    ("a dog and a cat, a dog and a cat, a dog and a cat, a dog and a cat", "A dog and a cat."),
    # BLIP's lower-case, unpunctuated output
    ("a woman sitting on the beach with her dog", "A woman sitting on the beach with her dog."),
]


@pytest.mark.parametrize(("raw", "expected"), CAPTION_CASES)
def test_caption_cleaning(raw: str, expected: str) -> None:
    assert clean_output(raw, "caption") == expected


def test_detailed_drops_repeats_and_cut_off_tail() -> None:
    raw = (
        "This image depicts a busy street market at dusk, with vendors selling fruit under string lights. "
        "Shoppers walk between the stalls. Shoppers walk between the stalls. In the background, a"
    )
    assert clean_output(raw, "detailed", truncated=True) == (
        "A busy street market at dusk, with vendors selling fruit under string lights. "
        "Shoppers walk between the stalls."
    )


def test_untruncated_fragment_is_kept_and_ended() -> None:
    assert clean_output("A dog. A cat on a mat", "detailed") == "A dog. A cat on a mat."


def test_detailed_markdown_becomes_prose() -> None:
    raw = (
        "### Description\n\n"
        "The image features a **red double-decker bus** on a city street.\n\n"
        "**Key elements:**\n"
        "- A red bus\n"
        "- A zebra crossing\n"
        "- Pedestrians with umbrellas\n"
    )
    assert clean_output(raw, "detailed") == (
        "A red double-decker bus on a city street. "
        "Key elements: a red bus, a zebra crossing and pedestrians with umbrellas."
    )


def test_numbered_sentences_stay_sentences() -> None:
    raw = "1. A woman is reading a book in a park.\n2. Behind her, children play on the grass."
    assert strip_markdown(raw) == "A woman is reading a book in a park. Behind her, children play on the grass."


def test_truncated_single_fragment_loses_dangling_words() -> None:
    assert drop_incomplete_tail("a dog running along the beach with a") == "a dog running along the beach"
    assert clean_output("A dog running along the beach with a", "caption", truncated=True) == (
        "A dog running along the beach."
    )


@pytest.mark.parametrize(
    "raw",
    [
        "Image of a woman in a yellow raincoat holding an umbrella",
        "A photo of a woman in a yellow raincoat holding an umbrella",
        "Sure! Here's the alt text: A woman in a yellow raincoat holding an umbrella",
        "The image shows a woman in a yellow raincoat holding an umbrella.",
    ],
)
def test_alt_text_has_no_preamble(raw: str) -> None:
    assert clean_output(raw, "alt_text").rstrip(".") == "A woman in a yellow raincoat holding an umbrella"


def test_alt_text_is_trimmed_at_a_word_boundary() -> None:
    raw = (
        "Image of a woman in a yellow raincoat holding a transparent umbrella while crossing a rainy city street "
        "at night, with neon reflections on the wet pavement and taxis waiting"
    )
    text = clean_output(raw, "alt_text", truncated=True)
    assert len(text) <= MAX_ALT_TEXT_CHARS
    assert raw.removeprefix("Image of a").startswith(text.removeprefix("A"))
    assert not text.endswith((" with", " and", " the", ","))


def test_alt_text_prefers_whole_sentences() -> None:
    raw = (
        "A lighthouse on a rocky cliff at sunset. "
        "Waves crash on the rocks below and gulls circle overhead, lit orange by the low evening sun."
    )
    assert len(raw) > MAX_ALT_TEXT_CHARS
    assert trim_alt_text(raw) == "A lighthouse on a rocky cliff at sunset."


def test_ocr_keeps_lines_and_drops_preamble() -> None:
    raw = 'The text in the image reads:\n\n"OPEN\nMon-Fri 9-5"'
    assert clean_output(raw, "ocr") == "OPEN\nMon-Fri 9-5"


def test_ocr_strips_code_fences_and_residue() -> None:
    raw = "```\nEXIT\nPlatform 3 →\n```<|im_end|>"
    assert clean_output(raw, "ocr") == "EXIT\nPlatform 3 →"


@pytest.mark.parametrize("raw", ["NO TEXT", "There is no text in the image.", "none"])
def test_ocr_no_text_is_empty(raw: str) -> None:
    assert clean_output(raw, "ocr") == ""


def test_ocr_keeps_repeated_words() -> None:
    assert clean_output("SALE SALE SALE", "ocr") == "SALE SALE SALE"


def test_florence_ocr_residue() -> None:
    assert clean_output("</s><s>STOP</s>", "ocr") == "STOP"


def test_answer_cleaning() -> None:
    assert clean_output("yes", TASK_ASK) == "Yes"
    answer = clean_output("Sure! There are three dogs in the picture.", TASK_ASK)
    assert answer == "There are three dogs in the picture."


def test_empty_output_stays_empty() -> None:
    assert clean_output("", "caption") == ""
    assert clean_output("<|im_end|>", "detailed") == ""


def test_prompts_live_in_one_place() -> None:
    assert prompt_for("chat", "caption") == INSTRUCTIONS["caption"]
    assert prompt_for(FLORENCE2, "ocr") == "<OCR>"
    assert prompt_for(FLORENCE2, "detailed") == "<MORE_DETAILED_CAPTION>"
    assert prompt_for("blip2", "caption") == ""
    assert prompt_for("blip2", TASK_ASK, "What is the dog holding?") == "Question: What is the dog holding? Answer:"
    assert "What is the dog holding?" in prompt_for("chat", TASK_ASK, " What is the dog holding? ")


def test_family_task_support() -> None:
    assert supported_tasks("chat") == {"caption", "detailed", "alt_text", "ocr", TASK_ASK}
    assert supported_tasks(FLORENCE2) == {"caption", "detailed", "alt_text", "ocr"}
    assert supported_tasks("blip") == {"caption", "alt_text", TASK_ASK}
    with pytest.raises(ValueError, match="not supported"):
        prompt_for(FLORENCE2, TASK_ASK, "Why?")
    with pytest.raises(ValueError, match="question"):
        prompt_for("chat", TASK_ASK, "  ")
