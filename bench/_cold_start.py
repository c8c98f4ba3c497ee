"""Cold start of the commands people type: each a fresh process, timed from
start to its printed result, next to ``python -c pass`` measured in the same
run; a cold search's peak RSS with the query embedded in numpy (now) and by
sentence-transformers (before); and a warm query's embedding time both ways.

"Before" rows run the same code the way it ran before lazy imports: every
module ``picscribe.library`` used to import at start is imported first,
``status`` reads its counts through the Library (SQLAlchemy) instead of
``store._quick_status``, and a search reads through the Store (SQLAlchemy)
instead of the search view, copies the FAISS file in instead of mapping it
and counts every vector in SQLite when it opens it.

``python -m bench._cold_start --embed`` prints the warm embedding figures as JSON.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._table import Row

QUERY = "a dog on a beach"

#: Runs the CLI as `python -m picscribe` does and writes the process's peak
#: RSS to the file argv[1]; argv[2] "torch" embeds the query the old way
#: (sentence-transformers), "eager" imports what the CLI imported at start
#: before lazy imports and reads status through SQLAlchemy, for the
#: before/after rows.
_WRAPPER = """
import runpy, sys
out, path, sys.argv = sys.argv[1], sys.argv[2], ["picscribe", *sys.argv[3:]]
if path == "torch":
    from picscribe.search.embedder import SentenceEmbedder
    SentenceEmbedder._numpy_encoder = lambda self: None
if path == "eager":
    import picscribe.store._store, picscribe.indexer.pipeline, picscribe.indexer.ray_engine._driver
    import picscribe.exchange, picscribe.metadata, picscribe.app, picscribe.search.retriever
    from picscribe.cli import status_cmds
    from picscribe.store import _search_view as sv, _vector_cache as vc, _vector_file as vf, _vector_index as vx
    status_cmds.quick_status = lambda home: None
    sv.SearchView.open = classmethod(lambda cls, home: None)  # search through the Store (SQLAlchemy)
    load, rebuild = vx.VectorIndex.load.__func__, vc.load_or_rebuild
    vx.VectorIndex.load = classmethod(lambda cls, path, mapped=False: load(cls, path))  # copied in, not mapped
    def recounted(conn, path, *, read_only):  # every vector counted on open
        vf.searchable_count(conn, vf.meta_value(conn, "embedder") or "")
        return rebuild(conn, path, read_only=read_only)
    vc.load_or_rebuild = recounted
