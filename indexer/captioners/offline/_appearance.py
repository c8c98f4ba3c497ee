"""What tells one everyday photo from another: the colour of each thing, from its own box.

"A photo of a dog." describes a hundred photos; "a black dog on the grass"
describes a few. The detector gives each thing a box, so its colour is read
from the pixels inside that box rather than from the whole frame: a black
dog on green grass is black, not green. People are not coloured: read from
the upper body, their colour matched the references no better than chance
(skin, hair and shade; see ``_captioner.described_things``).

The ground under the scene (grass, snow) is read from the lower part of the
frame, where it is in everyday photos. Every rule's threshold and its measured
precision are in the constants below (issue 18); a colour or a ground is named
only when one colour clearly dominates its region.
"""

from __future__ import annotations

from PIL import Image

from ._colours import colour_shares as shares_by_colour

#: The share of a region's pixels its main colour must cover to be named.
MIN_REGION_SHARE = 0.4
#: Inside a thing's box, the part whose colour is read: (left, top, right,
#: bottom) as shares of the box. The middle keeps out the background that a
#: box always has around its corners.
THING_REGION = (0.2, 0.2, 0.8, 0.8)
#: Colours a thing is named in. Grey is left out: a box's grey is mostly
#: shade or an undecided colour, and the references said it for 18 % of the
#: 21 grey dogs on flickr-dev (black: 8 of 8, brown: 17 of 25).
THING_COLOURS = frozenset({"black", "white", "brown", "red", "orange", "yellow", "green", "blue", "purple", "pink"})
#: The lower part of the frame, where the ground is (top edge, as a share of the height).
GROUND_TOP = 0.6
#: Share of the ground's pixels that makes it grass or snow. On flickr-dev
#: (issue 18) green >= 0.45 of the lower 40 % was grass, a field, a lawn or a
#: park in the references of 75 % of the photos it named (32 photos);
#: white >= 0.35 was snow in 64 % (11 photos).
MIN_GRASS_SHARE = 0.45
MIN_SNOW_SHARE = 0.35
#: Pixels read per region: enough for a stable share, cheap for many boxes.
_THUMBNAIL = 32
_PALETTE = 6


def colour_shares(image: Image.Image) -> dict[str, float]:
    """Share of ``image``'s pixels per basic colour name, largest first, at this module's (smaller) sizes."""
    return shares_by_colour(image, thumbnail=_THUMBNAIL, palette=_PALETTE)


def _region(
    image: Image.Image, box: tuple[float, float, float, float], part: tuple[float, float, float, float]
) -> Image.Image | None:
    """The ``part`` of a normalised ``box`` as pixels; None when it is under two pixels wide or tall."""
    width, height = image.size
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    left, top, right, bottom = part
    pixels = (
        round((x1 + left * bw) * width),
        round((y1 + top * bh) * height),
        round((x1 + right * bw) * width),
        round((y1 + bottom * bh) * height),
    )
    if pixels[2] - pixels[0] < 2 or pixels[3] - pixels[1] < 2:
        return None
    return image.crop(pixels)


def main_colour(image: Image.Image, min_share: float = MIN_REGION_SHARE) -> str | None:
    """The colour covering at least ``min_share`` of ``image``, or None when none does."""
    shares = colour_shares(image)
    name, share = next(iter(shares.items()), ("", 0.0))
    return name if share >= min_share else None


def thing_colour(image: Image.Image, box: tuple[float, float, float, float]) -> str | None:
    """The main colour of the thing in ``box`` (normalised x1, y1, x2, y2)."""
    region = _region(image, box, THING_REGION)
    return None if region is None else main_colour(region)


def ground_shares(image: Image.Image) -> dict[str, float]:
    """Colour shares of the lower part of the frame, where the ground is."""
    width, height = image.size
    return colour_shares(image.crop((0, round(height * GROUND_TOP), width, height)))


def ground(image: Image.Image) -> str | None:
    """ "on the grass" or "in the snow" when the lower part of the frame is
    mostly green or mostly white; None otherwise. Only for photos not judged
    to be indoors: a white floor is not snow."""
    shares = ground_shares(image)
    if shares.get("green", 0.0) >= MIN_GRASS_SHARE:
        return "on the grass"
    if shares.get("white", 0.0) >= MIN_SNOW_SHARE:
        return "in the snow"
    return None
