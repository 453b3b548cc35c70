"""read.html: main content vs all visible text, page metadata, encodings, hostile pages."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from datamill.ingest._documents import document_id
from datamill.ingest.html import HtmlReader, html_to_text
from datamill.testing import StepResult, run_step

ARTICLE = [
    "The river rose three metres overnight, flooding the lower town for the first time "
    "since records began in the nineteenth century.",
    "Residents were evacuated by boat while volunteers filled sandbags along the old quay, "
    "and the mayor promised a full inquiry into the failure of the flood barrier.",
    "Engineers said the barrier had been scheduled for repair last spring, but the work "
    "was postponed twice because of budget cuts and a shortage of specialised parts.",
]


def page(lang: str = "en", charset: str = "utf-8", body: str = "") -> str:
    paragraphs = "".join(f"<p>{p}</p>\n" for p in ARTICLE)
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="{charset}"><title>Flood in the lower town</title>
<meta name="author" content="Ann Reporter">
<style>body {{ color: red; }}</style>
<script>var tracking = "SCRIPT_SECRET";</script></head>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/about">About us</a></li></ul></nav>
<main><article><h1>Flood in the lower town</h1>
{paragraphs}{body}</article></main>
<noscript>NOSCRIPT_SECRET</noscript>
<footer>Contact &amp; imprint | All rights reserved</footer></body></html>"""


def read(*paths: Path, **options: Any) -> StepResult:
    return run_step(HtmlReader(paths=[str(p) for p in paths], **options))


def meta_of(result: StepResult, row: int = 0) -> dict[str, Any]:
    return dict(json.loads(result.output["meta"][row].as_py()))


def test_html_reader_main_mode_keeps_the_article_and_page_metadata(tmp_path: Path) -> None:
    path = tmp_path / "news.html"
    path.write_text(page(lang="en-GB"), encoding="utf-8")

    result = read(path, base_url="https://example.org/")

    text = result.output["text"][0].as_py()
    for paragraph in ARTICLE:
        assert paragraph in text
    for boilerplate in ("About us", "SCRIPT_SECRET", "color: red", "NOSCRIPT_SECRET",
                        "imprint"):
        assert boilerplate not in text
    meta = meta_of(result)
    assert meta["mode"] == "main"
    assert meta["title"] == "Flood in the lower town"
    assert meta["author"] == "Ann Reporter"
    assert meta["language"] == "en-GB"
    assert meta["url"] == "https://example.org/news.html"
    assert meta["encoding"] == "utf-8"
    row = result.output.to_pylist()[0]
    assert (row["id"], row["mime"], row["page"]) == (document_id("news.html"), "text/html", None)
    assert result.metrics == {}
    assert result.ledger.rows_in == result.ledger.rows_out == 1


def test_html_reader_text_mode_keeps_all_visible_text(tmp_path: Path) -> None:
    path = tmp_path / "news.htm"
    path.write_text(page(), encoding="utf-8")

    result = read(path, mode="text")

    text = result.output["text"][0].as_py()
    for visible in (*ARTICLE, "Home", "About us", "Contact & imprint | All rights reserved"):
        assert visible in text
    for hidden in ("SCRIPT_SECRET", "color: red", "NOSCRIPT_SECRET"):
        assert hidden not in text
    assert "Home\n" in text  # block elements end lines
    meta = meta_of(result)
    assert (meta["mode"], meta["title"], meta["language"]) == (
        "text", "Flood in the lower town", "en")


def test_html_to_text_survives_broken_markup() -> None:
    text, meta = html_to_text("<html><body><div><p>one <b>two<p>three &lt;4&gt; &#233;"
                              "<table><tr><td>cell<td>next</div><br>after <i>unclosed")

    assert text.split("\n") == ["one two", "three <4> é", "", "cell", "next", "",
                                "after unclosed"]
    assert meta == {"title": None, "language": None}


