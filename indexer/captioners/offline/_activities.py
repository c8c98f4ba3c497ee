"""What people do and where, as far as the ImageNet classifier's own classes say it.

Everyday photos are described by what happens in them ("a man climbing a
rock", "a boy in the water") and where ("in the mountains"), which no
packaged model names directly. A few ImageNet classes only occur with one
activity or setting: a ``cliff`` is climbed, ``swimming trunks`` are worn
in the water, a ``mountain bike`` is ridden. Their summed probability is the
evidence; a phrase is said only at a threshold where the human references
used its words (or a synonym) for most of the photos it was said of.

Each threshold was chosen by 5-fold cross-validation over flickr-dev and
coco-dev pooled (380 photos): on four folds, the smallest threshold whose
photos' references agreed at least 70 % of the time (3 photos or more), then
the precision counted on the held-out fold (issue 18). Groups that did not
hold up (skiing from ``ski`` 0.33, soccer from ``soccer ball`` 0.60, a ball
game 0.50, a boat 0.00, a lake 0.50, a horse ride 0.00) are not said.

The phrases are for the description that is searched, not the short
caption: they are words of the references, not of COCO's caption style.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from ._wording import join


@dataclass(frozen=True)
class Activity:
    #: The words said: a gerund phrase ("climbing") or a place ("in the mountains").
    phrase: str
    #: True for a place ("It may be in the mountains."), False for an activity.
    is_place: bool
    #: ImageNet labels (as in imagenet_labels.txt) whose summed probability is the evidence.
    classes: tuple[str, ...]
    #: The summed probability at which the phrase is said.
    min_prob: float


#: Held-out precision (references that used the phrase's words or a synonym),
#: 5-fold cross-validation on flickr-dev + coco-dev, is in each comment.
ACTIVITIES: tuple[Activity, ...] = (
    # mountain, hill, cliff, rocks, valley: 22 of 32 held out (0.69), 20 of 24 at 0.1 on all photos.
    Activity("in the mountains", True, ("alp", "valley", "cliff", "volcano", "promontory"), 0.1),
    # water, a pool, swimming, the sea or a lake: 17 of 22 (0.77).
    Activity("in the water", True, ("swimming trunks", "bathing cap", "snorkel", "maillot", "bikini"), 0.05),
    # bike, bicycle, biker, cyclist: 8 of 11 (0.73).
    Activity("riding a bicycle", False, ("mountain bike", "bicycle-built-for-two", "tricycle", "unicycle"), 0.2),
    # baseball, bat, batter, player: 5 of 6 (0.83).
    Activity("playing baseball", False, ("ballplayer",), 0.1),
    # snow, a sled, a snowmobile: 12 of 17 (0.71).
    Activity("in the snow", True, ("dogsled", "snowmobile"), 0.05),
    # beach, sand, shore, the ocean: 18 of 23 (0.78).
    Activity("on a beach", True, ("seashore", "sandbar"), 0.05),
    # climb, climbing, climber, rock: 7 of 9 (0.78).
    Activity("climbing", False, ("cliff",), 0.05),
)


@functools.cache
def _indices(labels: tuple[str, ...], classes: tuple[str, ...]) -> tuple[int, ...]:
    """Every index of ``classes`` in ``labels`` (ImageNet has two "maillot" classes)."""
    wanted = frozenset(classes)
    return tuple(i for i, label in enumerate(labels) if label in wanted)


def activities(probs: Sequence[float], labels: Sequence[str]) -> list[Activity]:
    """The activities and places whose classes' summed probability reaches their threshold."""
    key = tuple(labels)
    return [a for a in ACTIVITIES if sum(probs[i] for i in _indices(key, a.classes)) >= a.min_prob]


def activity_sentences(found: Sequence[Activity], said: str = "") -> str:
    """ "It may show climbing. It may be in the mountains." for ``found``,
    leaving out a place ``said`` already holds ("in the snow" as the setting);
    "" when nothing is left."""
    doing = [a.phrase for a in found if not a.is_place and a.phrase not in said]
    places = [a.phrase for a in found if a.is_place and a.phrase not in said]
    text = []
    if doing:
        text.append(f"It may show {join(doing)}.")
    if places:
        text.append(f"It may be {join(places)}.")
    return " ".join(text)
