from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill import ConfigError
from datamill.ops.sample import Sample
from datamill.testing import make_batch, run_step


def _batches(n: int, size: int) -> list:
    return [make_batch(id=[str(i) for i in range(s, min(s + size, n))], x=list(range(s, min(s + size, n))))
            for s in range(0, n, size)]


def test_sample_n_is_exact_and_the_same_however_the_input_is_split() -> None:
    one = run_step(Sample(n=25, seed=3), partitions=[_batches(200, 200)])
    many = run_step(Sample(n=25, seed=3), partitions=[[b] for b in _batches(200, 17)])

    assert one.output.num_rows == 25
    assert sorted(one.output["id"].to_pylist()) == sorted(many.output["id"].to_pylist())
    assert one.ledger.dropped == {"not_sampled": 175} and many.ledger.balanced


def test_sample_keeps_everything_when_asked_for_more_rows_than_exist() -> None:
    result = run_step(Sample(n=500), partitions=[_batches(40, 10)])

    assert result.output.num_rows == 40


def test_sample_needs_exactly_one_of_n_and_fraction() -> None:
    with pytest.raises(ConfigError, match="exactly one of `n` or `fraction`"):
        Sample(n=3, fraction=0.5)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 120), st.integers(0, 50), st.integers(1, 30))
def test_sample_accounts_for_every_row(rows: int, n: int, size: int) -> None:
    result = run_step(Sample(n=n), partitions=[[b] for b in _batches(rows, size)] or [[]])

    assert result.output.num_rows == min(n, rows)
    assert result.ledger.balanced
