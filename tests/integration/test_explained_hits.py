"""Every search hit says why it matched: ``matched`` in ``search --json``, a line in the plain output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from support.cli import Run, index_json
from support.gps_photos import LISBON, TOKYO, gps_ifd, write_photo

from picscribe.search import DEFAULT_WEIGHTS, FusionWeights, Retriever, SentenceTransformerEmbedder
from picscribe.store import CaptionRecord, Store
from picscribe.ui import APP_PATH


@pytest.fixture
def photos(run: Run, tmp_path: Path, home: Path, model_cache: Path) -> Path:
    """Three fake-captioned photos; the yellow one with text read in it (OPEN 24 HOURS)."""
    root = tmp_path / "photos"
    root.mkdir()
    for name, rgb in [("red.png", (200, 40, 40)), ("blue.png", (40, 70, 200)), ("sign.png", (230, 210, 40))]:
        Image.new("RGB", (64, 64), rgb).save(root / name)
    assert index_json(run, str(root))[0] == 0
    # The fake captioner reads no text; record what an OCR-capable one would have.
    with Store.open(home, create=False) as store:
        sign = store.image_detail(str(root / "sign.png"))
        assert sign is not None and sign.current is not None
        embedder = SentenceTransformerEmbedder(store.embedder_name or "", cache_dir=model_cache / "models")
        text = sign.current.text
        record = CaptionRecord(
            sign.content_hash or "", "fake", "fake-v1", "caption", text, embedder.embed([text])[0], "OPEN 24 HOURS"
        )
        store.write_batch(captions=[record])
    return root


def _search(run: Run, *args: str) -> list[dict]:
    result = run("search", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_caption_hit_names_the_query_words_in_its_caption_and_tags(run: Run, photos: Path) -> None:
    hits = _search(run, "pictures that are mostly red", "-k", "3")
    top = hits[0]
    assert top["path"] == str(photos / "red.png")
    assert top["caption"].endswith(" picture that is mostly red.")
    # "pictures" matches "picture" by its stem, as keyword search matches it.
    assert top["matched"] == {
        "caption": ["pictures", "mostly", "red"],
        "ocr": [],
        "tags": ["red"],
        "objects": [],
        "place": [],
        "dense": top["similarity"],
        "phrases": [],
    }
    others = {Path(h["path"]).name: h["matched"] for h in hits[1:]}
    assert others["blue.png"]["caption"] == ["pictures", "mostly"]
    assert others["blue.png"]["tags"] == []


def test_ocr_hit_names_the_words_read_in_the_photo(run: Run, photos: Path) -> None:
    hits = _search(run, "open 24 hours", "-k", "3")
    assert hits[0]["path"] == str(photos / "sign.png")
    assert hits[0]["matched"]["ocr"] == ["open", "24", "hours"]
    assert hits[0]["matched"]["caption"] == []
    assert all(h["matched"]["ocr"] == [] for h in hits[1:])


def test_plain_output_says_briefly_what_matched(run: Run, photos: Path) -> None:
    result = run("search", "open 24 hours", "-k", "1")
    assert result.exit_code == 0, result.stderr
    assert '    matched: "open", "24", "hours" in text in photo' in result.stdout.splitlines()
    # A hit no query word matched (dense alone) gets no such line.
    result = run("search", "zebra", "-k", "3")
    assert result.exit_code == 0, result.stderr
    assert "matched:" not in result.stdout


def test_matched_agrees_with_the_keyword_index(photos: Path, home: Path, model_cache: Path) -> None:
    """explain's tokenizer and the store's FTS5 index must agree: a hit has
    keyword evidence exactly when some query word matched one of its fields."""
    with Store.open(home, create=False) as store:
        embedder = SentenceTransformerEmbedder(store.embedder_name or "", cache_dir=model_cache / "models")
        retriever = Retriever(store, embedder)
        for query in ("open 24 hours", "Red squares", "brightly coloured", "mostly yellowish", "HOUR", "zebra"):
            for hit in retriever.search(query, limit=3):
                assert (hit.keyword > 0) == bool(hit.matched.words), (query, hit.path, hit.matched)


def test_similar_hits_carry_only_the_dense_similarity(photos: Path, home: Path, model_cache: Path) -> None:
    with Store.open(home, create=False) as store:
        embedder = SentenceTransformerEmbedder(store.embedder_name or "", cache_dir=model_cache / "models")
        hits = Retriever(store, embedder).similar(str(photos / "red.png"), limit=2)
        assert hits and all(h.matched.words == () and h.matched.dense == h.similarity for h in hits)


def test_default_ranking_is_dense_when_only_captions_match(photos: Path, home: Path, model_cache: Path) -> None:
    """Caption words add nothing to the default ranking (issue 19: BM25 over
    captions tied dense at best); the photo's own text does."""
    with Store.open(home, create=False) as store:
        embedder = SentenceTransformerEmbedder(store.embedder_name or "", cache_dir=model_cache / "models")
        default, dense_only = Retriever(store, embedder), Retriever(store, embedder, FusionWeights())
        for query in ("a bright square picture, mostly blue", "yellow", "red squares"):
            hits = default.search(query, limit=3)
            assert [h.path for h in hits] == [h.path for h in dense_only.search(query, limit=3)], query
            assert all(h.score == pytest.approx(h.similarity) for h in hits)
        sign = default.search("open 24 hours", limit=1)[0]
        assert sign.path == str(photos / "sign.png")
        assert sign.score == pytest.approx(sign.similarity + DEFAULT_WEIGHTS.text)  # every word read in the photo


