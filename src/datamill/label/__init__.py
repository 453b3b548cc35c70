"""Labels from many sources: labelling functions, the label matrix, agreement and aggregation,
label standardisation, label errors and slices.

A labelling function and a human rater are the same thing here: a *source* that votes a class
on an item or abstains. One :class:`LabelMatrix` holds the votes of either, so the same
agreement statistics (Cohen's and Fleiss' kappa, Krippendorff's alpha, human-level
performance), the same LF analysis and the same aggregation (majority vote, weighted vote,
Dawid–Skene, the label model) serve both. Labelling functions (``labeling_function``,
``KeywordLF`` …) run as the ``label.apply`` step or through ``apply_lfs``.
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
from datamill.label.analysis import lf_correlations, lf_report, lf_summary
from datamill.label.apply import LFSet, apply_lfs, load_lfs, votes_matrix
from datamill.label.errors import LabelErrors, LabelErrorsStep, find_label_errors, issue_precision_recall
from datamill.label.label_model import LabelModel, LabelModelResult, VoteCounts, label_model
from datamill.label.lf import (
    ColumnLF,
    ExprLF,
    KeywordLF,
    LabelingFunction,
    LengthLF,
    LFVotes,
    ModelLF,
    PythonLF,
    Record,
    RegexLF,
    SimilarityLF,
    UrlLF,
    labeling_function,
)
from datamill.label.matrix import ABSTAIN, LabelMatrix, as_label_matrix
from datamill.label.simulate import simulate_raters
from datamill.label.slicing import (
    KeywordSlice,
    LabelSlices,
    PythonSlice,
    RangeSlice,
    RegexSlice,
    SliceErrorWarning,
    SliceExpr,
    SliceMasks,
    SliceSet,
    SlicingFunction,
    ValueSlice,
    apply_slices,
    load_slices,
    slice_summary,
    slice_table,
    slicing_function,
)
from datamill.label.standardize import (
    LabelClass,
    LabelSchema,
    LabelStandardize,
    Normalise,
    Rewrite,
    label_changes,
    standardize_labels,
)

__all__ = [
    "ABSTAIN",
    "AccuracyEstimate",
    "Aggregation",
    "ColumnLF",
    "DawidSkeneResult",
    "ExprLF",
    "KappaWeights",
    "KeywordLF",
    "KeywordSlice",
    "LFSet",
    "LFVotes",
    "LabelClass",
    "LabelErrors",
    "LabelErrorsStep",
    "LabelMatrix",
    "LabelModel",
    "LabelModelResult",
    "LabelSchema",
    "LabelSlices",
    "LabelStandardize",
    "LabelingFunction",
    "LengthLF",
    "Level",
    "ModelLF",
    "Normalise",
    "PythonLF",
    "PythonSlice",
    "RangeSlice",
    "Record",
    "RegexLF",
    "RegexSlice",
    "Rewrite",
    "SimilarityLF",
    "SliceErrorWarning",
    "SliceExpr",
    "SliceMasks",
    "SliceSet",
    "SlicingFunction",
    "TieBreak",
    "UrlLF",
    "ValueSlice",
    "VoteCounts",
    "apply_lfs",
    "apply_slices",
    "as_label_matrix",
    "cohen_kappa",
    "dawid_skene",
    "find_label_errors",
    "fleiss_kappa",
    "fleiss_kappa_from_counts",
    "human_level_performance",
    "issue_precision_recall",
    "krippendorff_alpha",
    "label_changes",
    "label_model",
    "labeling_function",
    "lf_correlations",
    "lf_report",
    "lf_summary",
    "load_lfs",
    "load_slices",
    "majority_vote",
    "pairwise_cohen_kappa",
    "percent_agreement",
    "rater_accuracy",
    "rater_pair_confusions",
    "simulate_raters",
    "slice_summary",
    "slice_table",
    "slicing_function",
    "standardize_labels",
    "votes_matrix",
]
