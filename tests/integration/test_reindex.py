"""Re-indexing with a new captioner writes new rows next to the old ones and
switches search over only when the new set is complete."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from PIL import Image
from support.cli import Run, index_json

from picscribe.indexer import FakeCaptioner, Indexer, IndexOptions
from picscribe.indexer.captioning import CaptionResult
from picscribe.search import SentenceTransformerEmbedder
from picscribe.store import Store


def _current_models(home: Path) -> set[str]:
    with sqlite3.connect(home / "index.sqlite") as db:
        rows = db.execute(
            "SELECT DISTINCT c.model_id FROM current_captions cc JOIN captions c ON c.id = cc.caption_id"
        ).fetchall()
    return {r[0] for r in rows}


def test_reindex_switches_when_complete_and_keeps_old_rows(run: Run, photos: Path, home: Path) -> None:
    index_json(run, str(photos))
    result = run("reindex", "--captioner", "fake:v2", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["captioned"] == 6 and report["complete"] is True
    assert _current_models(home) == {"fake-v2"}
    with sqlite3.connect(home / "index.sqlite") as db:
        per_model = dict(db.execute("SELECT model_id, count(*) FROM captions GROUP BY model_id").fetchall())
    assert per_model == {"fake-v1": 6, "fake-v2": 6}
    status = json.loads(run("status", "--json").stdout)
    assert (status["active_captioner"], status["active_model"]) == ("fake", "fake-v2")
    hits = json.loads(run("search", "picture", "--json").stdout)
    assert {h["model"] for h in hits} == {"fake-v2"}

    # Running it again has nothing left to do.
    again = json.loads(run("reindex", "--captioner", "fake:v2", "--json").stdout)
    assert again["captioned"] == 0 and again["unchanged"] == 6


class FlakyCaptioner(FakeCaptioner):
    """Fails on dark images, as a model might on some inputs."""

    name: ClassVar[str] = "flaky"

    def caption(self, images: Sequence[Image.Image], task: str = "caption") -> list[CaptionResult]:
        results = super().caption(images, task)
        if any("dark" in r.text for r in results):
            raise RuntimeError("model failed")
        return results


def test_incomplete_reindex_does_not_switch_and_resumes(
    run: Run, tmp_path: Path, home: Path, model_cache: Path
) -> None:
    photos = tmp_path / "p"
    photos.mkdir()
    for i, rgb in enumerate([(250, 250, 250), (240, 200, 200), (10, 10, 10)]):
        Image.new("RGB", (32, 32), rgb).save(photos / f"{i}.png")
    index_json(run, str(photos))
    embedder = SentenceTransformerEmbedder(cache_dir=model_cache / "models")

    with Store.open(home) as store:
        report = Indexer(store, FlakyCaptioner(model="v2"), embedder, IndexOptions(batch_size=4)).reindex()
    assert not report.complete
    assert report.captioned == 2 and len(report.failures) == 1
    assert _current_models(home) == {"fake-v1"}  # search still on the old, complete set

    # The model is fixed; the re-run captions only what is missing, then switches.
    class Fixed(FakeCaptioner):
        name: ClassVar[str] = "flaky"

    with Store.open(home) as store:
        report = Indexer(store, Fixed(model="v2"), embedder).reindex()
    assert report.complete and report.captioned == 1
    assert _current_models(home) == {"fake-v2"}


def test_reindex_without_an_index_is_an_error(run: Run) -> None:
    result = run("reindex", "--captioner", "fake")
    assert result.exit_code == 1 and "picscribe index" in result.stderr
