"""HTML main-text extraction: datamill's ``read.html`` against calling trafilatura directly.

Pages are built (once, under ``benchmarks/_data/html``) from real prose, the public-domain
documents in ``../shared/data/corpus/docs.jsonl``, each wrapped in a realistic page: head with
title, description and language, a navigation menu, a header, the article split in paragraphs,
a sidebar, a cookie banner and a footer. Both sides read the same files in one process;
trafilatura's side is what a user would write by hand: read the bytes, ``bare_extraction`` with
metadata. The ratio is datamill's CPU time over trafilatura's (best of ``--reps``, sides
interleaved in alternating order, garbage collected before each, modules frozen out of the
collector's walks as in a datamill worker): the median over repetitions of each repetition's
paired ratio, since this shared machine's speed drifts by ±20% between repetitions. The issue
asks for at most 1.10 (10% overhead) with the same main text.

    .venv/bin/python benchmarks/bench_html.py               # 300 pages
    .venv/bin/python benchmarks/bench_html.py --pages 50 --reps 2
"""

from __future__ import annotations

import argparse
import gc
import html
import json
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data" / "html"
CORPUS = HERE.parent.parent / "shared" / "data" / "corpus" / "docs.jsonl"

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | The Reading Room</title>
<meta name="description" content="{description}"><meta name="author" content="Archive staff">
<link rel="stylesheet" href="/static/site.css"><script>window.dataLayer=[];function gtag(){{}}</script>
</head><body>
<div class="cookie-banner">We use cookies to improve your experience. <a href="/privacy">Learn more</a>
<button>Accept</button></div>
<header><a class="logo" href="/">The Reading Room</a><nav><ul>
<li><a href="/">Home</a></li><li><a href="/books">Books</a></li><li><a href="/authors">Authors</a></li>
<li><a href="/about">About</a></li><li><a href="/contact">Contact</a></li></ul></nav></header>
<main><article><h1>{title}</h1><p class="byline">Posted in <a href="/c/classics">Classics</a></p>
{body}
</article>
<aside><h3>Popular</h3><ul><li><a href="/p/1">Ten books to read this winter</a></li>
<li><a href="/p/2">Why we still read Dickens</a></li><li><a href="/p/3">A short history of the novel</a></li>
</ul></aside></main>
<footer><p>© 2026 The Reading Room. All rights reserved.</p><p><a href="/terms">Terms</a> ·
<a href="/privacy">Privacy</a></p></footer></body></html>
"""


def generate(pages: int) -> list[Path]:
    """Write ``pages`` pages (once) and return their paths."""
    folder = DATA / str(pages)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with CORPUS.open(encoding="utf-8") as lines:
        for n, line in enumerate(lines):
            if n == pages:
                break
            doc = json.loads(line)
            path = folder / f"page{n:05d}.html"
            paths.append(path)
            if path.exists():
                continue
            paras = [p.strip() for p in doc["text"].split("\n\n") if p.strip()]
            title = html.escape(" ".join(paras[0].split()[:8]) if paras else doc["id"])
            body = "\n".join(f"<p>{html.escape(' '.join(p.split()))}</p>" for p in paras)
            path.write_text(PAGE.format(title=title, description=title, body=body), encoding="utf-8")
    return paths


def with_trafilatura(paths: list[Path]) -> list[str]:
    """What a user writes by hand: bytes in, trafilatura's main text and metadata out."""
    import trafilatura

    out = []
    for path in paths:
        doc = trafilatura.bare_extraction(path.read_bytes(), with_metadata=True, include_comments=False)
        out.append((doc.text or "").strip() if doc is not None else "")
    return out


def with_datamill(paths: list[Path]) -> list[str]:
    """``read.html`` in main mode, run the way the executors run it (ids, ledger, hashes)."""
    from datamill.ingest.html import HtmlReader
    from datamill.testing import run_step

    result = run_step(HtmlReader(paths=[str(p) for p in paths]))
    assert result.ledger.balanced and not result.ledger.quarantined
    by_name = dict(zip(result.output["source"].to_pylist(), result.output["text"].to_pylist(), strict=True))
    return [by_name[str(p)] for p in paths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    paths = generate(args.pages)
    runs: dict[str, list[float]] = {}
    texts: dict[str, list[str]] = {}
    sides = (("trafilatura directly", with_trafilatura), ("datamill read.html", with_datamill))
    for _name, fn in sides:
        fn(paths[:2])  # warm imports and caches
    # What a datamill worker does after its first task (pipeline/executors/local.py): the loaded
    # modules leave the garbage collector's walks. Both sides run under it.
    gc.collect()
    gc.freeze()
    for rep in range(args.reps):  # interleaved, order swapped each time: noise hurts both alike
        for name, fn in sides if rep % 2 == 0 else sides[::-1]:
            # trafilatura leaves lxml garbage in reference cycles; without a collection here the
            # next side would pay for the previous side's garbage.
            gc.collect()
            # CPU time of this process: both sides are single-threaded, and on a shared machine
            # CPU time leaves out the time other tenants held the core.
            start = time.process_time()
            texts[name] = fn(paths)
            runs.setdefault(name, []).append(time.process_time() - start)
    times = {name: min(values) for name, values in runs.items()}
    for name, _ in sides:
        print(f"{name:22s} {len(paths) / times[name]:8,.1f} pages per CPU-second  ({times[name]:.2f} s)")
    base, ours = texts["trafilatura directly"], texts["datamill read.html"]
    same = sum(a == b for a, b in zip(base, ours, strict=True)) / len(paths)
    # Each repetition runs both sides back to back, so its ratio shares the machine's state of
    # the moment; the median of those paired ratios is what the verdict uses. The ratio of the
    # best times is printed too.
    paired = sorted(d / t for d, t in zip(runs["datamill read.html"], runs["trafilatura directly"], strict=True))
    ratio = statistics.median(paired)
    print(f"same main text on {same:.1%} of pages")
    print(f"paired ratios: {' '.join(f'{r:.3f}' for r in paired)}; of the best times: "
          f"{times['datamill read.html'] / times['trafilatura directly']:.3f}")
    print(f"datamill / trafilatura time = {ratio:.3f} (overhead {ratio - 1:+.1%}, median of {len(paired)} pairs)")
    ok = ratio <= 1.10 and same >= 0.99
    print(f"{'PASS' if ok else 'FAIL'}: overhead {ratio - 1:+.1%} <= +10% and same text on {same:.1%} >= 99%")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
