"""Answer a question about one image with a captioner that can (VQA)."""

from __future__ import annotations

from dataclasses import dataclass

from picscribe.indexer import Captioner
from picscribe.indexer.decode import DecodeError, load
from picscribe.indexer.scan import FileEntry


@dataclass(frozen=True)
class Reply:
    text: str
    #: False when the backend could not answer (the text says why) or failed.
    answered: bool
    source: str


def ask(captioner: Captioner, path: str, question: str) -> Reply:
    if not question.strip():
        return Reply("Type a question first.", False, "none")
    ask_fn = getattr(captioner, "ask", None)
    if not callable(ask_fn):
        return Reply(
            f"The {captioner.name} captioner cannot answer questions; start the UI with a VLM or the offline captioner.",
            False,
            "none",
        )
    try:
        loaded = load(FileEntry(path, 0, 0), frozenset())
    except DecodeError as exc:
        return Reply(f"Cannot read the image: {exc}", False, "none")
    try:
        (answer,) = ask_fn([loaded.image], [question])
    except Exception as exc:  # a model or server failure is this question's error, shown in one line
        return Reply(f"The {captioner.name} captioner failed: {type(exc).__name__}: {exc}", False, "none")
    return Reply(answer.text, answer.answered, answer.source)
