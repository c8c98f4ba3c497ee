"""``picscribe index --engine ray``: the indexing pipeline with its heavy stages on a Ray cluster.

The driver (this process) scans, consults the index and writes to it; Ray
Data reads and decodes the new files on the workers, and an actor pool
captions and embeds them, one model per actor. Importing this package does
not import Ray: that happens when a run first has something to send.

The public names load on first use (PEP 562), so naming ``RayEngineError``
(as the CLI's error handling does) does not load the driver, the store or
numpy either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picscribe._lazy_exports import lazy_exports

#: Each public name and the module that defines it.
_EXPORTS = {
    "INSTALL_HINT": "._connect",
    "import_ray": "._connect",
    "RayIndexer": "._driver",
    "ADDRESS_AUTO": "._options",
    "ADDRESS_LOCAL": "._options",
    "CaptionerRecipe": "._options",
    "RayEngineError": "._options",
    "RayOptions": "._options",
    "RayUnavailable": "._options",
}

if TYPE_CHECKING:
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


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS, __all__)
