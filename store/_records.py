"""Plain records passed into and out of the store. No SQL here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: status reads these records without importing numpy
    import numpy as np


@runtime_checkable
class TextEmbedder(Protocol):
    """Turns text into unit vectors. The store records ``name`` and ``dim``
    with every vector, so a query is always embedded by the model that made
    the index."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """Return float32 array (len(texts), dim), each row L2-normalised."""
        ...


@dataclass(frozen=True)
class FileState:
    """What the index knows about a path, enough to skip it unread."""

    size: int
    mtime_ns: int
    status: str
    content_hash: str | None
    #: For a failed row: its error, and what the failure depended on (see FailureRecord).
    error: str | None = None
    failure_key: str | None = None
    #: Fingerprints of the decoded pixels and of the sidecar files next to
    #: the file (see ImageRecord); None where not known.
    pixel_hash: str | None = None
    sidecar_sig: str | None = None


@dataclass(frozen=True)
class ImageRecord:
    path: str
    size: int
    mtime_ns: int
    content_hash: str
    width: int
    height: int
    format: str
    taken_at: str | None  # "YYYY-MM-DD HH:MM:SS", SQLite's datetime() format
    #: A hash of the decoded pixels: a later version of the file with other
    #: bytes but these pixels (only its metadata was edited) keeps the
    #: captions of this content instead of being captioned again.
    pixel_hash: str | None = None
    #: Sizes and mtimes of the caption files and XMP sidecars next to the
    #: file, when the captioner reads them: a change means read them again.
    sidecar_sig: str | None = None
    #: 64-bit perceptual hash of the decoded picture (8 bytes), stored per
    #: content for the "same picture" tier of duplicates; None: not computed
    #: (content known before, or an index from before migration 7).
    picture_hash: bytes | None = None


@dataclass(frozen=True)
class Place:
    """Where a photo was taken, named from its GPS coordinates (GeoNames, offline).

    ``region`` is the first-level division (a state, province or district);
    ``country_code`` is ISO 3166-1 alpha-2 ("PT").
    """

    city: str | None = None
    region: str | None = None
    country: str | None = None
    country_code: str | None = None

    @property
    def label(self) -> str:
        """ "Lisbon, Portugal": the city and the country, as people say it."""
        return ", ".join(x for x in (self.city, self.country or self.country_code) if x)

    @property
    def words(self) -> str:
        """The text keyword search indexes as the ``place`` field: the names, not
        the ISO code ("IN", "US" and "IT" are everyday English words)."""
        names = dict.fromkeys(x for x in (self.city, self.region, self.country) if x)
        return " ".join(names)


@dataclass(frozen=True)
class PhotoDetails:
    """What a content's EXIF says about where and with what it was taken
    (schema 8). All None: EXIF was read and says neither."""

    content_hash: str
    latitude: float | None = None
    longitude: float | None = None
    #: None when there are no usable coordinates, or no named place near them (the open sea).
    place: Place | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    #: Make and model as people say them: "Nikon D750" (see indexer.photo_details.camera_name).
    camera: str | None = None


@dataclass(frozen=True)
class FailureRecord:
    path: str
    size: int
    mtime_ns: int
    error: str
    #: What the failure depended on, e.g. the captioner that failed or the
    #: decoder environment. A later run with a different key tries the file
    #: again; None means try again whenever the file is seen (it had vanished).
    failure_key: str | None = None
    #: As ImageRecord.sidecar_sig: a caption file added later is a reason to try again.
    sidecar_sig: str | None = None


@dataclass(frozen=True)
class CaptionRecord:
    content_hash: str
    captioner: str
    model_id: str
    task: str
    text: str
    vector: np.ndarray
    ocr_text: str = ""
    human: bool = False
    tags: tuple[tuple[str, float], ...] = ()
    #: Counted detections: (label, count, best score).
    objects: tuple[tuple[str, int, float], ...] = ()


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions applied inside the store, before ranking.

    ``folder`` is an absolute directory; ``date_from``/``date_to`` compare
    against the EXIF capture time, or the file's mtime when it has none, as
    "YYYY-MM-DD HH:MM:SS" strings (inclusive).
    """

    folder: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    #: Object labels that must all have been detected (e.g. ("dog", "person")).
    objects: tuple[str, ...] = ()
    #: Only images in which text was read (OCR).
    has_text: bool = False
    #: Only images searched by this captioner's caption (name, e.g. "offline"),
    #: and/or this model id; "human" selects edited and imported text.
    captioner: str | None = None
    model: str | None = None
    #: Only photos taken in this place: a city, region or country name, or an
    #: ISO country code ("Lisbon", "Portugal", "PT"); whole names, any case and accents.
    place: str | None = None
    #: Only photos whose camera make or model contains this text, any case ("nikon", "EOS R5").
    camera: str | None = None

    def is_empty(self) -> bool:
        return self == SearchFilters()


