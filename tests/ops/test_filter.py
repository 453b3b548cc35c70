from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamill import ConfigError
from datamill.ops.filter import FilterExpr
from datamill.testing import make_batch, run_step


def test_filter_expr_drops_false_and_null_rows_with_a_reason() -> None:
    batch = make_batch(n=[1, 5, None, 9])

    result = run_step(FilterExpr(expr="pl.col('n') > 2", reason="too_small"), [batch])

    assert result.output["n"].to_pylist() == [5, 9]
    assert result.ledger.dropped == {"too_small": 2}
    assert result.ledger.balanced


def test_filter_expr_rejects_text_that_is_not_an_expression() -> None:
    with pytest.raises(ConfigError, match=r"step 'filter.expr': `expr` .*not a polars expression"):
        FilterExpr(expr="1 + 1")
    with pytest.raises(ConfigError, match=r"`expr` .*cannot evaluate"):
        FilterExpr(expr="pl.col('n' >")


def test_filter_expr_keeps_an_empty_batch_empty() -> None:
    batch = pa.record_batch({"id": pa.array([], pa.string()), "n": pa.array([], pa.int64())})

    result = run_step(FilterExpr(expr="pl.col('n') > 2"), [batch])

    assert result.output.num_rows == 0 and result.ledger.balanced


@given(st.lists(st.one_of(st.none(), st.integers(-100, 100)), max_size=60))
def test_filter_expr_accounts_for_every_row(values: list[int | None]) -> None:
    batch = pa.record_batch({"id": [str(i) for i in range(len(values))],
                             "n": pa.array(values, pa.int64())})

    result = run_step(FilterExpr(expr="pl.col('n') >= 0"), [batch])

    assert result.ledger.rows_in == len(values)
    assert result.output.num_rows == sum(1 for v in values if v is not None and v >= 0)
    assert result.ledger.balanced
