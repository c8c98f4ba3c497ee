"""Index folders: scan -> read/hash/decode (thread pool) -> caption -> embed -> store.

Data flows one way. Decoding runs ahead of the model on a bounded thread
pool; the model stage takes batches; each batch is written in one SQLite
transaction. Files whose (size, mtime) match the index are not opened, and
content the index already has a caption for (a moved or duplicated file) is
hashed but neither decoded nor captioned.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from picscribe.store import CaptionRecord, FailureRecord, FileState, ImageRecord, Store, TextEmbedder

from .captioning import TASK_CAPTION, TASK_DETAILED, Captioner, CaptionerStopped, CaptionResult, Usage
from .decode import DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE, DecodeError, Loaded, load
from .decode_budget import DEFAULT_DECODE_MEMORY, DecodeBudget
from .failure_keys import captioner_key, decoder_key
from .photo_details_fill import fill_photo_details
from .progress import CAPTIONED, FAILED, PENDING, REUSED, NoProgress, Progress
from .scan import FileEntry, ScanResult, is_utf8, printable_path, scan
from .sidecar_files import images_for_sidecar, is_sidecar_name, sidecar_signature
from .sniff import has_image_extension, looks_like_image
from .stages import caption_outcomes, read_ahead

#: Rows written per transaction when no captioning is involved.
_METADATA_BATCH = 500


@dataclass
class IndexReport:
    captioner: str
    model_id: str
    scanned: int = 0
    unchanged: int = 0
    reused: int = 0  # known content at a new path: moved or duplicated
    #: Of ``removed``: old paths of reused content, gone from disk (a move or rename).
    moved: int = 0
    #: Files whose bytes changed but whose pixels did not (metadata written
    #: into them): their captions were carried over, not made again.
    kept: int = 0
    captioned: int = 0
    failed: int = 0
    removed: int = 0
    decoded: int = 0
    hashed: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: Failures left from earlier runs on files that have not changed since.
    still_failing: list[tuple[str, str]] = field(default_factory=list)
    complete: bool = True
    #: Why the run ended early: the captioner stopped (refused key, budget
    #: spent, server down). What was committed stays.
    stopped: str | None = None
    #: Files not captioned because the run stopped; the next run picks them up.
    pending: int = 0
    #: What a metered (API) captioner spent in this run: requests and tokens.
    usage: dict[str, int] | None = None
    #: Photos whose place and camera were read from EXIF in this run (new
    #: content, and content from an index made before places existed).
    details_read: int = 0
    #: (path, why) for GPS in a file that cannot be used (out of range,
    #: malformed): indexed all the same, without a place. Not a failure.
    gps_skipped: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["failures"] = [{"path": p, "error": e} for p, e in self.failures]
        d["still_failing"] = [{"path": p, "error": e} for p, e in self.still_failing]
        d["gps_skipped"] = [{"path": p, "reason": why} for p, why in self.gps_skipped]
        return d


@dataclass(frozen=True)
class IndexOptions:
    batch_size: int = 8
    workers: int = max(1, min(4, os.cpu_count() or 1))
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_side: int = DEFAULT_MAX_SIDE
    #: Bytes of pixels the decode workers may hold at once (see decode_budget).
    decode_memory: int = DEFAULT_DECODE_MEMORY
    retry_failed: bool = False


#: OCR text beyond this many characters adds noise, not meaning, to an embedding.
_EMBEDDED_OCR_CHARS = 100
#: A description that holds this much of the OCR text already quotes it.
_QUOTED_OCR_PROBE = 30


def embedding_text(result: CaptionResult) -> str:
    """The text a caption is embedded by. One place, so evaluation can change it.

    The backend's description for search (``result.detailed``) when it made
    one, else the caption: on everyday photos the short caption ("A photo of
    a dog.") is the same for a hundred of them (issue 18). Text read in the
    image is part of what it shows ("STOP" makes a stop sign), so it joins
    here unless the description already quotes it.

    With a description come the backend's tags ("Saluki", "seashore",
    "green", "outdoors"): the offline captioner's description plus its tags
    as one vector found the photo in the top 10 for 0.474 of flickr-dev's
    queries against 0.453 without, and 0.935 against 0.907 on coco-dev
    (dense side, issue 18). A caption without a description (a person's, a
    VLM's) is embedded as it is.
    """
    base = result.detailed or result.text
    ocr = " ".join(result.ocr_text.split())[:_EMBEDDED_OCR_CHARS]
    text = base if not ocr or ocr[:_QUOTED_OCR_PROBE] in " ".join(base.split()) else f'{base} Text: "{ocr}"'
    if result.detailed and result.tags:
        text += f" Tags: {', '.join(dict.fromkeys(tag.label for tag in result.tags))}."
    return text


class Indexer:
    def __init__(
        self,
        store: Store,
        captioner: Captioner,
        embedder: TextEmbedder,
        options: IndexOptions = IndexOptions(),
    ) -> None:
        self.store = store
        self.captioner = captioner
        self.embedder = embedder
        self.options = options
        self._decode_budget = DecodeBudget(options.decode_memory)
        self._embedder_bound = False
        self._captioner_key = captioner_key(captioner.name, captioner.model_id)
        self._decoder_key = decoder_key()
        # Fail before any captioning work, not at the first write.
        store.check_embedder(embedder.name)

    def _bind_embedder(self) -> None:
        # Deferred until a caption is written: asking for the dimension loads
        # the model, which a no-op re-index has no need for.
        if not self._embedder_bound:
            self.store.bind_embedder(self.embedder.name, self.embedder.dim)
            self._embedder_bound = True

    # -- public ------------------------------------------------------------

    def index(
        self,
        roots: Sequence[Path | str],
        *,
        progress: Progress | None = None,
        scanner: Callable[..., ScanResult] = scan,
    ) -> IndexReport:
        """Bring the index in step with the files under ``roots``; ``progress`` follows the run."""
        started = time.perf_counter()
        report = IndexReport(self.captioner.name, self.captioner.model_id)
        usage_before = self.captioner.usage
        self.store.ensure_active_captioner(self.captioner.name, self.captioner.model_id)
        abs_roots = [os.path.abspath(r) for r in roots]
        known = self.store.file_states(abs_roots)
        found = scanner(roots, known_paths=set(known))
        self._sync(found, known, report, progress)
        self._read_photo_details(report)
        unlisted = set(found.unreadable_dirs)
        self.store.record_unreadable_folders(abs_roots, [(p, e) for p, e in found.errors if p in unlisted])
        report.complete = report.stopped is None
        report.usage = _usage_since(self.captioner, usage_before)
        self.store.flush()

        new_failures = {p for p, _ in report.failures}
        report.still_failing = [(p, e) for p, e in self.store.failed_paths_under(abs_roots) if p not in new_failures]
        report.seconds = time.perf_counter() - started
        return report

    def reindex(self, *, progress: Progress | None = None) -> IndexReport:
        """Caption every indexed image with this captioner, next to the old
        captions; switch search over only once every image has one."""
        started = time.perf_counter()
        report = IndexReport(self.captioner.name, self.captioner.model_id)
        usage_before = self.captioner.usage
        done = self.store.hashes_with_caption(self.captioner.name, self.captioner.model_id)
        wanted = self.store.paths_by_hash()
        todo_hashes = {h: p for h, p in wanted.items() if h not in done}
        report.unchanged = len(wanted) - len(todo_hashes)
        entries = []
        for path in sorted(todo_hashes.values()):
            try:
                st = os.stat(path)
            except OSError as exc:
                report.failures.append((path, f"cannot re-read for re-indexing: {exc.strerror or exc}"))
                continue
            entries.append(FileEntry(path, st.st_size, st.st_mtime_ns))
        self._process(entries, frozenset(), report, [], expected=todo_hashes, update_images=False, progress=progress)
        remaining = set(wanted) - self.store.hashes_with_caption(self.captioner.name, self.captioner.model_id)
        report.complete = not remaining
        report.usage = _usage_since(self.captioner, usage_before)
        if report.complete:
            self.store.set_active_captioner(self.captioner.name, self.captioner.model_id)
        self.store.flush()
        report.seconds = time.perf_counter() - started
        return report

    def update(
        self,
        paths: Iterable[str],
        *,
        progress: Progress | None = None,
        accept: Callable[[str], bool] | None = None,
    ) -> IndexReport:
        """Bring the index in step with just ``paths``, scanning nothing else.

        This is what a watcher does with the paths it saw change. Each path may be
        a file or a folder that appeared, changed or vanished; a vanished path
        takes its row, and every row inside it, out of the index. Known rows are
        found through the path index, not by reading every row under a root.
        ``accept`` vetoes files by path (a watcher's
        ignore patterns); a vetoed file that was indexed leaves the index.
        The FAISS cache is not written here: a caller making many small
        updates decides when to ``store.flush()``.
        """
        started = time.perf_counter()
        report = IndexReport(self.captioner.name, self.captioner.model_id)
        usage_before = self.captioner.usage
        self.store.ensure_active_captioner(self.captioner.name, self.captioner.model_id)
        present: list[str] = []
        vanished: list[str] = []
        for path in dict.fromkeys(os.path.abspath(p) for p in paths):
            (present if os.path.lexists(path) else vanished).append(path)
        folders = [p for p in present if os.path.isdir(p)]
        files = [p for p in present if not os.path.isdir(p)]
        if self.captioner.reads_metadata:
            # An edited, new or deleted caption file or XMP sidecar stands for the image it describes.
            described = [img for p in files + vanished if is_sidecar_name(p) for img in images_for_sidecar(p)]
            files = list(dict.fromkeys(files + described))
        # A name that is not valid UTF-8 cannot be in the index (scan reports
        # it instead), and asking SQLite about it would fail the whole step.
        storable = [p for p in files + vanished if is_utf8(p)]
        known = self.store.file_states_at(storable, folders=[p for p in folders + vanished if is_utf8(p)])
        # Named one by one, a file is indexed only if a folder scan would have
        # taken it: not notes.txt, yes an extension-less JPEG.
        candidates = [p for p in files if p in known or has_image_extension(p) or looks_like_image(Path(p))]
        # A folder symlink that appeared inside a root must lead inside the library, as in a full scan.
        library = self.store.library_roots(derive=False) or None
        found = scan(folders + candidates, known_paths=set(known), within=library)
        keep = accept or (lambda _path: True)
        found.files = [e for e in found.files if keep(e.path)]
        # A file deleted between the listing and its stat is gone, not failed.
        # Names that are not UTF-8 are reported in printable form, which is no path on disk.
        unstorable = {printable_path(p) for p in present if not is_utf8(p)}
        found.errors = [
            (p, e)
            for p, e in found.errors
            if keep(p) and (p in found.unreadable_dirs or p in unstorable or os.path.lexists(p))
        ]
        self._sync(found, known, report, progress)
        self._read_photo_details(report, [e.path for e in found.files])
        report.complete = report.stopped is None
        report.usage = _usage_since(self.captioner, usage_before)
        report.seconds = time.perf_counter() - started
        return report

    def _read_photo_details(self, report: IndexReport, paths: Sequence[str] | None = None) -> None:
        """Place and camera, from EXIF, of the content that has none yet (see photo_details_fill):
        in the whole library after a full scan, at ``paths`` only after a watcher's update."""
        details = fill_photo_details(self.store, workers=self.options.workers, paths=paths)
        report.details_read += details.filled
        report.gps_skipped += details.gps_skipped

    def _sync(
        self, found: ScanResult, known: dict[str, FileState], report: IndexReport, progress: Progress | None
    ) -> None:
        """Caption what changed in ``found``, then forget the ``known`` paths it no longer has.

        Shared by ``index`` (a full scan) and ``update`` (a watcher's paths).
        """
        report.scanned = len(found.files)
        retry = self.options.retry_failed
        self._decoder_key = decoder_key()
        # A failure is final only while what it depended on is unchanged: the
        # same captioner, the same decoders. NULL (the file had vanished, or a
        # row from before keys existed) is tried again whenever the file is seen.
        still_valid = {self._captioner_key, self._decoder_key}
        reads_metadata = self.captioner.reads_metadata
        todo: list[FileEntry] = []
        # Known content to read again although its files did not change: a sidecar next to it did.
        reread: set[str] = set()
        sidecars: dict[str, str | None] = {}
        for entry in found.files:
            state = known.get(entry.path)
            if reads_metadata:
                sidecars[entry.path] = sidecar_signature(entry.path)
            if state and (state.size, state.mtime_ns) == (entry.size, entry.mtime_ns):
                sidecar_edited = reads_metadata and sidecars[entry.path] != state.sidecar_sig
                if not sidecar_edited and (state.status == "ok" or (not retry and state.failure_key in still_valid)):
                    report.unchanged += 1
                    continue
                if sidecar_edited and state.content_hash:
                    reread.add(state.content_hash)
            todo.append(entry)
        # Files that could not even be stat'ed get a failed row; a folder that
        # could not be listed has no row of its own but is reported all the same.
        # Such a file fails the same way on every run: only the first reports it
        # as this run's failure, later ones list it as still failing.
        errors = [(p, e) for p, e in found.errors if retry or not _failed_alike(known.get(p), e)]
        report.failures.extend(errors)
        stat_failures = [FailureRecord(p, 0, 0, err) for p, err in errors if p not in found.unreadable_dirs]
        on_disk = {e.path for e in found.files} | {p for p, _ in found.errors}
        gone = [p for p in known if p not in on_disk and not any(_inside(p, d) for d in found.unreadable_dirs)]
        self._process(
            todo,
            self.store.hashes_with_current_caption() - reread,
            report,
            stat_failures,
            gone=set(gone),
            progress=progress,
            previous=known,
            sidecars=sidecars,
        )

        # Only now forget the other vanished paths, so that content moved to a
        # new path is still alive when its new row is written and keeps its
        # captions. A stopped run may not have reached the new path yet:
        # forget nothing more.
        if report.stopped is None:
            report.removed += self.store.remove_paths(gone)

    # -- the stages ----------------------------------------------------------

    def _process(
        self,
        entries: list[FileEntry],
        known_hashes: set[str] | frozenset[str],
        report: IndexReport,
        failures: list[FailureRecord],
        *,
        expected: dict[str, str] | None = None,
        update_images: bool = True,
        gone: set[str] | frozenset[str] = frozenset(),
        progress: Progress | None = None,
        previous: Mapping[str, FileState] | None = None,
        sidecars: Mapping[str, str | None] | None = None,
    ) -> None:
        """Hash, decode, caption and write ``entries``.

        ``previous`` is what the index knew of each path, so a file whose bytes
        changed but whose pixels did not keeps its captions; ``sidecars`` the
        sidecar signature to record for each path (see ``sidecar_files``).
        """
        opts = self.options
        previous = previous or {}
        sidecars = sidecars or {}
        follower = progress or NoProgress()
        follower.on_total(len(entries))
        # Files whose fate is known, told to the follower only once the
        # transaction that records them has committed.
        settled: list[tuple[str, str]] = []
        batch: list[Loaded] = []
        reused: list[ImageRecord] = []
        pending_failures = list(failures)
        # Content captioned earlier in this run, and content waiting in the
        # current batch: a duplicate file reuses its twin's caption instead
        # of being captioned twice.
        captioned_info: dict[str, ImageRecord] = {}
        in_batch: set[str] = set()
        waiting: list[Loaded] = []
        # (old, new) content hashes of files whose pixels are unchanged.
        carry: list[tuple[str, str]] = []

        def flush() -> None:
            nonlocal batch, reused, pending_failures, waiting, settled, carry
            captions, images, not_sent = self._caption_batch(batch, report, pending_failures)
            captioned_now = {img.content_hash for img in images}
            for img in images:
                captioned_info[img.content_hash] = img
            for b in batch:
                done = CAPTIONED if b.content_hash in captioned_now else FAILED
                settled.append((b.entry.path, PENDING if b.content_hash in not_sent else done))
            for w in waiting:
                twin = REUSED if w.content_hash in captioned_info else FAILED
                settled.append((w.entry.path, PENDING if w.content_hash in not_sent else twin))
            images += [_record(w, captioned_info[w.content_hash]) for w in waiting if w.content_hash in captioned_info]
            report.pending += len(not_sent)
            for w in waiting:
                if w.content_hash in not_sent:
                    report.pending += 1
                    report.reused -= 1
                elif w.content_hash not in captioned_info:
                    msg = "captioning failed for a file with identical content"
                    pending_failures.append(
                        FailureRecord(w.entry.path, w.entry.size, w.entry.mtime_ns, msg, self._captioner_key)
                    )
                    report.failures.append((w.entry.path, msg))
            if sidecars:
                images = [replace(r, sidecar_sig=sidecars.get(r.path)) for r in images]
                reused = [replace(r, sidecar_sig=sidecars.get(r.path)) for r in reused]
                pending_failures = [replace(r, sidecar_sig=sidecars.get(r.path)) for r in pending_failures]
            moved_from = self._moved_from(reused, gone) if update_images else []
            report.moved += len(moved_from)
            report.removed += self.store.write_batch(
                images=(images + reused) if update_images else [],
                captions=captions,
                failures=pending_failures if update_images else [],
                remove=moved_from,
                carry=carry,
            )
            report.captioned += len(captioned_now)  # images, not caption rows (a description adds a row)
            report.failed = len(report.failures)
            for path, outcome in settled:
                follower.on_file(path, outcome)
            if settled:
                follower.on_batch(report)
            batch, reused, pending_failures, waiting, settled, carry = [], [], [], [], [], []
            in_batch.clear()

        loads = self._load_ahead(entries, known_hashes)
        seen = 0
        for entry, outcome in loads:
            seen += 1
            if isinstance(outcome, DecodeError):
                pending_failures.append(self._read_failure(entry, str(outcome)))
                report.failures.append((entry.path, str(outcome)))
                settled.append((entry.path, FAILED))
            else:
                report.hashed += 1
                if expected is not None and expected.get(outcome.content_hash) != entry.path:
                    report.failures.append(
                        (entry.path, "file changed since it was indexed; run `picscribe index` first")
                    )
                    settled.append((entry.path, FAILED))
                elif (
                    not self._ready_for_model(outcome) and (info := self._known_info(outcome.content_hash)) is not None
                ):
                    reused.append(_record(outcome, info))
                    report.reused += 1
                    settled.append((entry.path, REUSED))
                elif not self._ready_for_model(outcome):
                    # Known content whose only row just changed under us: decode after all.
                    try:
                        outcome = self._load(entry, frozenset())
                    except DecodeError as exc:
                        pending_failures.append(self._read_failure(entry, str(exc)))
                        report.failures.append((entry.path, str(exc)))
                        settled.append((entry.path, FAILED))
                        continue
                    report.decoded += 1
                    in_batch.add(outcome.content_hash)
                    batch.append(outcome)
                elif (old := self._same_pixels_as_before(outcome, previous.get(entry.path), known_hashes)) is not None:
                    # Only metadata in the file changed: its captions still describe it.
                    reused.append(_new_record(outcome))
                    carry.append((old, outcome.content_hash))
                    report.kept += 1
                    settled.append((entry.path, REUSED))
                elif outcome.content_hash in captioned_info:
                    reused.append(_record(outcome, captioned_info[outcome.content_hash]))
                    report.reused += 1
                    settled.append((entry.path, REUSED))
                elif outcome.content_hash in in_batch:
                    waiting.append(outcome)
                    report.reused += 1
                else:
                    report.decoded += 1
                    in_batch.add(outcome.content_hash)
                    batch.append(outcome)
            # Rows that need no model (moved files, failures) are written in
            # bounded transactions too: renaming a 50k-photo folder must not
            # become one giant transaction held in memory.
            if len(batch) >= opts.batch_size or len(reused) + len(pending_failures) >= _METADATA_BATCH:
                flush()
                if report.stopped is not None:
                    break
        loads.close()  # stops the read-ahead when the captioner stopped the run
        flush()
        report.pending += len(entries) - seen
        report.failed = len(report.failures)

    def _load_ahead(
        self, entries: list[FileEntry], known_hashes: set[str] | frozenset[str]
    ) -> Generator[tuple[FileEntry, Loaded | DecodeError], None, None]:
        """Yield results in order while up to ``lookahead`` files load in the background.

        A seam: the Ray engine (``ray_engine``) yields what its workers read,
        decoded and captioned instead, and the rest of ``_process`` is shared.
        """
        opts = self.options
        return read_ahead(
            entries,
            lambda entry: self._load(entry, known_hashes),
            workers=opts.workers,
            lookahead=max(opts.workers, opts.batch_size * 2),
        )

    def _same_pixels_as_before(
        self, item: Loaded, before: FileState | None, known_hashes: set[str] | frozenset[str]
    ) -> str | None:
        """The content hash this path had, when ``item`` is that content with
        other bytes but the same decoded pixels, and that content has a caption.

        Not for a captioner that reads metadata: for it, the metadata that
        changed is the input.
        """
        if before is None or before.pixel_hash is None or item.pixel_hash != before.pixel_hash:
            return None
        if before.content_hash is None or before.content_hash == item.content_hash:
            return None
        if self.captioner.reads_metadata or before.content_hash not in known_hashes:
            return None
        return before.content_hash

    @staticmethod
    def _ready_for_model(item: Loaded) -> bool:
        """Whether ``item`` goes to the model stage; False for known content, hashed but not decoded."""
        return item.image is not None

    def _load(self, entry: FileEntry, known_hashes: set[str] | frozenset[str]) -> Loaded:
        opts = self.options
        return load(entry, known_hashes, max_pixels=opts.max_pixels, max_side=opts.max_side, budget=self._decode_budget)

    def _read_failure(self, entry: FileEntry, error: str) -> FailureRecord:
        """The row of a file that could not be read or decoded.

        A file gone by now failed because it went, not because of what it
        holds: its failure gets no key, so it is read again wherever and
        whenever it turns up (a folder renamed while it was being read).
        """
        key = self._decoder_key if os.path.lexists(entry.path) else None
        return FailureRecord(entry.path, entry.size, entry.mtime_ns, error, key)

    def _moved_from(self, reused: list[ImageRecord], gone: set[str] | frozenset[str]) -> list[str]:
        """Paths of this known content that are gone from disk: where it was
        moved from. They are forgotten in the transaction that writes the new
        path, so a kill between the two never leaves one file with two rows.

        A path counts as gone when this run saw it vanish (``gone``), or when
        its folder is still there without it (a watcher sees the two halves
        of a move one at a time). A missing folder may be an unmounted drive,
        whose rows stay until a scan that can see it says otherwise.
        """
        if not reused:
            return []
        writing = {r.path for r in reused}
        return [
            path
            for paths in self.store.ok_paths_of(r.content_hash for r in reused).values()
            for path in paths
            if path not in writing
            and not os.path.lexists(path)
            and (path in gone or os.path.isdir(os.path.dirname(path)))
        ]

    def _known_info(self, content_hash: str) -> ImageRecord | None:
        return self.store.image_info_by_hash([content_hash]).get(content_hash)

    def _caption_batch(
        self, batch: list[Loaded], report: IndexReport, failures: list[FailureRecord]
    ) -> tuple[list[CaptionRecord], list[ImageRecord], set[str]]:
        """Caption, embed and build the rows of one batch.

        Returns the caption rows, the image rows, and the content hashes not
        captioned because the captioner stopped the run (neither written nor
        marked failed, so the next run tries them).
        """
        if not batch:
            return [], [], set()
        outcomes = self._caption_outcomes(batch)
        done: list[tuple[Loaded, CaptionResult]] = []
        not_sent: set[str] = set()
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, CaptionResult):
                done.append((item, outcome))
            elif isinstance(outcome, CaptionerStopped):
                report.stopped = report.stopped or str(outcome)
                not_sent.add(item.content_hash)
            else:
                msg = f"captioner {self.captioner.name} failed: {type(outcome).__name__}: {outcome}"
                e = item.entry
                failures.append(FailureRecord(e.path, e.size, e.mtime_ns, msg, self._captioner_key))
                report.failures.append((item.entry.path, msg))
        if not done:
            return [], [], not_sent
        vectors = self._embed(done)
        captions = [
            self._caption_row(
                b,
                r,
                TASK_CAPTION,
                r.text,
                vec,
                tags=tuple((tag.label, tag.score) for tag in r.tags),
                objects=tuple((o.label, o.count, o.score) for o in r.objects),
            )
            for (b, r), vec in zip(done, vectors, strict=True)
        ]
        # Other tasks' text that came with a caption: stored, not searched, so not embedded.
        no_vector = np.zeros(0, dtype=np.float32)
        captions += [
            self._caption_row(b, r, task, text, no_vector, ocr_text="")
            for b, r in done
            for task, text in r.other_tasks.items()
            if task != TASK_CAPTION and text.strip()
        ]
        # The description that was embedded is kept as its own caption, so the
        # vector can be traced to stored text and a later model replaces both.
        captions += [
            self._caption_row(b, r, TASK_DETAILED, r.detailed, vec)
            for (b, r), vec in zip(done, vectors, strict=True)
            if r.detailed
        ]
        images = [_new_record(b) for b, _ in done]
        return captions, images, not_sent

    def _caption_row(
        self,
        item: Loaded,
        result: CaptionResult,
        task: str,
        text: str,
        vector: np.ndarray,
        *,
        ocr_text: str | None = None,
        tags: tuple[tuple[str, float], ...] = (),
        objects: tuple[tuple[str, int, float], ...] = (),
    ) -> CaptionRecord:
        """One caption row of ``item``'s content by this captioner; ``ocr_text`` defaults to the result's."""
        return CaptionRecord(
            content_hash=item.content_hash,
            captioner=self.captioner.name,
            model_id=self.captioner.model_id,
            task=task,
            text=text,
            vector=vector,
            ocr_text=result.ocr_text if ocr_text is None else ocr_text,
            human=result.human,
            tags=tags,
            objects=objects,
        )

    def _caption_outcomes(self, batch: list[Loaded]) -> list[CaptionResult | Exception]:
        """One result or exception per image (see ``stages.caption_outcomes``)."""
        return caption_outcomes(self.captioner, [_pixels(b) for b in batch], TASK_CAPTION)

    def _embed(self, done: list[tuple[Loaded, CaptionResult]]) -> np.ndarray:
        """One unit vector per caption, in order."""
        self._bind_embedder()
        return self.embedder.embed([embedding_text(r) for _, r in done])


