"""read.parquet: row-group partitions, ids from the row index in the file, bad files quarantined."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datamill.core.errors import ConfigError, NotFoundError, SchemaError
from datamill.ingest import ParquetReader
from datamill.testing import StepResult, run_step


def write(tmp_path: Path, table: pa.Table, name: str = "f.parquet", **options: Any) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, **options)
    return path


def read(*paths: Path, **options: Any) -> StepResult:
    return run_step(ParquetReader(paths=[str(p) for p in paths], **options))


def test_parquet_reader_splits_a_file_by_row_groups_with_global_row_ids(tmp_path: Path) -> None:
    table = pa.table({"n": list(range(100)), "text": [f"t{i}" for i in range(100)]})
    path = write(tmp_path, table, row_group_size=10)

    step = ParquetReader(paths=str(path), partition_rows=25, batch_rows=7)
    pieces = step.partitions()
    result = run_step(step)

    assert [p["row_groups"] for p in pieces] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert {p["path"] for p in pieces} == {str(path)}
    assert result.output["id"].to_pylist() == [f"f.parquet:{i}" for i in range(100)]
    assert result.output["n"].to_pylist() == list(range(100))
    assert result.output.column_names == ["id", "n", "text", "source"]
    assert result.ledger.rows_in == result.ledger.rows_out == 100


def test_parquet_reader_keeps_a_big_row_group_whole(tmp_path: Path) -> None:
    path = write(tmp_path, pa.table({"n": list(range(30))}), row_group_size=20)

    pieces = ParquetReader(paths=str(path), partition_rows=5).partitions()

    assert [p["row_groups"] for p in pieces] == [[0], [1]]


def test_parquet_reader_quarantines_a_corrupt_file_and_reads_on(tmp_path: Path) -> None:
    good = write(tmp_path, pa.table({"n": [1, 2, 3]}), name="good.parquet")
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(good.read_bytes()[:-20])
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"this is not parquet at all")

    result = read(tmp_path)

    assert result.output["id"].to_pylist() == ["good.parquet:0", "good.parquet:1", "good.parquet:2"]
    assert result.ledger.quarantined == {"unreadable_file": 2}
    rows = sorted(result.quarantine.to_pylist(), key=lambda r: r["id"])
    assert [(r["id"], r["reason"], r["source"]) for r in rows] == [
        ("garbage.parquet", "unreadable_file", str(garbage)),
        ("truncated.parquet", "unreadable_file", str(truncated)),
    ]
    assert "cannot be read as Parquet" in rows[0]["error"]


def test_parquet_reader_quarantines_a_file_with_a_corrupt_page(tmp_path: Path) -> None:
    table = pa.table({"text": [f"value number {i}" * 20 for i in range(2_000)]})
    path = write(tmp_path, table, row_group_size=500, use_dictionary=False)
    data = bytearray(path.read_bytes())
    chunk = pq.ParquetFile(path).metadata.row_group(2).column(0)
    start, size = chunk.data_page_offset, chunk.total_compressed_size
    data[start + 30 : start + size - 10] = bytes(range(256)) * ((size - 40) // 256) + bytes(
        (size - 40) % 256
    )
    path.write_bytes(bytes(data))

    result = read(path, batch_rows=100)

    assert result.output["id"].to_pylist() == [f"f.parquet:{i}" for i in range(1_000)]
    assert result.ledger.quarantined == {"unreadable_file": 1}
    error = result.quarantine["error"][0].as_py()
    assert "cannot be read as Parquet after 1,000 rows" in error


def test_parquet_reader_reads_nothing_from_an_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")

    result = read(empty)

    assert result.output.num_rows == 0
    assert result.quarantine.num_rows == 0
    assert result.metrics == {"empty_files": 1.0}


def test_parquet_reader_reads_a_file_without_rows(tmp_path: Path) -> None:
    path = write(tmp_path, pa.table({"n": pa.array([], pa.int64())}))

    result = read(path)

    assert result.output.num_rows == 0
    assert result.ledger.balanced


def test_parquet_reader_keeps_an_id_column_and_quarantines_null_ids(tmp_path: Path) -> None:
    path = write(tmp_path, pa.table({"id": [10, None, 12], "text": ["a", "b", "c"]}))

    result = read(path)

    assert result.output.schema.field("id").type == pa.string()
    assert result.output["id"].to_pylist() == ["10", "12"]
    assert result.ledger.quarantined == {"missing_id": 1}
    row = result.quarantine.to_pylist()[0]
    assert (row["reason"], row["id"]) == ("missing_id", None)
    assert '"row_index": 1' in row["row"]


def test_parquet_reader_uses_id_column_and_renames_a_clashing_id(tmp_path: Path) -> None:
    table = pa.table({"key": ["k0", "", "k2"], "id": [1, 2, 3], "text": ["a", "b", "c"]})
    path = write(tmp_path, table)

    result = read(path, id_column="key", columns=["text", "id"])

    assert result.output.column_names == ["id", "text", "id_2", "source"]
    assert result.output["id"].to_pylist() == ["k0", "k2"]
    assert result.output["id_2"].to_pylist() == [1, 3]
    assert result.ledger.quarantined == {"missing_id": 1}


def test_parquet_reader_reads_only_the_columns_asked_for(tmp_path: Path) -> None:
    path = write(tmp_path, pa.table({"a": [1], "b": [2], "c": [3]}))

    result = read(path, columns=["c", "a"], source_column=False)

    assert result.output.column_names == ["id", "c", "a"]


def test_parquet_reader_raises_schema_error_for_a_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, pa.table({"a": [1]}))

    with pytest.raises(SchemaError, match=r"has no column 'zz'; it has a"):
        read(path, columns=["zz"])


def test_parquet_reader_rejects_a_bad_option_value() -> None:
    with pytest.raises(ConfigError, match=r"`partition_rows`.*greater than or equal to 1.*got 0"):
        ParquetReader(paths="a.parquet", partition_rows=0)
    with pytest.raises(ConfigError, match=r"`paths` is required"):
        ParquetReader()


def test_parquet_reader_raises_not_found_for_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"no\.parquet' does not exist"):
        ParquetReader(paths=str(tmp_path / "no.parquet")).partitions()
