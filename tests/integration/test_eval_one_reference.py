"""`eval --mode oracle` on photos with one reference each: nothing can be
left out to search for, so recall is "n/a", not 0.0 (issue 22, item 7)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from support.cli import Run
from support.paths import SAMPLES


def _one_reference_set(folder: Path) -> Path:
    folder.mkdir()
    rows = []
    for i, src in enumerate(sorted(SAMPLES.glob("*.jpg"))[:2]):
        shutil.copy2(src, folder / src.name)
        rows.append({"file": src.name, "captions": [f"reference caption number {i}"]})
    (folder / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_oracle_with_one_reference_per_image_reports_n_a(run: Run, tmp_path: Path) -> None:
    folder = _one_reference_set(tmp_path / "set")
    result = run("eval", str(folder), "--mode", "oracle")
    assert result.exit_code == 0, result.stderr
    rows = [
        line for line in result.stdout.splitlines() if line.strip().startswith(("BM25 only", "dense only", "hybrid"))
    ]
    assert len(rows) == 3 and all(line.split()[-4:] == ["n/a"] * 4 for line in rows), result.stdout
    assert "0.000" not in result.stdout

    out = json.loads(run("eval", str(folder), "--mode", "oracle", "--json").stdout)
    for name in ("bm25", "dense", "hybrid"):
        assert out["oracle"][name]["queries"] == 0
        assert out["oracle"][name]["r_at_1"] is None and out["oracle"][name]["median_rank"] is None
