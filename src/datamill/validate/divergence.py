"""The distances and tests that `datamill.validate.drift` decides with, on numpy arrays.

Numeric measures take the two samples *sorted* (NaN, nulls and infinities removed): the
Kolmogorov–Smirnov statistic and the Wasserstein distance both come from the two empirical CDFs
evaluated at every value of the pooled sample, the exact computation `scipy.stats.ks_2samp` and
`scipy.stats.wasserstein_distance` do, done once for both. Categorical measures take two
aligned count vectors (one entry per category).

>>> import numpy as np
>>> a, b = np.sort(np.array([1.0, 2.0, 3.0])), np.sort(np.array([2.0, 3.0, 4.0]))
>>> m = numeric_measures(a, b)
>>> round(m["ks"], 4), round(m["wasserstein_raw"], 4)
(0.3333, 1.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats  # type: ignore[import-untyped]
from scipy.spatial import distance  # type: ignore[import-untyped]

__all__ = [
    "OTHER",
    "categorical_measures",
    "ks_pvalue",
    "numeric_measures",
    "pool_rare",
    "psi",
    "size_corrected_js",
    "z_test",
]

#: The category that rare categories are pooled into.
OTHER = "(other)"
# Shares of zero get this much before a logarithm (Evidently's `feel_zeroes` floor, so PSI agrees).
_FLOOR = 1e-4
# scipy's ks_2samp switches from the exact distribution to Smirnov's asymptotic one above this size.
_KS_EXACT_MAX_N = 10_000


def ks_pvalue(statistic: float, ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    """Two-sided p-value of a two-sample KS statistic, as `scipy.stats.ks_2samp` (``method="auto"``)
    computes it: exact up to 10,000 values a side, else ``kstwo.sf(D, round(n·m/(n+m)))``.

    >>> ks_pvalue(0.0, np.arange(20_000.0), np.arange(20_000.0))
    1.0
    """
    n1, n2 = len(ref_sorted), len(cur_sorted)
    if max(n1, n2) <= _KS_EXACT_MAX_N:
        return float(stats.ks_2samp(ref_sorted, cur_sorted).pvalue)
    m, n = sorted([float(n1), float(n2)], reverse=True)
    return float(np.clip(stats.kstwo.sf(statistic, np.round(m * n / (m + n))), 0.0, 1.0))


def psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    """Population stability index ``Σ (c − r)·ln(c / r)``, zero shares floored at 1e-4.

    >>> round(psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])), 6)
    0.274653
    """
    r = np.where(ref_share == 0, _FLOOR, ref_share)
    c = np.where(cur_share == 0, _FLOOR, cur_share)
    return float(np.sum((c - r) * np.log(c / r)))


def _js(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon *distance* (the square root of the divergence, natural log), as scipy and
    Evidently compute it; 0 for two empty vectors."""
    if p.sum() == 0 or q.sum() == 0:
        return 0.0
    value = float(distance.jensenshannon(p, q))
    return 0.0 if math.isnan(value) else value


