"""How large an image the decoder accepts by default, in a module of its own:
``config`` reads these defaults, and that must not import Pillow."""

from __future__ import annotations

# Pixels that may be inflated for one image, counted after any decode-time
# downscaling (a JPEG decodes at 1/8 of its size for free, a PNG or TIFF
# always at full size). Captioners see at most a few megapixels, so this
# bounds memory, not quality: a PNG at Pillow's own hard limit (178,956,970
# pixels) would take 0.7 GB and more. We say no from the header alone,
# before any pixels are inflated. ``max_pixels`` in config.toml raises it.
DEFAULT_MAX_PIXELS = 128_000_000
DEFAULT_MAX_SIDE = 1024