def _usage_since(captioner: Captioner, before: Usage | None) -> dict[str, int] | None:
    """This run's share of a metered captioner's usage (a watcher reuses one captioner for many runs)."""
    after = captioner.usage
    if after is None:
        return None
    before = before or Usage()
    return {k: v - before.to_dict()[k] for k, v in after.to_dict().items()}


def _pixels(item: Loaded) -> Image.Image:
    # Only decoded images reach the captioner; the others were reused or failed before it.
    assert item.image is not None, item.entry.path
    return item.image


def _new_record(item: Loaded) -> ImageRecord:
    """The row of a file decoded in this run."""
    e = item.entry
    shape = (item.width, item.height, item.format, item.taken_at)
    return ImageRecord(
        e.path,
        e.size,
        e.mtime_ns,
        item.content_hash,
        *shape,
        pixel_hash=item.pixel_hash,
        picture_hash=item.picture_hash,
    )


def _record(item: Loaded, twin: ImageRecord) -> ImageRecord:
    """The row of a file not decoded, whose content ``twin``'s row describes."""
    e = item.entry
    return replace(twin, path=e.path, size=e.size, mtime_ns=e.mtime_ns, sidecar_sig=None)


def _failed_alike(state: FileState | None, error: str) -> bool:
    """The index already holds this failure for this path."""
    return state is not None and state.status == "failed" and state.error == error


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")
