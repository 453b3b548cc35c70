"""Random rating matrices for the label package's property tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


@st.composite
def rating_matrices(
    draw: st.DrawFn,
    *,
    min_raters: int = 2,
    max_raters: int = 5,
    max_items: int = 25,
    max_classes: int = 5,
    missing: bool = True,
) -> tuple[np.ndarray, int]:
    """A dense ``items × raters`` int matrix (-1 = not rated, when ``missing``) and its class count."""
    k = draw(st.integers(2, max_classes))
    n = draw(st.integers(1, max_items))
    m = draw(st.integers(min_raters, max_raters))
    # fill=nothing draws every cell, instead of repeating one value over most of the array
    dense = draw(arrays(np.int64, (n, m), elements=st.integers(-1 if missing else 0, k - 1), fill=st.nothing()))
    return dense, k


def as_float(dense: np.ndarray) -> np.ndarray:
    """The NaN-for-missing float form the reference libraries read."""
    return np.where(dense < 0, np.nan, dense).astype(np.float64)
