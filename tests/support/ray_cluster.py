"""A real local Ray cluster for the ``--engine ray`` tests, one per session.

``ray.init(num_cpus=2)`` in the test process: in-process CLI runs join it as
their driver, subprocess drivers join it by address. Its workers find the
``flaky`` test plugin (support/flaky_plugin) through PYTHONPATH, set only
while the cluster starts, so this process never sees it unless a test asks.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

FLAKY_PLUGIN = Path(__file__).resolve().parent / "flaky_plugin" / "picscribe_flaky.py"


def require_ray() -> None:
    """Ray Data is the optional `ray` extra; scripts/setup.sh installs it, and CI
    (PICSCRIBE_REQUIRE_RAY=1) must fail rather than skip without it."""
    for module in ("ray", "ray.data", "pyarrow"):
        if os.environ.get("PICSCRIBE_REQUIRE_RAY") == "1":
            __import__(module)
        else:
            pytest.importorskip(module)


@dataclass(frozen=True)
class RayCluster:
    #: What a subprocess driver passes as --ray-address.
    address: str
    #: A folder with the flaky plugin and the dist-info that registers it.
    plugin_site: Path


def install_flaky_plugin(site: Path) -> None:
    """The plugin the way pip leaves one: a module and a dist-info with its entry point."""
    dist_info = site / "picscribe_flaky-1.0.dist-info"
    dist_info.mkdir(parents=True)
    shutil.copy2(FLAKY_PLUGIN, site / FLAKY_PLUGIN.name)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: picscribe-flaky\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[picscribe.captioners]\nflaky = picscribe_flaky:FlakyCaptioner\n")


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[RayCluster]:
    require_ray()
    import ray

    site = tmp_path_factory.mktemp("ray-plugin-site")
    install_flaky_plugin(site)
    # What the workers inherit: the plugin, the session's model cache, and no model hub.
    workers_env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PICSCRIBE_CACHE": str(model_cache),
    }
    saved = {name: os.environ.get(name) for name in workers_env}
    os.environ.update(workers_env)
    try:
        # Two CPUs: one read task and one captioner actor at a time, 1 CPU each, so the dataset cannot starve.
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    finally:
        # Only these: what ray.init itself set (RAY_AUTH_MODE=token) subprocess drivers need too.
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    try:
        yield RayCluster(ray.get_runtime_context().gcs_address, site)
    finally:
        ray.shutdown()
