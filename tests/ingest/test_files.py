"""What the readers share: choosing a reader, listing files, naming them for ids."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datamill.core.errors import ConfigError, NotFoundError
from datamill.ingest import CsvReader, JsonlReader, ParquetReader, reader_for
from datamill.pipeline import resolve_step
from datamill.testing import run_step


@pytest.mark.parametrize(
    ("path", "step"),
    [
        ("a.csv", "read.csv"),
        ("dir/b.TSV", "read.csv"),
        ("c.jsonl", "read.jsonl"),
        ("d.ndjson", "read.jsonl"),
        ("e.json", "read.jsonl"),
        ("s3://bucket/f.parquet", "read.parquet"),
        ("g.pq", "read.parquet"),
        ("h.csv.gz", "read.csv"),
    ],
)
def test_reader_for_picks_the_step_by_extension(path: str, step: str) -> None:
    assert reader_for(path) == step
    assert resolve_step(step).name == step


@pytest.mark.parametrize(
    ("path", "got"), [("notes.txt.bak", "extension '.bak'"), ("README", "no extension")]
)
def test_reader_for_rejects_an_unknown_extension(path: str, got: str) -> None:
    with pytest.raises(ConfigError, match=rf"no reader for '{path}': it has {got}; readers know"):
        reader_for(path)


def test_file_readers_list_files_in_a_stable_order_once_each(tmp_path: Path) -> None:
    for name in ("b.csv", "a.csv", "sub/c.csv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n1\n")

    step = CsvReader(paths=[str(tmp_path / "b.csv"), str(tmp_path), str(tmp_path / "*.csv")])
    pieces = step.partitions()

    assert [p["name"] for p in pieces] == ["b.csv", "a.csv", "sub/c.csv"]
    assert [p["path"] for p in pieces] == [str(tmp_path / n) for n in ("b.csv", "a.csv",
                                                                     "sub/c.csv")]


def test_file_readers_name_files_relative_to_their_common_folder(tmp_path: Path) -> None:
    for name in ("2024/01/a.jsonl", "2024/02/b.jsonl"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text('{"n": 1}\n')

    pieces = JsonlReader(paths=str(tmp_path / "2024" / "*" / "*.jsonl")).partitions()

    assert [p["name"] for p in pieces] == ["01/a.jsonl", "02/b.jsonl"]


def test_file_readers_say_when_a_folder_has_no_matching_file(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("hello")

    with pytest.raises(NotFoundError, match=r"has no file matching include=\['\*\.csv'"):
        CsvReader(paths=str(tmp_path)).partitions()


def test_file_readers_reject_an_empty_path_list() -> None:
    with pytest.raises(ConfigError, match=r"`paths` list should have at least 1 item"):
        CsvReader(paths=[])


def test_file_readers_read_fsspec_urls() -> None:
    memory = fsspec.filesystem("memory")
    root = f"/ingest-{uuid.uuid4().hex}"
    buffer = io.BytesIO()
    pq.write_table(pa.table({"n": [1, 2]}), buffer)
    memory.pipe({f"{root}/a.csv": b"n\n1\n", f"{root}/b.jsonl": b'{"n": 1}\n',
                 f"{root}/c.parquet": buffer.getvalue()})
    try:
        csv_out = run_step(CsvReader(paths=f"memory://{root}")).output
        jsonl_out = run_step(JsonlReader(paths=f"memory://{root}/*.jsonl")).output
        parquet_out = run_step(ParquetReader(paths=f"memory://{root}/c.parquet")).output
    finally:
        memory.rm(root, recursive=True)

    assert csv_out.select(["id", "source"]).to_pylist() == [
        {"id": "a.csv:2", "source": f"memory://{root}/a.csv"}]
    assert jsonl_out["id"].to_pylist() == ["b.jsonl:1"]
    assert parquet_out["id"].to_pylist() == ["c.parquet:0", "c.parquet:1"]


@pytest.mark.parametrize("size", [0, 1, 9, 10, 11, 3 << 20])
def test_read_at_most_reads_files_and_streams_up_to_the_limit(tmp_path: Path, size: int) -> None:
    from datamill.ingest._files import read_at_most

    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    for limit in (10, 2 << 20, 4 << 20):
        with path.open("rb") as handle:
            assert read_at_most(handle, limit) == data[:limit]
        assert read_at_most(io.BytesIO(data), limit) == data[:limit]  # no usable fileno


def test_read_at_most_goes_on_reading_a_file_that_grew(tmp_path: Path) -> None:
    from datamill.ingest._files import read_at_most

    path = tmp_path / "grows.txt"
    path.write_bytes(b"abc")
    with path.open("rb") as handle:
        with path.open("ab") as more:
            more.write(b"defgh")
        assert read_at_most(handle, 6) == b"abcdef"
