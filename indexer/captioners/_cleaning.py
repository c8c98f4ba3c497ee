"""Turn what a VLM generated into the text picscribe stores.

Pure string functions, no model: chat models wrap their answer in
preambles ("The image shows", "Sure! Here's a caption:"), markdown and
template residue, repeat themselves, and stop mid-sentence at the token
limit. None of that belongs in a caption that gets embedded and searched.
"""

from __future__ import annotations

import re

from ..captioning import TASK_ALT_TEXT, TASK_CAPTION, TASK_DETAILED, TASK_OCR
from ._prompts import NO_TEXT_REPLIES, TASK_ASK

#: The alt text limit of WCAG practice: screen readers read the whole thing.
MAX_ALT_TEXT_CHARS = 125

# Special tokens of the supported chat templates that a decode with
# skip_special_tokens can still leave behind (added tokens not marked special).
_SPECIAL_TOKENS = re.compile(
    r"<\|[^<>|\n]{1,40}\|>"  # Qwen/InternVL/Phi: <|im_end|>, <|endoftext|>, <|vision_start|>
    r"|</?s>|<pad>|<unk>|<bos>|<eos>"
    r"|<end_of_utterance>|<fake_token_around_image>|<global-img>|<row_\d+_col_\d+>"
    r"|<image>|</?img>|<IMG_CONTEXT>|<start_of_turn>|<end_of_turn>"
    r"|\[/?INST\]"
)
# A role label the model echoed at the start of its turn.
_LEADING_ROLE = re.compile(r"^\s*(?:assistant|gpt|answer)\s*[:\n]\s*", re.IGNORECASE)
# The model carrying on the conversation by itself after its answer.
_NEXT_TURN = re.compile(r"\n\s*(?:user|human|###\s*human|question)\s*:.*\Z", re.IGNORECASE | re.DOTALL)

_CODE_FENCE = re.compile(r"^\s*```[\w-]*\s*$", re.MULTILINE)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*)$")
_BULLET = re.compile(r"^\s*(?:[-*+•·]|\d{1,2}[.)])\s+")
_RULE = re.compile(r"^\s*([-*_=])(?:\s*\1){2,}\s*$")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_INLINE_CODE = re.compile(r"`([^`\n]*)`")
# "Caption:", "**Alt text:**" as a label before the actual answer.
_LABEL = re.compile(
    r"^\s*(?:short |one-sentence |image |detailed )?(?:caption|description|alt[ -]?text|answer|transcription|text)"
    r"\s*:\s*",
    re.IGNORECASE,
)

_MEDIUM = r"(?:image|photo|photograph|picture|pic|scene|shot|snapshot|illustration|frame)"
_PREAMBLES = [
    # "Sure!", "Certainly.", "Of course,"
    re.compile(r"^(?:sure|certainly|of course|okay|ok|absolutely|alright)\b\s*[!,.:]?\s*", re.IGNORECASE),
    # "Here's a one-sentence caption for the image:", "Here is the alt text:"
    re.compile(r"^here(?:'s|’s| is| are)\b[^:\n]{0,100}:\s*", re.IGNORECASE),
    # "The image shows", "This photo depicts", "The picture appears to show"
    re.compile(
        rf"^(?:the|this)\s+{_MEDIUM}(?:\s+(?:you(?:'ve)? (?:provided|shared|uploaded)|provided|given))?\s+"
        r"(?:clearly |primarily |mainly )?"
        r"(?:shows|depicts|features|displays|captures|presents|portrays|showcases|illustrates|contains|"
        r"is of|is showing|appears to (?:show|depict|be of|be)|seems to (?:show|depict|be))\b\s*(?:that\s+)?",
        re.IGNORECASE,
    ),
    # "The image is a close-up of ..." -> "a close-up of ..."
    re.compile(rf"^(?:the|this)\s+{_MEDIUM}\s+is\s+(?=(?:a|an)\b)", re.IGNORECASE),
    # "This is an image of", "It is a photo showing"
    re.compile(rf"^(?:this|it)\s+is\s+(?:an?\s+)?{_MEDIUM}\s+(?:of|showing|that shows|depicting)\s+", re.IGNORECASE),
    # "In this picture, we can see", "In the image there are"
    re.compile(
        rf"^in\s+(?:this|the)\s+{_MEDIUM},?\s*(?:(?:we|you|i|one)\s+(?:can\s+)?see\s+|there\s+(?:is|are)\s+)?",
        re.IGNORECASE,
    ),
    re.compile(r"^(?:we|you|i)\s+(?:can\s+)?see\s+", re.IGNORECASE),
]
# Alt text must not announce itself: screen readers already say "image".
_ALT_PREAMBLE = re.compile(rf"^(?:an?\s+)?(?:close-up\s+)?{_MEDIUM}\s+(?:of|showing|depicting)\s+", re.IGNORECASE)
_OCR_PREAMBLE = re.compile(
    rf"^(?:the\s+)?(?:text|words?)(?:\s+(?:in|on)\s+(?:the|this)\s+{_MEDIUM})?\s+(?:reads?|says?|is|are)\s*:?\s*"
    rf"|^(?:the|this)\s+{_MEDIUM}\s+contains\s+the\s+(?:following\s+)?text\s*:?\s*"
    r"|^(?:the\s+)?(?:visible\s+)?text\s*:\s*",
    re.IGNORECASE,
)

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])[\"'”’)]*\s+(?=[\"'“‘(]?[A-Z0-9])")
# A phrase looping three or more times: "a dog and a cat, a dog and a cat, a dog and a cat".
_LOOP = re.compile(r"\b(\w.{2,80}?)(?:[\s,;]+\1\b){2,}", re.IGNORECASE | re.DOTALL)
# Words that cannot end a phrase that was cut off.
_DANGLING = frozenset(
    "a an the and or but with of in on at to for from by as into onto its their his her "
    "while which that who whose is are was were be very".split()
)
_TERMINAL = ".!?…"


