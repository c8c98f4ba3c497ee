"""Read text in an image with RapidOCR (PP-OCRv4 ONNX models bundled in the wheel)."""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from rapidocr_onnxruntime import RapidOCR

log = logging.getLogger(__name__)

#: Lines recognised with lower confidence are mostly noise (texture read as letters).
MIN_LINE_SCORE = 0.6
# RapidOCR creates these loggers with their own stderr handlers at DEBUG level.
_RAPIDOCR_LOGGERS = ("RapidOCR", "OrtInferSession")


def _quiet_rapidocr() -> None:
    """Route RapidOCR's chatter into our logging setup instead of its own stderr handlers."""
    for name in _RAPIDOCR_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.setLevel(logging.WARNING)


class Reader:
    """Up to ``engines`` RapidOCR engines, each made on first need.

    An engine reads one image at a time: RapidOCR keeps per-call state on the
    instance (the detector's resize step), so two threads must not share
    one. Several models run at once on a multi-core machine (``_stages``), so
    there is one engine per thread that may read, each with
    ``threads_each`` ONNX Runtime threads (None: ONNX Runtime's default, all cores).
    """

    def __init__(self, engines: int = 1, threads_each: int | None = None) -> None:
        self._most = max(1, engines)
        self._threads_each = threads_each
        self._made = 0
        self._free: queue.SimpleQueue[RapidOCR] = queue.SimpleQueue()
        self._lock = threading.Lock()

    def _make_engine(self) -> RapidOCR:
        from rapidocr_onnxruntime import RapidOCR  # imported late: onnxruntime is slow to import

        threads = {} if self._threads_each is None else {"intra_op_num_threads": self._threads_each}
        engine = RapidOCR(**threads)
        _quiet_rapidocr()
        return engine

    def _take(self) -> RapidOCR:
        """A free engine; a new one while fewer than ``engines`` exist, else wait for one."""
        while True:
            try:
                return self._free.get_nowait()
            except queue.Empty:
                pass
            with self._lock:
                if self._made < self._most:
                    self._made += 1
                    break
            try:
                # Woken by a returned engine; the timeout re-checks in case one failed to load.
                return self._free.get(timeout=1.0)
            except queue.Empty:
                continue
        try:
            return self._make_engine()
        except BaseException:
            with self._lock:
                self._made -= 1
            raise

    def load(self) -> None:
        """Load the OCR models now rather than on the first image."""
        self._free.put(self._take())

    def read_text(self, image: Image.Image) -> str:
        """The confident text lines of an RGB image, one per line, in reading order ("" if none)."""
        # An ndarray is taken as BGR (OpenCV order); flipping avoids a second copy inside RapidOCR.
        bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        engine = self._take()
        try:
            result: list[list[Any]] | None
            result, _ = engine(bgr)
        finally:
            self._free.put(engine)
        if not result:
            return ""
        kept = [
            (np.asarray(box, dtype=np.float32), str(text).strip())
            for box, text, score in result
            if float(score) >= MIN_LINE_SCORE and str(text).strip()
        ]
        log.debug("OCR kept %d of %d lines", len(kept), len(result))
        return "\n".join(_reading_order(kept))


def _reading_order(lines: list[tuple[np.ndarray, str]]) -> list[str]:
    """Sort boxes top-to-bottom, then left-to-right within a visual line.

    Two boxes share a line when their vertical centres are closer than half
    the smaller box height, which tolerates slightly tilted text.
    """
    boxes = sorted(lines, key=lambda item: float(item[0][:, 1].mean()))
    rows: list[list[tuple[np.ndarray, str]]] = []
    for box, text in boxes:
        centre, height = float(box[:, 1].mean()), float(np.ptp(box[:, 1]))
        if rows:
            last = rows[-1][-1][0]
            last_height = float(np.ptp(last[:, 1]))
            if abs(centre - float(last[:, 1].mean())) < 0.5 * min(height, last_height):
                rows[-1].append((box, text))
                continue
        rows.append([(box, text)])
    return [text for row in rows for _, text in sorted(row, key=lambda item: float(item[0][:, 0].min()))]