try:
    runpy.run_module("picscribe", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
else:
    code = 0
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
open(out, "w").write(str(rss / 1024))
sys.exit(code)
"""


def _timed(command: list[str], env: dict[str, str], repeats: int) -> tuple[float, float]:
    """Median wall seconds of ``repeats`` fresh runs of ``command``, and the last run's peak RSS in MB
    (0 when the command is not the wrapper). One unmeasured run first: it writes the bytecode, as
    installing the package does, so the measured runs are a user's cold start, not a compile."""
    times, rss = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rss"
        command = [part.replace("{REPORT}", str(report)) for part in command]
        subprocess.run(command, env=env, check=True, capture_output=True)
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        if report.exists():
            rss = float(report.read_text())
    return statistics.median(times), rss


def run(home: Path, size_label: str, *, repeats: int = 5, search_goal_s: float = 1.0) -> list[Row]:
    sec = f"cold start {size_label}"
    env = {**os.environ, "PICSCRIBE_HOME": str(home)}
    # A user's installed picscribe has its bytecode; with PYTHONDONTWRITEBYTECODE (set on some CI and
    # dev machines) every run would compile each edited module again, about 0.3 s of a cold search.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    py = sys.executable

    def cli(path: str, *args: str) -> list[str]:
        return [py, "-c", _WRAPPER, "{REPORT}", path, *args]

    base, _ = _timed([py, "-c", "pass"], env, repeats)
    help_s, _ = _timed(cli("numpy", "--help"), env, repeats)
    status_s, _ = _timed(cli("numpy", "status"), env, repeats)
    status_eager_s, _ = _timed(cli("eager", "status"), env, repeats)
    search_s, search_rss = _timed(cli("numpy", "search", QUERY, "--limit", "5"), env, repeats)
    eager_s, eager_rss = _timed(cli("eager", "search", QUERY, "--limit", "5"), env, repeats)
    before_s, before_rss = _timed(cli("torch", "search", QUERY, "--limit", "5"), env, max(1, repeats // 2))
    warm = json.loads(
        subprocess.run([py, "-m", "bench._cold_start", "--embed"], env=env, check=True, capture_output=True).stdout
    )
    pass_note = f"`python -c pass` {base:.2f} s in this run; median of {repeats} runs"
    return [
        Row(sec, "`picscribe --help`", help_s, "s", "python -c pass", base, "<= 0.3 s", help_s <= 0.3, pass_note),
        Row(sec, "`picscribe status`", status_s, "s", "python -c pass", base, "<= 0.5 s", status_s <= 0.5, pass_note),
        Row(
            sec,
            "`picscribe status` through SQLAlchemy, eager imports (before)",
            status_eager_s,
            "s",
            "quick status",
            status_s,
        ),
        Row(
            sec,
            "`picscribe search`, start to printed result (numpy query)",
            search_s,
            "s",
            "python -c pass",
            base,
            f"<= {search_goal_s:.1f} s",
            search_s <= search_goal_s,
            pass_note,
        ),
        Row(
            sec,
            "`picscribe search`, eager imports, SQLAlchemy, FAISS copied and recounted (before)",
            eager_s,
            "s",
            "lazy imports",
            search_s,
            note="what the CLI imported at start before (the pipeline, Pillow, export/import, metadata); FAISS read in",
        ),
        Row(
            sec,
            "`picscribe search`, query by sentence-transformers (before)",
            before_s,
            "s",
            "numpy query",
            search_s,
            note="the same code with the numpy path switched off: imports torch",
        ),
        Row(sec, "peak RSS, cold search (numpy query)", search_rss, "MB", "before", before_rss),
        Row(sec, "peak RSS, cold search (eager imports, FAISS copied, before)", eager_rss, "MB", "now", search_rss),
        Row(sec, "peak RSS, cold search (sentence-transformers, before)", before_rss, "MB"),
        Row(
            sec,
            "warm query embedding, numpy",
            warm["numpy_ms"],
            "ms",
            "sentence-transformers",
            warm["torch_ms"],
            note=f"median of {warm['queries']} queries, one at a time; cosine >= {warm['min_cosine']:.6f}",
        ),
        Row(sec, "warm query embedding, sentence-transformers", warm["torch_ms"], "ms"),
    ]


def warm_embedding(n: int = 50) -> dict[str, float]:
    from picscribe.config import load_config
    from picscribe.search import SentenceEmbedder, SentenceTransformerEmbedder

    from . import _vectors

    cache = load_config().cache_dir / "models"
    queries = _vectors.query_captions(n)
    out: dict[str, float] = {"queries": n}
    vectors = {}
    for key, embedder in (
        ("numpy_ms", SentenceEmbedder(cache_dir=cache)),
        ("torch_ms", SentenceTransformerEmbedder(cache_dir=cache)),
    ):
        embedder.embed(["warm-up"])
        times = []
        rows = []
        for q in queries:
            started = time.perf_counter()
            rows.append(embedder.embed([q])[0])
            times.append(time.perf_counter() - started)
        out[key] = statistics.median(times) * 1e3
        vectors[key] = rows
    out["min_cosine"] = float(
        min(float((a * b).sum()) for a, b in zip(vectors["numpy_ms"], vectors["torch_ms"], strict=True))
    )
    return out


if __name__ == "__main__" and sys.argv[1:] == ["--embed"]:
    print(json.dumps(warm_embedding()))