#: Filters that let everything through (a frozen default, shared safely).
NO_FILTERS = SearchFilters()


@dataclass(frozen=True)
class HitRow:
    """One image (path) joined with the caption it is searched by."""

    caption_id: int
    path: str
    content_hash: str
    caption: str
    captioner: str
    model_id: str
    human: bool
    ocr_text: str
    width: int | None
    height: int | None
    taken_at: str | None
    tags: tuple[str, ...] = field(default=())
    #: (label, count), biggest count first.
    objects: tuple[tuple[str, int], ...] = field(default=())
    #: Where it was taken, from its GPS (None: no GPS, no place near it, or EXIF not read yet).
    place: Place | None = None
    #: The camera, as people say it ("Nikon D750"); None when EXIF names none.
    camera: str | None = None


@dataclass(frozen=True)
class StoreStatus:
    home: str
    images: int
    ok: int
    failed: int
    searchable: int
    failures: list[tuple[str, str]]
    captions_by_model: list[tuple[str, str, int]]
    active_captioner: str | None
    active_model: str | None
    embedder: str | None
    generation: int
    #: (folder, why) for folders the last scan of their root could not list.
    unreadable_folders: list[tuple[str, str]] = field(default_factory=list)
    #: Ok files whose content another ok file already has: found with it, captioned once.
    copies: int = 0
    #: (captioner, model, contents captioned) for every caption set stored, searched or not.
    stored_models: list[tuple[str, str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class StoredCaption:
    """One caption row of an image's content, any task, current or not."""

    caption_id: int
    captioner: str
    model_id: str
    task: str
    text: str
    ocr_text: str
    human: bool
    created_at: str
    #: The caption search uses for this content.
    current: bool
    tags: tuple[str, ...] = ()
    objects: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class ImageDetail:
    """Everything the index holds about one path."""

    path: str
    content_hash: str | None
    size: int
    width: int | None
    height: int | None
    format: str | None
    taken_at: str | None
    status: str
    error: str | None
    #: Current caption first, then the others, newest first.
    captions: tuple[StoredCaption, ...] = ()
    #: What its EXIF says of where and with what it was taken; None until read.
    details: PhotoDetails | None = None

    @property
    def current(self) -> StoredCaption | None:
        return next((c for c in self.captions if c.current), None)


@dataclass(frozen=True)
class ExportRow:
    """One ok image with the caption search uses for it: a row of ``picscribe export``.

    Enough to recreate the image row elsewhere (size and mtime, so a later
    ``index`` of the same files reads nothing) and the caption with who made it.
    """

    path: str
    content_hash: str
    size: int
    mtime_ns: int
    width: int
    height: int
    format: str
    taken_at: str | None
    caption: str
    captioner: str
    model_id: str
    human: bool
    ocr_text: str
    tags: tuple[tuple[str, float], ...] = ()
    objects: tuple[tuple[str, int, float], ...] = ()
    #: From the index's embedder; None unless asked for.
    vector: np.ndarray | None = None
    #: The stored text of the tasks "detailed" and "alt_text" for this
    #: content, chosen by ``_export.pick_task_text``; None when there is none.
    detailed: str | None = None
    alt_text: str | None = None
    #: Where and with what it was taken (EXIF GPS and camera); None when not known.
    place: Place | None = None
    camera: str | None = None
