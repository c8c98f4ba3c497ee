"""The captioner contract: every backend (offline, fake, VLMs, API clients) implements this.

A backend subclasses ``BaseCaptioner``: a few declared capabilities with
defaults, and one method, ``caption(images, task)``. Backends are found by name through the
``picscribe.captioners`` entry-point group (see ``indexer.registry``), so a
third-party package plugs in exactly the way the built-in ones do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol, Self, TypeGuard, runtime_checkable

if TYPE_CHECKING:  # annotations only: naming a captioner type must not import Pillow
    from PIL import Image

# The tasks a captioner may support. "caption" is the one indexing needs;
# the rest are asked for by `picscribe caption`, `ask`, and the UI.
TASK_CAPTION = "caption"
TASK_DETAILED = "detailed"
TASK_ALT_TEXT = "alt_text"
TASK_OCR = "ocr"
#: Visual question answering; not a caption task: backends that can do it
#: declare ``can_ask`` and have ``ask(images, questions) -> list[Answer]`` (see ``Asker``).
TASK_ASK = "ask"
KNOWN_TASKS = frozenset({TASK_CAPTION, TASK_DETAILED, TASK_ALT_TEXT, TASK_OCR})


@dataclass(frozen=True)
class Tag:
    """A label the backend saw in the image, with its confidence in [0, 1]."""

    label: str
    score: float


@dataclass(frozen=True)
class ObjectCount:
    """A kind of thing a detector found, how many, and its best score.

    Kept apart from tags: a tag is a label for the whole image, an object
    is something counted in it ("two dogs"), and search can filter on it.
    """

    label: str
    count: int
    score: float


@dataclass(frozen=True)
class CaptionResult:
    """What a backend says about one image.

    ``text`` is the sentence that is shown, and embedded unless the backend
    also wrote a ``detailed`` description for search. Tags, objects and
    OCR text are stored as separate searchable fields, so a backend should not stuff
    them into ``text`` only to make them findable.
    """

    text: str
    tags: tuple[Tag, ...] = ()
    objects: tuple[ObjectCount, ...] = ()
    ocr_text: str = ""
    # Human-written text (sidecar files, XMP/IPTC) is never overwritten by
    # generated text; backends that import such text set this.
    human: bool = False
    extra: dict[str, object] = field(default_factory=dict)
    #: Text for other tasks that came with this caption, e.g. {"alt_text": ...}
    #: from a sidecar that has alt text. The indexer stores each as a caption
    #: of that task, with the same captioner, model and human flag.
    other_tasks: dict[str, str] = field(default_factory=dict)
    #: A longer description made in the same pass, for search: what tells
    #: this photo from similar ones ("a black dog on the grass"), too long to
    #: show as the caption. When set, the indexer stores it as this backend's
    #: ``detailed`` caption beside ``text`` and embeds it instead of ``text``;
    #: a later caption from another model replaces both. "" when the backend
    #: makes none (then ``text`` is embedded).
    detailed: str = ""


@dataclass(frozen=True)
class Answer:
    """A backend's answer to a question about one image (``picscribe ask``)."""

    text: str
    #: False when the backend could not answer and ``text`` says why.
    answered: bool = True
    #: What the answer rests on: "vlm", or for the offline backend "ocr",
    #: "detector", "scene", "colours", or "none" when it refused.
    source: str = "vlm"


class CaptionerUnavailable(RuntimeError):
    """The backend cannot run here (missing weights, package or server).

    The message must say what is missing and how to get it.
    """


class CaptionerStopped(RuntimeError):
    """The backend cannot go on in this run: its key was refused, its model
    does not exist, its budget is spent, or its server keeps failing.

    The pipeline stops cleanly when it sees this: what was committed stays,
    no further images are sent, and the images not reached are left for the
    next run rather than marked as failed.
    """


class PartialBatch(RuntimeError):
    """Some images of a batch failed and the others have results.

    Raised by backends that pay per request (the API clients), so the
    pipeline keeps what succeeded instead of asking again one image at a
    time. ``results`` has one entry per image, in order: a CaptionResult, or
    the exception for that image (a ``CaptionerStopped`` for images that were
    never sent because the run had to stop).
    """

    def __init__(self, results: Sequence[CaptionResult | Exception]) -> None:
        errors = [r for r in results if isinstance(r, Exception)]
        first = errors[0] if errors else None
        super().__init__(f"{len(errors)} of {len(results)} images failed; first: {first}")
        self.results = list(results)

    @property
    def stopped(self) -> CaptionerStopped | None:
        return next((r for r in self.results if isinstance(r, CaptionerStopped)), None)


@dataclass(frozen=True)
class Usage:
    """What a metered backend has spent so far in this process."""

    requests: int = 0
    failed_requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "failed_requests": self.failed_requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


