"""Offline captioner: EfficientNet-Lite0 ImageNet labels + RapidOCR, CPU only, no downloads."""

from ._captioner import OfflineCaptioner

__all__ = ["OfflineCaptioner"]
