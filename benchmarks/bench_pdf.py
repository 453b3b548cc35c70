"""PDF extraction: datamill's ``read.pdf`` against pypdf used the way LangChain's PyPDFLoader
uses it (``PdfReader(file)`` then ``page.extract_text()`` per page), on the same files.

Generates (once, under ``benchmarks/_data/pdf``) PDFs with fpdf2 holding known lines of text,
then in one process times both sides (best of ``--reps``) and checks text fidelity: the share
of the known lines found in each page's extracted text (whitespace collapsed).

    .venv/bin/python benchmarks/bench_pdf.py            # 10 files x 100 pages
    .venv/bin/python benchmarks/bench_pdf.py --files 2 --pages 20
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / "_data" / "pdf"
LINE = "Page {p} line {i}: the café serves a naïve crème brûlée to the quick brown fox, 12345."


def generate(files: int, pages: int) -> list[Path]:
    from fpdf import FPDF

    folder = DATA / f"{files}x{pages}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in range(files):
        path = folder / f"doc{f:03d}.pdf"
        if not path.exists():
            pdf = FPDF()
            pdf.set_font("helvetica", size=10)
            for p in range(pages):
                pdf.add_page()
                for i in range(40):
                    pdf.cell(0, 6, LINE.format(p=p + 1, i=i), new_x="LMARGIN", new_y="NEXT")
            pdf.output(str(path))
        paths.append(path)
    return paths


def fidelity(pages: list[tuple[int, str]]) -> float:
    hit = total = 0
    for number, text in pages:
        flat = " ".join(text.split())
        for i in range(40):
            total += 1
            hit += LINE.format(p=number, i=i) in flat
    return hit / max(total, 1)


def with_pypdf(paths: list[Path]) -> list[tuple[int, str]]:
    import pypdf

    out = []
    for path in paths:
        reader = pypdf.PdfReader(str(path))
        out.extend((n + 1, page.extract_text()) for n, page in enumerate(reader.pages))
    return out


def with_datamill(paths: list[Path]) -> list[tuple[int, str]]:
    from datamill.ingest.pdf import PdfReader
    from datamill.testing import run_step

    result = run_step(PdfReader(paths=[str(p) for p in paths]))
    assert result.ledger.balanced and not result.ledger.quarantined
    return list(zip(result.output["page"].to_pylist(), result.output["text"].to_pylist(), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    paths = generate(args.files, args.pages)
    total = args.files * args.pages
    results = {}
    for name, fn in (("pypdf (PyPDFLoader's way)", with_pypdf), ("datamill read.pdf", with_datamill)):
        fn(paths[:1])  # warm imports and caches
        best = float("inf")
        for _ in range(args.reps):
            start = time.perf_counter()
            pages = fn(paths)
            best = min(best, time.perf_counter() - start)
        results[name] = (total / best, fidelity(pages))
        print(f"{name:28s} {total / best:8,.0f} pages/s  fidelity {fidelity(pages):.3f}  ({best:.2f} s)")
    (base, base_fid), (ours, our_fid) = results.values()
    print(f"datamill / pypdf pages/s = {ours / base:.2f}")
    ok = ours >= base and our_fid >= base_fid
    print(f"{'PASS' if ok else 'FAIL'}: speed ratio {ours / base:.2f} >= 1.0 and fidelity "
          f"{our_fid:.3f} >= {base_fid:.3f}")


if __name__ == "__main__":
    main()
