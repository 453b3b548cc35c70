"""Compressed files and zip archives: transparent reading, bounded decompression, bad archives."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import struct
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from fpdf import FPDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datamill.core.errors import ConfigError, NotFoundError
from datamill.ingest import (
    CsvReader,
    DocxReader,
    HtmlReader,
    JsonlReader,
    ParquetReader,
    PdfReader,
    TextReader,
    reader_for,
)
from datamill.ingest._documents import document_id
from datamill.ingest._files import FileSource, FileSourceConfig, open_binary
from datamill.ingest.archives import (
    ArchiveError,
    CorruptArchiveError,
    DecompressionLimitError,
    DecompressionLimits,
    member_url,
    open_bounded,
    split_member_url,
)
from datamill.pipeline.step import StepContext
from datamill.testing import StepResult, run_step

MiB = 1 << 20
COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
    ".zst": zstandard.ZstdCompressor().compress,
}


# ---------------------------------------------------------------------------- building archives
def deflated_zeros(mib: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``mib`` MiB of zeros and its CRC, made without deflating them all.

    After a full flush the deflater starts afresh, so each MiB compresses to the same bytes.
    """
    block = b"\0" * MiB
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = deflater.compress(block) + deflater.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(block, crc)
    return piece * mib + deflater.flush(), crc


def write_zip(path: Path, members: list[tuple[str, bytes, int, int, int]]) -> None:
    """A zip written byte by byte: (name, deflated data, crc, declared size, method) per member.

    The declared size goes into the headers as given, true or not.
    """
    out = io.BytesIO()
    central = []
    for name, data, crc, size, method in members:
        offset = out.tell()
        raw_name = name.encode()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(data), size,
                              len(raw_name), 0) + raw_name + data)
        central.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(data),
                                   size, len(raw_name), 0, 0, 0, 0, 0, offset) + raw_name)
    start = out.tell()
    for entry in central:
        out.write(entry)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(central), len(central), out.tell() - start,
                          start, 0))
    path.write_bytes(out.getvalue())


def deflated(data: bytes) -> tuple[bytes, int, int, int]:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    return deflater.compress(data) + deflater.flush(), zlib.crc32(data), len(data), zipfile.ZIP_DEFLATED


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bomb.zip: 256 MiB of zeros in 265 KB (about 1000:1), next to a small genuine member."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    data, crc = deflated_zeros(256)
    write_zip(path, [("zeros.txt", data, crc, 256 * MiB, zipfile.ZIP_DEFLATED),
                     ("fine.txt", *deflated(b"a genuine member"))])
    return path


@pytest.fixture(scope="module")
def gz_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """zeros.csv.gz: a header, then 256 MiB of zeros as 16 concatenated gzip members."""
    path = tmp_path_factory.mktemp("gzbomb") / "zeros.csv.gz"
    path.write_bytes(gzip.compress(b"a\n") + gzip.compress(b"\0" * 16 * MiB, 9) * 16)
    return path


def make_pdf(text: str) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.cell(0, 10, text)
    return bytes(pdf.output())


def make_docx(text: str) -> bytes:
    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def quarantined(result: StepResult) -> list[dict[str, Any]]:
    return result.quarantine.select(["id", "reason", "error", "source", "row"]).to_pylist()


# ---------------------------------------------------------------------------- compressed files
TABLE_CASES = [
    (CsvReader, "rows.csv", b"name,n\nada,1\nzo\xc3\xab,2\n"),
    (JsonlReader, "rows.jsonl", b'{"name": "ada", "n": 1}\n{"name": "zo\xc3\xab", "n": 2}\n'),
]


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
@pytest.mark.parametrize(("reader", "name", "data"), TABLE_CASES)
def test_table_readers_read_compressed_files_like_plain_ones(
    tmp_path: Path, reader: Any, name: str, data: bytes, suffix: str
) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "packed").mkdir()
    (tmp_path / "plain" / name).write_bytes(data)
    (tmp_path / "packed" / f"{name}{suffix}").write_bytes(COMPRESSORS[suffix](data))

    plain = run_step(reader(paths=str(tmp_path / "plain")))
    packed = run_step(reader(paths=str(tmp_path / "packed")))

    assert packed.output.drop_columns(["id", "source"]).equals(plain.output.drop_columns(["id", "source"]))
    first_line = 2 if reader is CsvReader else 1  # a CSV's header is line 1
    assert packed.output["id"].to_pylist() == [f"{name}{suffix}:{first_line}", f"{name}{suffix}:{first_line + 1}"]
    assert packed.output["name"].to_pylist() == ["ada", "zoë"]
    assert packed.ledger.balanced and packed.ledger.rows_out == 2


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_text_reader_reads_gzip_and_zstd_files(tmp_path: Path, suffix: str) -> None:
    (tmp_path / f"notes.md{suffix}").write_bytes(COMPRESSORS[suffix]("# Títle\n\nbody\n".encode()))

    result = run_step(TextReader(paths=str(tmp_path)))

    row = result.output.to_pylist()[0]
    assert row["text"] == "# Títle\n\nbody\n"
    assert row["mime"] == "text/markdown" and json.loads(row["meta"])["title"] == "Títle"
    assert row["id"] == document_id(f"notes.md{suffix}")
    assert result.ledger.balanced


