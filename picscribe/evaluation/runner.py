"""Run the three evaluations on a labelled folder.

- captions: caption every image and score the captions against the references;
- retrieval: index the images with the real indexer, query with every reference;
- oracle: index the references themselves (leave one out) and query with the
  one left out, which measures the search stage with perfect captions.

Nothing here touches the user's index: anything indexed goes into a fresh
temporary home that is deleted afterwards. Results are plain dataclasses; the
CLI formats them.
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from picscribe.indexer import TASK_CAPTION, Captioner, CaptionerStopped, CaptionResult
from picscribe.indexer.decode import DecodeError, load
from picscribe.indexer.decode_budget import DEFAULT_DECODE_MEMORY, DecodeBudget
from picscribe.indexer.registry import Choice
from picscribe.indexer.scan import FileEntry
from picscribe.indexer.stages import caption_outcomes, read_ahead
from picscribe.search import DEFAULT_WEIGHTS, FusionWeights, Retriever, embed_queries
from picscribe.store import CaptionRecord, ImageRecord, Store, TextEmbedder

from .. import app
from ..config import Config
from .dataset import EvalItem
from .metrics import NounPrecision, bleu4, cider_d_per_image, noun_precision, rouge_l

#: BLEU-4, ROUGE-L and CIDEr-D are reported x100, the way papers and the
#: COCO leaderboard print them: "CIDEr-D 40" is a coco-caption score of 0.40.
SCORE_SCALE = 100.0
SCALE_NOTE = "coco-caption score x 100 (CIDEr-D 40 = 0.40)"

#: The three searches the oracle compares: keyword only, vector only, and
#: whatever search uses by default.
ORACLE_SEARCHES: tuple[tuple[str, FusionWeights], ...] = (
    ("bm25", FusionWeights(dense=0.0, keyword=1.0)),
    ("dense", FusionWeights(dense=1.0, keyword=0.0)),
    ("hybrid", DEFAULT_WEIGHTS),
)

Status = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _show_progress() -> bool:
    return sys.stderr.isatty()


# -- results ---------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    file: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "error": self.error}


@dataclass(frozen=True)
class RankStats:
    """Recall at 1/5/10 and the median rank of the right image, over queries."""

    queries: int
    r_at_1: float
    r_at_5: float
    r_at_10: float
    median_rank: float

    @classmethod
    def from_ranks(cls, ranks: Sequence[int]) -> RankStats:
        if not ranks:
            return cls(0, 0.0, 0.0, 0.0, 0.0)
        n = len(ranks)
        return cls(
            queries=n,
            r_at_1=sum(r <= 1 for r in ranks) / n,
            r_at_5=sum(r <= 5 for r in ranks) / n,
            r_at_10=sum(r <= 10 for r in ranks) / n,
            median_rank=float(statistics.median(ranks)),
        )

    def to_dict(self) -> dict[str, float | int | None]:
        if not self.queries:  # nothing was searched for: no recall to report, rather than 0
            return {"queries": 0, "r_at_1": None, "r_at_5": None, "r_at_10": None, "median_rank": None}
        return {
            "queries": self.queries,
            "r_at_1": round(self.r_at_1, 4),
            "r_at_5": round(self.r_at_5, 4),
            "r_at_10": round(self.r_at_10, 4),
            "median_rank": self.median_rank,
        }


@dataclass
class CaptionEval:
    captioner: str
    model_id: str
    images: int  # captioned and scored
    bleu4: float  # x SCORE_SCALE
    rouge_l: float
    cider_d: float
    nouns: NounPrecision
    #: Captioning time per image, without the first image (which pays for
    #: loading the model) unless it was the only one.
    seconds_per_image: float
    first_image_seconds: float
    failures: list[Failure] = field(default_factory=list)
    #: (file, caption, CIDEr-D x100, hallucinated nouns) per scored image.
    per_image: list[tuple[str, str, float, list[str]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "captioner": self.captioner,
            "model": self.model_id,
            "images": self.images,
            "failed": len(self.failures),
            "scale": SCALE_NOTE,
            "bleu4": round(self.bleu4, 2),
            "rouge_l": round(self.rouge_l, 2),
            "cider_d": round(self.cider_d, 2),
            "noun_precision": self.nouns.to_dict(),
            # Microseconds: a fast captioner's per-image time is well under the 0.1 ms that 4 places keep.
            "seconds_per_image": round(self.seconds_per_image, 6),
            "first_image_seconds": round(self.first_image_seconds, 6),
            "failures": [f.to_dict() for f in self.failures],
            "per_image": [
                {"file": f, "caption": c, "cider_d": round(s, 2), "hallucinated": h} for f, c, s, h in self.per_image
            ],
        }


@dataclass
class RetrievalEval:
    captioner: str
    model_id: str
    images: int  # indexed and searchable
    ranks: RankStats
    index_seconds: float
    failures: list[Failure] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "captioner": self.captioner,
            "model": self.model_id,
            "images": self.images,
            "failed": len(self.failures),
            **self.ranks.to_dict(),
            "index_seconds": round(self.index_seconds, 2),
            "failures": [f.to_dict() for f in self.failures],
        }


@dataclass(frozen=True)
class OracleRow:
    name: str
    weights: FusionWeights
    ranks: RankStats

    def to_dict(self) -> dict[str, object]:
        w = self.weights
        return {"dense": w.dense, "keyword": w.keyword, "text": w.text, "phrase": w.phrase, **self.ranks.to_dict()}


@dataclass
class OracleEval:
    folds: int
    images: int
    rows: list[OracleRow]

    def to_dict(self) -> dict[str, object]:
        return {"folds": self.folds, "images": self.images, **{row.name: row.to_dict() for row in self.rows}}


# -- captions ----------------------------------------------------------------------


def run_captions(
    items: Sequence[EvalItem],
    captioner: Captioner,
    *,
    batch_size: int = 8,
    workers: int = 2,
    max_pixels: int,
    max_side: int,
    decode_memory: int = DEFAULT_DECODE_MEMORY,
    status: Status = _quiet,
) -> CaptionEval:
    """Caption every image and score the captions against its references.

    Decoding and captioning are the indexer's own stages (``indexer.stages``):
    the same read-ahead, and the same retry, which never asks a paid backend
    twice for an image it has already captioned.
    """
    status(f"captions: captioning {len(items)} image(s) with {captioner.name} ({captioner.model_id})")
    failures: list[Failure] = []
    captioned: list[tuple[EvalItem, CaptionResult]] = []
    first_seconds: float | None = None
    rest_seconds = 0.0
    rest_images = 0
    batch: list[tuple[EvalItem, Image.Image]] = []
    stopped: CaptionerStopped | None = None
    budget = DecodeBudget(decode_memory)

    def decode(item: EvalItem) -> Image.Image:
        loaded = load(FileEntry(item.path, 0, 0), frozenset(), max_pixels=max_pixels, max_side=max_side, budget=budget)
        assert loaded.image is not None  # no content counts as known, so every image is decoded
        return loaded.image

    def flush() -> None:
        nonlocal batch, first_seconds, rest_seconds, rest_images, stopped
        if not batch:
            return
        started = time.perf_counter()
        outcomes = caption_outcomes(captioner, [image for _, image in batch], TASK_CAPTION)
        elapsed = time.perf_counter() - started
        if first_seconds is None:
            first_seconds = elapsed
        else:
            rest_seconds += elapsed
            rest_images += len(batch)
        for (item, _), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, CaptionResult):
                captioned.append((item, outcome))
                continue
            if isinstance(outcome, CaptionerStopped):
                stopped = stopped or outcome
            error = f"captioner {captioner.name} failed: {type(outcome).__name__}: {outcome}"
            failures.append(Failure(item.file, error))
        batch = []

    bar = tqdm(total=len(items), unit="img", desc="captioning", disable=not _show_progress(), file=sys.stderr)
    lookahead = max(workers, 2 * batch_size)
    decoded = read_ahead(items, decode, workers=workers, lookahead=lookahead, thread_name_prefix="picscribe-eval")
    reached = 0
    for item, outcome in decoded:
        reached += 1
        bar.update(1)
        if isinstance(outcome, DecodeError):
            failures.append(Failure(item.file, str(outcome)))
            continue
        batch.append((item, outcome))
        # The first image goes alone, so that model loading is timed apart
        # from the steady per-image cost.
        if first_seconds is None or len(batch) >= batch_size:
            flush()
            if stopped is not None:
                break  # a refused key or a spent budget: nothing more can be captioned
    decoded.close()
    flush()
    bar.close()
    if stopped is not None:
        message = f"not captioned: captioner {captioner.name} stopped: {stopped}"
        failures += [Failure(item.file, message) for item in items[reached:]]

    candidates = [r.text for _, r in captioned]
    references = [list(item.captions) for item, _ in captioned]
    objects = [item.objects for item, _ in captioned]
    if captioned:
        per_image_cider = cider_d_per_image(candidates, references)
        scores = (
            bleu4(candidates, references) * SCORE_SCALE,
            rouge_l(candidates, references) * SCORE_SCALE,
            sum(per_image_cider) / len(per_image_cider) * SCORE_SCALE,
        )
    else:
        per_image_cider, scores = [], (0.0, 0.0, 0.0)
    nouns = noun_precision(candidates, references, objects)
    first = first_seconds or 0.0
    return CaptionEval(
        captioner=captioner.name,
        model_id=captioner.model_id,
        images=len(captioned),
        bleu4=scores[0],
        rouge_l=scores[1],
        cider_d=scores[2],
        nouns=nouns,
        seconds_per_image=rest_seconds / rest_images if rest_images else first,
        first_image_seconds=first,
        failures=sorted(failures, key=lambda f: f.file),
        per_image=[
            (item.file, r.text, c * SCORE_SCALE, wrong)
            for (item, r), c, wrong in zip(captioned, per_image_cider, nouns.hallucinated, strict=True)
        ],
    )


# -- retrieval ---------------------------------------------------------------------


def _rank(retriever: Retriever, query: str, path: str, depth: int) -> int:
    """1-based rank of ``path`` among the hits; depth + 1 when it is not among them."""
    for position, hit in enumerate(retriever.search(query, limit=depth), start=1):
        if hit.path == path:
            return position
    return depth + 1


def _ranks(retriever: Retriever, queries: Sequence[tuple[str, str]], depth: int, desc: str) -> list[int]:
    bar = tqdm(queries, unit="query", desc=desc, disable=not _show_progress(), file=sys.stderr)
    return [_rank(retriever, query, path, depth) for path, query in bar]


def run_retrieval(items: Sequence[EvalItem], cfg: Config, choice: Choice, *, status: Status = _quiet) -> RetrievalEval:
    """Index the images into a temporary home exactly as ``picscribe index``
    would, then look for each image with each of its reference captions."""
    captioner = choice.captioner
    status(f"retrieval: indexing {len(items)} image(s) with {captioner.name} into a temporary index")
    by_path = {item.path: item for item in items}
    with tempfile.TemporaryDirectory(prefix="picscribe-eval-") as tmp:
        eval_cfg = replace(cfg, home=Path(tmp))
        with Store.open(eval_cfg.home) as store:
            # Explicit files, not the folder: only the listed images, and no
            # more than --limit of them, are indexed.
            report = app.indexer_for(eval_cfg, store, choice).index([Path(item.path) for item in items])
            failures = [Failure(by_path[p].file if p in by_path else p, e) for p, e in report.failures]
            failed = {p for p, _ in report.failures}
            if report.stopped is not None:
                # The captioner stopped the run (a refused key, a spent budget): the photos it
                # never reached are not in the index, so they cannot be searched for.
                indexed = {p for p, state in store.file_states_at(by_path).items() if state.status == "ok"}
                unreached = [p for p in by_path if p not in failed and p not in indexed]
                message = f"not indexed: captioner {captioner.name} stopped: {report.stopped}"
                failures += [Failure(by_path[p].file, message) for p in unreached]
                failed.update(unreached)
            searchable = [item for item in items if item.path not in failed]
            queries = [(item.path, q) for item in searchable for q in item.captions]
            status(f"retrieval: {len(queries)} queries over {len(searchable)} image(s)")
            ranks = _ranks(app.retriever_for(eval_cfg, store), queries, len(searchable), "retrieval")
    return RetrievalEval(
        captioner=captioner.name,
        model_id=captioner.model_id,
        images=len(searchable),
        ranks=RankStats.from_ranks(ranks),
        index_seconds=report.seconds,
        failures=sorted(failures, key=lambda f: f.file),
    )


# -- oracle ------------------------------------------------------------------------


class _MemoEmbedder:
    """The same query is searched under three fusion weightings; embed it once."""

    def __init__(self, inner: TextEmbedder) -> None:
        self._inner = inner
        self._memo: dict[str, np.ndarray] = {}
        # A model with query and passage prompts embeds the same text two ways.
        self._query_memo: dict[str, np.ndarray] = {}

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dim(self) -> int:
        return self._inner.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._remembered(texts, self._memo, self._inner.embed)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._remembered(texts, self._query_memo, lambda missing: embed_queries(self._inner, missing))

    def _remembered(
        self, texts: list[str], memo: dict[str, np.ndarray], embed: Callable[[list[str]], np.ndarray]
    ) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in memo]
        if missing:
            memo.update(zip(missing, embed(missing), strict=True))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([memo[t] for t in texts])


def _synthetic_hash(path: str) -> str:
    # The store keys captions by content hash; the oracle has no pixels to
    # hash, so each image gets a stable stand-in derived from its path.
    return hashlib.sha256(f"picscribe-eval-oracle:{path}".encode()).hexdigest()


def _write_fold(store: Store, embedder: TextEmbedder, items: Sequence[EvalItem], fold: int) -> None:
    store.bind_embedder(embedder.name, embedder.dim)
    store.ensure_active_captioner("reference", "leave-one-out")
    texts, records = [], []
    for item in items:
        # The image is described by every reference except the one queried in
        # this fold; an image with fewer references than folds keeps them all.
        kept = [c for i, c in enumerate(item.captions) if i != fold]
        if not kept:
            continue  # a lone reference cannot describe its own image
        texts.append(" ".join(kept))
        records.append(ImageRecord(item.path, 0, 0, _synthetic_hash(item.path), 0, 0, "reference", None))
    vectors = embedder.embed(texts)
    captions = [
        CaptionRecord(rec.content_hash, "reference", "leave-one-out", TASK_CAPTION, text, vec, human=True)
        for rec, text, vec in zip(records, texts, vectors, strict=True)
    ]
    store.write_batch(images=records, captions=captions)


def run_oracle(
    items: Sequence[EvalItem],
    cfg: Config,
    *,
    searches: Sequence[tuple[str, FusionWeights]] = ORACLE_SEARCHES,
    status: Status = _quiet,
) -> OracleEval:
    """Leave-one-out over the references: in fold k each image is indexed
    with its other references joined into one text and searched for with
    reference k, once per fusion weighting in ``searches``. Ranks are pooled
    over folds."""
    folds = max(len(item.captions) for item in items)
    embedder = _MemoEmbedder(app.embedder_for(cfg))
    ranks: dict[str, list[int]] = {name: [] for name, _ in searches}
    status(f"oracle: {folds} leave-one-out folds over {len(items)} image(s)")
    with tempfile.TemporaryDirectory(prefix="picscribe-eval-oracle-") as tmp:
        for fold in range(folds):
            with Store.open(Path(tmp) / f"fold-{fold}") as store:
                _write_fold(store, embedder, items, fold)
                # Only images that keep at least one other reference can be found.
                queries = [(item.path, item.captions[fold]) for item in items if len(item.captions) > max(fold, 1)]
                for name, weights in searches:
                    retriever = Retriever(store, embedder, weights)
                    ranks[name] += _ranks(retriever, queries, len(items), f"oracle fold {fold + 1}/{folds} {name}")
    rows = [OracleRow(name, weights, RankStats.from_ranks(ranks[name])) for name, weights in searches]
    return OracleEval(folds=folds, images=len(items), rows=rows)
