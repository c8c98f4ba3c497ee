"""Search filters added for the web UI: has-text and captioner/model, and "find similar"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.cli import Run, index_json

from picscribe.search import Retriever, SearchFilters, SentenceTransformerEmbedder
from picscribe.store import CaptionRecord, Store


@pytest.fixture
def mixed(run: Run, tmp_path: Path, home: Path, model_cache: Path) -> Path:
    """Folder a captioned by the fake captioner, one photo of it with text
    read in it; folder b with captions people wrote (sidecar files)."""
    root = tmp_path / "mixed"
    for folder, name, rgb in [
        ("a", "red.png", (200, 40, 40)),
        ("a", "sign.png", (230, 210, 40)),
        ("b", "beach.png", (40, 70, 200)),
        ("b", "forest.png", (40, 160, 60)),
    ]:
        (root / folder).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 48), rgb).save(root / folder / name)
    (root / "b" / "beach.txt").write_text("waves breaking on a sandy beach")
    (root / "b" / "forest.txt").write_text("a path through a pine forest")
    assert index_json(run, str(root / "a"))[0] == 0
    assert run("index", str(root / "b"), "--captioner", "sidecar").exit_code == 0
    # The fake captioner reads no text; record what an OCR-capable one would have.
    with Store.open(home, create=False) as store:
        sign = store.image_detail(str(root / "a" / "sign.png"))
        assert sign is not None and sign.current is not None
        embedder = SentenceTransformerEmbedder(store.embedder_name or "", cache_dir=model_cache / "models")
        text = sign.current.text
        store.write_batch(
            captions=[
                CaptionRecord(
                    content_hash=sign.content_hash or "",
                    captioner="fake",
                    model_id="fake-v1",
                    task="caption",
                    text=text,
                    vector=embedder.embed([text])[0],
                    ocr_text="OPEN 24 HOURS",
                )
            ]
        )
    return root


def _names(run: Run, *args: str) -> set[str]:
    result = run("search", *args, "--json", "-k", "10")
    assert result.exit_code == 0, result.stderr
    return {Path(h["path"]).name for h in json.loads(result.stdout)}


def test_has_text_keeps_only_photos_with_text_read_in_them(run: Run, mixed: Path) -> None:
    assert _names(run, "picture") == {"red.png", "sign.png", "beach.png", "forest.png"}
    assert _names(run, "picture", "--has-text") == {"sign.png"}


def test_captioner_and_model_filters(run: Run, mixed: Path) -> None:
    assert _names(run, "picture", "--captioner", "sidecar") == {"beach.png", "forest.png"}
    assert _names(run, "picture", "--captioner", "fake") == {"red.png", "sign.png"}
    assert _names(run, "picture", "--model", "fake-v1", "--has-text") == {"sign.png"}
    assert _names(run, "picture", "--captioner", "nobody") == set()


def test_filters_combine_with_folder(run: Run, mixed: Path) -> None:
    assert _names(run, "picture", "--folder", str(mixed / "b"), "--captioner", "fake") == set()


def test_similar_ranks_by_the_images_own_vector(run: Run, mixed: Path, home: Path, model_cache: Path) -> None:
    # A copy of the beach under another name: the same content is the image itself, left out.
    (mixed / "b" / "beach-copy.png").write_bytes((mixed / "b" / "beach.png").read_bytes())
    assert run("index", str(mixed / "b"), "--captioner", "sidecar").exit_code == 0
    with Store.open(home, create=False) as store:
        embedder = SentenceTransformerEmbedder(store.embedder_name or "", cache_dir=model_cache / "models")
        retriever = Retriever(store, embedder)
        beach = str(mixed / "b" / "beach.png")
        hits = retriever.similar(beach, limit=10)
        names = [Path(h.path).name for h in hits]
        assert "beach.png" not in names and "beach-copy.png" not in names
        assert len(names) == 3
        # The ranking is the cosine of stored vectors, best first.
        expected = embedder.embed(["waves breaking on a sandy beach", "a path through a pine forest"])
        assert names[0] == "forest.png"
        assert hits[0].score == pytest.approx(float(np.dot(expected[0], expected[1])), abs=1e-4)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        only_a = retriever.similar(beach, limit=10, filters=SearchFilters(folder=str(mixed / "a")))
        assert {Path(h.path).name for h in only_a} == {"red.png", "sign.png"}
        assert retriever.similar(str(mixed / "nope.png")) == []
