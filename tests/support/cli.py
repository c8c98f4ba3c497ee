"""The CLI, invoked in-process (models load once per test session)."""

from __future__ import annotations

import json
from collections.abc import Callable

from click.testing import Result

Run = Callable[..., Result]


def index_json(run: Run, *args: str) -> tuple[int, dict]:
    """``picscribe index ARGS --captioner fake --json``: its exit code and parsed JSON."""
    result = run("index", *args, "--captioner", "fake", "--json")
    return result.exit_code, json.loads(result.stdout)
