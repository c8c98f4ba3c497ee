"""Answer a question about one image with a captioner that can (VQA)."""

from __future__ import annotations

from dataclasses import dataclass

from picscribe.indexer import Captioner, answers_questions
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
    if not answers_questions(captioner):
        return Reply(
            f"The {captioner.name} captioner ({captioner.model_id}) cannot answer questions; "
            "start the UI with a chat VLM or the offline captioner.",
            False,
            "none",
        )
    try:
        loaded = load(FileEntry(path, 0, 0), frozenset())
    except DecodeError as exc:
        return Reply(f"Cannot read the image: {exc}", False, "none")
    assert loaded.image is not None  # no known hashes: every image is decoded
    try:
        (answer,) = captioner.ask([loaded.image], [question])
    except Exception as exc:  # a model or server failure is this question's error, shown in one line
        return Reply(f"The {captioner.name} captioner failed: {type(exc).__name__}: {exc}", False, "none")
    return Reply(answer.text, answer.answered, answer.source)