def test_html_reader_falls_back_to_text_without_main_content(tmp_path: Path) -> None:
    path = tmp_path / "menu.html"
    path.write_text("<html><body><footer>Copyright 2024</footer></body></html>",
                    encoding="utf-8")

    result = read(path)

    assert result.output["text"].to_pylist() == ["Copyright 2024"]
    assert meta_of(result)["mode"] == "text"
    assert result.metrics == {"fallback_to_text": 1.0}


def test_html_reader_decodes_declared_and_undeclared_latin1(tmp_path: Path) -> None:
    extra = "<p>Déjà vu : naïveté, garçon, hôtel, forêt — l'été à la française.</p>"
    (tmp_path / "declared.html").write_bytes(
        page(lang="fr", charset="iso-8859-1", body=extra).replace("—", "-").encode("latin-1"))
    undeclared = page(lang="fr", body=extra * 3).replace('<meta charset="utf-8">', "")
    (tmp_path / "undeclared.html").write_bytes(undeclared.replace("—", "-").encode("cp1252"))

    result = read(tmp_path)

    for row in range(2):
        assert "garçon, hôtel, forêt - l'été à la française" in result.output["text"][row].as_py()
    assert meta_of(result, 0)["encoding"] == "cp1252"  # WHATWG: latin-1 labels mean cp1252
    assert meta_of(result, 1)["encoding"] in ("cp1252", "latin_1", "iso8859_15")
    assert result.ledger.rows_out == 2


def test_html_reader_accounts_for_binary_and_empty_files(tmp_path: Path) -> None:
    (tmp_path / "good.html").write_text(page(), encoding="utf-8")
    binary = tmp_path / "logo.html"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(2048))
    (tmp_path / "empty.htm").write_bytes(b"")

    result = read(tmp_path)

    assert result.output["id"].to_pylist() == [document_id("good.html")]
    assert result.ledger.quarantined == {"binary_file": 1}
    assert result.ledger.dropped == {"empty_file": 1}
    row = result.quarantine.to_pylist()[0]
    assert (row["id"], row["source"], row["reason"]) == (
        document_id("logo.html"), str(binary), "binary_file")
    assert (result.ledger.rows_in, result.ledger.rows_out) == (3, 1)
    assert result.ledger.balanced


def big_page(path: Path, megabytes: int) -> None:
    paragraph = (b"<p>A paragraph of the <b>very long</b> page &amp; its filler text, "
                 b"repeated.</p>\n")
    with path.open("wb") as handle:
        handle.write(b"<html lang='en'><body><article>")
        chunk = paragraph * (2**20 // len(paragraph))
        for _ in range(megabytes):
            handle.write(chunk)
        handle.write(b"</article></body></html>")


def test_html_reader_quarantines_a_100_mb_page_quickly(tmp_path: Path) -> None:
    path = tmp_path / "huge.html"
    big_page(path, 100)

    started = time.perf_counter()
    result = read(path)

    assert time.perf_counter() - started < 5  # only max_bytes + 1 bytes are read
    assert result.output.num_rows == 0
    assert result.ledger.quarantined == {"too_large": 1}
    assert result.quarantine["id"].to_pylist() == [document_id("huge.html")]


def test_html_reader_reads_a_page_over_main_max_bytes_in_text_mode(tmp_path: Path) -> None:
    path = tmp_path / "long.html"
    big_page(path, 2)

    result = read(path)

    text = result.output["text"][0].as_py()
    assert text.startswith("A paragraph of the very long page & its filler text, repeated.")
    assert meta_of(result)["mode"] == "text"
    assert result.metrics == {"main_too_large": 1.0}


@pytest.mark.slow
def test_html_reader_reads_a_100_mb_page_in_text_mode(tmp_path: Path) -> None:
    path = tmp_path / "huge.html"
    big_page(path, 100)

    result = read(path, mode="text", max_bytes=128 * 2**20)

    text = result.output["text"][0].as_py()
    assert text.count("filler text") == 100 * (2**20 // 81)
    assert result.ledger.rows_out == 1
