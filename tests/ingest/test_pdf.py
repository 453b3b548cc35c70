"""read.pdf: page and document records, metadata, and hostile files quarantined one by one."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pypdf
from fpdf import FPDF

from datamill.ingest._documents import document_id
from datamill.ingest.pdf import PAGE_BREAK, PdfReader
from datamill.testing import StepResult, run_step

PAGES = [
    "First page: the café is open.",
    "Second page: a naïve question.",
    "Third page: Straße und Größe.",
]


def make_pdf(texts: Sequence[str | None], *, title: str | None = None) -> bytes:
    """A PDF with one page per text; None makes a page with only a drawn rectangle."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)  # a core font: Latin-1, so "café" round-trips
    if title:
        pdf.set_title(title)
        pdf.set_author("Ada Lovelace")
    for text in texts:
        pdf.add_page()
        if text is None:
            pdf.rect(20, 20, 50, 30, style="F")
        else:
            pdf.cell(0, 10, text)
    return bytes(pdf.output())


def write(tmp_path: Path, data: bytes, name: str = "doc.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read(*paths: Path, **options: Any) -> StepResult:
    return run_step(PdfReader(paths=[str(p) for p in paths], **options))


def encrypted(password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(make_pdf(PAGES)))
    writer.encrypt(user_password=password, owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_reader_reads_one_record_per_page(tmp_path: Path) -> None:
    data = make_pdf(PAGES, title="Notes")
    path = write(tmp_path, data)

    result = read(path)

    rows = result.output.to_pylist()
    assert [r["page"] for r in rows] == [1, 2, 3]
    for row, text in zip(rows, PAGES, strict=True):
        assert text in row["text"]
        assert row["id"] == document_id("doc.pdf", f"page={row['page']}")
        assert row["source"] == str(path)
        assert row["mime"] == "application/pdf"
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
    meta = json.loads(rows[0]["meta"])
    assert (meta["title"], meta["author"], meta["pages"]) == ("Notes", "Ada Lovelace", 3)
    assert meta["created"].startswith("20")  # an ISO date, not PDF's "D:2024..."
    assert result.ledger.rows_in == result.ledger.rows_out == 3
    assert result.metrics["pages_read"] == 3


def test_pdf_reader_reads_one_record_per_document(tmp_path: Path) -> None:
    path = write(tmp_path, make_pdf(PAGES))

    result = read(path, per="document")

    rows = result.output.to_pylist()
    assert len(rows) == 1
    assert rows[0]["id"] == document_id("doc.pdf")
    assert rows[0]["page"] is None
    parts = rows[0]["text"].split(PAGE_BREAK)
    assert len(parts) == 3
    assert all(text in part for text, part in zip(PAGES, parts, strict=True))
    assert result.ledger.rows_in == result.ledger.rows_out == 1


def test_pdf_reader_stops_at_max_pages(tmp_path: Path) -> None:
    path = write(tmp_path, make_pdf(PAGES))

    result = read(path, max_pages=2)

    assert result.output["page"].to_pylist() == [1, 2]
    assert json.loads(result.output["meta"][0].as_py())["pages"] == 3
    assert result.metrics["pages_skipped"] == 1
    assert result.ledger.balanced


def test_pdf_reader_quarantines_an_encrypted_file_without_the_password(tmp_path: Path) -> None:
    path = write(tmp_path, encrypted("secret"))

    for options in ({}, {"password": "wrong"}):
        result = read(path, **options)

        assert result.output.num_rows == 0
        assert result.ledger.quarantined == {"encrypted": 1}
        assert result.ledger.balanced
        row = result.quarantine.to_pylist()[0]
        assert (row["id"], row["source"]) == (document_id("doc.pdf"), str(path))
        assert "is encrypted" in row["error"]


def test_pdf_reader_reads_an_encrypted_file_with_the_password(tmp_path: Path) -> None:
    path = write(tmp_path, encrypted("secret"))

    result = read(path, password="secret")

    assert result.output["page"].to_pylist() == [1, 2, 3]
    assert PAGES[1] in result.output["text"][1].as_py()
    assert result.ledger.quarantined == {}


def test_pdf_reader_quarantines_a_truncated_file(tmp_path: Path) -> None:
    data = make_pdf(PAGES)
    path = write(tmp_path, data[: len(data) // 2])

    result = read(path)

    assert result.output.num_rows == 0
    assert result.ledger.quarantined == {"unreadable_file": 1}
    assert result.ledger.balanced
    row = result.quarantine.to_pylist()[0]
    assert (row["id"], row["reason"]) == (document_id("doc.pdf"), "unreadable_file")
    assert "cannot be read as PDF" in row["error"]


def test_pdf_reader_quarantines_a_page_without_text(tmp_path: Path) -> None:
    path = write(tmp_path, make_pdf(["Some words.", None, "More words."]))

    result = read(path)

    assert result.output["page"].to_pylist() == [1, 3]
    assert result.ledger.rows_in == 3
    assert result.ledger.quarantined == {"no_text_layer": 1}
    row = result.quarantine.to_pylist()[0]
    assert row["id"] == document_id("doc.pdf", "page=2")
    assert json.loads(row["row"])["page"] == 2
    assert "needs OCR" in row["error"]


def test_pdf_reader_per_document_lists_pages_without_text(tmp_path: Path) -> None:
    mixed = write(tmp_path, make_pdf(["Some words.", None]), name="mixed.pdf")
    blank = write(tmp_path, make_pdf([None, None]), name="blank.pdf")

    result = read(mixed, blank, per="document")

    assert result.output["id"].to_pylist() == [document_id("mixed.pdf")]
    assert json.loads(result.output["meta"][0].as_py())["pages_without_text"] == [2]
    assert result.ledger.quarantined == {"no_text_layer": 1}
    assert result.quarantine["id"].to_pylist() == [document_id("blank.pdf")]
    assert result.ledger.balanced


def test_pdf_reader_drops_an_empty_file_with_a_reason(tmp_path: Path) -> None:
    path = write(tmp_path, b"")

    result = read(path)

    assert result.output.num_rows == 0
    assert result.quarantine.num_rows == 0
    assert result.ledger.dropped == {"empty_file": 1} and result.ledger.balanced
    assert result.ledger.balanced


def test_pdf_reader_quarantines_a_file_over_max_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, make_pdf(PAGES))

    result = read(path, max_bytes=1_000)

    assert result.output.num_rows == 0
    assert result.ledger.quarantined == {"too_large": 1}
    assert "larger than max_bytes=1,000" in result.quarantine["error"][0].as_py()


def test_pdf_reader_reads_a_folder_past_a_broken_file(tmp_path: Path) -> None:
    write(tmp_path, make_pdf(PAGES), name="good.pdf")
    write(tmp_path, b"%PDF-1.7\nthis is not really a pdf", name="bad.pdf")
    write(tmp_path, b"not a pdf at all", name="notes.txt")

    result = read(tmp_path)

    assert result.output["id"].to_pylist() == [
        document_id("good.pdf", f"page={n}") for n in (1, 2, 3)
    ]
    assert result.ledger.quarantined == {"unreadable_file": 1}
    assert result.quarantine["id"].to_pylist() == [document_id("bad.pdf")]
    assert result.ledger.rows_in == 4
    assert result.ledger.balanced
