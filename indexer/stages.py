"""The pipeline's reusable stages: decode read-ahead and caption-with-retry.

``Indexer`` runs them between a scan and the store; ``picscribe eval`` runs
the same two on a labelled folder. One copy, so a fix to either (what costs
money, what counts as one image's failure) reaches both.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

from PIL import Image

from .captioning import TASK_CAPTION, Captioner, CaptionerStopped, CaptionResult, PartialBatch
from .decode import DecodeError

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


def read_ahead(
    items: Iterable[Item],
    load: Callable[[Item], Result],
    *,
    workers: int,
    lookahead: int,
    thread_name_prefix: str = "picscribe-decode",
) -> Generator[tuple[Item, Result | DecodeError], None, None]:
    """Yield ``(item, load(item))`` in order while up to ``lookahead`` items load on a thread pool.

    The look-ahead bounds memory: a large folder is never decoded all at
    once. A failure costs one item, not the run: ``load``'s DecodeError is
    yielded in place of its result, and any other exception (a decoder bug)
    becomes a DecodeError that says what it was. Closing the iterator early
    stops the read-ahead once the loads in flight finish.
    """

    def work(item: Item) -> Result | DecodeError:
        try:
            return load(item)
        except DecodeError as exc:
            return exc
        except Exception as exc:
            log.debug("unexpected error loading %s", item, exc_info=True)
            return DecodeError(f"unexpected error: {type(exc).__name__}: {exc}")

    pending = iter(items)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=thread_name_prefix) as pool:
        queue: deque[tuple[Item, Future[Result | DecodeError]]] = deque(
            (item, pool.submit(work, item)) for item in islice(pending, max(1, lookahead))
        )
        while queue:
            item, future = queue.popleft()
            for following in islice(pending, 1):
                queue.append((following, pool.submit(work, following)))
            yield item, future.result()


def caption_outcomes(
    captioner: Captioner, images: Sequence[Image.Image], task: str = TASK_CAPTION
) -> list[CaptionResult | Exception]:
    """One result or exception per image, in order.

    A batch that fails as a whole is retried one image at a time, so one
    bad image cannot sink the others; a backend that already says which
    images failed (PartialBatch) is not asked again, because each request
    may cost money. After CaptionerStopped nothing more is sent.
    """
    if not images:
        return []
    try:
        results = list(captioner.caption(images, task))
        if len(results) != len(images):
            raise RuntimeError(f"captioner returned {len(results)} results for {len(images)} images")
        return list(results)
    except CaptionerStopped as exc:
        return [exc] * len(images)
    except PartialBatch as exc:
        if len(exc.results) == len(images):
            return exc.results
        error: Exception = RuntimeError(f"captioner returned {len(exc.results)} results for {len(images)} images")
    except Exception as exc:
        error = exc
    if len(images) == 1:
        return [error]  # asking again for the same single image would change nothing
    log.debug("batch captioning failed; retrying one image at a time", exc_info=error)
    outcomes: list[CaptionResult | Exception] = []
    for image in images:
        if outcomes and isinstance(outcomes[-1], CaptionerStopped):
            outcomes.append(outcomes[-1])
            continue
        try:
            (result,) = captioner.caption([image], task)
            outcomes.append(result)
        except Exception as exc:
            outcomes.append(exc)
    return outcomes
