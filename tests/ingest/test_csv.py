"""read.csv: every row comes out or is quarantined with its line, whatever the file holds."""

from __future__ import annotations

import csv
import gzip
import io
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import datamill.ingest.csv as csv_module
from datamill.core.errors import ConfigError, NotFoundError, SchemaError
from datamill.ingest import CsvReader
from datamill.testing import StepResult, run_step

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def write(tmp_path: Path, data: bytes, name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def read(path: Path, **options: Any) -> StepResult:
    return run_step(CsvReader(paths=[str(path)], **options))


def quarantined(result: StepResult) -> list[tuple[str, int | None, str]]:
    rows = result.quarantine.to_pylist()
    return sorted((r["reason"], r["line"], r["id"]) for r in rows)


def test_csv_reader_quarantines_rows_with_too_many_or_too_few_fields(tmp_path: Path) -> None:
    path = write(tmp_path, b"a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11,12\n13,14,15\n")

    result = read(path)

    assert result.output["a"].to_pylist() == ["1", "6", "13"]
    assert result.output["id"].to_pylist() == ["f.csv:2", "f.csv:4", "f.csv:6"]
    assert result.ledger.quarantined == {"malformed_row": 2}
    assert result.ledger.rows_in == 5
    assert quarantined(result) == [
        ("malformed_row", 3, "f.csv:3"), ("malformed_row", 5, "f.csv:5"),
    ]
    errors = sorted(result.quarantine["error"].to_pylist())
    assert errors == ["expected 3 fields, found 2", "expected 3 fields, found 4"]
    assert '"raw": "9,10,11,12"' in "".join(result.quarantine["row"].to_pylist())


def test_csv_reader_numbers_lines_right_after_quoted_multiline_fields(tmp_path: Path) -> None:
    data = (
        b'a,b\n'
        b'1,"two\nlines"\n'          # lines 2-3
        b'2,"three\r\nlines\rhere"\n'  # lines 4-6: \r\n and a lone \r both end a line
        b'3,bad,row\n'                # line 7
        b'4,"x\n\ny"\n'               # lines 8-10
        b'5,last\n'                   # line 11
    )
    path = write(tmp_path, data)

    result = read(path)

    assert result.output["id"].to_pylist() == ["f.csv:2", "f.csv:4", "f.csv:8", "f.csv:11"]
    values = result.output["b"].to_pylist()
    assert values == ["two\nlines", "three\r\nlines\rhere", "x\n\ny", "last"]
    assert quarantined(result) == [("malformed_row", 7, "f.csv:7")]
    assert result.ledger.quarantined == {"malformed_row": 1}


def test_csv_reader_numbers_lines_across_many_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small parser blocks: bad rows and multi-line values fall on block boundaries, and the
    # long values make the parser restart with bigger blocks.
    monkeypatch.setattr(csv_module, "_FIRST_BLOCK", 1024)
    lines = [b"n,text"]
    expected = []
    line = 2
    for i in range(30_000):
        if i % 1000 == 7:
            lines.append(b"broken")
            line += 1
            continue
        if i % 5000 == 11:
            lines.append(b'%d,"%s\n%s"' % (i, b"v" * 3000, b"w" * 3000))
            expected.append((str(i), line))
            line += 2
        elif i % 3 == 0:
            lines.append(b'%d,"multi\nline %d"' % (i, i))
            expected.append((str(i), line))
            line += 2
        else:
            lines.append(b"%d,plain %d" % (i, i))
            expected.append((str(i), line))
            line += 1
    path = write(tmp_path, b"\n".join(lines) + b"\n")

    result = read(path, batch_rows=4096)

    got = list(zip(result.output["n"].to_pylist(), result.output["id"].to_pylist(), strict=True))
    assert got == [(n, f"f.csv:{ln}") for n, ln in expected]
    assert result.ledger.quarantined == {"malformed_row": 30}
    assert result.metrics["parser_restarts"] >= 1


def test_csv_reader_quarantines_rows_with_invalid_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, b"a,b\nok,1\nbad \xff\xfe here,2\nfine,3\n\xc3,4\n")

    result = read(path)

    assert result.output["a"].to_pylist() == ["ok", "fine"]
    assert result.ledger.quarantined == {"undecodable": 2}
    assert quarantined(result) == [("undecodable", 3, "f.csv:3"), ("undecodable", 5, "f.csv:5")]
    rows = result.quarantine["row"].to_pylist()
    assert any("bad \ufffd\ufffd here" in row for row in rows)