@dataclass(frozen=True)
class CaptionerOptions:
    """Settings from config.toml and the command line that some backends use.

    The registry hands the whole object to ``BaseCaptioner.from_options``;
    a backend reads the fields it has a use for and ignores the rest, so a
    plugin never has to accept a keyword it does not understand. ``None``
    means "the backend's own default".
    """

    #: Images per forward pass of a local VLM: a number or "auto".
    batch_size: int | str | None = None
    max_new_tokens: int | None = None
    #: Let a local VLM run code that ships with its weights.
    trust_remote_code: bool = False
    #: API backends: requests in flight at once.
    concurrency: int | None = None
    #: API backends: seconds per request.
    timeout: float | None = None
    #: API backends: budgets after which the run stops cleanly.
    max_requests: int | None = None
    max_tokens: int | None = None


@runtime_checkable
class Captioner(Protocol):
    """What the pipeline and the front ends use of a caption backend.

    ``caption`` takes a batch of decoded RGB images and returns one result per
    image, in order. It may raise for the whole batch; the pipeline then
    retries the images one at a time so that one bad image cannot sink the
    others. The other members are declared capabilities: callers read them
    and never probe for methods. Backends get them, with defaults, by
    subclassing ``BaseCaptioner``; wrappers (the watcher's stop switch,
    eval's memo) forward them.
    """

    #: Registry name, e.g. "offline".
    @property
    def name(self) -> str: ...

    #: Tasks this backend can do, a subset of KNOWN_TASKS.
    @property
    def tasks(self) -> frozenset[str]: ...

    #: Identifies the weights/version that produced a caption, e.g.
    #: "v4:centernet+mtcnn+efficientnet-lite0+rapidocr-1.4.4". Recorded on every caption row so a
    #: model change can be detected and re-indexed.
    @property
    def model_id(self) -> str: ...

    #: True when the backend also answers questions (it is then an ``Asker``).
    @property
    def can_ask(self) -> bool: ...

    #: True when each image costs requests or tokens (``usage`` counts them).
    @property
    def metered(self) -> bool: ...

    #: Images it works on side by side: the pipeline's batches are at least this big.
    @property
    def max_concurrency(self) -> int: ...

    #: True when its captions come from metadata (caption files and XMP
    #: sidecars next to the image, text embedded in it) rather than from the
    #: pixels. The indexer then reads an image again when a sidecar next to
    #: it changes, and never keeps captions on the word of equal pixels.
    @property
    def reads_metadata(self) -> bool: ...

    #: What a metered backend has spent in this process; None for the others.
    @property
    def usage(self) -> Usage | None: ...

    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]: ...

    def close(self) -> None:
        """Release connections or other resources; the captioner is not used afterwards."""


@runtime_checkable
class Asker(Protocol):
    """Visual question answering: one answer per (image, question) pair."""

    def ask(self, images: Sequence[Image.Image], questions: Sequence[str]) -> list[Answer]: ...


class AskingCaptioner(Captioner, Asker, Protocol):
    """A captioner that declares ``can_ask`` and has ``ask``."""


def answers_questions(captioner: Captioner) -> TypeGuard[AskingCaptioner]:
    """True when ``captioner`` says it can answer questions; it may then be asked.

    The declaration decides; the isinstance check only guards against a
    plugin that declares ``can_ask`` and forgot the method.
    """
    return captioner.can_ask and isinstance(captioner, Asker)


class BaseCaptioner(ABC):
    """The base class for caption backends, built-in and third-party.

    A subclass sets ``name`` and ``tasks``, implements ``model_id`` and
    ``caption``, and overrides only the capabilities it has (in the llm
    library's style: ``can_ask = True`` plus an ``ask`` method, ``metered``
    and ``usage`` for a backend that pays per request, ``max_concurrency``
    for one that works on several images at once, ``close`` for one that
    holds connections, ``available`` for one that needs packages or
    weights). Everything else keeps the defaults below.
    """

    name: ClassVar[str]
    tasks: ClassVar[frozenset[str]] = frozenset({TASK_CAPTION})

    def __init__(self, *, device: str = "auto", model: str | None = None) -> None:
        """``device`` and ``model`` come from ``--device`` and ``--captioner NAME:MODEL``."""
        del device, model  # a uniform constructor for the registry; this base needs neither

    @classmethod
    def from_options(cls, *, device: str, model: str | None, options: CaptionerOptions) -> Self:
        """Build the backend the registry was asked for. Override to read ``options``."""
        return cls(device=device, model=model)

    @classmethod
    def available(cls) -> str | None:
        """None when the backend can run here, else what is missing and how to get it."""
        return None

    @property
    @abstractmethod
    def model_id(self) -> str: ...

    @property
    def can_ask(self) -> bool:
        return False

    @property
    def metered(self) -> bool:
        return False

    @property
    def max_concurrency(self) -> int:
        return 1

    @property
    def reads_metadata(self) -> bool:
        return False

    @property
    def usage(self) -> Usage | None:
        return None

    @abstractmethod
    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]: ...

    def close(self) -> None:
        return None