def numeric_measures(ref_sorted: np.ndarray, cur_sorted: np.ndarray, *, psi_bins: int = 10,
                     chart_bins: int = 20) -> dict[str, Any]:
    """Every numeric measure of two sorted, finite, non-empty samples.

    Returns ``ks`` (exact statistic), ``ks_p``, ``wasserstein`` (normalised by the reference's
    population std, floored at 0.001, as Evidently does) and ``wasserstein_raw``, ``psi`` (deciles
    of the reference), ``jensen_shannon`` (on Sturges bins over the pooled range, as Evidently
    bins numbers), ``distinct`` (pooled distinct values) and a ``chart`` (``chart_bins`` equal bins
    between the pooled 0.5% and 99.5% quantiles; the two end bins also hold the tails).
    """
    n1, n2 = len(ref_sorted), len(cur_sorted)
    pooled = np.sort(np.concatenate([ref_sorted, cur_sorted]))
    cdf_diff = np.searchsorted(ref_sorted, pooled, side="right") / n1
    cdf_diff -= np.searchsorted(cur_sorted, pooled, side="right") / n2
    # ks_2samp's statistic: the larger of max(F1 − F2) and max(F2 − F1), the latter clipped at 0.
    ks = float(max(np.clip(-cdf_diff.min(), 0, 1), cdf_diff.max()))
    steps = np.diff(pooled)
    wasserstein_raw = float(np.dot(np.abs(cdf_diff[:-1]), steps))
    del cdf_diff, steps
    distinct = int(np.count_nonzero(pooled[1:] != pooled[:-1]) + 1)
    low, high = float(pooled[0]), float(pooled[-1])
    lo_q, hi_q = (float(v) for v in pooled[[int(0.005 * (len(pooled) - 1)), int(0.995 * (len(pooled) - 1))]])
    del pooled
    std = float(np.std(ref_sorted))

    deciles = np.unique(np.quantile(ref_sorted, np.linspace(0, 1, psi_bins + 1)[1:-1]))
    ref_psi, cur_psi = _bin_shares(ref_sorted, deciles), _bin_shares(cur_sorted, deciles)
    # Sturges' rule on the pooled size, as np.histogram_bin_edges(..., "sturges") over the pooled range.
    sturges = int(np.ceil(np.log2(n1 + n2) + 1)) if high > low else 1
    edges = np.linspace(low, high, sturges + 1)[1:-1]
    js = _js(_bin_shares(ref_sorted, edges), _bin_shares(cur_sorted, edges))

    if hi_q <= lo_q:
        lo_q, hi_q = low, high if high > low else low + 1.0
    chart_edges = np.linspace(lo_q, hi_q, chart_bins + 1)
    return {
        "ks": ks, "ks_p": ks_pvalue(ks, ref_sorted, cur_sorted),
        "wasserstein": wasserstein_raw / max(std, 0.001), "wasserstein_raw": wasserstein_raw,
        "psi": psi(ref_psi, cur_psi), "jensen_shannon": js, "distinct": distinct,
        "reference_mean": float(ref_sorted.mean()), "current_mean": float(cur_sorted.mean()),
        "reference_std": std, "current_std": float(np.std(cur_sorted)),
        "chart": {"type": "numeric", "edges": chart_edges.tolist(),
                  "reference": _bin_counts(ref_sorted, chart_edges[1:-1]).tolist(),
                  "current": _bin_counts(cur_sorted, chart_edges[1:-1]).tolist()},
    }


