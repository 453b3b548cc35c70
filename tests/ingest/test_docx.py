"""read.docx: Markdown in document order, core properties as meta, bad files quarantined."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import docx

from datamill.ingest._documents import document_id
from datamill.ingest.docx import MIME, DocxReader
from datamill.testing import StepResult, run_step


def make_docx(path: Path) -> Path:
    document = docx.Document()
    document.core_properties.title = "Quarterly report"
    document.core_properties.author = "Ada Lovelace"
    document.add_heading("Quarterly report", level=0)
    document.add_heading("Results", level=1)
    document.add_paragraph("Sales went up at the café.")
    table = document.add_table(rows=2, cols=3)
    for r, row in enumerate([["region", "q1", "q2"], ["north", "1|2", "3"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("")  # an empty paragraph is left out
    document.add_heading("Outlook", level=2)
    document.add_paragraph("More of the same.")
    document.add_paragraph("a point", style="List Bullet")
    document.save(str(path))
    return path


def read(*paths: Path, **options: Any) -> StepResult:
    return run_step(DocxReader(paths=[str(p) for p in paths], **options))


def test_docx_reader_writes_markdown_in_document_order(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "report.docx")

    result = read(path)

    rows = result.output.to_pylist()
    assert len(rows) == 1
    assert rows[0]["text"] == (
        "# Quarterly report\n\n"
        "# Results\n\n"
        "Sales went up at the café.\n\n"
        "| region | q1 | q2 |\n"
        "| --- | --- | --- |\n"
        "| north | 1\\|2 | 3 |\n\n"
        "## Outlook\n\n"
        "More of the same.\n\n"
        "- a point"
    )
    row = rows[0]
    assert (row["id"], row["page"], row["mime"]) == (document_id("report.docx"), None, MIME)
    assert row["source"] == str(path)
    assert row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.ledger.rows_in == result.ledger.rows_out == 1


def test_docx_reader_puts_core_properties_in_meta(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "report.docx")

    meta = json.loads(read(path).output["meta"][0].as_py())

    assert (meta["title"], meta["author"]) == ("Quarterly report", "Ada Lovelace")
    assert meta["created"].startswith("20")


def test_docx_reader_quarantines_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.docx"
    path.write_bytes(bytes(range(256)) * 8)

    result = read(path)

    assert result.output.num_rows == 0
    assert result.ledger.quarantined == {"unreadable_file": 1}
    assert result.ledger.balanced
    row = result.quarantine.to_pylist()[0]
    assert (row["id"], row["source"]) == (document_id("noise.docx"), str(path))
    assert "cannot be read as DOCX" in row["error"]


def test_docx_reader_quarantines_a_zip_that_is_not_a_docx(tmp_path: Path) -> None:
    path = tmp_path / "archive.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hello")

    result = read(path)

    assert result.ledger.quarantined == {"unreadable_file": 1}
    assert result.ledger.balanced


def test_docx_reader_quarantines_a_truncated_file(tmp_path: Path) -> None:
    data = make_docx(tmp_path / "full.bin").read_bytes()
    path = tmp_path / "cut.docx"
    path.write_bytes(data[: len(data) // 2])

    result = read(path)

    assert result.ledger.quarantined == {"unreadable_file": 1}
    assert result.quarantine["id"].to_pylist() == [document_id("cut.docx")]


def test_docx_reader_quarantines_a_file_over_max_bytes(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "report.docx")

    result = read(path, max_bytes=100)

    assert result.output.num_rows == 0
    assert result.ledger.quarantined == {"too_large": 1}


def test_docx_reader_drops_an_empty_file_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "empty.docx"
    path.write_bytes(b"")

    result = read(path)

    assert result.output.num_rows == 0
    assert result.quarantine.num_rows == 0
    assert result.ledger.dropped == {"empty_file": 1} and result.ledger.balanced


def test_docx_reader_reads_a_folder_past_a_broken_file(tmp_path: Path) -> None:
    make_docx(tmp_path / "good.docx")
    (tmp_path / "bad.docx").write_bytes(b"PK\x03\x04 broken")

    result = read(tmp_path)

    assert result.output["id"].to_pylist() == [document_id("good.docx")]
    assert result.quarantine["id"].to_pylist() == [document_id("bad.docx")]
    assert result.ledger.rows_in == 2
    assert result.ledger.balanced
