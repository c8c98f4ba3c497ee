"""The captioner contract: declared capabilities with defaults, options by type, wrappers that forward."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib.metadata import EntryPoint
from typing import ClassVar

import pytest
from PIL import Image

from picscribe.indexer import (
    TASK_CAPTION,
    Answer,
    BaseCaptioner,
    Captioner,
    CaptionerOptions,
    CaptionerStopped,
    CaptionResult,
    FakeCaptioner,
    Usage,
    answers_questions,
    registry,
)
from picscribe.indexer.watch._interrupt import StopAwareCaptioner

IMAGE = Image.new("RGB", (4, 4))


class Plain(BaseCaptioner):
    """Only what a backend must have."""

    name: ClassVar[str] = "plain"

    @property
    def model_id(self) -> str:
        return "plain-1"

    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]:
        return [CaptionResult("plain") for _ in images]


class Talker(Plain):
    """Declares every capability, and reads its options."""

    name: ClassVar[str] = "talker"
    can_ask = True
    metered = True

    def __init__(self, *, device: str = "auto", model: str | None = None, concurrency: int = 1) -> None:
        self.device, self.model, self.concurrency = device, model, concurrency
        self.closed = False

    @classmethod
    def from_options(cls, *, device: str, model: str | None, options: CaptionerOptions) -> Talker:
        return cls(device=device, model=model, concurrency=options.concurrency or 1)

    @property
    def max_concurrency(self) -> int:
        return self.concurrency

    @property
    def usage(self) -> Usage:
        return Usage(requests=7)

    def ask(self, images: Sequence[Image.Image], questions: Sequence[str]) -> list[Answer]:
        return [Answer(f"yes to {q}") for q in questions]

    def close(self) -> None:
        self.closed = True


class ClaimsButCannot(Plain):
    """Declares can_ask and has no ask: a plugin bug that must not crash a caller."""

    can_ask = True


def test_defaults_declare_nothing_beyond_captions() -> None:
    plain = Plain()
    assert isinstance(plain, Captioner)
    assert (plain.can_ask, plain.metered, plain.max_concurrency, plain.usage) == (False, False, 1, None)
    assert Plain.available() is None
    plain.close()  # a no-op, callable on every backend
    assert not answers_questions(plain)


def test_only_a_declared_asker_with_ask_is_asked() -> None:
    talker = Talker()
    assert answers_questions(talker)
    assert [a.text for a in talker.ask([IMAGE], ["tea?"])] == ["yes to tea?"]
    assert not answers_questions(ClaimsButCannot())


def test_the_built_in_fake_declares_no_extras() -> None:
    fake = FakeCaptioner()
    assert (fake.can_ask, fake.metered, fake.max_concurrency, fake.usage) == (False, False, 1, None)


def test_registry_hands_options_to_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "backend_class", lambda name: {"talker": Talker, "plain": Plain}[name])
    talker = registry.create("talker:big", device="cpu", options=CaptionerOptions(concurrency=5, timeout=3.0))
    assert isinstance(talker, Talker)
    assert (talker.device, talker.model, talker.max_concurrency) == ("cpu", "big", 5)
    # A backend that reads no options is built from device and model alone.
    assert registry.create("plain", options=CaptionerOptions(concurrency=5)).model_id == "plain-1"


def test_registry_refuses_a_class_that_is_not_a_captioner(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = EntryPoint(name="legacy", value="collections:OrderedDict", group=registry.GROUP)
    monkeypatch.setattr(registry, "available_backends", lambda: {"legacy": entry})
    with pytest.raises(registry.BadCaptionerSpec, match="not a picscribe.BaseCaptioner subclass"):
        registry.create("legacy")


def test_the_watchers_stop_switch_forwards_every_capability() -> None:
    inner = Talker(concurrency=4)
    stopping = threading.Event()
    wrapped = StopAwareCaptioner(inner, stopping)
    assert isinstance(wrapped, Captioner) and answers_questions(wrapped)
    assert (wrapped.name, wrapped.model_id, wrapped.tasks) == ("talker", "plain-1", inner.tasks)
    assert (wrapped.metered, wrapped.max_concurrency, wrapped.usage) == (True, 4, Usage(requests=7))
    assert [a.text for a in wrapped.ask([IMAGE], ["go?"])] == ["yes to go?"]
    assert [r.text for r in wrapped.caption([IMAGE])] == ["plain"]
    stopping.set()
    with pytest.raises(CaptionerStopped):
        wrapped.caption([IMAGE])
    wrapped.close()
    assert inner.closed
    assert not answers_questions(StopAwareCaptioner(Plain(), stopping))
