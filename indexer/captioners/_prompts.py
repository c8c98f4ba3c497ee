"""Every prompt a VLM is sent, local (``vlm``) or hosted (the API backends), per task, in one place.

Chat models (Qwen2-VL, LLaVA, InternVL, SmolVLM, ...) get the instructions in
``INSTRUCTIONS``. Families that are not instruction-tuned, or that were
trained on fixed task tokens, override only the tasks they must, in
``FAMILY_PROMPTS``; a task missing from a family's overrides falls back to the
chat instruction, and a task mapped to ``None`` is one the family cannot do.
"""

from __future__ import annotations

# TASK_ASK (free-form questions) is not in KNOWN_TASKS: it is reached
# through a backend's ``ask``, not ``caption``.
from ..captioning import TASK_ALT_TEXT, TASK_ASK, TASK_CAPTION, TASK_DETAILED, TASK_OCR

#: Placeholder for the user's question in ``ask`` templates.
QUESTION = "{question}"

# Written against the failure modes seen in practice: chat models open with
# "The image shows", pad captions into paragraphs, and answer "Sure! Here's...".
INSTRUCTIONS: dict[str, str] = {
    TASK_CAPTION: (
        "Write a one-sentence caption for this photo, in the style of a COCO caption: "
        "name the main subject, what it is doing and where. "
        "Do not begin with 'The image' or 'This photo'. Reply with the caption only."
    ),
    TASK_DETAILED: (
        "Describe this photo in detail in a short paragraph: the main subjects, what they are doing, "
        "the setting, notable colours and objects, and any visible text. "
        "Describe only what is visible. Do not use lists or headings."
    ),
    TASK_ALT_TEXT: (
        "Write alt text for this image for a screen reader user: one concise phrase of at most "
        "125 characters that conveys what matters in the image. "
        "Do not begin with 'Image of', 'Picture of' or 'Photo of'. Reply with the alt text only."
    ),
    TASK_OCR: (
        "Transcribe all text visible in this image exactly as written, keeping line breaks. "
        "Reply with the text only. If there is no text, reply: NO TEXT"
    ),
    TASK_ASK: f"{QUESTION}\nAnswer briefly.",
}

#: What a model says when asked for OCR on an image without text; normalised to "".
NO_TEXT_REPLIES = frozenset(
    {
        "no text",
        "none",
        "n/a",
        "no visible text",
        "no text found",
        "no text visible",
        "there is no text",
        "there is no text in the image",
        "there is no visible text",
        "there is no visible text in the image",
        "the image does not contain any text",
        "the image contains no text",
    }
)

FLORENCE2 = "florence2"
BLIP2 = "blip2"
BLIP = "blip"
BLIP_VQA = "blip_vqa"

# Florence-2 was trained on task tokens, not instructions; its processor
# expands them. It has no free-form question answering.
# BLIP and BLIP-2 (OPT/Flan-T5) are not chat models: captioning is a text
# prefix the model continues, and BLIP-2's question format is "Question: Answer:".
FAMILY_PROMPTS: dict[str, dict[str, str | None]] = {
    FLORENCE2: {
        TASK_CAPTION: "<CAPTION>",
        TASK_DETAILED: "<MORE_DETAILED_CAPTION>",
        # Longer than <CAPTION> and trimmed to 125 characters by the cleaner.
        TASK_ALT_TEXT: "<DETAILED_CAPTION>",
        TASK_OCR: "<OCR>",
        TASK_ASK: None,
    },
    BLIP2: {
        TASK_CAPTION: "",
        TASK_ALT_TEXT: "",
        TASK_DETAILED: None,
        TASK_OCR: None,
        TASK_ASK: f"Question: {QUESTION} Answer:",
    },
    BLIP: {
        # The conditional-captioning prefix from the BLIP paper's demo; the
        # decoder continues it and the prefix is cut off the output.
        TASK_CAPTION: "a photography of",
        TASK_ALT_TEXT: "a photography of",
        TASK_DETAILED: None,
        TASK_OCR: None,
        TASK_ASK: f"Question: {QUESTION} Answer:",
    },
    # BlipForQuestionAnswering checkpoints answer questions and nothing else.
    BLIP_VQA: {
        TASK_CAPTION: None,
        TASK_ALT_TEXT: None,
        TASK_DETAILED: None,
        TASK_OCR: None,
        TASK_ASK: QUESTION,
    },
}


def prompt_for(style: str, task: str, question: str | None = None) -> str:
    """The prompt text for one task in one family's prompt style ("chat" or a FAMILY_PROMPTS key).

    Raises ValueError when the family cannot do the task.
    """
    overrides = FAMILY_PROMPTS.get(style, {})
    template = overrides[task] if task in overrides else INSTRUCTIONS.get(task)
    if template is None:
        raise ValueError(f"task {task!r} is not supported by {style} models")
    if task == TASK_ASK:
        if question is None or not question.strip():
            raise ValueError("ask needs a non-empty question")
        return template.replace(QUESTION, question.strip())
    return template


def supported_tasks(style: str) -> frozenset[str]:
    """Tasks (including TASK_ASK) the prompt style has a prompt for."""
    overrides = FAMILY_PROMPTS.get(style, {})
    tasks = set(INSTRUCTIONS) | set(overrides)
    return frozenset(t for t in tasks if (overrides[t] if t in overrides else INSTRUCTIONS.get(t)) is not None)