def test_csv_reader_quarantines_a_malformed_row_with_invalid_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, b"a,b\n1,2\n\xff,\xff,\xff\n3,4\n")

    result = read(path)

    assert result.output["a"].to_pylist() == ["1", "3"]
    assert quarantined(result) == [("undecodable", 3, "f.csv:3")]


def test_csv_reader_decodes_the_encoding_it_is_given(tmp_path: Path) -> None:
    path = write(tmp_path, "name,city\nJosé,Zürich\n".encode("latin-1"))

    result = read(path, encoding="latin-1")

    rows = result.output.select(["name", "city"]).to_pylist()
    assert rows == [{"name": "José", "city": "Zürich"}]


def test_csv_reader_reads_nothing_from_an_empty_file(tmp_path: Path) -> None:
    result = read(write(tmp_path, b""))

    assert result.output.num_rows == 0
    assert result.ledger.rows_in == 0
    assert result.quarantine.num_rows == 0


@pytest.mark.parametrize("data", [b"a,b", b"a,b\n", b"a,b\r\n\r\n", b"\n\n"])
def test_csv_reader_reads_nothing_from_a_header_only_file(tmp_path: Path, data: bytes) -> None:
    result = read(write(tmp_path, data))

    assert result.output.num_rows == 0
    assert result.quarantine.num_rows == 0
    assert result.ledger.balanced


def test_csv_reader_drops_blank_and_all_empty_rows_with_a_count(tmp_path: Path) -> None:
    result = read(write(tmp_path, b"a,b\n1,2\n\n,\n3,4\n\n"))

    assert result.output["id"].to_pylist() == ["f.csv:2", "f.csv:5"]
    assert result.ledger.dropped == {"empty_row": 3}


def test_csv_reader_reads_a_50_mb_line(tmp_path: Path) -> None:
    big = b"y" * 50_000_000
    path = write(tmp_path, b"a,b\n1," + big + b"\n2,3\n")

    started = time.perf_counter()
    result = read(path)
    seconds = time.perf_counter() - started

    assert result.output["id"].to_pylist() == ["f.csv:2", "f.csv:3"]
    assert len(result.output["b"][0].as_py()) == 50_000_000
    assert result.ledger.balanced
    assert seconds < 10


def test_csv_reader_quarantines_a_line_over_max_line_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, b"a,b\n1,2\n3," + b"y" * 5_000 + b"\n4,5\n6," + b"z" * 3_000)

    result = read(path, max_line_bytes=1_000)

    assert result.output["id"].to_pylist() == ["f.csv:2", "f.csv:4"]
    assert result.ledger.quarantined == {"line_too_long": 2}
    assert quarantined(result) == [
        ("line_too_long", 3, "f.csv:3"), ("line_too_long", 5, "f.csv:5"),
    ]
    assert "max_line_bytes=1000" in result.quarantine["error"][0].as_py()


def test_csv_reader_quarantines_a_multiline_record_over_max_line_bytes(tmp_path: Path) -> None:
    value = b"\n".join([b"x" * 50] * 100)  # no line is long; the whole record is
    path = write(tmp_path, b'a,b\n1,2\n3,"' + value + b'"\n4,5\n')

    result = read(path, max_line_bytes=1_000)

    assert result.output["id"].to_pylist() == ["f.csv:2", "f.csv:103"]
    assert quarantined(result) == [("line_too_long", 3, "f.csv:3")]


