"""read.jsonl: one object per line; every other line is quarantined with its reason."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from datamill.core.errors import ConfigError, NotFoundError
from datamill.ingest import JsonlReader
from datamill.testing import StepResult, run_step


def write(tmp_path: Path, lines: list[bytes], name: str = "f.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + (b"\n" if lines else b""))
    return path


def read(path: Path, **options: Any) -> StepResult:
    return run_step(JsonlReader(paths=[str(path)], **options))


def quarantined(result: StepResult) -> list[tuple[str, int | None, str]]:
    return sorted((r["reason"], r["line"], r["id"]) for r in result.quarantine.to_pylist())


def test_jsonl_reader_quarantines_broken_lines_and_lines_that_are_not_objects(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, [
        b'{"text": "a", "n": 1}',
        b'{"text": "b", "n": ',
        b'[1, 2, 3]',
        b'"just a string"',
        b'{"text": "c", "n": 3}',
        b'{"text": "d"} trailing',
        b"null",
    ])

    result = read(path)

    assert result.output["text"].to_pylist() == ["a", "c"]
    assert result.output["id"].to_pylist() == ["f.jsonl:1", "f.jsonl:5"]
    assert result.ledger.quarantined == {"malformed_json": 2, "not_an_object": 3}
    assert quarantined(result) == [
        ("malformed_json", 2, "f.jsonl:2"),
        ("malformed_json", 6, "f.jsonl:6"),
        ("not_an_object", 3, "f.jsonl:3"),
        ("not_an_object", 4, "f.jsonl:4"),
        ("not_an_object", 7, "f.jsonl:7"),
    ]
    errors = dict(zip(result.quarantine["line"].to_pylist(),
                      result.quarantine["error"].to_pylist(), strict=True))
    assert errors[2].startswith("Expecting value: line 1 column 20")
    assert errors[3] == "expected a JSON object, got an array"
    assert errors[7] == "expected a JSON object, got null"


def test_jsonl_reader_quarantines_invalid_utf8_and_lone_surrogates(tmp_path: Path) -> None:
    path = write(tmp_path, [
        b'{"text": "ok"}',
        b'{"text": "bad \xff\xfe"}',
        b'{"text": "\\ud800 alone"}',
        b'{"\\udfff": 1}',
        b'{"text": "fine \xc3\xa9"}',
    ])

    result = read(path)

    assert result.output["text"].to_pylist() == ["ok", "fine é"]
    assert result.ledger.quarantined == {"undecodable": 3}
    assert quarantined(result) == [
        ("undecodable", 2, "f.jsonl:2"),
        ("undecodable", 3, "f.jsonl:3"),
        ("undecodable", 4, "f.jsonl:4"),
    ]
    assert result.output.column_names == ["id", "text", "source"]


def test_jsonl_reader_skips_blank_lines_without_counting_them(tmp_path: Path) -> None:
    path = write(tmp_path, [b'{"n": 1}', b"", b"   \t", b'{"n": 2}', b"\r"])

    result = read(path)

    assert result.output["id"].to_pylist() == ["f.jsonl:1", "f.jsonl:4"]
    assert result.ledger.rows_in == 2


def test_jsonl_reader_reads_nothing_from_an_empty_file(tmp_path: Path) -> None:
    result = read(write(tmp_path, []))

    assert result.output.num_rows == 0
    assert result.ledger.rows_in == 0
    assert result.quarantine.num_rows == 0


def test_jsonl_reader_reads_a_50_mb_line(tmp_path: Path) -> None:
    big = json.dumps({"text": "y" * 50_000_000}).encode()
    path = write(tmp_path, [b'{"text": "small"}', big, b'{"text": "after"}'])

    started = time.perf_counter()
    result = read(path)
    seconds = time.perf_counter() - started

    assert result.output["id"].to_pylist() == ["f.jsonl:1", "f.jsonl:2", "f.jsonl:3"]
    assert len(result.output["text"][1].as_py()) == 50_000_000
    assert seconds < 10


def test_jsonl_reader_quarantines_a_line_over_max_line_bytes(tmp_path: Path) -> None:
    long = json.dumps({"text": "y" * 5_000}).encode()
    path = write(tmp_path, [b'{"n": 1}', long, b'{"n": 3}', long])

    result = read(path, max_line_bytes=1_000)

    assert result.output["id"].to_pylist() == ["f.jsonl:1", "f.jsonl:3"]
    assert quarantined(result) == [("line_too_long", 2, "f.jsonl:2"),
                                   ("line_too_long", 4, "f.jsonl:4")]
    assert result.ledger.quarantined == {"line_too_long": 2}


def test_jsonl_reader_keeps_one_schema_when_types_conflict(tmp_path: Path) -> None:
    path = write(tmp_path, [
        b'{"n": 1, "x": 1, "flag": true, "tags": ["a"]}',
        b'{"n": "two", "x": 2.5, "flag": false, "tags": null}',
        b'{"n": null, "x": 3, "meta": {"k": 1}}',
        b'{"late": "first seen on the last line"}',
    ])

    result = read(path, batch_rows=1)

    schema = result.output.schema
    assert schema.names == ["id", "n", "x", "flag", "tags", "meta", "late", "source"]
    assert schema.field("n").type == pa.string()
    assert schema.field("x").type == pa.float64()
    assert schema.field("flag").type == pa.bool_()
    assert result.output["n"].to_pylist() == ["1", "two", None, None]
    assert result.output["tags"].to_pylist() == ['["a"]', None, None, None]
    assert result.output["meta"].to_pylist() == [None, None, '{"k": 1}', None]
    assert result.output["late"].to_pylist()[-1] == "first seen on the last line"
    assert result.metrics == {"json_text_columns": 3.0}
    assert result.quarantine.num_rows == 0


def test_jsonl_reader_maps_fields_by_key_path(tmp_path: Path) -> None:
    path = write(tmp_path, [
        b'{"meta": {"title": "A", "year": 2001}, "body": "x"}',
        b'{"meta": {"title": "B"}, "body": "y"}',
        b'{"meta": "not an object"}',
    ])

    result = read(path, fields={"title": "meta.title", "year": "meta.year", "text": "body"})

    assert result.output.select(["title", "year", "text"]).to_pylist() == [
        {"title": "A", "year": 2001, "text": "x"},
        {"title": "B", "year": None, "text": "y"},
        {"title": None, "year": None, "text": None},
    ]


def test_jsonl_reader_uses_id_column_and_quarantines_missing_ids(tmp_path: Path) -> None:
    path = write(tmp_path, [
        b'{"uid": "a1", "text": "x"}',
        b'{"uid": null, "text": "y"}',
        b'{"text": "z"}',
        b'{"uid": 7, "text": "w"}',
        b'{"uid": "", "text": "v"}',
    ])

    result = read(path, id_column="uid")

    assert result.output.column_names == ["id", "text", "source"]
    assert result.output["id"].to_pylist() == ["a1", "7"]
    assert result.ledger.quarantined == {"missing_id": 3}
    assert quarantined(result) == [("missing_id", 2, None), ("missing_id", 3, None),
                                   ("missing_id", 5, None)]


def test_jsonl_reader_quarantines_keys_beyond_max_columns(tmp_path: Path) -> None:
    path = write(tmp_path, [b'{"a": 1, "b": 2}', b'{"a": 3, "c": 4}', b'{"b": 5}'])

    result = read(path, max_columns=2)

    assert result.output.column_names == ["id", "a", "b", "source"]
    assert result.output["id"].to_pylist() == ["f.jsonl:1", "f.jsonl:3"]
    assert quarantined(result) == [("too_many_columns", 2, "f.jsonl:2")]


def test_jsonl_reader_streams_big_files_in_batches(tmp_path: Path) -> None:
    lines = [json.dumps({"n": i, "v": i if i < 150 else f"s{i}"}).encode() for i in range(300)]
    lines.insert(100, b"{broken")
    path = write(tmp_path, lines)

    result = read(path, batch_rows=64)

    assert result.output.num_rows == 300
    assert result.output.schema.field("v").type == pa.string()
    assert result.output["id"].to_pylist()[99:102] == ["f.jsonl:100", "f.jsonl:102",
                                                       "f.jsonl:103"]
    assert result.ledger.quarantined == {"malformed_json": 1}


def test_jsonl_reader_reads_gzip_and_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl.gz"
    path.write_bytes(gzip.compress(b'\xef\xbb\xbf{"n": 1}\n{"n": 2}\n'))

    result = read(path)

    assert result.output["n"].to_pylist() == [1, 2]
    assert result.output["id"].to_pylist() == ["f.jsonl.gz:1", "f.jsonl.gz:2"]


def test_jsonl_reader_quarantines_json_nested_too_deep(tmp_path: Path) -> None:
    path = write(tmp_path, [b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b'{"a": 1}'])

    result = read(path)

    assert result.output["id"].to_pylist() == ["f.jsonl:2"]
    assert result.ledger.quarantined == {"malformed_json": 1}


def test_jsonl_reader_rejects_a_bad_option_value() -> None:
    with pytest.raises(ConfigError, match=r"`max_line_bytes`.*greater than or equal to 1.*got 0"):
        JsonlReader(paths="a.jsonl", max_line_bytes=0)
    with pytest.raises(ConfigError, match=r"`fields.title`.*valid string"):
        JsonlReader(paths="a.jsonl", fields={"title": 3})


def test_jsonl_reader_raises_not_found_for_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"missing\.jsonl' does not exist"):
        JsonlReader(paths=str(tmp_path / "missing.jsonl")).partitions()


def test_jsonl_reader_reads_a_json_array_file_as_records(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"id": "a", "n": 1}, {"id": "b", "n": 2}, [3], {"id": "c", "n": 3}], indent=2))

    result = run_step(JsonlReader(paths=[str(path)]))

    assert result.output["id"].to_pylist() == ["a", "b", "c"]
    assert result.ledger.quarantined == {"not_an_object": 1} and result.ledger.balanced
    assert result.quarantine["line"].to_pylist() == [3]  # the record's position in the list


def test_jsonl_reader_finds_records_inside_one_document_and_caps_its_size(tmp_path: Path) -> None:
    path = tmp_path / "api.json"
    path.write_text(json.dumps({"meta": {"page": 1}, "data": {"items": [{"text": "x"}, {"text": "y"}]}}))

    found = run_step(JsonlReader(paths=[str(path)], records="data.items"))
    missing = run_step(JsonlReader(paths=[str(path)], records="data.nope"))
    capped = run_step(JsonlReader(paths=[str(path)], records="data.items", max_document_bytes=10))

    assert found.output["text"].to_pylist() == ["x", "y"] and found.output["id"].to_pylist() == [
        "api.json:1", "api.json:2"]
    assert missing.ledger.quarantined == {"missing_records": 1} and missing.ledger.balanced
    assert capped.ledger.quarantined == {"too_large": 1}
    assert "JSON lines" in capped.quarantine["error"][0].as_py()
