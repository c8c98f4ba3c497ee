"""``index --engine``: the Ray options are refused where they would do nothing (no Ray needed)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "options",
    [["--workers", "2"], ["--ray-address", "auto"], ["--gpus-per-worker", "1"]],
    ids=["workers", "ray-address", "gpus"],
)
def test_ray_options_need_engine_ray(run, photos, options):
    result = run("index", str(photos), "--captioner", "fake", *options)
    assert result.exit_code == 2
    assert f"{options[0]} need --engine ray" in result.stderr


def test_a_budget_is_refused_with_engine_ray(run, photos):
    result = run("index", str(photos), "--captioner", "fake", "--engine", "ray", "--max-requests", "5")
    assert result.exit_code == 2
    assert "not enforced across Ray workers" in result.stderr


def test_an_unknown_engine_is_a_usage_error(run, photos):
    assert run("index", str(photos), "--engine", "spark").exit_code == 2