def strip_template_residue(text: str) -> str:
    """Remove special tokens, an echoed role label and any self-continued next turn."""
    text = _SPECIAL_TOKENS.sub("", text)
    text = _NEXT_TURN.sub("", text)
    text = _LEADING_ROLE.sub("", text, count=1) if re.match(r"^\s*(?:assistant|gpt|answer)\b", text, re.I) else text
    return text.strip()


def _lower_item(item: str) -> str:
    """Inside a sentence "A red bus" is "a red bus"; "Big Ben" and "NASA" keep their capitals."""
    words = item.split()
    if not words or (len(words[0]) > 1 and words[0].isupper()) or (len(words) > 1 and words[1][:1].isupper()):
        return item
    return item[:1].lower() + item[1:]


def _join_items(items: list[str]) -> str:
    items = [_lower_item(item.rstrip(" .,;")) for item in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def strip_markdown(text: str, *, keep_lines: bool = False) -> str:
    """Plain text from markdown: headings dropped, bullets turned into prose, emphasis unwrapped.

    With ``keep_lines`` (OCR) line structure survives and only the markup goes.
    """
    text = _CODE_FENCE.sub("", text)
    text = _BOLD.sub(r"\2", text)
    text = _ITALIC.sub(r"\1", text)
    text = _INLINE_CODE.sub(r"\1", text)
    blocks: list[tuple[bool, str]] = []  # (is_bullet, text)
    for raw in text.splitlines():
        line = raw.strip()
        if not line or _RULE.match(line):
            if keep_lines:
                blocks.append((False, ""))
            continue
        heading = _HEADING.match(line)
        if heading:
            # A heading ("Description", "Scene overview") names a section; it says nothing about the image.
            if keep_lines:
                blocks.append((False, heading.group(1)))
            continue
        blocks.append((bool(_BULLET.match(line)), _BULLET.sub("", line)))
    if keep_lines:
        return "\n".join(line for _, line in blocks).strip()
    out: list[str] = []
    i = 0
    while i < len(blocks):
        is_bullet, line = blocks[i]
        if not is_bullet:
            if out and out[-1][-1] not in _TERMINAL + ":,;" and line[:1].isupper():
                out[-1] += "."
            out.append(line)
            i += 1
            continue
        run: list[str] = []
        while i < len(blocks) and blocks[i][0]:
            run.append(blocks[i][1])
            i += 1
        short = all(len(item.split()) <= 8 and not re.search(r"[.!?]\s", item) for item in run)
        if out and out[-1].endswith(":") and short:
            # "Objects:" followed by bullets -> "Objects: a dog, a ball and a frisbee."
            out[-1] += " " + _join_items(run) + "."
        else:
            if out and out[-1][-1] not in _TERMINAL:
                out[-1] = out[-1].rstrip(":,;") + "."
            out.extend(_end_sentence(_capitalise(item)) for item in run)
    return " ".join(out).rstrip(" :").strip()


def strip_preambles(text: str) -> str:
    """Drop the openers chat models put before the actual answer, repeatedly ("Sure! The image shows ...")."""
    for _ in range(4):
        before = text
        text = _LABEL.sub("", text, count=1)
        for pattern in _PREAMBLES:
            text = pattern.sub("", text, count=1)
        text = text.lstrip(" ,:;-—–")
        if text == before:
            break
    return text


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s.strip()]


