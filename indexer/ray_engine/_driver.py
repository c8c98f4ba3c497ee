"""The Ray engine's driver: the local pipeline, with its read, decode, caption and embed stages on a cluster.

``RayIndexer`` is an ``Indexer``: the scan, the store's pre-checks (unchanged
by size and mtime, content already captioned, moves and duplicates by hash),
the batching, the failure rules and the write path (one transaction per
batch, keyed by content hash) are inherited, not copied. Only three seams
differ: ``_load_ahead`` hashes on the driver and streams the rest back from
Ray Data, ``_caption_outcomes`` and ``_embed`` hand over what the workers made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from picscribe.store import Store, TextEmbedder

from ..captioning import Captioner, CaptionerStopped, CaptionResult
from ..decode import DecodeError, Loaded, read
from ..pipeline import Indexer, IndexOptions, IndexReport
from ..progress import Progress
from ..scan import FileEntry, ScanResult, scan
from ..stages import read_ahead
from ._connect import connect
from ._options import CaptionerRecipe, RayEngineError, RayOptions
from ._rows import CHANGED_WHILE_INDEXING, RemoteLoaded, result_from_row, sent_row

if TYPE_CHECKING:
    import pyarrow as pa
    from ray.data import Dataset

#: Read tasks per batch of files: enough blocks that reading keeps every CPU busy.
_MAX_BLOCKS = 4096


class RayIndexer(Indexer):
    """``picscribe index --engine ray``: the same IndexReport, the same rows, the work on Ray."""

    def __init__(
        self,
        store: Store,
        captioner: Captioner,
        embedder: TextEmbedder,
        options: IndexOptions,
        *,
        recipe: CaptionerRecipe,
        ray: RayOptions | None = None,
    ) -> None:
        super().__init__(store, captioner, embedder, options)
        self.recipe = recipe
        self.ray_options = ray or RayOptions()
        #: Files handed to the cluster, over this indexer's runs (a no-op run adds none).
        self.sent = 0

    def index(
        self,
        roots: Sequence[Path | str],
        *,
        progress: Progress | None = None,
        scanner: Callable[..., ScanResult] = scan,
    ) -> IndexReport:
        report = super().index(roots, progress=progress, scanner=scanner)
        # A metered captioner counts its requests in the worker processes, not in this
        # one: the driver's count would read 0. Say nothing rather than something wrong.
        report.usage = None
        return report

    # -- the seams -------------------------------------------------------------

    @staticmethod
    def _ready_for_model(item: Loaded) -> bool:
        return isinstance(item, RemoteLoaded)

    def _load_ahead(
        self, entries: list[FileEntry], known_hashes: set[str] | frozenset[str]
    ) -> Generator[tuple[FileEntry, Loaded | DecodeError], None, None]:
        return self._through_cluster(entries, known_hashes)

    def _caption_outcomes(self, batch: list[Loaded]) -> list[CaptionResult | Exception]:
        return [_remote(item).outcome for item in batch]

    def _embed(self, done: list[tuple[Loaded, CaptionResult]]) -> np.ndarray:
        vectors = np.stack([_vector(_remote(item)) for item, _ in done])
        if not self._embedder_bound:
            # From the workers' vectors: asking the embedder would load the model here, on the driver.
            self.store.bind_embedder(self.embedder.name, int(vectors.shape[1]))
            self._embedder_bound = True
        return vectors

    # -- the driver's part -----------------------------------------------------

    def _through_cluster(
        self, entries: list[FileEntry], known_hashes: set[str] | frozenset[str]
    ) -> Generator[tuple[FileEntry, Loaded | DecodeError], None, None]:
        """Hash every file here; yield at once what needs no model; send the
        rest, one file per distinct content, to the cluster and yield its results.

        A file whose content another file in this run also has waits for that
        file's result and follows it, so the pipeline reuses the caption.
        """
        opts = self.options
        first: dict[str, tuple[FileEntry, Loaded]] = {}  # by path: the files sent
        twins: dict[str, list[tuple[FileEntry, Loaded]]] = {}  # by content hash: files that wait
        hashed = read_ahead(entries, _hashed, workers=opts.workers, lookahead=max(opts.workers, opts.batch_size * 2))
        try:
            for entry, outcome in hashed:
                if isinstance(outcome, DecodeError) or self._captioned_already(outcome.content_hash, known_hashes):
                    yield entry, outcome
                elif outcome.content_hash in twins:
                    twins[outcome.content_hash].append((entry, outcome))
                else:
                    twins[outcome.content_hash] = []
                    first[outcome.entry.path] = (entry, outcome)
        finally:
            hashed.close()
        if not first:
            return  # nothing for the cluster: no connection, no job
        self.sent += len(first)
        results = self._run_on_cluster([item for _, item in first.values()])
        try:
            for path, result in results:
                entry, item = first[path]
                yield entry, result
                for twin_entry, twin in twins.pop(item.content_hash, []):
                    if isinstance(result, RemoteLoaded):
                        yield twin_entry, replace(result, entry=twin.entry)
                    elif str(result) == CHANGED_WHILE_INDEXING:
                        # Only that one file changed; its twin is read again by the next run.
                        yield twin_entry, DecodeError(CHANGED_WHILE_INDEXING)
                    else:
                        yield twin_entry, result
        finally:
            results.close()

    def _captioned_already(self, content_hash: str, known_hashes: set[str] | frozenset[str]) -> bool:
        # Asked again here, not only trusted from the run's start: the pipeline
        # would otherwise decode content whose row vanished meanwhile on the driver.
        return content_hash in known_hashes and self._known_info(content_hash) is not None

    def _run_on_cluster(self, items: list[Loaded]) -> Generator[tuple[str, RemoteLoaded | DecodeError], None, None]:
        """Read + decode (tasks), caption + embed (an actor pool): (path, result) in the order they finish."""
        ray = connect(self.ray_options.address)
        batches = _stream(ray, self._dataset(ray, items))
        try:
            for batch in batches:
                for row in batch.to_pylist():
                    result = result_from_row(row)
                    if isinstance(result, RemoteLoaded) and row["model_id"] != self.captioner.model_id:
                        result = replace(result, outcome=self._model_mismatch(str(row["model_id"])), vector=None)
                    yield str(row["path"]), result
        finally:
            batches.close()

    def _dataset(self, ray: ModuleType, items: list[Loaded]) -> Dataset:
        # Here, not at the top: pyarrow comes with the ray extra, and `import picscribe` must not need it.
        from ._workers import CaptionAndEmbed, read_and_decode

        opts, pool = self.options, self.ray_options
        rows = [sent_row(item) for item in items]
        blocks = max(1, min(_MAX_BLOCKS, -(-len(rows) // opts.batch_size)))
        dataset: Dataset = ray.data.from_items(rows, override_num_blocks=blocks)
        return dataset.map_batches(
            partial(read_and_decode, max_pixels=opts.max_pixels, max_side=opts.max_side),
            batch_size=opts.batch_size,
            batch_format="pyarrow",
            num_cpus=1,
        ).map_batches(
            CaptionAndEmbed,
            batch_size=opts.batch_size,
            batch_format="pyarrow",
            # Ray Data's actor pool is fault tolerant by default (max_restarts=-1,
            # max_task_retries=-1): an actor whose process dies is started again
            # and its batch sent again. Ray 2.60 deprecates setting either here.
            compute=ray.data.ActorPoolStrategy(size=pool.workers),
            num_cpus=1,
            num_gpus=pool.gpus_per_worker,
            fn_constructor_kwargs={"recipe": self.recipe, "embedder": self.embedder},
        )

    def _model_mismatch(self, worker_model: str) -> CaptionerStopped:
        return CaptionerStopped(
            f"the workers' {self.captioner.name} captioner is {worker_model}, the driver's is "
            f"{self.captioner.model_id}: install the same picscribe and model on every machine"
        )


def _stream(ray: ModuleType, dataset: Dataset) -> Generator[pa.Table, None, None]:
    """The dataset's result blocks as they finish; a failed job becomes RayEngineError."""
    batches: Iterator[pa.Table] = iter(dataset.iter_batches(batch_size=None, batch_format="pyarrow"))
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except ray.exceptions.RayError as exc:
            raise RayEngineError(f"the Ray job failed: {exc}") from exc
        yield batch


def _hashed(entry: FileEntry) -> Loaded:
    """The driver's part of reading: the content hash, no pixels (Loaded with no image, as for known content)."""
    read_entry, data = read(entry)
    return Loaded(read_entry, hashlib.sha256(data).hexdigest(), None, 0, 0, "", None)


def _remote(item: Loaded) -> RemoteLoaded:
    assert isinstance(item, RemoteLoaded), "only the workers' results reach the model stage"
    return item


def _vector(item: RemoteLoaded) -> np.ndarray:
    assert item.vector is not None, "a caption always comes with its vector"
    return item.vector