def test_a_quoted_phrase_finds_the_caption_that_has_it_word_for_word(run: Run, tmp_path: Path) -> None:
    root = tmp_path / "pets"
    root.mkdir()
    captions = {
        "ball.png": "a small dog chasing a red ball across the grass",
        "reddog.png": "a small red dog chasing a ball across the grass",
        "cat.png": "a cat asleep on a sofa",
    }
    for shade, (name, caption) in enumerate(captions.items()):
        # Different pixels: one content, one caption (captions are keyed by content).
        Image.new("RGB", (32, 32), (90 + 40 * shade, 90, 90)).save(root / name)
        (root / name).with_suffix(".txt").write_text(caption)
    assert run("index", str(root), "--captioner", "sidecar").exit_code == 0
    for query, first in [
        ('"red ball"', "ball.png"),
        ('"red dog"', "reddog.png"),
        ('dog with a "red ball"', "ball.png"),
    ]:
        hits = _search(run, query, "-k", "3")
        assert Path(hits[0]["path"]).name == first, query
        assert hits[0]["matched"]["phrases"] == [query.split('"')[1]]
        assert all(h["matched"]["phrases"] == [] for h in hits[1:])


def test_place_hit_names_the_words_of_its_place(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "trip"
    folder.mkdir()
    write_photo(folder / "lisbon.jpg", gps=gps_ifd(*LISBON), spot=1)
    write_photo(folder / "tokyo.jpg", gps=gps_ifd(*TOKYO), spot=2)
    write_photo(folder / "plain.jpg", spot=3)
    assert index_json(run, str(folder))[0] == 0
    first, *rest = _search(run, "photos taken in Portugal", "-k", "3")
    assert Path(first["path"]).name == "lisbon.jpg"
    assert first["place"]["country"] == "Portugal"
    assert first["matched"]["place"] == ["portugal"]
    assert first["matched"]["caption"] == []
    assert all(h["matched"]["place"] == [] for h in rest)
    result = run("search", "photos taken in Portugal", "-k", "1")
    assert '    matched: "portugal" in place' in result.stdout.splitlines()


def test_ui_card_bolds_matched_words_and_says_when_the_text_in_the_photo_matched(photos: Path) -> None:
    at = AppTest.from_file(str(APP_PATH), default_timeout=120).run()
    at.text_input(key="q").input("open 24 hours").run()
    assert not at.exception, [e.value for e in at.exception]
    first_card = at.caption[1].value
    assert first_card.startswith(r"sign\.png · score ") and "· matched text in photo" in first_card
    assert all("matched text in photo" not in c.value for c in at.caption[2:])
    at.text_input(key="q").input("mostly red").run()
    assert at.markdown[0].value.endswith(r" picture that is **mostly** **red**\.")
