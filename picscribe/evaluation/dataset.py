"""Load and validate a labelled evaluation folder.

The folder holds ``captions.jsonl``: one JSON object per line with ``file``
(a path relative to the folder), ``captions`` (a non-empty list of reference
strings) and optionally ``objects`` (COCO category -> instance count). Other
keys (licence, size, source) are allowed and ignored.

Users write these files by hand or by script, so every problem is reported
with its line number, and all problems at once (up to a few), rather than
one per run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

CAPTIONS_FILE = "captions.jsonl"
#: Enough to show a pattern without flooding the terminal.
_MAX_REPORTED = 10


class DatasetError(ValueError):
    """The folder is not a usable evaluation set; the message says where and why."""


@dataclass(frozen=True)
class EvalItem:
    file: str  # as written in captions.jsonl
    path: str  # absolute, normalised as the scanner normalises paths
    captions: tuple[str, ...]
    objects: dict[str, int] | None
    line: int


@dataclass(frozen=True)
class EvalSet:
    folder: Path
    items: tuple[EvalItem, ...]

    def head(self, limit: int | None) -> EvalSet:
        return self if limit is None else EvalSet(self.folder, self.items[:limit])


def load_eval_set(folder: Path) -> EvalSet:
    """Read ``folder/captions.jsonl``; raise DatasetError naming each bad line."""
    folder = Path(os.path.abspath(folder))
    source = folder / CAPTIONS_FILE
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder")
    if not source.is_file():
        raise DatasetError(f"{folder} has no {CAPTIONS_FILE} (one JSON object per line with 'file' and 'captions')")
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {source}: {exc}") from exc

    items: list[EvalItem] = []
    errors: list[str] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = _parse(raw, number, folder)
        except DatasetError as exc:
            errors.append(f"line {number}: {exc}")
            continue
        if item.path in first_line:
            errors.append(f"line {number}: {item.file!r} is already listed on line {first_line[item.path]}")
            continue
        first_line[item.path] = number
        items.append(item)
    if errors:
        shown = errors[:_MAX_REPORTED]
        more = f"\n  ... and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
        raise DatasetError(f"{source}:\n  " + "\n  ".join(shown) + more)
    if not items:
        raise DatasetError(f"{source} lists no images")
    return EvalSet(folder, tuple(items))


def _parse(raw: str, number: int, folder: Path) -> EvalItem:
    try:
        row = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"not valid JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(row, dict):
        raise DatasetError(f"expected a JSON object, got {type(row).__name__}")

    file = row.get("file")
    if not isinstance(file, str) or not file.strip():
        raise DatasetError("'file' must be a non-empty string (a path relative to the folder)")
    if os.path.isabs(file):
        raise DatasetError(f"'file' must be relative to the folder, not absolute: {file!r}")

    captions = row.get("captions")
    if not isinstance(captions, list) or not captions:
        raise DatasetError("'captions' must be a non-empty list of reference captions")
    if not all(isinstance(c, str) and c.strip() for c in captions):
        raise DatasetError("every entry of 'captions' must be a non-empty string")

    objects = row.get("objects")
    if objects is not None:
        valid = isinstance(objects, dict) and all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0 for k, v in objects.items()
        )
        if not valid:
            raise DatasetError("'objects' must map category names to counts (whole numbers >= 0)")

    # os.path.abspath folds ".." as the scanner does, so paths compare equal
    # with the ones search returns.
    path = os.path.abspath(folder / file)
    return EvalItem(file, path, tuple(captions), dict(objects) if objects is not None else None, number)