def test_gz_bomb_is_quarantined_by_default_limits_and_the_run_goes_on(tmp_path: Path, gz_bomb: Path) -> None:
    (tmp_path / "ok.csv").write_text("a\n1\n")

    result = run_step(CsvReader(paths=[str(gz_bomb), str(tmp_path / "ok.csv")]))

    assert result.output["a"].to_pylist() == ["1"]
    [bad] = quarantined(result)
    assert bad["reason"] == "decompression_limit" and bad["id"].endswith("/zeros.csv.gz")
    assert "max_compression_ratio=200" in bad["error"] and "raise `max_compression_ratio`" in bad["error"]
    # Reading stopped after a few MiB of the 256 MiB.
    assert json.loads(bad["row"])["bytes_read"] < 32 * MiB
    assert result.ledger.balanced and result.ledger.quarantined == {"decompression_limit": 1}


def test_max_decompressed_bytes_caps_a_genuine_file_and_says_how_to_raise_it(tmp_path: Path) -> None:
    text = "".join(f"line {i} of a real text file\n" for i in range(2000)).encode()
    (tmp_path / "big.txt.gz").write_bytes(gzip.compress(text))

    capped = run_step(TextReader(paths=str(tmp_path), max_decompressed_bytes=1000))
    raised = run_step(TextReader(paths=str(tmp_path), max_decompressed_bytes=len(text)))

    [bad] = quarantined(capped)
    assert bad["reason"] == "decompression_limit"
    assert "max_decompressed_bytes=1,000" in bad["error"] and "raise `max_decompressed_bytes`" in bad["error"]
    assert capped.output.num_rows == 0 and capped.ledger.balanced
    assert raised.output["text"].to_pylist() == [text.decode()] and raised.ledger.balanced


def test_decompression_limits_reject_nonsense_values() -> None:
    with pytest.raises(ConfigError, match=r"`max_compression_ratio` input should be greater than 1"):
        TextReader(paths="a.txt", max_compression_ratio=0.5)
    with pytest.raises(ConfigError, match=r"`max_decompressed_bytes` input should be greater than or equal to 1"):
        CsvReader(paths="a.csv", max_decompressed_bytes=0)