def test_csv_reader_cuts_a_record_too_long_to_parse_and_reads_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parser blocks of 256 bytes that may grow to 1,000: a record longer than that cannot be
    # parsed, so its first line is cut out and reading goes on from the next.
    monkeypatch.setattr(csv_module, "_FIRST_BLOCK", 256)
    monkeypatch.setattr(csv_module, "_BLOCK_SLACK", 0)
    stray = b'3,"a stray quote\n' + b"".join(b"%d,row\n" % i for i in range(4, 400))
    path = write(tmp_path, b'a,b\n1,2\n' + stray + b'400,"a closing quote"\n401,x\n')

    result = read(path, max_line_bytes=1_000)

    ids = result.output["id"].to_pylist()
    assert ids[:3] == ["f.csv:2", "f.csv:4", "f.csv:5"]
    assert ids[-2:] == ["f.csv:400", "f.csv:401"]
    assert len(ids) == 399  # every record but the line with the stray quote
    assert quarantined(result) == [("line_too_long", 3, "f.csv:3")]
    assert "quote that is never closed" in result.quarantine["error"][0].as_py()


def test_csv_reader_recovers_after_a_quote_that_is_never_closed(tmp_path: Path) -> None:
    path = write(tmp_path, b'a,b\n1,2\n3,"oops\n4,5\n6,7\n')

    result = read(path)

    assert result.output["id"].to_pylist() == ["f.csv:2", "f.csv:4", "f.csv:5"]
    assert quarantined(result) == [("malformed_row", 3, "f.csv:3")]
    assert "never closed" in result.quarantine["error"][0].as_py()


def test_csv_reader_reads_the_youtube_spam_file() -> None:
    path = SHARED_DATA / "youtube_spam" / "Youtube01-Psy.csv"
    if not path.exists():
        pytest.skip(f"{path} is not here")

    result = read(path)

    out = result.output
    assert out.num_rows == 350
    assert out.column_names == ["id", "COMMENT_ID", "AUTHOR", "DATE", "CONTENT", "CLASS", "source"]
    assert result.ledger.rows_in == 350
    assert result.quarantine.num_rows == 0
    assert out["id"][0].as_py() == "Youtube01-Psy.csv:2"
    first = out["CONTENT"][0].as_py()
    assert first == "Huh, anyway check out this you[tube] channel: kobyoshi02"
    assert set(out["CLASS"].to_pylist()) == {"0", "1"}
    with path.open(newline="", encoding="utf-8") as handle:
        expected = [row["CONTENT"] for row in csv.DictReader(handle)]
    assert out["CONTENT"].to_pylist() == expected


def test_csv_reader_uses_id_column_and_quarantines_null_ids(tmp_path: Path) -> None:
    path = write(tmp_path, b"key,text\nk1,a\n,b\nk3,c\n")

    result = read(path, id_column="key")

    assert result.output.column_names == ["id", "text", "source"]
    assert result.output["id"].to_pylist() == ["k1", "k3"]
    assert result.ledger.quarantined == {"missing_id": 1}
    assert quarantined(result) == [("missing_id", 3, None)]


def test_csv_reader_uses_a_column_named_id(tmp_path: Path) -> None:
    result = read(write(tmp_path, b"text,id\na,7\nb,8\n"))

    assert result.output.column_names == ["id", "text", "source"]
    assert result.output["id"].to_pylist() == ["7", "8"]


def test_csv_reader_renames_duplicate_and_empty_headers(tmp_path: Path) -> None:
    result = read(write(tmp_path, b"a,a,,b,a\n1,2,3,4,5\n"))

    assert result.output.column_names == ["id", "a", "a_2", "column_3", "b", "a_3", "source"]
    assert result.metrics == {"renamed_columns": 3.0}


def test_csv_reader_sniffs_the_delimiter(tmp_path: Path) -> None:
    result = read(write(tmp_path, b"a;b;c\n1;2,5;3\n4;5;6\n"))

    assert result.output["b"].to_pylist() == ["2,5", "5"]


def test_csv_reader_reads_tab_separated_files(tmp_path: Path) -> None:
    result = read(write(tmp_path, b"a\tb\n1\t2\n", name="f.tsv"))

    assert result.output.select(["a", "b"]).to_pylist() == [{"a": "1", "b": "2"}]


