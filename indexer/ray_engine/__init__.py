"""``picscribe index --engine ray``: the indexing pipeline with its heavy stages on a Ray cluster.

The driver (this process) scans, consults the index and writes to it; Ray
Data reads and decodes the new files on the workers, and an actor pool
captions and embeds them, one model per actor. Importing this package does
not import Ray: that happens when a run first has something to send.
"""

from ._connect import INSTALL_HINT, import_ray
from ._driver import RayIndexer
from ._options import ADDRESS_AUTO, ADDRESS_LOCAL, CaptionerRecipe, RayEngineError, RayOptions, RayUnavailable

__all__ = [
    "ADDRESS_AUTO",
    "ADDRESS_LOCAL",
    "INSTALL_HINT",
    "CaptionerRecipe",
    "RayEngineError",
    "RayIndexer",
    "RayOptions",
    "RayUnavailable",
    "import_ray",
]
