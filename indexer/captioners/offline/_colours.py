"""Dominant colours, named with the eleven basic colour terms people use.

Median-cut quantisation of a small thumbnail gives a handful of palette
colours with their pixel shares; each is named by hue, saturation and
lightness rules rather than by the nearest of a few RGB anchors, because
nearest-anchor naming calls most dark photos "brown" or "grey".
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

from PIL import Image

#: A colour is reported when it covers at least this share of the pixels.
MIN_SHARE = 0.15
#: At most this many colours are reported, biggest share first.
MAX_COLOURS = 3
_THUMBNAIL = 64
_PALETTE = 8


@dataclass(frozen=True)
class Colour:
    name: str
    share: float  # of the image's pixels, 0..1


def colour_name(rgb: tuple[int, int, int]) -> str:
    """One of black, white, grey, red, orange, yellow, green, blue, purple, pink, brown."""
    r, g, b = (c / 255 for c in rgb)
    h, lightness, s = colorsys.rgb_to_hls(r, g, b)
    hue = h * 360
    if lightness < 0.12:
        return "black"
    if lightness > 0.9 and s < 0.5:
        return "white"
    # Saturation in HLS overstates colour in very dark and very light pixels.
    chroma = max(r, g, b) - min(r, g, b)
    if chroma < 0.1:
        if lightness > 0.8:
            return "white"
        return "grey" if lightness > 0.2 else "black"
    if hue < 15 or hue >= 340:
        if lightness > 0.7:
            return "pink"
        return "brown" if lightness < 0.3 or (s < 0.45 and lightness < 0.5) else "red"
    if hue < 45:
        if lightness < 0.45 or s < 0.35:
            return "brown"
        return "orange"
    if hue < 70:
        if lightness < 0.35 or s < 0.3:
            return "brown" if hue < 55 else "green"
        return "yellow"
    if hue < 170:
        return "green"
    if hue < 255:
        return "blue"
    if hue < 290:
        return "purple"
    return "pink" if lightness > 0.5 else "purple"


def colour_shares(image: Image.Image, *, thumbnail: int = _THUMBNAIL, palette: int = _PALETTE) -> dict[str, float]:
    """Share of ``image``'s pixels per basic colour name, largest first, from a
    ``thumbnail``-pixel copy quantised to ``palette`` colours."""
    thumb = image.convert("RGB")
    thumb.thumbnail((thumbnail, thumbnail))
    quantised = thumb.quantize(colors=palette, method=Image.Quantize.MEDIANCUT)
    colours = quantised.getpalette() or []
    counts = quantised.getcolors() or []
    total = sum(n for n, _ in counts) or 1
    shares: dict[str, float] = {}
    for n, index in counts:
        assert isinstance(index, int)  # a palette image's pixels are palette indices
        r, g, b = colours[index * 3 : index * 3 + 3]
        name = colour_name((r, g, b))
        shares[name] = shares.get(name, 0.0) + n / total
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))


def dominant_colours(image: Image.Image) -> list[Colour]:
    """The image's main colours by pixel share, merged by name."""
    shares = colour_shares(image)
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])
    return [Colour(name, round(share, 3)) for name, share in ranked if share >= MIN_SHARE][:MAX_COLOURS]
