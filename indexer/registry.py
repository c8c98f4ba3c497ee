"""Find caption backends by name through the ``picscribe.captioners`` entry points.

Built-in backends are registered in picscribe's own pyproject.toml, exactly
as a plugin package would register its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from .captioning import BaseCaptioner, Captioner, CaptionerOptions, CaptionerUnavailable

GROUP = "picscribe.captioners"
log = logging.getLogger(__name__)

AUTO = "auto"
OFFLINE = "offline"


class BadCaptionerSpec(ValueError):
    """A --captioner value that names no backend, or a model the backend refuses."""


class UnknownCaptioner(BadCaptionerSpec):
    pass


def available_backends() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def backend_class(name: str) -> type[BaseCaptioner]:
    backends = available_backends()
    if name not in backends:
        known = ", ".join(sorted(backends)) or "none (is picscribe installed?)"
        raise UnknownCaptioner(f"unknown captioner {name!r}; known: {AUTO}, {known}")
    cls = backends[name].load()
    if not (isinstance(cls, type) and issubclass(cls, BaseCaptioner)):
        # The contract is declared, not guessed at: a backend states its capabilities by subclassing.
        raise BadCaptionerSpec(
            f"captioner {name!r} ({backends[name].value}) is not a picscribe.BaseCaptioner subclass; "
            "the plugin needs updating"
        )
    return cls


def parse_spec(spec: str) -> tuple[str, str | None]:
    """'ollama:llava:13b' -> ('ollama', 'llava:13b'); 'offline' -> ('offline', None)."""
    name, sep, model = spec.partition(":")
    return name, (model if sep else None)


@dataclass(frozen=True)
class Choice:
    captioner: Captioner
    #: One line for the user: which backend was chosen and why.
    reason: str
    #: The spec it was built from, ``auto`` resolved: what a Ray worker builds the same backend from.
    spec: str | None = None


def create(spec: str, *, device: str = "auto", options: CaptionerOptions | None = None) -> Captioner:
    """Build the backend a spec names, handing it ``options`` to read what it needs."""
    name, model = parse_spec(spec)
    cls = backend_class(name)
    reason = cls.available()
    if reason:
        raise CaptionerUnavailable(f"captioner {name!r} cannot run here: {reason}")
    try:
        return cls.from_options(device=device, model=model, options=options or CaptionerOptions())
    except BadCaptionerSpec:
        raise
    except ValueError as exc:
        # A backend refusing its arguments is a usage error, whichever backend it is.
        raise BadCaptionerSpec(f"captioner {spec!r}: {exc}") from exc


def choose(
    spec: str, *, vlm: str | None = None, device: str = "auto", options: CaptionerOptions | None = None
) -> Choice:
    """Resolve a --captioner value, including ``auto``.

    ``auto`` uses the configured VLM (``vlm``, a backend spec) when it can
    run, and otherwise the built-in offline captioner.
    """
    if spec != AUTO:
        captioner = create(spec, device=device, options=options)
        return Choice(captioner, f"captioner: {spec} ({captioner.model_id}), as asked", spec)
    if vlm:
        try:
            captioner = create(vlm, device=device, options=options)
            return Choice(captioner, f"captioner: {vlm} ({captioner.model_id}), the configured VLM", vlm)
        except (CaptionerUnavailable, BadCaptionerSpec) as exc:
            # The whole story (what is missing, how to get it) runs to several
            # hundred characters: on a first run it would be the first thing a
            # newcomer reads. One short line; the rest under -v.
            log.info("auto: the configured VLM %r is not usable: %s", vlm, exc)
            captioner = create(OFFLINE, device=device)
            gist = _gist(str(exc))
            model = vlm.partition(":")[2] or vlm
            named = gist if model in gist else f"{vlm}: {gist}"
            reason = (
                f"captioner: {OFFLINE}, because auto found no VLM available ({named}). "
                "Set PICSCRIBE_VLM= to skip this check (-v for details)."
            )
            return Choice(captioner, reason, OFFLINE)
    why = "no VLM is configured (set PICSCRIBE_VLM or vlm in config.toml)"
    captioner = create(OFFLINE, device=device)
    return Choice(captioner, f"captioner: {OFFLINE} ({captioner.model_id}), because {why}", OFFLINE)


#: How much of a backend's "why not" the one-line reason keeps.
_GIST_CHARS = 80


def _gist(message: str) -> str:
    """The first clause of an explanation: what is wrong, without the how-to-fix that follows."""
    first = message.split(";", 1)[0].split("\n", 1)[0].strip()
    if len(first) <= _GIST_CHARS:
        return first
    return first[:_GIST_CHARS].rsplit(" ", 1)[0].rstrip(" ,") + "…"
