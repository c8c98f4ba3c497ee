"""Caption-quality metrics in pure Python: BLEU, ROUGE-L, CIDEr-D, noun precision.

BLEU, ROUGE-L and CIDEr-D re-implement the scorers of the coco-caption
toolkit (github.com/tylin/coco-caption, ``pycocoevalcap``) line for line, on
the raw scale they return (BLEU and ROUGE-L in [0, 1], CIDEr-D in [0, 10]),
including their quirks, so that numbers are comparable with published ones.
They need no Java and no NLP package; the only difference is the tokenizer
(see ``tokenize``), which moves scores slightly.

Every function takes one candidate per image and a list of references per
image, as raw strings.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .nouns import COCO_CATEGORIES, NounMention, ngram_set, object_nouns, tokenize

__all__ = [
    "NounPrecision",
    "bleu",
    "bleu4",
    "cider_d",
    "cider_d_per_image",
    "noun_precision",
    "rouge_l",
    "rouge_l_per_image",
    "tokenize",
]

Ngram = tuple[str, ...]


def _check(candidates: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    if len(candidates) != len(references):
        raise ValueError(f"{len(candidates)} candidates but {len(references)} reference lists")
    if any(len(refs) == 0 for refs in references):
        raise ValueError("every image needs at least one reference")


def _ngrams(tokens: Sequence[str], n: int) -> Counter[Ngram]:
    """Counts of all 1..n-grams, as coco-caption's ``precook``."""
    counts: Counter[Ngram] = Counter()
    for k in range(1, n + 1):
        for i in range(len(tokens) - k + 1):
            counts[tuple(tokens[i : i + k])] += 1
    return counts


# -- BLEU ------------------------------------------------------------------------


def bleu(candidates: Sequence[str], references: Sequence[Sequence[str]], n: int = 4) -> list[float]:
    """Corpus BLEU-1..n, as coco-caption's ``Bleu(n)`` with option "closest".

    Clipped n-gram matches and candidate n-gram counts are summed over the
    whole corpus before dividing (not averaged per sentence); each image
    contributes the reference length closest to its candidate's (ties go to
    the shorter); the brevity penalty uses the corpus totals.
    """
    _check(candidates, references)
    # coco-caption's smoothing: a zero match count yields ~0, never a division by zero.
    tiny, small = 1e-15, 1e-9
    guess = [0] * n
    correct = [0] * n
    test_len = ref_len = 0
    for cand, refs in zip(candidates, references, strict=True):
        ref_tokens = [tokenize(r) for r in refs]
        max_counts: dict[Ngram, int] = {}
        for tokens in ref_tokens:
            for gram, count in _ngrams(tokens, n).items():
                max_counts[gram] = max(max_counts.get(gram, 0), count)
        tokens = tokenize(cand)
        length = len(tokens)
        test_len += length
        ref_len += min((abs(len(r) - length), len(r)) for r in ref_tokens)[1]
        for k in range(n):
            guess[k] += max(length - k, 0)
        for gram, count in _ngrams(tokens, n).items():
            correct[len(gram) - 1] += min(count, max_counts.get(gram, 0))
    scores = []
    product = 1.0
    for k in range(n):
        product *= (correct[k] + tiny) / (guess[k] + small)
        scores.append(product ** (1.0 / (k + 1)))
    ratio = (test_len + tiny) / (ref_len + small)
    if ratio < 1:
        scores = [s * math.exp(1 - 1 / ratio) for s in scores]
    return scores


