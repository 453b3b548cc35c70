"""Chunking speed: datamill's ``chunk.text`` against LangChain's ``RecursiveCharacterTextSplitter``.

Both sides chunk the same real prose, the public-domain documents in
``../shared/data/corpus/docs.jsonl``, in one process, with the same size and overlap in
characters and the same separators. LangChain's side is ``split_text`` per document; datamill's is the whole step
(Arrow in, one row per chunk with offsets out) run by ``datamill.testing.run_step``, plus the
bare splitter ``chunk_spans``. The ratio is LangChain's time over datamill's (best of
``--reps``): above 1 means datamill is faster. With ``keep_separator: start`` datamill groups
pieces the way LangChain does; the share of documents whose chunk texts are identical is printed.

With ``--tokens``, sizes are in tokens of a byte-level BPE tokenizer trained here on the corpus
(saved under ``benchmarks/_data``; nothing is downloaded). LangChain's side is then the same
splitter with ``length_function`` counting that tokenizer's tokens, which is how LangChain sizes
chunks in tokens; datamill's is ``chunk.text`` with ``unit: tokens``.

Needs ``langchain-text-splitters`` (a benchmark-only install, not a datamill dependency):

    .venv/bin/python benchmarks/bench_chunk.py               # 200 documents
    .venv/bin/python benchmarks/bench_chunk.py --docs 50 --reps 2 --size 500 --overlap 50
    .venv/bin/python benchmarks/bench_chunk.py --tokens --docs 300 --size 256 --overlap 32
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from datamill.clean.chunk import DEFAULT_SEPARATORS, ChunkText, chunk_spans
from datamill.testing import run_step

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpus" / "docs.jsonl"
TOKENIZER = Path(__file__).resolve().parent / "_data" / "bench_tokenizer.json"


def load(docs: int) -> list[str]:
    """The first ``docs`` texts of the corpus."""
    texts = []
    with CORPUS.open(encoding="utf-8") as lines:
        for line in lines:
            if len(texts) == docs:
                break
            texts.append(json.loads(line)["text"])
    return texts


def best(fn: Callable[[], Any], reps: int) -> tuple[float, Any]:
    """The best wall time of ``reps`` calls, and the last result."""
    times, result = [], None
    for _ in range(reps):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def train_tokenizer() -> Path:
    """A byte-level BPE tokenizer (8,000 tokens) trained once on the first 2,000 documents."""
    if not TOKENIZER.exists():
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=8000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        tok.train_from_iterator(load(2000), trainer)
        TOKENIZER.parent.mkdir(parents=True, exist_ok=True)
        tok.save(str(TOKENIZER))
    return TOKENIZER


def bench_tokens(args: argparse.Namespace) -> None:
    """Token-sized chunks: LangChain with a token-counting length function against chunk.text."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from tokenizers import Tokenizer

    path = train_tokenizer()
    tok = Tokenizer.from_file(str(path))
    texts = load(args.docs)
    chars = sum(len(t) for t in texts)

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    lc = RecursiveCharacterTextSplitter(chunk_size=args.size, chunk_overlap=args.overlap,
                                        separators=list(DEFAULT_SEPARATORS), length_function=count)
    batch = pa.record_batch({"id": [str(i) for i in range(len(texts))], "text": texts})
    step = ChunkText(size=args.size, overlap=args.overlap, unit="tokens", tokenizer=str(path))
    t_lc, lc_chunks = best(lambda: [lc.split_text(t) for t in texts], args.reps)
    t_step, result = best(lambda: run_step(step, [batch]), args.reps)
    lc_over = sum(count(c) > args.size for doc in lc_chunks for c in doc)
    ours_over = sum(count(c) > args.size for c in result.output["text"].to_pylist())
    print(f"{len(texts)} documents, {chars:,} characters, size {args.size} tokens, overlap {args.overlap}")
    print(f"langchain split_text (token length)  {t_lc:7.3f} s  {chars / t_lc:>12,.0f} chars/s  "
          f"{sum(map(len, lc_chunks)):,} chunks, {lc_over} over size")
    print(f"datamill chunk.text unit=tokens      {t_step:7.3f} s  {chars / t_step:>12,.0f} chars/s  "
          f"{result.output.num_rows:,} chunks, {ours_over} over size")
    print(f"ratio langchain / chunk.text: {t_lc / t_step:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--overlap", type=int, default=200)
    parser.add_argument("--tokens", action="store_true", help="size in tokens of a tokenizer trained here")
    args = parser.parse_args()
    if args.tokens:
        bench_tokens(args)
        return
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    texts = load(args.docs)
    chars = sum(len(t) for t in texts)
    # The same separators on both sides (LangChain's default has no ". ").
    lc = RecursiveCharacterTextSplitter(chunk_size=args.size, chunk_overlap=args.overlap,
                                        separators=list(DEFAULT_SEPARATORS))
    batch = pa.record_batch({"id": [str(i) for i in range(len(texts))], "text": texts})
    step = ChunkText(size=args.size, overlap=args.overlap)

    t_lc, lc_chunks = best(lambda: [lc.split_text(t) for t in texts], args.reps)
    t_spans, _ = best(lambda: [chunk_spans(t, size=args.size, overlap=args.overlap) for t in texts], args.reps)
    t_step, result = best(lambda: run_step(step, [batch]), args.reps)
    same_spans = [chunk_spans(t, size=args.size, overlap=args.overlap, keep_separator="start") for t in texts]
    same = sum(
        [t[s:e] for s, e in spans] == chunks for t, spans, chunks in zip(texts, same_spans, lc_chunks, strict=True)
    )
    print(f"{len(texts)} documents, {chars:,} characters, size {args.size}, overlap {args.overlap}")
    print(f"langchain split_text       {t_lc:7.3f} s  {chars / t_lc:>14,.0f} chars/s  "
          f"{sum(map(len, lc_chunks)):,} chunks")
    print(f"datamill chunk_spans       {t_spans:7.3f} s  {chars / t_spans:>14,.0f} chars/s")
    print(f"datamill chunk.text step   {t_step:7.3f} s  {chars / t_step:>14,.0f} chars/s  "
          f"{result.output.num_rows:,} chunks")
    print(f"ratio langchain / chunk_spans: {t_lc / t_spans:.2f}x; langchain / chunk.text step: {t_lc / t_step:.2f}x")
    print(f"same chunks as langchain (keep_separator=start): {same}/{len(texts)} documents")


if __name__ == "__main__":
    main()
