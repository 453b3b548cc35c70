"""read.text: one record per file, encodings detected exactly, binary/huge/empty files accounted."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from datamill.ingest._documents import document_id
from datamill.ingest.text import TextReader, decode_bytes
from datamill.testing import StepResult, run_step

FRENCH = ("Le coeur a ses raisons que la raison ne connaît point. Ça, c'est l'été à la "
          "française : déjà vu, naïveté, garçon, hôtel, forêt.\n") * 3
JAPANESE = ("吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"
            "何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。\n")


def read(*paths: Path, **options: Any) -> StepResult:
    return run_step(TextReader(paths=[str(p) for p in paths], **options))


def metas(result: StepResult) -> list[dict[str, Any]]:
    return [json.loads(m) for m in result.output["meta"].to_pylist()]


def test_text_reader_reads_utf8_and_markdown_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("héllo wörld\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("intro\n```\n# not a title\n```\n# The Title #\nbody\n",
                                   encoding="utf-8")

    result = read(tmp_path)

    rows = result.output.to_pylist()
    assert [r["id"] for r in rows] == [document_id("a.txt"), document_id("b.md")]
    assert rows[0]["text"] == "héllo wörld\n"
    assert [r["mime"] for r in rows] == ["text/plain", "text/markdown"]
    assert [r["page"] for r in rows] == [None, None]
    assert rows[0]["source"] == str(tmp_path / "a.txt")
    assert rows[0]["sha256"] == hashlib.sha256((tmp_path / "a.txt").read_bytes()).hexdigest()
    assert metas(result) == [
        {"encoding": "utf-8", "bytes": 14},
        {"encoding": "utf-8", "bytes": len((tmp_path / "b.md").read_bytes()), "title": "The Title"},
    ]
    assert result.ledger.rows_in == result.ledger.rows_out == 2
    assert result.quarantine.num_rows == 0


def test_text_reader_decodes_legacy_and_bom_encodings_exactly(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes(FRENCH.encode("latin-1"))
    (tmp_path / "sjis.txt").write_bytes(JAPANESE.encode("shift_jis"))
    (tmp_path / "u16.txt").write_bytes(codecs.BOM_UTF16_LE + JAPANESE.encode("utf-16-le"))
    (tmp_path / "u8bom.txt").write_bytes(codecs.BOM_UTF8 + FRENCH.encode("utf-8"))

    result = read(tmp_path)

    assert result.output["text"].to_pylist() == [FRENCH, JAPANESE, JAPANESE, FRENCH]
    encodings = [m["encoding"] for m in metas(result)]
    assert encodings[0] in ("cp1252", "latin_1", "iso8859_15")
    assert encodings[1] in ("shift_jis", "cp932")  # cp932 is a superset of Shift-JIS
    assert encodings[2:] == ["utf-16", "utf-8-sig"]
    assert result.ledger.rows_out == 4
    assert result.ledger.balanced


def test_text_reader_uses_a_configured_encoding(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes("naïve".encode("latin-1"))

    result = read(path, encoding="latin-1")

    assert result.output["text"].to_pylist() == ["naïve"]
    assert metas(result)[0]["encoding"] == "latin-1"


def test_text_reader_quarantines_binary_files(tmp_path: Path) -> None:
    png = tmp_path / "image.txt"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(4096))
    noise = tmp_path / "noise.txt"
    noise.write_bytes(bytes(b for b in os.urandom(8192) if b))  # random, without NUL bytes
    nuls = tmp_path / "nuls.txt"
    nuls.write_bytes(b"text" + b"\x00" * 1000)

    result = read(tmp_path)

    assert result.output.num_rows == 0
    assert result.ledger.quarantined == {"binary_file": 3}
    rows = sorted(result.quarantine.to_pylist(), key=lambda r: r["source"])
    assert [(r["id"], r["source"], r["reason"]) for r in rows] == [
        (document_id("image.txt"), str(png), "binary_file"),
        (document_id("noise.txt"), str(noise), "binary_file"),
        (document_id("nuls.txt"), str(nuls), "binary_file"),
    ]
    assert "binary data" in rows[0]["error"]


def test_text_reader_drops_empty_files_and_quarantines_large_ones(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "big.txt").write_bytes(b"x" * 101)
    (tmp_path / "ok.txt").write_bytes(b"x" * 100)

    result = read(tmp_path, max_bytes=100)

    assert result.output["text"].to_pylist() == ["x" * 100]
    assert result.ledger.dropped == {"empty_file": 1}
    assert result.ledger.quarantined == {"too_large": 1}
    assert result.quarantine["id"].to_pylist() == [document_id("big.txt")]
    assert "max_bytes=100" in result.quarantine["error"][0].as_py()
    assert result.ledger.rows_in == 3
    assert result.ledger.balanced


def test_text_reader_balances_a_folder_of_good_and_bad_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "good.rst").write_text("Title\n=====\n", encoding="utf-8")
    with gzip.open(tmp_path / "zipped.md.gz", "wt", encoding="utf-8") as handle:
        handle.write("# Zipped\n")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02" * 100)
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "ignored.csv").write_text("a,b\n")

    result = read(tmp_path)

    assert sorted(result.output["text"].to_pylist()) == ["# Zipped\n", "Title\n=====\n"]
    by_id = {r["id"]: json.loads(r["meta"]) for r in result.output.to_pylist()}
    assert by_id[document_id("zipped.md.gz")]["title"] == "Zipped"
    assert result.ledger.quarantined == {"binary_file": 1}
    assert result.ledger.dropped == {"empty_file": 1}
    assert (result.ledger.rows_in, result.ledger.rows_out) == (4, 2)
    assert result.ledger.balanced


def test_decode_bytes_rejects_bytes_invalid_in_a_forced_encoding() -> None:
    assert decode_bytes(b"\xff\xfe\xfd", "utf-8") is None
    assert decode_bytes(b"plain ascii") == ("plain ascii", "utf-8")
