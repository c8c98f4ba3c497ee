"""Evaluate captioning and search on a labelled folder (``picscribe eval``).

The public surface: load a folder, run the evaluations, and the metrics on
their own for anyone scoring captions from elsewhere.
"""

from .caption_memo import CaptionMemo
from .dataset import CAPTIONS_FILE, DatasetError, EvalItem, EvalSet, load_eval_set
from .metrics import NounPrecision, bleu, bleu4, cider_d, noun_precision, rouge_l, tokenize
from .runner import (
    ORACLE_SEARCHES,
    SCALE_NOTE,
    SCORE_SCALE,
    CaptionEval,
    Failure,
    OracleEval,
    RankStats,
    RetrievalEval,
    run_captions,
    run_oracle,
    run_retrieval,
)

__all__ = [
    "CAPTIONS_FILE",
    "ORACLE_SEARCHES",
    "SCALE_NOTE",
    "SCORE_SCALE",
    "CaptionEval",
    "CaptionMemo",
    "DatasetError",
    "EvalItem",
    "EvalSet",
    "Failure",
    "NounPrecision",
    "OracleEval",
    "RankStats",
    "RetrievalEval",
    "bleu",
    "bleu4",
    "cider_d",
    "load_eval_set",
    "noun_precision",
    "rouge_l",
    "run_captions",
    "run_oracle",
    "run_retrieval",
    "tokenize",
]