def test_truncated_compressed_files_are_quarantined_as_corrupt(tmp_path: Path) -> None:
    rows = b"a,b\n" + b"".join(b"%d,row %d\n" % (i, i) for i in range(50_000))
    packed = gzip.compress(rows)
    (tmp_path / "cut.csv.gz").write_bytes(packed[: len(packed) // 2])
    (tmp_path / "cut.csv.zst").write_bytes(zstandard.ZstdCompressor().compress(rows)[:-3])
    (tmp_path / "junk.csv.gz").write_bytes(b"\x1f\x8b this is not gzip data")
    (tmp_path / "ok.csv.gz").write_bytes(gzip.compress(b"a,b\n1,x\n"))

    result = run_step(CsvReader(paths=str(tmp_path)))

    assert result.output["b"].to_pylist() == ["x"]
    by_id = {q["id"]: q for q in quarantined(result)}
    assert set(by_id) == {"cut.csv.gz", "cut.csv.zst", "junk.csv.gz"}
    assert {q["reason"] for q in by_id.values()} == {"corrupt_archive"}
    assert "corrupt or truncated" in by_id["cut.csv.zst"]["error"]
    assert result.ledger.balanced and result.ledger.rows_in == 4


class LineReader(FileSource[FileSourceConfig]):
    """A minimal streaming reader: one batch per line, through `open_binary` like every reader."""

    extensions = (".log",)

    def read(self, partition: dict[str, Any], ctx: StepContext) -> Iterator[pa.RecordBatch]:
        with open_binary(partition["path"]) as handle:
            for number, line in enumerate(handle, start=1):
                yield pa.record_batch({"id": [f"{partition['name']}:{number}"], "line": [line.decode()]})


def test_rows_read_before_a_truncation_are_kept_and_said_so(tmp_path: Path) -> None:
    lines = b"".join(b"line %d %s\n" % (i, b"x" * 100) for i in range(20_000))
    packed = gzip.compress(lines)
    (tmp_path / "cut.log.gz").write_bytes(packed[: len(packed) // 2])

    result = run_step(LineReader(paths=str(tmp_path)))

    [bad] = quarantined(result)
    kept = result.output.num_rows
    assert bad["reason"] == "corrupt_archive" and bad["id"] == "cut.log.gz"
    assert 0 < kept < 20_000 and f"The {kept:,} rows read from it before that were kept." in bad["error"]
    assert result.output["line"].to_pylist()[0].startswith("line 0 ")
    assert result.ledger.balanced and result.ledger.rows_in == kept + 1


def test_a_reader_sees_its_own_limits_while_batches_interleave(tmp_path: Path) -> None:
    for name in ("a.log.gz", "b.log.gz"):
        (tmp_path / name).write_bytes(gzip.compress(b"x" * 5000 + b"\n"))
    strict = LineReader(paths=str(tmp_path), max_decompressed_bytes=1000)
    loose = LineReader(paths=str(tmp_path))
    strict_ctx, loose_ctx = StepContext(step_id="strict"), StepContext(step_id="loose")

    def read_all(step: LineReader, ctx: StepContext) -> Iterator[pa.RecordBatch]:
        for partition in step.partitions():
            yield from step.read(partition, ctx)

    loose_batches = read_all(loose, loose_ctx)
    first = next(loose_batches)  # suspended inside a.log.gz
    strict_batches = list(read_all(strict, strict_ctx))  # runs, with its limits, in between
    rest = list(loose_batches)  # opens b.log.gz: with the loose limits again

    assert first.num_rows == 1 and [b.num_rows for b in rest] == [1] and strict_batches == []
    assert strict_ctx.ledger.quarantined == {"decompression_limit": 2} and loose_ctx.ledger.quarantined == {}


# ---------------------------------------------------------------------------- zip archives
@pytest.fixture
def docs_zip(tmp_path: Path) -> Path:
    """A folder holding docs.zip (HTML, PDF, DOCX, text, junk and nested archives) and a plain file."""
    folder = tmp_path / "docs"
    folder.mkdir()
    with zipfile.ZipFile(folder / "docs.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("site/index.html", "<html><body><p>Hello from the zipped page.</p></body></html>")
        archive.writestr("papers/paper.pdf", make_pdf("Hello from the zipped PDF"))
        archive.writestr("letter.docx", make_docx("Hello from the zipped letter"))
        archive.writestr("readme.txt", "plain text inside")
        archive.writestr("notes.xyz", "no reader knows this")
        archive.writestr("old/backup.zip", b"PK\x05\x06" + b"\0" * 18)
        archive.writestr("site/extra.html.gz", gzip.compress(b"<p>nested</p>"))
        archive.writestr("__MACOSX/site/._index.html", "resource fork junk")
        archive.writestr("site/", "")
    (folder / "loose.html").write_text("<html><body><p>A loose page next to the zip.</p></body></html>")
    return folder


def test_each_reader_reads_its_own_members_of_a_zip(docs_zip: Path) -> None:
    html = run_step(HtmlReader(paths=str(docs_zip)))
    pdf = run_step(PdfReader(paths=str(docs_zip)))
    word = run_step(DocxReader(paths=str(docs_zip)))

    archive = str(docs_zip / "docs.zip")
    assert html.output["text"].to_pylist() == ["Hello from the zipped page.", "A loose page next to the zip."]
    assert html.output["source"].to_pylist() == [member_url(archive, "site/index.html"), str(docs_zip / "loose.html")]
    assert html.output["id"].to_pylist()[0] == document_id("docs.zip!site/index.html")
    assert [(q["id"], q["reason"]) for q in quarantined(html)] == [("docs.zip!site/extra.html.gz", "nested_archive")]
    assert pdf.output["text"].to_pylist() == ["Hello from the zipped PDF"]
    assert pdf.output["source"].to_pylist() == [member_url(archive, "papers/paper.pdf")]
    assert word.output["text"].to_pylist() == ["Hello from the zipped letter"]
    for result in (html, pdf, word):
        assert result.ledger.balanced


def test_zip_members_are_listed_by_include_patterns_and_named_inside_the_archive(docs_zip: Path) -> None:
    pieces = TextReader(paths=str(docs_zip / "docs.zip"), include=["*.txt", "*.xyz"]).partitions()
    everything = TextReader(paths=str(docs_zip), include=["*"], exclude=["*.zip"]).partitions()

    assert [p["name"] for p in pieces] == ["docs.zip!readme.txt", "docs.zip!notes.xyz"]
    # The archive is the partition's file (what the cache hashes); the reader opens the member.
    assert pieces[0] == {"path": str(docs_zip / "docs.zip"), "member": "readme.txt", "name": "docs.zip!readme.txt"}
    # Hidden members (__MACOSX/._x) and folders are never data; `exclude` can skip an archive.
    assert [p["name"] for p in everything] == ["loose.html"]


def test_a_zip_with_no_member_for_the_reader_says_so(docs_zip: Path) -> None:
    with pytest.raises(NotFoundError, match=r"none of the zip archives \['docs.zip'\].*include=\['\*\.csv'"):
        CsvReader(paths=str(docs_zip / "docs.zip")).partitions()


def test_parquet_members_of_a_zip_are_read(tmp_path: Path) -> None:
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": ["a", "b"], "n": [1, 2]}), buffer)
    with zipfile.ZipFile(tmp_path / "tables.zip", "w") as archive:
        archive.writestr("t.parquet", buffer.getvalue().to_pybytes())

    result = run_step(ParquetReader(paths=str(tmp_path)))

    assert result.output["n"].to_pylist() == [1, 2] and result.ledger.balanced


def test_parquet_gz_is_read_and_a_parquet_member_past_the_limits_is_quarantined(tmp_path: Path) -> None:
    def parquet(values: list[int]) -> bytes:
        buffer = pa.BufferOutputStream()
        pq.write_table(pa.table({"n": values}), buffer, compression="none", use_dictionary=False)
        return bytes(buffer.getvalue().to_pybytes())

    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "t.parquet.gz").write_bytes(gzip.compress(parquet(list(range(100_000)))))
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # Zeros in uncompressed Parquet deflate far beyond the ratio limit.
        archive.writestr("big.parquet", parquet([0] * 3_000_000))

    plain = run_step(ParquetReader(paths=str(tmp_path / "plain")))
    bomb = run_step(ParquetReader(paths=str(tmp_path / "bomb.zip"), max_compression_ratio=50))

    assert plain.output["n"].to_pylist() == list(range(100_000)) and plain.ledger.balanced
    assert bomb.output.num_rows == 0 and bomb.ledger.balanced
    assert bomb.ledger.quarantined == {"decompression_limit": 1}


def test_zip_bomb_is_quarantined_by_default_limits_without_inflating_it(zip_bomb: Path) -> None:
    result = run_step(TextReader(paths=str(zip_bomb)))

    assert result.output["text"].to_pylist() == ["a genuine member"]
    [bad] = quarantined(result)
    assert bad["reason"] == "decompression_limit" and bad["id"] == "bomb.zip!zeros.txt"
    assert bad["source"] == member_url(str(zip_bomb), "zeros.txt")
    assert "max_compression_ratio=200" in bad["error"]
    assert json.loads(bad["row"])["bytes_read"] < 32 * MiB  # of 256 MiB
    assert result.ledger.balanced and result.ledger.rows_in == 2


def test_zip_bomb_read_keeps_memory_bounded(zip_bomb: Path) -> None:
    tracemalloc.start()
    try:
        result = run_step(JsonlReader(paths=str(zip_bomb), include=["*.txt"]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.quarantine["reason"].to_pylist() == ["decompression_limit", "malformed_json"]
    # The member is 256 MiB; reading stopped after a few, and never held more than that.
    print(f"peak traced memory reading a 256 MiB zip bomb: {peak / MiB:.1f} MiB")
    assert peak < 48 * MiB
    assert result.ledger.balanced


def test_zip_header_sizes_are_not_trusted(tmp_path: Path) -> None:
    zeros, crc = deflated_zeros(64)
    # Declares 1 KiB but inflates to 64 MiB: zipfile stops at the declared size and the CRC fails.
    write_zip(tmp_path / "small_lie.zip", [("a.txt", zeros, crc, 1024, zipfile.ZIP_DEFLATED)])
    # Declares 4 GiB: the cap counts what really comes out, not what the header says.
    write_zip(tmp_path / "big_lie.zip", [("b.txt", zeros, crc, 0xFFFF_FFF0, zipfile.ZIP_DEFLATED)])

    result = run_step(TextReader(paths=str(tmp_path), max_decompressed_bytes=8 * MiB,
                                 max_compression_ratio=10_000))

    reasons = {q["id"]: q["reason"] for q in quarantined(result)}
    assert reasons == {"small_lie.zip!a.txt": "corrupt_archive", "big_lie.zip!b.txt": "decompression_limit"}
    assert result.ledger.balanced


def test_truncated_and_damaged_zips_are_quarantined_as_corrupt(tmp_path: Path) -> None:
    good = io.BytesIO()
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.txt", " ".join(f"word{i * 7919 % 10007}" for i in range(3000)))
        archive.writestr("b.txt", "beta")
    data = good.getvalue()
    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])  # the directory at the end is gone
    damaged = bytearray(data)
    damaged[200:210] = b"\xff" * 10  # inside a.txt's deflate stream (its data starts at byte 35)
    (tmp_path / "damaged.zip").write_bytes(bytes(damaged))

    result = run_step(TextReader(paths=str(tmp_path)))

    assert result.output["text"].to_pylist() == ["beta"]
    by_id = {q["id"]: q for q in quarantined(result)}
    assert {k: v["reason"] for k, v in by_id.items()} == {"cut.zip": "corrupt_archive",
                                                          "damaged.zip!a.txt": "corrupt_archive"}
    assert "not a readable zip archive" in by_id["cut.zip"]["error"]
    assert result.ledger.balanced


def test_unsupported_zip_members_are_quarantined(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "mixed.zip", "w") as archive:
        archive.writestr("bz.txt", "bzip2 inside zip", compress_type=zipfile.ZIP_BZIP2)
        archive.writestr("ok.txt", "stored", compress_type=zipfile.ZIP_STORED)
    raw = bytearray((tmp_path / "mixed.zip").read_bytes())
    (tmp_path / "locked.zip").write_bytes(_with_encrypted_flag(raw))

    result = run_step(TextReader(paths=str(tmp_path)))

    reasons = sorted((q["id"], q["reason"]) for q in quarantined(result))
    assert reasons == [("locked.zip!bz.txt", "unsupported_archive"), ("locked.zip!ok.txt", "unsupported_archive"),
                       ("mixed.zip!bz.txt", "unsupported_archive")]
    assert result.output["text"].to_pylist() == ["stored"]
    assert result.ledger.balanced


def _with_encrypted_flag(data: bytearray) -> bytes:
    """The same zip with every member marked encrypted (flag bit 0, local and central headers)."""
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.find(signature)
        while start >= 0:
            data[start + offset] |= 1
            start = data.find(signature, start + 4)
    return bytes(data)


# ---------------------------------------------------------------------------- every reader family
def _doc_bytes(extension: str) -> bytes:
    return {
        ".txt": b"some text",
        ".html": b"<html><body><p>some page text</p></body></html>",
        ".pdf": make_pdf("some pdf text"),
        ".docx": make_docx("some docx text"),
        ".csv": b"a\n1\n",
        ".jsonl": b'{"a": 1}\n',
    }[extension]


@pytest.mark.parametrize(
    ("reader", "extension"),
    [(TextReader, ".txt"), (HtmlReader, ".html"), (PdfReader, ".pdf"), (DocxReader, ".docx"),
     (CsvReader, ".csv"), (JsonlReader, ".jsonl")],
)
def test_every_reader_family_quarantines_bombs_and_truncations(tmp_path: Path, reader: Any, extension: str) -> None:
    good = _doc_bytes(extension)
    (tmp_path / f"good{extension}.gz").write_bytes(gzip.compress(good))
    (tmp_path / f"cut{extension}.gz").write_bytes(gzip.compress(good + b"\0" * 4096)[:40])
    (tmp_path / f"bomb{extension}.gz").write_bytes(gzip.compress(good + b"\0" * 2 * MiB, 9))

    result = run_step(reader(paths=str(tmp_path), max_decompressed_bytes=MiB))

    reasons = {q["id"]: q["reason"] for q in quarantined(result)}
    assert set(reasons.values()) == {"corrupt_archive", "decompression_limit"}
    assert sorted(reasons.values()) == ["corrupt_archive", "decompression_limit"]
    assert result.output.num_rows >= 1
    assert result.ledger.balanced


# ---------------------------------------------------------------------------- the stream itself
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=4000), suffix=st.sampled_from(list(COMPRESSORS)), cut=st.floats(0, 1))
def test_a_bounded_stream_gives_the_bytes_back_or_says_it_is_corrupt(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, suffix: str, cut: float
) -> None:
    packed = COMPRESSORS[suffix](data)
    path = tmp_path_factory.mktemp("stream") / f"f{suffix}"
    path.write_bytes(packed[: int(len(packed) * cut)])

    try:
        with open_bounded(str(path), DecompressionLimits(max_decompressed_bytes=10 * MiB)) as handle:
            out = handle.read()
    except ArchiveError as err:
        assert isinstance(err, CorruptArchiveError)
        return
    # Some truncations cannot be told from the end of a stream (an empty file, a cut trailer):
    # what comes out is then always the start of the data, never garbage.
    assert data.startswith(out)
    if cut == 1:
        assert out == data


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk=st.binary(max_size=2000), suffix=st.sampled_from(list(COMPRESSORS)))
def test_a_bounded_stream_over_junk_raises_only_archive_errors(
    tmp_path_factory: pytest.TempPathFactory, junk: bytes, suffix: str
) -> None:
    path = tmp_path_factory.mktemp("junk") / f"f{suffix}"
    path.write_bytes(junk)

    try:
        with open_bounded(str(path)) as handle:
            handle.read()
    except ArchiveError:
        pass


def test_a_bounded_stream_stops_at_the_cap_while_streaming(tmp_path: Path) -> None:
    path = tmp_path / "zeros.bin.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b"\0" * 64 * MiB))

    with open_bounded(str(path), DecompressionLimits(max_decompressed_bytes=3 * MiB)) as handle:
        got = handle.read(2 * MiB)
        with pytest.raises(DecompressionLimitError, match=r"max_decompressed_bytes=3,145,728") as caught:
            handle.read(4 * MiB)

    assert len(got) == 2 * MiB
    assert caught.value.bytes_out <= 3 * MiB + 1


@given(member=st.text(min_size=1, max_size=40).filter(lambda m: "\x00" not in m),
       archive=st.sampled_from(["/data/a.zip", "s3://bucket/x/y.zip", "/t/with space.zip"]))
def test_member_urls_round_trip(member: str, archive: str) -> None:
    assert split_member_url(member_url(archive, member)) == (archive, member)


@pytest.mark.parametrize(
    ("path", "step"),
    [("zip://site/a.html::/data/site.zip", "read.html"), ("zip://x/b.PDF::s3://bucket/p.zip", "read.pdf"),
     ("c.jsonl.zst", "read.jsonl"), ("d.txt.xz", "read.text"), ("e.csv.bz2", "read.csv")],
)
def test_reader_for_looks_through_compression_and_into_member_urls(path: str, step: str) -> None:
    assert reader_for(path) == step


def test_reader_for_a_zip_says_its_members_go_to_their_readers() -> None:
    with pytest.raises(ConfigError, match=r"it is a zip archive, whose members each go to the reader of their type"):
        reader_for("/data/docs.zip")


def test_a_member_being_read_survives_its_archive_leaving_the_cache(tmp_path: Path) -> None:
    for i in range(12):
        with zipfile.ZipFile(tmp_path / f"z{i}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("m.txt", f"member {i} " * 50_000)
    first = str(tmp_path / "z0.zip")

    with open_bounded(member_url(first, "m.txt")) as handle:
        head = handle.read(10)
        for i in range(1, 12):  # opens 11 more archives: z0 leaves the cache of 8
            with open_bounded(member_url(str(tmp_path / f"z{i}.zip"), "m.txt")) as other:
                assert other.read(8) == f"member {i}".encode()[:8]
        rest = handle.read()

    assert head + rest == b"member 0 " * 50_000