def drop_repetition(text: str) -> str:
    """Drop repeated sentences and collapse phrases that loop (greedy decoding's favourite failure)."""
    text = _LOOP.sub(r"\1", text)
    seen: set[str] = set()
    kept: list[str] = []
    for sentence in split_sentences(text):
        key = re.sub(r"[^a-z0-9]+", " ", sentence.lower()).strip()
        if key and key in seen:
            continue
        seen.add(key)
        kept.append(sentence)
    return " ".join(kept)


def _strip_dangling(text: str) -> str:
    """Cut trailing words and punctuation that cannot end a phrase: "a dog sitting on the" -> "a dog sitting"."""
    words = text.rstrip(" ,;:-—–(").split()
    while len(words) > 1 and words[-1].lower().strip(",;:") in _DANGLING:
        words.pop()
    return " ".join(words).rstrip(" ,;:-—–(")


def drop_incomplete_tail(text: str) -> str:
    """When generation hit the token limit, drop the unfinished last sentence if a complete one precedes it."""
    text = text.rstrip()
    if not text or text[-1] in _TERMINAL or text[-1] in "\"'”’)":
        return text
    sentences = split_sentences(text)
    if len(sentences) > 1:
        return " ".join(sentences[:-1])
    return _strip_dangling(text)


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _end_sentence(text: str) -> str:
    text = text.rstrip(" ,;:-—–")
    if text and text[-1] not in _TERMINAL and text[-1] not in "\"'”’)":
        text += "."
    return text


def trim_alt_text(text: str, limit: int = MAX_ALT_TEXT_CHARS) -> str:
    """At most ``limit`` characters: whole sentences when they fit, else cut at a word boundary."""
    if len(text) <= limit:
        return text
    kept = ""
    for sentence in split_sentences(text):
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > limit:
            break
        kept = candidate
    if kept:
        return kept
    cut = text[: limit + 1]
    cut = cut.rsplit(" ", 1)[0] if " " in cut else text[:limit]
    return _strip_dangling(cut)[:limit]


def _clean_ocr(text: str) -> str:
    text = strip_markdown(text, keep_lines=True)
    text = strip_preambles(text)
    text = _OCR_PREAMBLE.sub("", text, count=1)
    lines = [line.rstrip() for line in text.splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if len(text) >= 2 and text[0] in "\"'“" and text[-1] in "\"'”":
        text = text[1:-1].strip()
    if text.lower().rstrip(".!") in NO_TEXT_REPLIES:
        return ""
    return text


def clean_output(text: str, task: str, *, truncated: bool = False) -> str:
    """The stored text for one generation.

    ``truncated`` says generation stopped at max_new_tokens, so the last
    sentence may be cut off.
    """
    text = strip_template_residue(text)
    if task == TASK_OCR:
        return _clean_ocr(text)
    text = strip_markdown(text)
    text = " ".join(text.split())
    text = strip_preambles(text)
    if task == TASK_ALT_TEXT:
        text = _ALT_PREAMBLE.sub("", text, count=1)
    text = drop_repetition(text)
    if truncated:
        text = drop_incomplete_tail(text)
    text = text.strip().strip('"“”').strip()
    if not text:
        return ""
    if task == TASK_CAPTION:
        # COCO style is one sentence; a second one is commentary.
        return _end_sentence(_capitalise(split_sentences(text)[0]))
    if task == TASK_DETAILED:
        return _end_sentence(_capitalise(text))
    if task == TASK_ALT_TEXT:
        return trim_alt_text(_capitalise(text))
    if task == TASK_ASK:
        return _capitalise(text)
    return text
