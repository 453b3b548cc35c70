"""Build the LLM-corpus demo's folder of mixed documents from ``../shared/data/corpus``.

The demo (``datamill demo``) ships this folder inside the package; run this script to make it
again after changing it. It needs the dev extras (fpdf2 writes the PDFs, python-docx the DOCX)
and writes ``src/datamill/examples/llm_corpus/docs/``:

- prose excerpts of public-domain books and speeches (the corpus README names each source) as
  PDF (3 pages each), HTML article pages (sharing a site's navigation and a "share" line),
  DOCX (headings, paragraphs, a table), plain text and Markdown;
- text that the cleaning steps must repair: a Windows-1252 file, a file with mojibake;
- short passages in French, German and Spanish written for this demo, for the language filter;
- pages the quality filters must drop: navigation only, lorem ipsum, a repeated sales pitch;
- broken files every reader must quarantine, not crash on: an encrypted PDF, a truncated PDF,
  a PDF with no text layer, a "DOCX" that is plain text, a binary file named .txt, an empty file.

It also writes ``tokenizer.json`` next to the pipeline: a byte-level BPE of 8,000 tokens that
``datamill.llm.train.train_tokenizer`` trains on the whole corpus (``llm.tokenize`` needs a
tokenizer file, and nothing is downloaded).

    .venv/bin/python scripts/build_demo_corpus.py
"""

from __future__ import annotations

import html
import json
import shutil
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "corpus" / "docs.jsonl"
OUT = ROOT / "src" / "datamill" / "examples" / "llm_corpus" / "docs"

# (book id in docs.jsonl, first document number, how many documents) → one excerpt each.
PDFS = [("gitenberg-frankenstein_84", 20, 3), ("gitenberg-dracula_345", 40, 3),
        ("gutenberg-nltk-melville-moby_dick", 60, 3), ("nltk-inaugural", 10, 3)]
HTMLS = [("gitenberg-pride-and-prejudice_1342", 30, 2), ("gitenberg-treasure-island_120", 25, 2),
         ("gitenberg-the-adventures-of-sherlock-holmes_1661", 50, 2), ("nltk-state_union", 100, 2),
         ("gitenberg-a-tale-of-two-cities_98", 70, 2), ("gutenberg-nltk-chesterton-brown", 15, 2)]
DOCXS = [("gitenberg-the-souls-of-black-folk_408", 10, 2), ("gitenberg-great-expectations_1400", 80, 2),
         ("gutenberg-nltk-austen-persuasion", 35, 2)]
TEXTS = [("gitenberg-adventures-of-huckleberry-finn_76", 30, 2), ("gitenberg-leviathan_3207", 90, 2),
         ("gutenberg-nltk-austen-emma", 45, 2), ("gitenberg-the-adventures-of-tom-sawyer_74", 20, 2)]

# Written for this demo (not from any source): the language filter keeps English only.
OTHER_LANGUAGES = {
    "fr": "Le matin, le marché de la petite ville s'anime avant le lever du soleil. Les "
          "maraîchers installent leurs étals, les boulangers sortent les premières fournées et "
          "les habitants viennent chercher le pain encore chaud. On parle du temps qu'il fera, "
          "des récoltes de l'année et des nouvelles du village voisin. Vers midi, la place se "
          "vide peu à peu et il ne reste que le bruit de la fontaine.\n\n",
    "de": "Am Abend kehrten die Fischer mit ihren Booten in den kleinen Hafen zurück. Die "
          "Netze waren schwer, und auf dem Kai warteten schon die Händler, um den Fang zu "
          "begutachten. Die Kinder liefen zwischen den Kisten umher, während die Alten auf der "
          "Bank vor dem Gasthaus saßen und von den Stürmen vergangener Jahre erzählten.\n\n",
    "es": "Durante el verano, la familia pasaba las tardes en el patio de la casa, a la sombra "
          "de un viejo limonero. La abuela contaba historias de su juventud en el pueblo, cuando "
          "no había luz eléctrica y el agua se traía del pozo. Los nietos escuchaban en silencio "
          "hasta que el sol se ponía detrás de las montañas.\n\n",
}