def bleu4(candidates: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    return bleu(candidates, references, 4)[3]


# -- ROUGE-L -----------------------------------------------------------------------


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l_per_image(candidates: Sequence[str], references: Sequence[Sequence[str]], beta: float = 1.2) -> list[float]:
    """ROUGE-L per image, as coco-caption's ``Rouge``.

    Note coco-caption's reading of "max over references": the best LCS
    precision and the best LCS recall are taken separately (possibly from
    different references) and then combined into one F-score with beta=1.2.
    """
    _check(candidates, references)
    scores = []
    for cand, refs in zip(candidates, references, strict=True):
        c = tokenize(cand)
        precisions, recalls = [0.0], [0.0]
        for ref in refs:
            r = tokenize(ref)
            lcs = _lcs(r, c)
            if c:
                precisions.append(lcs / len(c))
            if r:
                recalls.append(lcs / len(r))
        p, r_ = max(precisions), max(recalls)
        scores.append((1 + beta**2) * p * r_ / (r_ + beta**2 * p) if p and r_ else 0.0)
    return scores


def rouge_l(candidates: Sequence[str], references: Sequence[Sequence[str]], beta: float = 1.2) -> float:
    """Mean ROUGE-L over images."""
    scores = rouge_l_per_image(candidates, references, beta)
    return sum(scores) / len(scores) if scores else 0.0


# -- CIDEr-D -----------------------------------------------------------------------


@dataclass
class _Vec:
    """TF-IDF vector of one text, split by n-gram order, as coco-caption's ``counts2vec``."""

    weights: list[dict[Ngram, float]]
    norms: list[float]
    #: coco-caption counts *bigrams* here (its ``if n == 1`` indexes orders
    #: from 0); the length penalty only uses differences, which equal the
    #: differences in words for any text of at least two words.
    length: int


def _vectorise(counts: Counter[Ngram], doc_freq: Mapping[Ngram, int], log_n: float, n: int) -> _Vec:
    weights: list[dict[Ngram, float]] = [{} for _ in range(n)]
    norms = [0.0] * n
    length = 0
    for gram, tf in counts.items():
        order = len(gram) - 1
        # An n-gram in no reference gets df 1: idf is log(N), as in coco-caption.
        w = tf * (log_n - math.log(max(1.0, doc_freq.get(gram, 0))))
        weights[order][gram] = w
        norms[order] += w * w
        if order == 1:
            length += tf
    return _Vec(weights, [math.sqrt(x) for x in norms], length)


def _similarity(hyp: _Vec, ref: _Vec, n: int, sigma: float) -> list[float]:
    delta = hyp.length - ref.length
    penalty = math.exp(-(delta**2) / (2 * sigma**2))
    out = []
    for k in range(n):
        ref_w = ref.weights[k]
        # CIDEr-D's clipping: a candidate cannot gain by repeating an n-gram
        # more often than the reference has it.
        val = sum(min(w, ref_w.get(g, 0.0)) * ref_w.get(g, 0.0) for g, w in hyp.weights[k].items())
        if hyp.norms[k] != 0 and ref.norms[k] != 0:
            val /= hyp.norms[k] * ref.norms[k]
        out.append(val * penalty)
    return out


def cider_d_per_image(
    candidates: Sequence[str], references: Sequence[Sequence[str]], n: int = 4, sigma: float = 6.0
) -> list[float]:
    """CIDEr-D per image on coco-caption's raw scale (0-10; papers print x100).

    Document frequencies come from the references of the images evaluated
    (coco-caption's ``df="corpus"``), so the score of one image depends on
    the set it is evaluated with, and a set of one image scores 0 (log 1).
    """
    _check(candidates, references)
    ref_counts = [[_ngrams(tokenize(r), n) for r in refs] for refs in references]
    doc_freq: Counter[Ngram] = Counter()
    for refs in ref_counts:
        doc_freq.update(set().union(*(c.keys() for c in refs)))
    log_n = math.log(float(len(references))) if references else 0.0
    scores = []
    for cand, refs in zip(candidates, ref_counts, strict=True):
        hyp = _vectorise(_ngrams(tokenize(cand), n), doc_freq, log_n, n)
        total = [0.0] * n
        for counts in refs:
            sim = _similarity(hyp, _vectorise(counts, doc_freq, log_n, n), n, sigma)
            total = [a + b for a, b in zip(total, sim, strict=True)]
        scores.append(sum(total) / n / len(refs) * 10.0)
    return scores


def cider_d(candidates: Sequence[str], references: Sequence[Sequence[str]], n: int = 4, sigma: float = 6.0) -> float:
    """Mean CIDEr-D over images, raw scale (multiply by 100 for the usual "CIDEr-D 40")."""
    scores = cider_d_per_image(candidates, references, n, sigma)
    return sum(scores) / len(scores) if scores else 0.0


# -- noun precision -----------------------------------------------------------------


@dataclass
class NounPrecision:
    """How many object nouns in the captions are backed by the image's labels.

    ``precision`` is the mean over captions that mention at least one object
    noun of (correct nouns / nouns); ``micro_precision`` pools all nouns.
    Each concept counts once per caption ("a man and a woman" is one person).
    """

    precision: float
    micro_precision: float
    nouns: int
    correct: int
    captions_with_nouns: int
    captions_without_nouns: int
    #: Per caption, the nouns judged hallucinated (as written), in order.
    hallucinated: list[list[str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        # With no object noun at all the precision is undefined, not 0.
        defined = self.nouns > 0
        return {
            "precision": round(self.precision, 4) if defined else None,
            "micro_precision": round(self.micro_precision, 4) if defined else None,
            "nouns": self.nouns,
            "correct": self.correct,
            "captions_with_nouns": self.captions_with_nouns,
            "captions_without_nouns": self.captions_without_nouns,
        }


def _unique_concepts(mentions: list[NounMention]) -> list[NounMention]:
    seen: dict[str, NounMention] = {}
    for m in mentions:
        seen.setdefault(m.concept, m)
    return list(seen.values())


def noun_precision(
    candidates: Sequence[str],
    references: Sequence[Sequence[str]],
    objects: Sequence[Mapping[str, int] | None],
) -> NounPrecision:
    """Share of a caption's object nouns that the image's labels support.

    A noun is correct when its concept is one of the image's COCO ``objects``
    (with a count above 0), or when the references mention the same concept
    (as CHAIR does: "puppy" is supported by a reference saying "dog"), or
    when the word itself, singular or plural, occurs in a reference.
    """
    _check(candidates, references)
    if len(objects) != len(candidates):
        raise ValueError(f"{len(candidates)} candidates but {len(objects)} object maps")
    per_caption: list[float] = []
    nouns = correct = without = 0
    hallucinated: list[list[str]] = []
    for cand, refs, objs in zip(candidates, references, objects, strict=True):
        ref_tokens = [tokenize(r) for r in refs]
        supported = {name for name, count in (objs or {}).items() if count and name in COCO_CATEGORIES}
        supported |= {m.concept for tokens in ref_tokens for m in object_nouns(tokens)}
        ref_grams = ngram_set(ref_tokens)
        mentions = _unique_concepts(object_nouns(cand))
        wrong = [m.text for m in mentions if m.concept not in supported and not (m.forms & ref_grams)]
        hallucinated.append(wrong)
        if not mentions:
            without += 1
            continue
        ok = len(mentions) - len(wrong)
        nouns += len(mentions)
        correct += ok
        per_caption.append(ok / len(mentions))
    return NounPrecision(
        precision=sum(per_caption) / len(per_caption) if per_caption else 0.0,
        micro_precision=correct / nouns if nouns else 0.0,
        nouns=nouns,
        correct=correct,
        captions_with_nouns=len(per_caption),
        captions_without_nouns=without,
        hallucinated=hallucinated,
    )