def _bin_counts(values_sorted: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Counts of a sorted sample in the bins cut at ``inner_edges``; the outer bins are open, and
    a value equal to an edge counts in the bin to its right (np.histogram's convention)."""
    cuts = np.searchsorted(values_sorted, inner_edges, side="left")
    return np.diff(np.concatenate([[0], cuts, [len(values_sorted)]]))


def _bin_shares(values_sorted: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    return _bin_counts(values_sorted, inner_edges) / max(len(values_sorted), 1)


def pool_rare(ref_counts: np.ndarray, cur_counts: np.ndarray, min_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Pool the categories seen fewer than ``min_count`` times on both sides together into one
    "(other)" cell (kept last); categories seen on neither side are dropped.

    >>> pool_rare(np.array([50, 3, 2, 0]), np.array([40, 1, 4, 0]), 10)
    (array([50,  5]), array([40,  5]))
    """
    total = ref_counts + cur_counts
    keep = total >= min_count
    rare = (~keep) & (total > 0)
    if not rare.any():
        return ref_counts[keep], cur_counts[keep]
    return (np.append(ref_counts[keep], ref_counts[rare].sum()),
            np.append(cur_counts[keep], cur_counts[rare].sum()))


def size_corrected_js(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen–Shannon distance with the part that sampling alone produces taken out.

    Two samples of one distribution over ``K`` categories, of sizes ``n₁`` and ``n₂``, have a
    JS divergence of about ``(K − 1)·(1/n₁ + 1/n₂)/8`` (second-order expansion: the divergence is
    χ²/8 in share units, and χ² has ``K − 1`` degrees of freedom). That floor is subtracted
    from the divergence before the square root, so a random split of a column with 100k
    categories and 5 rows each measures ~0, not 0.23, while a real change keeps its size.

    >>> round(size_corrected_js(np.array([500, 500]), np.array([500, 500])), 6)
    0.0
    >>> round(size_corrected_js(np.array([900, 100]), np.array([100, 900])), 3)
    0.606
    """
    n1, n2 = float(ref_counts.sum()), float(cur_counts.sum())
    if n1 == 0 or n2 == 0:
        return 0.0
    k = int(np.count_nonzero(ref_counts + cur_counts))
    divergence = _js(ref_counts / n1, cur_counts / n2) ** 2
    return math.sqrt(max(0.0, divergence - (k - 1) * (1 / n1 + 1 / n2) / 8))


def categorical_measures(ref_counts: np.ndarray, cur_counts: np.ndarray, *, min_count: int = 10) -> dict[str, float]:
    """Every categorical measure of two aligned count vectors.

    ``jensen_shannon`` is size-corrected (`size_corrected_js`) after pooling categories seen
    fewer than ``min_count`` times in both samples together into one cell (`pool_rare`), and
    ``jensen_shannon_raw`` is the plain distance on every category (what Evidently reports);
    ``linf`` is the L∞ distance of the share vectors (TFDV's); ``chi2``/``chi2_p`` the
    chi-squared test of homogeneity on the pooled 2×K table; ``psi`` on the pooled shares.

    >>> m = categorical_measures(np.array([50, 50]), np.array([50, 50]))
    >>> m["linf"], m["jensen_shannon"], m["chi2_p"]
    (0.0, 0.0, 1.0)
    """
    n1, n2 = float(ref_counts.sum()), float(cur_counts.sum())
    raw = _js(ref_counts / n1, cur_counts / n2)
    linf = float(np.max(np.abs(ref_counts / n1 - cur_counts / n2))) if len(ref_counts) else 0.0
    ref_pooled, cur_pooled = pool_rare(ref_counts, cur_counts, min_count)
    chi2, chi2_p = 0.0, 1.0
    if len(ref_pooled) > 1:
        # Homogeneity χ² by hand: scipy's chi2_contingency materialises the 2×K expected table too,
        # but refuses a column of zeros, which pooling cannot always rule out.
        total = ref_pooled + cur_pooled
        expected_ref, expected_cur = total * n1 / (n1 + n2), total * n2 / (n1 + n2)
        chi2 = float(np.sum((ref_pooled - expected_ref) ** 2 / expected_ref)
                     + np.sum((cur_pooled - expected_cur) ** 2 / expected_cur))
        chi2_p = float(stats.chi2.sf(chi2, len(ref_pooled) - 1))
    return {
        "jensen_shannon": size_corrected_js(ref_pooled, cur_pooled), "jensen_shannon_raw": raw,
        "linf": linf, "chi2": chi2, "chi2_p": chi2_p, "psi": psi(ref_pooled / n1, cur_pooled / n2),
        "categories": float(len(ref_counts)), "pooled_categories": float(len(ref_pooled)),
    }


def z_test(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Two-proportion z-test on the share of the first category (Evidently's test for two values).

    >>> z_test(np.array([50, 50]), np.array([50, 50]))
    (0.0, 1.0)
    """
    n1, n2 = float(ref_counts.sum()), float(cur_counts.sum())
    p1, p2 = ref_counts[0] / n1, cur_counts[0] / n2
    pooled = (ref_counts[0] + cur_counts[0]) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = float((p1 - p2) / se)
    return z, float(2 * stats.norm.sf(abs(z)))