SITE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title} | The Reading Room</title>
<meta name="author" content="The Reading Room"></head><body>
<header><a href="/">The Reading Room</a><nav><ul><li><a href="/">Home</a></li>
<li><a href="/books">Books</a></li><li><a href="/about">About</a></li></ul></nav></header>
<main><article><h1>{title}</h1>
{body}
<p>Share this article with your friends and follow The Reading Room for more classic texts.</p>
</article></main>
<footer><p>© 2026 The Reading Room. All rights reserved.</p></footer></body></html>
"""


def excerpts() -> dict[str, list[str]]:
    """Documents of docs.jsonl by book, in order."""
    books: dict[str, list[str]] = {}
    with CORPUS.open(encoding="utf-8") as lines:
        for line in lines:
            doc = json.loads(line)
            books.setdefault(doc["id"].rsplit(":", 1)[0], []).append(doc["text"])
    return books


def excerpt(books: dict[str, list[str]], book: str, first: int, count: int) -> str:
    return "\n\n".join(books[book][first:first + count])


def paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]


def latin1(text: str) -> str:
    # fpdf2's core fonts are Latin-1; typographic quotes and dashes get their plain forms.
    table = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "—": "--", "–": "-", "…": "..."})
    return text.translate(table).encode("latin-1", "replace").decode("latin-1")


def write_pdf(path: Path, text: str, *, encrypt: bool = False) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    paras = paragraphs(text)
    per_page = max(1, len(paras) // 3 + (len(paras) % 3 > 0))
    for start in range(0, len(paras), per_page):
        pdf.add_page()
        for para in paras[start:start + per_page]:
            pdf.multi_cell(0, 5, latin1(para), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    if encrypt:
        pdf.set_encryption(owner_password="owner-secret", user_password="reader-secret")
    pdf.output(str(path))


def write_image_pdf(path: Path) -> None:
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (600, 200), "white")
    ImageDraw.Draw(image).text((20, 80), "A scanned page: there is no text layer here.", fill="black")
    pdf = FPDF()
    pdf.add_page()
    pdf.image(image, x=10, y=10, w=180)
    pdf.output(str(path))


def write_docx(path: Path, title: str, text: str) -> None:
    from docx import Document

    doc = Document()
    doc.add_heading(title, level=1)
    paras = paragraphs(text)
    half = len(paras) // 2
    for para in paras[:half]:
        doc.add_paragraph(para)
    doc.add_heading("Notes", level=2)
    for para in paras[half:]:
        doc.add_paragraph(para)
    table = doc.add_table(rows=3, cols=2)
    for row, (key, value) in zip(table.rows, [("Source", title), ("Licence", "Public domain"),
                                              ("Pages", str(len(paras)))], strict=True):
        row.cells[0].text, row.cells[1].text = key, value
    doc.save(str(path))


def main() -> None:
    books = excerpts()
    if OUT.exists():
        shutil.rmtree(OUT)
    for sub in ("pdf", "html", "docx", "text"):
        (OUT / sub).mkdir(parents=True)

    for book, first, count in PDFS:
        write_pdf(OUT / "pdf" / f"{book}.pdf", excerpt(books, book, first, count))
    write_pdf(OUT / "pdf" / "locked-report.pdf", excerpt(books, "gitenberg-dracula_345", 5, 1), encrypt=True)
    whole = (OUT / "pdf" / f"{PDFS[0][0]}.pdf").read_bytes()
    (OUT / "pdf" / "truncated-download.pdf").write_bytes(whole[: len(whole) // 3])
    write_image_pdf(OUT / "pdf" / "scanned-page.pdf")

    for book, first, count in HTMLS:
        paras = paragraphs(excerpt(books, book, first, count))
        title = "From " + book.split("-", 1)[1].rsplit("_", 1)[0].replace("-", " ").title()
        body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paras)
        (OUT / "html" / f"{book}.html").write_text(
            SITE.format(lang="en", title=html.escape(title), body=body), encoding="utf-8")
    nav = "\n".join(f'<li><a href="/c/{i}">Category {i}</a></li>' for i in range(40))
    (OUT / "html" / "sitemap.html").write_text(
        SITE.format(lang="en", title="Sitemap", body=f"<ul>{nav}</ul>"), encoding="utf-8")
    lorem = "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>" * 30
    (OUT / "html" / "placeholder.html").write_text(
        SITE.format(lang="en", title="Coming soon", body=lorem), encoding="utf-8")
    french = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs(OTHER_LANGUAGES["fr"] * 4))
    (OUT / "html" / "marche.html").write_text(
        SITE.format(lang="fr", title="Le marché", body=french), encoding="utf-8")

    for book, first, count in DOCXS:
        write_docx(OUT / "docx" / f"{book}.docx", book.split("-", 1)[1].replace("-", " ").title(),
                   excerpt(books, book, first, count))
    (OUT / "docx" / "notes-not-really.docx").write_text("This was saved as text, not as a Word file.\n")

    for book, first, count in TEXTS[:-1]:
        (OUT / "text" / f"{book}.txt").write_text(excerpt(books, book, first, count) + "\n", encoding="utf-8")
    book, first, count = TEXTS[-1]
    # A Windows-1252 file with typographic quotes: the reader must detect the encoding.
    (OUT / "text" / f"{book}.cp1252.txt").write_bytes(
        excerpt(books, book, first, count).replace('"', "\u201c", 1).encode("cp1252", "replace"))
    # Mojibake: UTF-8 bytes once read as Windows-1252 and saved again. clean.text repairs it.
    broken = ("The café on the corner served crème brûlée and “fresh” coffee.\n\n"
              + excerpt(books, "gutenberg-nltk-chesterton-thursday", 12, 2))
    import ftfy.bad_codecs  # noqa: F401  (registers sloppy-windows-1252: bytes 0x81, 0x9d... kept)

    (OUT / "text" / "mojibake-cafe.txt").write_text(
        broken.encode("utf-8").decode("sloppy-windows-1252"), encoding="utf-8")
    (OUT / "text" / "inaugural-notes.md").write_text(
        "# Inaugural addresses\n\n" + excerpt(books, "nltk-inaugural", 40, 2) + "\n", encoding="utf-8")
    for lang in ("de", "es"):
        (OUT / "text" / f"story-{lang}.txt").write_text(OTHER_LANGUAGES[lang] * 4, encoding="utf-8")
    (OUT / "text" / "spam.txt").write_text("BUY NOW!!! Best prices on watches, click here.\n" * 60,
                                           encoding="utf-8")
    # The same article twice: as a web page, and from a mirror as text with a header of its own
    # and its quotes "smartened". dedup.minhash finds the copy; exact dedup cannot.
    book, first, count = HTMLS[3]
    mirrored = excerpt(books, book, first, count).replace('"', "\u201d")
    (OUT / "text" / f"mirror-{book}.txt").write_text(
        "Mirrored from the Reading Room archive.\n\n" + mirrored + "\n", encoding="utf-8")
    # A verbatim second copy of a text file under another name: exact dedup removes it.
    book, first, count = TEXTS[0]
    (OUT / "text" / f"copy-of-{book}.txt").write_text(excerpt(books, book, first, count) + "\n",
                                                      encoding="utf-8")
    (OUT / "text" / "empty.txt").write_bytes(b"")
    (OUT / "text" / "firmware.txt").write_bytes(zlib.compress(bytes(range(256)) * 64))

    files = sorted(p for p in OUT.rglob("*") if p.is_file())
    print(f"{len(files)} files, {sum(p.stat().st_size for p in files):,} bytes in {OUT.relative_to(ROOT)}")


def write_tokenizer() -> None:
    from datamill.llm.train import train_tokenizer

    texts = [json.loads(line)["text"] for line in CORPUS.open(encoding="utf-8")]
    tokenizer = train_tokenizer(texts, vocab_size=8000)
    tokenizer.save(str(OUT.parent / "tokenizer.json"), pretty=False)


if __name__ == "__main__":
    main()
    write_tokenizer()
