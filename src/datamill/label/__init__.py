"""Labels from many sources: the label matrix, agreement statistics, and vote aggregation.

A labelling function and a human rater are the same thing here: a *source* that votes a class
on an item or abstains. One :class:`LabelMatrix` holds the votes of either, so the same
agreement statistics (Cohen's and Fleiss' kappa, Krippendorff's alpha, human-level
performance) and the same aggregation (majority vote, weighted vote, Dawid–Skene) serve both.
See ``docs/labelling.md``.

>>> from datamill.label import LabelMatrix, dawid_skene
>>> votes = LabelMatrix.from_dense([[0, 0, 1], [1, 1, -1], [-1, -1, -1]])
>>> dawid_skene(votes).labels.tolist()
[0, 1, -1]
"""

from datamill.label.aggregate import Aggregation, DawidSkeneResult, TieBreak, dawid_skene, majority_vote
from datamill.label.agreement import (
    AccuracyEstimate,
    KappaWeights,
    Level,
    cohen_kappa,
    fleiss_kappa,
    fleiss_kappa_from_counts,
    human_level_performance,
    krippendorff_alpha,
    pairwise_cohen_kappa,
    percent_agreement,
    rater_accuracy,
    rater_pair_confusions,
)
from datamill.label.matrix import ABSTAIN, LabelMatrix, as_label_matrix
from datamill.label.simulate import simulate_raters

__all__ = [
    "ABSTAIN",
    "AccuracyEstimate",
    "Aggregation",
    "DawidSkeneResult",
    "KappaWeights",
    "LabelMatrix",
    "Level",
    "TieBreak",
    "as_label_matrix",
    "cohen_kappa",
    "dawid_skene",
    "fleiss_kappa",
    "fleiss_kappa_from_counts",
    "human_level_performance",
    "krippendorff_alpha",
    "majority_vote",
    "pairwise_cohen_kappa",
    "percent_agreement",
    "rater_accuracy",
    "rater_pair_confusions",
    "simulate_raters",
]
