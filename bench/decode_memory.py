"""Peak memory of the index-time decode path on PNGs just under Pillow's pixel limit.

Usage: .venv/bin/python bench/decode_memory.py [--files 8] [--side 13376] [--workers 4] [--before-rev cbfebee]

Writes FILES RGB PNGs of SIDE x SIDE pixels (13376^2 = 178.9 MP, just under
Pillow's hard limit of 178,956,970; about 0.5 MB each on disk, 0.7 GB each
decoded) to a temp folder, then decodes them all through the real pipeline
stage (``Indexer._load_ahead``: the thread pool, its look-ahead, ``load``),
once per configuration, each in a fresh subprocess whose peak RSS (VmHWM)
is read at the end:

- ``before``: the code at BEFORE_REV (checked out with ``git worktree add``
  under /tmp, removed afterwards): old pixel limit, no budget, full-size
  copies in ``exif_transpose`` and the RGB conversion;
- ``old pixel limit, no budget``: today's decode (shrink before turning and
  converting) with the budget so large that nothing waits;
- ``old pixel limit, default budget``: today's decode and budget;
- ``defaults``: today's lower pixel limit, which refuses these from the header.

The captioner, embedder and SQLite writes are left out on purpose: they are
the same in every configuration and would only add noise to the figure.
Machines here are shared and noisy: compare rows of one run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PILLOW_HARD_LIMIT = 178_956_970
UNBOUNDED = 1 << 62


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def write_pngs(folder: Path, count: int, side: int) -> list[Path]:
    """``count`` files with the same pixels and a different text chunk each, so that no
    two share a content hash. The pixels are a left-to-right ramp; every row after the
    first says "same as the row above" (PNG filter Up, all zeros), so the file is tiny,
    like the real near-limit files, and quick to write."""
    first = bytes([0]) + bytes((x * 255 // max(1, side - 1)) for x in range(side) for _ in range(3))
    same_as_above = bytes([2]) + bytes(3 * side)
    squeeze = zlib.compressobj(9)
    idat = squeeze.compress(first) + b"".join(squeeze.compress(same_as_above) for _ in range(side - 1))
    idat += squeeze.flush()
    head = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
    paths = []
    for i in range(count):
        path = folder / f"near-limit-{i}.png"
        text = _chunk(b"tEXt", f"Comment\0bench file {i}".encode())
        path.write_bytes(head + text + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
        paths.append(path)
    return paths


# -- the child: one configuration, in a fresh process ------------------------------


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


class _NoEmbedder:
    """The decode stage never embeds; a name is all Indexer checks up front."""

    name = "bench-no-embedder"
    dim = 1


def child(tree: Path, files: list[str], workers: int, max_pixels: int | None, decode_memory: int | None) -> None:
    from dataclasses import fields

    # The commit measured "before" has the rooms as top-level packages; since
    # then they install as picscribe.indexer, picscribe.store (issue 14).
    new_layout = "picscribe.indexer" in (tree / "pyproject.toml").read_text()
    if not new_layout:
        sys.path.insert(0, str(tree))
    prefix = "picscribe." if new_layout else ""
    decoded_by = importlib.import_module(prefix + "indexer")
    FakeCaptioner, IndexOptions, Indexer = (
        getattr(decoded_by, n) for n in ("FakeCaptioner", "IndexOptions", "Indexer")
    )
    FileEntry = importlib.import_module(prefix + "indexer.scan").FileEntry
    Store = importlib.import_module(prefix + "store").Store

    options = {"workers": workers, "batch_size": 8}
    if max_pixels is not None:
        options["max_pixels"] = max_pixels
    if decode_memory is not None and "decode_memory" in {f.name for f in fields(IndexOptions)}:
        options["decode_memory"] = decode_memory
    entries = [FileEntry(p, Path(p).stat().st_size, Path(p).stat().st_mtime_ns) for p in files]
    with tempfile.TemporaryDirectory() as home, Store.open(Path(home)) as store:
        indexer = Indexer(store, FakeCaptioner(), _NoEmbedder(), IndexOptions(**options))
        baseline = _vm_hwm_mb()
        started = time.perf_counter()
        outcomes = [outcome for _, outcome in indexer._load_ahead(entries, frozenset())]
        seconds = time.perf_counter() - started
    errors = sorted({str(o) for o in outcomes if isinstance(o, Exception)})
    assert decoded_by.__file__ is not None, "the indexer is a package on disk"
    print(
        json.dumps(
            {
                "peak_mb": _vm_hwm_mb(),
                "baseline_mb": baseline,
                "seconds": seconds,
                "decoded": sum(1 for o in outcomes if not isinstance(o, Exception)),
                "errors": errors,
                "code": str(Path(decoded_by.__file__).resolve().parent.parent),
            }
        )
    )


# -- the parent ---------------------------------------------------------------------


def _run_child(tree: Path, files: list[Path], workers: int, max_pixels: int | None, decode_memory: int | None) -> dict:
    cmd = [sys.executable, __file__, "--child", str(tree), "--workers", str(workers)]
    if max_pixels is not None:
        cmd += ["--max-pixels", str(max_pixels)]
    if decode_memory is not None:
        cmd += ["--decode-memory", str(decode_memory)]
    done = subprocess.run([*cmd, "--", *map(str, files)], capture_output=True, text=True, cwd=tree)
    if done.returncode != 0:
        raise SystemExit(f"configuration failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(result["code"]) != tree.resolve():
        raise SystemExit(f"measured the code in {result['code']}, not in {tree}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--side", type=int, default=13_376)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--before-rev", default="cbfebee", help="the commit measured as 'before' (the last one without the budget)"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--max-pixels", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--decode-memory", type=int, help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.paths, args.workers, args.max_pixels, args.decode_memory)
        return

    sys.path.insert(0, str(REPO))
    from picscribe.indexer.decode import DEFAULT_MAX_PIXELS
    from picscribe.indexer.decode_budget import DEFAULT_DECODE_MEMORY

    with tempfile.TemporaryDirectory(prefix="picscribe-decode-memory-") as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        print(f"[bench] writing {args.files} PNGs of {args.side}x{args.side} ...", file=sys.stderr, flush=True)
        files = write_pngs(folder, args.files, args.side)
        before_tree = Path(tmp) / "before"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(before_tree), args.before_rev],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        try:
            configurations = [
                ("before (" + args.before_rev + "): old pixel limit, no budget", before_tree, PILLOW_HARD_LIMIT, None),
                ("old pixel limit, no budget", REPO, PILLOW_HARD_LIMIT, UNBOUNDED),
                (f"old pixel limit, default budget ({DEFAULT_DECODE_MEMORY >> 20} MiB)", REPO, PILLOW_HARD_LIMIT, None),
                (f"defaults (limit {DEFAULT_MAX_PIXELS:,} px, budget)", REPO, None, None),
            ]
            rows = []
            for label, tree, max_pixels, decode_memory in configurations:
                print(f"[bench] {label} ...", file=sys.stderr, flush=True)
                rows.append((label, _run_child(tree, files, args.workers, max_pixels, decode_memory)))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before_tree)], cwd=REPO, capture_output=True)

    before_peak = rows[0][1]["peak_mb"]
    head = ("configuration", "peak RSS MB", "seconds", "ratio to before", "outcome")
    cells = [
        (
            label,
            f"{r['peak_mb']:.0f}",
            f"{r['seconds']:.1f}",
            f"{r['peak_mb'] / before_peak:.2f}",
            f"{r['decoded']} decoded"
            + (f", {args.files - r['decoded']} refused: {r['errors'][0][:110]}" if r["errors"] else ""),
        )
        for label, r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    print(" | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for c in cells:
        print(" | ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
    print(
        f"({args.files} files of {args.side}x{args.side} RGB, {args.workers} workers; "
        f"RSS before decoding: {rows[0][1]['baseline_mb']:.0f} MB in each process)"
    )


if __name__ == "__main__":
    main()
