"""LSH banding: how many bands of how many rows a MinHash signature is cut into.

Two documents of Jaccard similarity ``s`` share at least one band with probability
``1 - (1 - s**rows)**bands``. Given a threshold ``t``, the banding chosen is the one that
minimises ``fp_weight * FP + fn_weight * FN``, where FP is the area under that curve below
``t`` (pairs below the threshold that become candidates) and FN the area above it that the
curve misses (pairs above it that do not), as datasketch does. When candidates are verified
afterwards, a false positive only costs a verification, so the default weights favour recall.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["candidate_probability", "optimal_bands"]

_GRID = 2001  # integration points on [0, 1]


def candidate_probability(similarity: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Probability that two documents of Jaccard ``similarity`` share a band.

    >>> round(float(candidate_probability(0.8, 9, 13)), 3)
    0.399
    """
    s = np.asarray(similarity, dtype=np.float64)
    out = 1.0 - (1.0 - s**rows) ** bands
    return float(out) if out.ndim == 0 else out


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5,
                  fn_weight: float = 0.5) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` minimising the weighted error.

    >>> optimal_bands(0.8, 128)
    (9, 13)
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be between 0 and 1 (exclusive), got {threshold}")
    if num_perm < 2:
        raise ValueError(f"num_perm must be at least 2, got {num_perm}")
    s = np.linspace(0.0, 1.0, _GRID)
    below, above = s <= threshold, s >= threshold
    best = (float("inf"), 1, 1)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            p = 1.0 - (1.0 - s**rows) ** bands
            fp = float(np.trapezoid(p[below], s[below]))
            fn = float(np.trapezoid(1.0 - p[above], s[above]))
            error = fp_weight * fp + fn_weight * fn
            if error < best[0] - 1e-12:
                best = (error, bands, rows)
    return best[1], best[2]
