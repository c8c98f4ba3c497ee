"""The classifier's fainter guesses, named as such in the searched description.

The description already names the classifier's top five classes ("It may
also show a canoe"). Past those, the next ten classes at 1 % or more are
still evidence of what kind of photo it is: a photo whose sixth guess is
"paddle" and seventh "lakeside" is more likely the one a person describes
as "a boy in a canoe" than one whose guesses are about furniture. Said as
"It might also show ...", in everyday words (``plain_word``), never as tags
or in the short caption: each word alone is unreliable, together they tell
similar photos apart.

Measured with the real embedder on the cached findings of issue 18 (dense
side, R@10): flickr-dev 0.433 -> 0.453, coco-dev 0.895 -> 0.907 as shipped
(0.460 and 0.907 when a word inside another word counted as said). Per fold
of photos (5 folds; that first version) flickr-dev gained in 4 of 5 (+0.047,
+0.027, +0.027, -0.010, +0.043), coco-dev in 3 of 5 (+0.025, +0.013, 0,
+0.050, -0.025). The gain
is flat past ten more classes at 1 % (fifteen: 0.458, 0.915; twenty-five:
0.458, 0.915); at 2 % it halves (0.447, 0.895). Cross-validated choice of the
two numbers did not settle on one pair (it picked 15-30 classes at 0.5-1 %),
so these are the plateau's smallest values, not a tuned optimum.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ._plain_words import PERSON_CLASSES, plain_word
from ._wording import join, with_article

#: Classifier ranks (0-based, best first) read for faint guesses: past the
#: top five, which the description already names or leaves out.
FAINT_RANKS = (5, 15)
#: The probability a faint guess needs.
MIN_FAINT_PROB = 0.01


def faint_words(probs: Sequence[float], labels: Sequence[str], said: str) -> list[str]:
    """Everyday words of the classes at FAINT_RANKS with MIN_FAINT_PROB or more,
    leaving out people (said from the top classes only) and words ``said`` holds."""
    first, last = FAINT_RANKS
    ranked = sorted(range(len(probs)), key=lambda i: -probs[i])[first:last]
    words: list[str] = []
    for i in ranked:
        if probs[i] < MIN_FAINT_PROB or i in PERSON_CLASSES:
            continue
        word = plain_word(i, labels[i])
        if word not in words and not re.search(rf"\b{re.escape(word)}\b", said, re.IGNORECASE):
            words.append(word)
    return words


def with_faint_words(description: str, probs: Sequence[float], labels: Sequence[str]) -> str:
    """``description`` and "It might also show ..." for its faint guesses, if any."""
    words = faint_words(probs, labels, description)
    if not words:
        return description
    return f"{description} It might also show {join([with_article(w) for w in words])}."
