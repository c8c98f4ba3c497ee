"""picscribe: make a photo collection searchable by description.

This package is the composition root: configuration and the ``picscribe``
command. It wires ``indexer``, ``search`` and ``store`` together; nothing
imports it back.
"""

__version__ = "0.1.0"
