"""`datamill ingest` on zip archives, compressed files and databases, end to end."""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
import zstandard
from fpdf import FPDF

from tests.e2e.cli import cli, cli_json

MiB = 1 << 20






def make_pdf(text: str) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.cell(0, 10, text)
    return bytes(pdf.output())


def zeros_zip(path: Path, mib: int) -> None:
    """A zip holding ``mib`` MiB of zeros (about 1000:1), written without deflating them all."""
    block = b"\0" * MiB
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = (deflater.compress(block) + deflater.flush(zlib.Z_FULL_FLUSH)) * mib + deflater.flush()
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(block, crc)
    name = b"zeros.txt"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), mib * MiB, len(name), 0)
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data), mib * MiB,
                          len(name), 0, 0, 0, 0, 0, 0)
    start = len(local) + len(name) + len(data)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(name), start, 0)
    path.write_bytes(local + name + data + central + name + end)


def read_steps(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in result["steps"] if s["id"].startswith("read")}


@pytest.mark.slow
def test_ingest_reads_zip_members_with_a_reader_per_type_and_names_the_rest(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    data = tmp_path / "data"
    data.mkdir()
    with zipfile.ZipFile(data / "docs.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("site/page.html", "<html><body><p>Hello from a zipped page.</p></body></html>")
        archive.writestr("papers/paper.pdf", make_pdf("Hello from a zipped PDF"))
        archive.writestr("notes.xyz", "no reader")
        archive.writestr("old/inner.zip", b"PK\x05\x06" + b"\0" * 18)
    (data / "loose.txt").write_text("Hello from a loose file")

    done = cli(tmp_path, "ingest", str(data), "--to", "docs", "--json")

    result = json.loads(done.stdout)
    assert set(read_steps(result)) == {"read_html", "read_pdf", "read_text"}
    assert "docs.zip!notes.xyz" in done.stderr
    assert "docs.zip!old/inner.zip (an archive inside an archive)" in done.stderr
    for step in read_steps(result).values():
        assert step["rows_out"] == 1 and not step["quarantined"]
    rows = cli_json(tmp_path, "head", "docs", "-n", "10")["rows"]
    assert sorted(r["text"] for r in rows) == ["Hello from a loose file", "Hello from a zipped PDF",
                                               "Hello from a zipped page."]
    assert any(r["source"] == f"zip://papers/paper.pdf::{data / 'docs.zip'}" for r in rows)


def test_ingest_takes_a_zip_archive_given_by_name(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    with zipfile.ZipFile(tmp_path / "tables.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.csv", "text\nfrom a zipped csv\n")
        archive.writestr("b.jsonl", '{"text": "from a zipped jsonl"}\n')

    result = cli_json(tmp_path, "ingest", "tables.zip", "--to", "tables")

    assert set(read_steps(result)) == {"read_csv", "read_jsonl"}
    rows = cli_json(tmp_path, "head", "tables")["rows"]
    assert sorted(r["text"] for r in rows) == ["from a zipped csv", "from a zipped jsonl"]
    assert {r["id"] for r in rows} == {"tables.zip!a.csv:2", "tables.zip!b.jsonl:1"}


def test_ingest_reads_compressed_files(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(b'{"text": "zstd"}\n'))
    (data / "b.csv.gz").write_bytes(gzip.compress(b"text\ngzip\n"))

    result = cli_json(tmp_path, "ingest", str(data), "--to", "packed")

    assert set(read_steps(result)) == {"read_csv", "read_jsonl"}
    rows = cli_json(tmp_path, "head", "packed")["rows"]
    assert sorted(r["text"] for r in rows) == ["gzip", "zstd"]


@pytest.mark.slow
def test_ingest_quarantines_a_zip_bomb_and_broken_archives_and_finishes(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    data = tmp_path / "data"
    data.mkdir()
    zeros_zip(data / "bomb.zip", 64)
    packed = gzip.compress(b"a real text file\n" * 5000)
    (data / "cut.txt.gz").write_bytes(packed[: len(packed) // 2])
    (data / "good.txt").write_text("still read")
    damaged = io.BytesIO()
    with zipfile.ZipFile(damaged, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.txt", " ".join(f"word{i * 7919 % 10007}" for i in range(3000)))
        archive.writestr("b.txt", "beta")
    raw = bytearray(damaged.getvalue())
    raw[200:210] = b"\xff" * 10  # inside a.txt's deflate stream
    (data / "damaged.zip").write_bytes(bytes(raw))

    result = cli_json(tmp_path, "ingest", str(data), "--to", "texts", "--workers", "2")

    read = read_steps(result)["read"]
    assert read["rows_out"] == 2  # good.txt and damaged.zip!b.txt
    assert read["quarantined"] == {"decompression_limit": 1, "corrupt_archive": 2}
    assert read["rows_in"] == read["rows_out"] + sum(read["quarantined"].values())
    shown = cli_json(tmp_path, "show", "texts", "--quarantine")
    errors = [r["error"] for item in shown["quarantine"] for r in item["first"]]
    assert any("raise `max_compression_ratio`" in e for e in errors)


def _shop(path: Path, rows: list[tuple[int, str]]) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("create table if not exists items (id integer primary key, text text)")
        conn.executemany("insert into items values (?, ?)", rows)
    conn.close()


@pytest.mark.slow
def test_ingest_reads_a_sqlite_query_and_table_and_sees_the_database_change(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    _shop(tmp_path / "shop.db", [(1, "Zoë's first"), (2, "second")])

    by_query = cli_json(tmp_path, "ingest", "sqlite:///shop.db", "--query", "select text from items where id > 1",
                        "--to", "q")
    by_table = cli_json(tmp_path, "ingest", "sqlite:///shop.db", "--table", "items", "--to", "t")
    _shop(tmp_path / "shop.db", [(3, "third")])
    again = cli_json(tmp_path, "ingest", "sqlite:///shop.db", "--table", "items", "--to", "t")

    assert by_query["steps"][0]["rows_out"] == 1
    assert [r["text"] for r in cli_json(tmp_path, "head", "q")["rows"]] == ["second"]
    assert by_table["steps"][0]["rows_out"] == 2
    # The database file's content is the step's input: a changed database is read again.
    assert again["steps"][0]["status"] == "ran" and again["steps"][0]["rows_out"] == 3
    rows = cli_json(tmp_path, "head", "t@2")["rows"]
    assert [(r["id"], r["text"]) for r in rows] == [("1", "Zoë's first"), ("2", "second"), ("3", "third")]


def test_ingest_a_database_needs_a_query_or_a_table(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    _shop(tmp_path / "shop.db", [(1, "x")])

    neither = cli(tmp_path, "ingest", "sqlite:///shop.db", "--to", "x", code=2)
    both = cli(tmp_path, "ingest", "sqlite:///shop.db", "--table", "items", "--query", "select 1", "--to", "x",
               code=2)
    files = cli(tmp_path, "ingest", "a.csv", "--table", "items", "--to", "x", code=2)

    assert "needs one of --query 'select ...' or --table NAME" in neither.stderr
    assert "needs one of --query" in both.stderr
    assert "give one database URL" in files.stderr


@pytest.mark.slow
def test_ingest_never_prints_nor_records_a_database_password(tmp_path: Path) -> None:
    cli(tmp_path, "init")

    written = cli(tmp_path, "ingest", "postgresql+psycopg://bob:S3cr3tPW@127.0.0.1:1/x", "--table", "t",
                  "--to", "x", code=2)
    from_env = cli(tmp_path, "ingest", "postgresql+psycopg://bob:${SHOP_PW}@127.0.0.1:1/x", "--table", "t",
                   "--to", "x", code=2, env={"SHOP_PW": "EnvS3cr3t"})

    assert "S3cr3tPW" not in written.stdout + written.stderr and "Write `${VAR}` in its place" in written.stderr
    assert "EnvS3cr3t" not in from_env.stdout + from_env.stderr
    assert "cannot connect to 'postgresql+psycopg://bob:***@127.0.0.1:1/x'" in from_env.stderr
    for path in (tmp_path / ".datamill").rglob("*"):
        if path.is_file():
            assert b"EnvS3cr3t" not in path.read_bytes() and b"S3cr3tPW" not in path.read_bytes()


def test_ingest_reads_web_pages_given_as_urls_and_obeys_robots_txt(tmp_path: Path) -> None:
    from tests.ingest.http_server import LocalServer, Reply

    article = "<p>" + "The harbour master counted the boats that came back before the storm. " * 8 + "</p>"
    with LocalServer() as site:
        site.routes["/robots.txt"] = Reply.html("User-agent: *\nDisallow: /private\n", **{"Content-Type": "text/plain"})
        site.routes["/news"] = Reply.html(f"<html lang='en'><title>News</title><body>{article}</body></html>")
        site.routes["/private"] = Reply.html("<p>secret</p>")
        cli(tmp_path, "init")

        result = cli_json(tmp_path, "ingest", site.url("/news"), site.url("/private"), "--to", "pages")

    read = result["steps"][0]
    assert read["uses"] == "read.web" and read["rows_out"] == 1
    assert read["dropped"] == {"robots_disallowed": 1}
    rows = cli_json(tmp_path, "head", "pages")["rows"]
    assert rows[0]["source"] == site.url("/news") and "harbour master" in rows[0]["text"]