def test_csv_reader_converts_column_types_and_quarantines_bad_values(tmp_path: Path) -> None:
    path = write(tmp_path, b"n,x,at\n1,1.5,2024-01-02T03:04:05\n2,,2024-01-03\nthree,2,\n")

    result = read(path, column_types={"n": "int64", "x": "float64", "at": "timestamp[us]"})

    assert result.output.schema.field("n").type == pa.int64()
    assert result.output["n"].to_pylist() == [1, 2]
    assert result.output["x"].to_pylist() == [1.5, None]
    assert quarantined(result) == [("bad_value", 4, "f.csv:4")]
    assert "column `n`: 'three' is not int64" in result.quarantine["error"][0].as_py()


def test_csv_reader_infers_types_from_the_whole_file(tmp_path: Path) -> None:
    rows = [b"n,x,flag"] + [b"%d,%d,true" % (i, i) for i in range(10)] + [b"10,2.5,false"]
    result = read(write(tmp_path, b"\n".join(rows)), infer_types=True, batch_rows=4)

    schema = result.output.schema
    assert (schema.field("n").type, schema.field("x").type) == (pa.int64(), pa.float64())
    assert schema.field("flag").type == pa.bool_()
    assert result.output["x"].to_pylist()[-1] == 2.5


def test_csv_reader_reads_strings_by_default(tmp_path: Path) -> None:
    result = read(write(tmp_path, b"n\n1\n2\n"))

    assert result.output.schema.field("n").type == pa.string()


def test_csv_reader_reads_gzip_files(tmp_path: Path) -> None:
    path = write(tmp_path, gzip.compress(b"a,b\n1,2\n3\n"), name="f.csv.gz")

    result = read(path)

    assert result.output["id"].to_pylist() == ["f.csv.gz:2"]
    assert result.ledger.quarantined == {"malformed_row": 1}


def test_csv_reader_reads_a_directory_with_include_and_exclude(tmp_path: Path) -> None:
    write(tmp_path, b"a\n1\n", "data/one.csv")
    write(tmp_path, b"a\n2\n", "data/sub/two.csv")
    write(tmp_path, b"a\n3\n", "data/sub/skip_me.csv")
    write(tmp_path, b"a\n4\n", "data/notes.md")
    write(tmp_path, b"a\n5\n", "data/.hidden.csv")

    default = read(tmp_path / "data")
    chosen = read(tmp_path / "data", include=["*.csv", "*.md"], exclude=["sub/skip_*"])

    assert default.output["id"].to_pylist() == [
        "one.csv:2", "sub/skip_me.csv:2", "sub/two.csv:2",
    ]
    assert chosen.output["id"].to_pylist() == ["notes.md:2", "one.csv:2", "sub/two.csv:2"]
    assert chosen.output["source"][0].as_py() == str(tmp_path / "data" / "notes.md")


def test_csv_reader_reads_a_glob_and_leaves_out_the_source_column(tmp_path: Path) -> None:
    write(tmp_path, b"a\n1\n", "x1.csv")
    write(tmp_path, b"a\n2\n", "x2.csv")

    result = run_step(CsvReader(paths=str(tmp_path / "x*.csv"), source_column=False))

    assert result.output.column_names == ["id", "a"]
    assert result.output["id"].to_pylist() == ["x1.csv:2", "x2.csv:2"]


def test_csv_reader_makes_relative_paths_absolute(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, b"a\n1\n")
    monkeypatch.chdir(tmp_path)

    step = CsvReader(paths="f.csv")

    assert step.config.paths == [str(tmp_path / "f.csv")]


