"""Import Ray on first use and join the cluster; ``import picscribe`` never imports Ray."""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

from ._options import RayEngineError, RayUnavailable

INSTALL_HINT = "pip install 'picscribe[ray]'"

#: Whether Ray's cluster errors are already sent to stderr (see _cluster_errors_to_stderr).
_errors_redirected = False


def import_ray() -> ModuleType:
    """The ``ray`` module with Ray Data, or RayUnavailable saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is its own extra of ray
    except ImportError as exc:
        raise RayUnavailable(f"--engine ray needs Ray Data: {INSTALL_HINT} ({exc})") from exc
    return ray


def connect(address: str | None) -> ModuleType:
    """Join the cluster at ``address`` (see RayOptions.address) unless this process already has; returns ``ray``."""
    ray = import_ray()
    _cluster_errors_to_stderr()
    if not ray.is_initialized():
        try:
            ray.init(
                address=address,
                # Only read when this starts a cluster: picscribe has no use for the web dashboard.
                include_dashboard=False,
                logging_level=logging.WARNING,
                # Ray would copy the workers' stdout onto ours, where --json prints. Their logs
                # stay on each node (/tmp/ray/session_latest/logs); a failed job's error says why.
                log_to_driver=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayEngineError(f"cannot reach the Ray cluster at {address or 'the default address'}: {exc}") from exc
    context = ray.data.DataContext.get_current()
    # The CLI draws its own progress, on a TTY only; Ray's bars would fight it.
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.verbose_stats_logs = False
    _quiet_ray_data_logs()
    return ray


def _quiet_ray_data_logs() -> None:
    """picscribe's stderr is for its own summary: not Ray Data's plan (INFO), nor
    its notice that the progress bars turned off above are off."""
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)


def _cluster_errors_to_stderr() -> None:
    """Ray's driver prints the cluster's error messages ("the actor is temporarily
    unavailable ... the task will be retried") on stdout, where ``--json`` prints;
    send them to stderr.

    There is no setting for it: the driver's listener thread calls
    ``ray._private.worker.print_to_stdstream`` with ``is_err=False``, looking the
    name up at each call, so the wrapper takes effect whenever it is installed.
    If a Ray version moves the function, the messages go back to stdout, and the
    --json tests fail and say so.
    """
    global _errors_redirected
    worker: Any = importlib.import_module("ray._private.worker")
    original = getattr(worker, "print_to_stdstream", None)
    if original is None or _errors_redirected:
        return

    def to_stderr(data: dict[str, object], ignore_prefix: bool) -> None:
        original({**data, "is_err": True}, ignore_prefix)

    worker.print_to_stdstream = to_stderr
    _errors_redirected = True
