"""What the Ray engine is told: where the cluster is, how big the actor pool is, which captioner to build."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..captioning import CaptionerOptions

#: ``--ray-address`` values besides ``ray://HOST:PORT`` and ``HOST:PORT``.
ADDRESS_AUTO = "auto"
ADDRESS_LOCAL = "local"


class RayEngineError(RuntimeError):
    """The cluster could not run the job (it failed, or a worker could not start); the message says why.

    What earlier batches committed stays: the next run picks up the rest.
    """


class RayUnavailable(RayEngineError):
    """Ray is not installed here."""


@dataclass(frozen=True)
class RayOptions:
    """``--ray-address``, ``--workers`` and ``--gpus-per-worker``."""

    #: None: Ray's own rule (``RAY_ADDRESS``, else a cluster started on this
    #: machine by ``ray start``, else a new local one); ``auto``: a running
    #: cluster or an error; ``local``: always a new local cluster;
    #: ``ray://HOST:PORT``: Ray Client.
    address: str | None = None
    #: Captioner actors in the pool: one model each.
    workers: int = 1
    #: GPUs each actor holds (fractions share a GPU); 0 runs the models on CPUs.
    gpus_per_worker: float = 0.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        if self.gpus_per_worker < 0:
            raise ValueError(f"gpus_per_worker cannot be negative ({self.gpus_per_worker})")


@dataclass(frozen=True)
class CaptionerRecipe:
    """How a worker builds the driver's captioner: through the registry, from
    the same spec, device and options, so a plugin runs on workers unchanged."""

    spec: str
    device: str = "auto"
    options: CaptionerOptions = field(default_factory=CaptionerOptions)