def test_csv_reader_rejects_a_bad_option_value() -> None:
    with pytest.raises(ConfigError, match=r"`batch_rows`.*greater than or equal to 1.*got 0"):
        CsvReader(paths="a.csv", batch_rows=0)
    with pytest.raises(ConfigError, match=r"`delimiter`.*one ASCII character.*got .;;."):
        CsvReader(paths="a.csv", delimiter=";;")
    with pytest.raises(ConfigError, match=r"`encoding`.*unknown encoding 'klingon'"):
        CsvReader(paths="a.csv", encoding="klingon")
    with pytest.raises(ConfigError, match=r"`column_types`.*'integer' is not an Arrow type"):
        CsvReader(paths="a.csv", column_types={"n": "integer"})
    with pytest.raises(ConfigError, match=r"no option `delimeter`. Did you mean `delimiter`"):
        CsvReader(paths="a.csv", delimeter=";")


def test_csv_reader_raises_not_found_for_a_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(NotFoundError, match=r"nope\.csv' does not exist"):
        CsvReader(paths=str(missing)).partitions()
    with pytest.raises(NotFoundError, match=r"matches no file"):
        CsvReader(paths=str(tmp_path / "*.csv")).partitions()


def test_csv_reader_raises_schema_error_for_an_unknown_id_column(tmp_path: Path) -> None:
    path = write(tmp_path, b"a\n1\n")
    with pytest.raises(SchemaError, match=r"`id_column` is 'key'.*it has a"):
        read(path, id_column="key")


# -- property test -----------------------------------------------------------------------------
_cell = st.text(
    alphabet=st.sampled_from([*'ab ,"\n\r\t;é😀\x00', "\u2028"]), max_size=12
)


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(st.lists(_cell, min_size=1, max_size=4), max_size=25),
    noise=st.lists(
        st.tuples(st.integers(0, 25),
                  st.sampled_from([b"\xff\xfe", b"\n", b'"', b",,,,,", b"\r", b'x"y,"'])),
        max_size=3,
    ),
)
def test_csv_reader_accounts_for_every_row(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[list[str]],
    noise: list[tuple[int, bytes]],
) -> None:
    lines = []
    for row in [["c1", "c2", "c3"], *rows]:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(row)  # \r\n ends a row: a value with \r or \n is quoted
        lines.append(buffer.getvalue().encode("utf-8"))
    for position, junk in sorted(noise, reverse=True):
        lines.insert(min(position, len(lines) - 1) + 1, junk)
    path = write(tmp_path_factory.mktemp("prop"), b"".join(lines))

    result = run_step(CsvReader(paths=str(path), delimiter=","))

    ledger = result.ledger
    assert ledger.balanced
    assert ledger.rows_out == result.output.num_rows
    assert result.quarantine.num_rows == sum(ledger.quarantined.values())
    ids = result.output["id"].to_pylist() if result.output.num_rows else []
    ids += [i for i in result.quarantine["id"].to_pylist() if i is not None]
    assert len(set(ids)) == len(ids)
    if not noise:
        # Every row the csv module wrote comes back, value for value, or is accounted for.
        good = [r for r in rows if len(r) == 3 and any(r)]
        got = [[row[c] for c in ("c1", "c2", "c3")] for row in result.output.to_pylist()]
        assert got == good
        assert ledger.rows_in == len(rows)
        assert ledger.quarantined.get("malformed_row", 0) == sum(len(r) != 3 for r in rows)
        assert ledger.dropped.get("empty_row", 0) == sum(len(r) == 3 and not any(r) for r in rows)


def test_csv_reader_reads_a_first_record_longer_than_the_csv_modules_field_limit(tmp_path: Path) -> None:
    # Python's csv module refuses fields over 128 KiB unless told otherwise; our bound is max_line_bytes.
    path = tmp_path / "long.csv"
    path.write_text("id,text\n1," + "x" * 300_000 + "\n2,short\n")
    header = tmp_path / "long_header.csv"
    header.write_text("a" * 300_000 + ",b\n1,2\n")
    limit_before = csv.field_size_limit()

    long_row, long_name, capped = read(path), read(header), read(header, max_line_bytes=1000)

    assert long_row.output["text"].to_pylist() == ["x" * 300_000, "short"]
    assert "b" in long_name.output.column_names and long_name.output.num_rows == 1
    assert capped.ledger.quarantined == {"line_too_long": 1} and capped.ledger.balanced
    assert csv.field_size_limit() == limit_before
