from __future__ import annotations

import pyarrow as pa
import pytest

from datamill import ConfigError, SchemaError
from datamill.ops.columns import Rename, Select
from datamill.ops.concat import Concat
from datamill.testing import make_batch, run_step


def test_select_keeps_id_first_and_the_named_columns() -> None:
    result = run_step(Select(columns=["b"]), [make_batch(a=[1], b=["x"])])

    assert result.output.column_names == ["id", "b"]


def test_select_names_a_missing_column() -> None:
    with pytest.raises(SchemaError, match=r"`columns` names 'zz'.*it has id, a"):
        run_step(Select(columns=["zz"]), [make_batch(a=[1])])


def test_rename_renames_and_refuses_to_touch_id() -> None:
    result = run_step(Rename(columns={"a": "alpha"}), [make_batch(a=[1])])
    assert result.output.column_names == ["id", "alpha"]

    with pytest.raises(ConfigError, match="`id` column cannot be renamed"):
        Rename(columns={"id": "key"})


def test_concat_widens_types_fills_missing_columns_and_prefixes_ids() -> None:
    left = pa.record_batch({"id": ["1"], "n": pa.array([1], pa.int32())})
    right = pa.record_batch({"id": ["1"], "n": pa.array([2], pa.int64()), "extra": ["e"]})

    result = run_step(Concat(id_prefixes=["l:", "r:"]), partitions=[[left], [right]])

    assert result.output.schema.field("n").type == pa.int64()
    assert result.output["extra"].to_pylist() == [None, "e"]
    assert result.output["id"].to_pylist() == ["l:1", "r:1"]
