"""What ``write-metadata`` writes and where, in a module of its own: ``Library``
takes the field list as a default, and importing it must not load the XMP and
exiftool writers (``search`` and ``status`` build a Library too)."""

from __future__ import annotations

#: What ``--fields`` accepts, and its default: all of them.
METADATA_FIELDS = ("caption", "detailed", "alt_text", "tags")
#: What ``--to`` accepts: XMP sidecars next to the images, or the image files.
METADATA_TARGETS = ("sidecar", "file")
