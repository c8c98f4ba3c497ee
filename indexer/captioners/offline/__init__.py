"""Offline captioner: CenterNet objects, MTCNN faces, EfficientNet-Lite0 labels, RapidOCR or Tesseract text; CPU only.

``OfflineCaptioner(models=...)`` takes any ``OfflineModels``; ``PackagedModels`` is the real one.
"""

from ._captioner import OfflineCaptioner
from ._models import OfflineModels, PackagedModels

__all__ = ["OfflineCaptioner", "OfflineModels", "PackagedModels"]
