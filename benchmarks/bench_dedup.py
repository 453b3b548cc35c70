"""Near-duplicate detection (issue 6): datamill's MinHash-LSH against datasketch 2.0 and rensa 0.5.

Corpus: ``benchmarks/dedup_corpus.py`` (seeded; 100,000 documents by default): passages of 26
public-domain texts from ``../shared/data/corpus/docs.jsonl`` (Project Gutenberg books via NLTK
and GITenberg, US State of the Union and inaugural addresses; see that folder's README.md for
sources and licences) and their edited copies. Ground truth: every pair whose exact Jaccard of
word 5-gram sets (``datamill.dedup.shingles``) is >= 0.8, from an exact similarity join.

What is timed, per side, in one process on the same list of texts, one core each (the thread
variables below are set before any import): signatures + LSH + clustering, from the texts, so
each side's shingling is included (for the peers, ``shingles(text, 5)`` in Python, as their
users do). 128 permutations, seed 1, threshold 0.8. Each side first runs untimed on 300
documents (imports, JIT caches), then its best of ``--repeat`` runs is kept (datasketch: once).

* datasketch: ``MinHash.update_batch`` on UTF-8 shingles, ``MinHashLSH(threshold=0.8)`` with its
  own banding; insert all, query each; the pairs are the LSH candidates.
* rensa: ``RMinHash.update``, ``RMinHashLSH(threshold=0.8, num_bands=8)``; insert all, query each
  (pairs: the candidates). Also its bulk API (``from_token_sets``, ``insert_many``,
  ``query_all``): the faster of the two rensa rows is the one the speed bar compares with.
* datamill: ``near_duplicates(texts, workers=1)`` as shipped (candidates verified by exact
  Jaccard); pairs: ``.pairs``. Also with ``workers=2``, and with ``verify="signature"`` (the
  MinHash estimate instead of exact Jaccard; faster, less exact near the threshold).

The peers' candidate pairs are clustered by a small union-find here; datamill clusters itself.
Scores: pair precision/recall/F1 of the reported pairs against the true pairs, and document
precision/recall/F1 of "has a partner" (what a removal decision sees). Bars (issue 6): datamill's
pair precision and recall >= 0.95; >= 8x datasketch's speed and >= 1.5x rensa's; 2 workers
>= 1.7x one. Exit status 1 when a bar measured fails.

    .venv/bin/python benchmarks/bench_dedup.py                      # 100,000 docs, all sides (2-5 min)
    .venv/bin/python benchmarks/bench_dedup.py --skip-datasketch    # quick iteration
    .venv/bin/python benchmarks/bench_dedup.py --json               # the figures as JSON on stdout
    .venv/bin/python benchmarks/bench_dedup.py --memory-docs 1000000  # peak RSS of `datamill run`

``--memory-docs N`` runs only the memory test: N documents as JSONL (cached), a pipeline
``read.jsonl -> dedup.minhash {threshold: 0.8} -> write.dataset`` in a temporary workspace, run
by ``datamill run --workers 1`` in a subprocess whose peak RSS (``wait4``'s ``ru_maxrss``,
the subprocess and its waited-for children) is compared with the 2 GB bar.
"""

from __future__ import annotations

import os

# One core per side: set before numpy, numba, polars or rayon read them.
for _var in (
    "POLARS_MAX_THREADS",
    "RAYON_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Literal  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dedup_corpus  # noqa: E402

from datamill.dedup.shingles import shingles  # noqa: E402

THRESHOLD = 0.8
NUM_PERM = 128
NGRAM = 5
SEED = 1
WARMUP_DOCS = 300
MEMORY_BAR_BYTES = 2_000_000_000
BARS = {"precision": 0.95, "recall": 0.95, "vs_datasketch": 8.0, "vs_rensa": 1.5, "workers_2": 1.7}
DATAMILL_BIN = Path(sys.executable).with_name("datamill")


@dataclass
class Side:
    """One side's run: what it reported and how long it took."""

    name: str
    seconds: float
    pairs: np.ndarray
    cluster: np.ndarray
    banding: str
    scores: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------- clustering
def union_find(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components of ``pairs``: each document's root is the smallest index in its component."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving keeps the trees shallow
            x = parent[x]
        return x

    for a, b in pairs.tolist():
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(x) for x in range(n)], np.int64)


def _pair_array(pairs: set[tuple[int, int]]) -> np.ndarray:
    """A set of ``(i, j)`` pairs as a sorted int64 ``(k, 2)`` array."""
    return np.array(sorted(pairs), np.int64).reshape(-1, 2)


# ---------------------------------------------------------------------------- sides
def run_datasketch(texts: Sequence[str]) -> Side:
    """datasketch: one ``MinHash`` per text, ``MinHashLSH`` with its own banding, query each."""
    from datasketch import MinHash, MinHashLSH

    start = time.perf_counter()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    hashes: list[Any] = []
    for i, text in enumerate(texts):
        found = shingles(text, NGRAM)
        m = MinHash(num_perm=NUM_PERM, seed=SEED)
        m.update_batch([s.encode("utf-8") for s in found])
        if found:  # a text without words is nobody's duplicate (an empty MinHash would match all)
            lsh.insert(i, m)
            hashes.append((i, m))
    pair_array = _query_pairs(lsh, hashes)
    cluster = union_find(len(texts), pair_array)
    return Side("datasketch", time.perf_counter() - start, pair_array, cluster, f"{lsh.b}x{lsh.r}")


def _query_pairs(lsh: Any, hashes: list[Any]) -> np.ndarray:
    """Every text queried against the LSH index: the candidate pairs (i < j), as the peers' users do."""
    pairs: set[tuple[int, int]] = set()
    for i, m in hashes:
        for j in lsh.query(m):
            if j != i:
                pairs.add((i, j) if i < j else (j, i))
    return _pair_array(pairs)


def run_rensa(texts: Sequence[str]) -> Side:
    """rensa, object API: one ``RMinHash`` per text, ``RMinHashLSH`` with 8 bands, query each."""
    from rensa import RMinHash, RMinHashLSH

    start = time.perf_counter()
    lsh = RMinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, num_bands=8)
    hashes: list[Any] = []
    for i, text in enumerate(texts):
        found = shingles(text, NGRAM)
        if not found:
            continue
        m = RMinHash(num_perm=NUM_PERM, seed=SEED)
        m.update(list(found))
        lsh.insert(i, m)
        hashes.append((i, m))
    pair_array = _query_pairs(lsh, hashes)
    cluster = union_find(len(texts), pair_array)
    bands = lsh.get_num_bands()
    return Side("rensa", time.perf_counter() - start, pair_array, cluster, f"{bands}x{NUM_PERM // bands}")


def run_rensa_bulk(texts: Sequence[str]) -> Side:
    """rensa, bulk API: ``RMinHash.from_token_sets``, ``insert_many``, ``query_all`` (same signatures)."""
    from rensa import RMinHash, RMinHashLSH

    start = time.perf_counter()
    keys: list[int] = []

    def token_sets() -> Iterator[set[str]]:
        # Fed lazily: holding 100k shingle sets at once makes Python's GC crawl (2x slower here).
        for i, text in enumerate(texts):
            found = shingles(text, NGRAM)
            if found:
                keys.append(i)
                yield found

    hashes = RMinHash.from_token_sets(token_sets(), num_perm=NUM_PERM, seed=SEED)
    lsh = RMinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, num_bands=8)
    lsh.insert_pairs(list(zip(keys, hashes, strict=True)))
    pairs: set[tuple[int, int]] = set()
    for i, found in zip(keys, lsh.query_all(hashes), strict=True):
        for j in found:
            if j != i:
                pairs.add((i, j) if i < j else (j, i))
    pair_array = _pair_array(pairs)
    cluster = union_find(len(texts), pair_array)
    bands = lsh.get_num_bands()
    return Side("rensa bulk API", time.perf_counter() - start, pair_array, cluster, f"{bands}x{NUM_PERM // bands}")


def datamill_runner(
    workers: int = 1, verify: Literal["signature", "exact", "none"] = "exact"
) -> Callable[[Sequence[str]], Side]:
    """A runner of ``datamill.dedup.minhash.near_duplicates`` with these settings."""

    def run(texts: Sequence[str]) -> Side:
        from datamill.dedup.minhash import near_duplicates

        start = time.perf_counter()
        found = near_duplicates(
            texts, threshold=THRESHOLD, ngram=NGRAM, num_perm=NUM_PERM, seed=SEED, verify=verify, workers=workers
        )
        seconds = time.perf_counter() - start
        name = f"datamill {workers}w" + ("" if verify == "exact" else f" verify={verify}")
        return Side(
            name,
            seconds,
            np.asarray(found.pairs, np.int64).reshape(-1, 2),
            np.asarray(found.cluster),
            f"{found.bands}x{found.rows}",
        )

    return run


def datamill_available() -> str | None:
    """None when ``near_duplicates`` can be imported, else why not."""
    try:
        from datamill.dedup.minhash import near_duplicates  # noqa: F401
    except ImportError as err:
        return f"{type(err).__name__}: {err}"
    return None


def timed(run: Callable[[Sequence[str]], Side], texts: Sequence[str], repeat: int) -> Side:
    """``run`` once untimed on a few texts (imports, JIT caches), then the best of ``repeat`` runs."""
    run(texts[:WARMUP_DOCS])
    best: Side | None = None
    for _ in range(max(1, repeat)):
        side = run(texts)
        if best is None or side.seconds < best.seconds:
            best = side
    assert best is not None
    return best


# ---------------------------------------------------------------------------- scores
def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def score(pairs: np.ndarray, truth: np.ndarray, n: int) -> dict[str, float]:
    """Pair and document precision, recall and F1 of ``pairs`` against ``truth``."""
    found = np.unique(pairs[:, 0] * n + pairs[:, 1]) if len(pairs) else np.zeros(0, np.int64)
    true = np.unique(truth[:, 0] * n + truth[:, 1]) if len(truth) else np.zeros(0, np.int64)
    hits = len(np.intersect1d(found, true, assume_unique=True))
    precision = hits / len(found) if len(found) else 1.0
    recall = hits / len(true) if len(true) else 1.0
    predicted = np.zeros(n, bool)
    predicted[pairs.ravel()] = True
    actual = np.zeros(n, bool)
    actual[truth.ravel()] = True
    doc_hits = int((predicted & actual).sum())
    doc_precision = doc_hits / predicted.sum() if predicted.any() else 1.0
    doc_recall = doc_hits / actual.sum() if actual.any() else 1.0
    return {
        "pairs": len(found),
        "true_positive_pairs": hits,
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "doc_precision": float(doc_precision),
        "doc_recall": float(doc_recall),
        "doc_f1": _f1(float(doc_precision), float(doc_recall)),
    }


# ---------------------------------------------------------------------------- comparison
def compare(args: argparse.Namespace) -> int:
    """Run every side on the corpus, print the table and the verdicts; 1 when a bar fails."""
    log = sys.stderr
    table = dedup_corpus.load_corpus(args.docs, args.seed)
    truth = dedup_corpus.load_pairs(args.docs, args.seed, THRESHOLD, table=table)
    texts: list[str] = table.column("text").to_pylist()
    n = len(texts)
    runs: list[tuple[str, Callable[[Sequence[str]], Side], int]] = []
    if not args.skip_datasketch:
        runs.append(("datasketch", run_datasketch, 1))  # ~2 min a run: once is all the budget allows
    runs += [("rensa", run_rensa, args.repeat), ("rensa bulk API", run_rensa_bulk, args.repeat)]
    missing = datamill_available()
    if missing:
        print(f"datamill side not available yet ({missing})", file=log)
    else:
        runs += [
            ("datamill 1w", datamill_runner(1), args.repeat),
            ("datamill 2w", datamill_runner(2), args.repeat),
            ("datamill signature", datamill_runner(1, "signature"), args.repeat),
        ]
    sides: dict[str, Side] = {}
    for name, run, repeat in runs:
        print(f"running {name} on {n:,} documents ...", file=log, flush=True)
        try:
            side = timed(run, texts, repeat)
        except (TypeError, ValueError) as err:  # e.g. verify="exact" not accepted
            print(f"  skipped {name}: {type(err).__name__}: {err}", file=log)
            continue
        side.scores = score(side.pairs, truth, n)
        sides[name] = side
        print(f"  {side.seconds:.2f} s", file=log, flush=True)

    result = summarise(sides, truth, n, args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return 0 if all(v["ok"] for v in result["verdicts"].values() if v["ok"] is not None) else 1


def summarise(sides: dict[str, Side], truth: np.ndarray, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """The figures: each side's time and scores, the ratios and the verdicts on issue 6's bars."""
    seconds = {name: s.seconds for name, s in sides.items()}
    dm1, dm2 = seconds.get("datamill 1w"), seconds.get("datamill 2w")
    rensa_best = min((seconds[k] for k in ("rensa", "rensa bulk API") if k in seconds), default=None)
    ratios = {
        "datasketch/datamill": seconds["datasketch"] / dm1 if dm1 and "datasketch" in seconds else None,
        "rensa/datamill": seconds["rensa"] / dm1 if dm1 and "rensa" in seconds else None,
        "rensa bulk/datamill": seconds["rensa bulk API"] / dm1 if dm1 and "rensa bulk API" in seconds else None,
        "best rensa/datamill": rensa_best / dm1 if dm1 and rensa_best else None,
        "datamill 1w/2w": dm1 / dm2 if dm1 and dm2 else None,
    }
    dm = sides.get("datamill 1w")

    def verdict(value: float | None, bar: float, what: str) -> dict[str, Any]:
        return {"value": value, "bar": bar, "ok": None if value is None else value >= bar, "what": what}

    verdicts = {
        "pair precision": verdict(
            dm.scores["precision"] if dm else None, BARS["precision"], "datamill (1 worker) pair precision"
        ),
        "pair recall": verdict(dm.scores["recall"] if dm else None, BARS["recall"], "datamill (1 worker) pair recall"),
        "speed vs datasketch": verdict(
            ratios["datasketch/datamill"], BARS["vs_datasketch"], "datasketch seconds / datamill seconds"
        ),
        "speed vs rensa": verdict(
            ratios["best rensa/datamill"], BARS["vs_rensa"], "faster rensa API's seconds / datamill seconds"
        ),
        "2 workers": verdict(ratios["datamill 1w/2w"], BARS["workers_2"], "datamill 1 worker / 2 workers"),
    }
    docs_in_truth = len(np.unique(truth)) if len(truth) else 0
    return {
        "corpus": {
            "docs": n,
            "seed": args.seed,
            "threshold": THRESHOLD,
            "true_pairs": len(truth),
            "docs_in_a_true_pair": docs_in_truth,
            "num_perm": NUM_PERM,
            "ngram": NGRAM,
        },
        "sides": {
            name: {
                "seconds": s.seconds,
                "docs_per_s": n / s.seconds,
                "banding": s.banding,
                "clusters": len(np.unique(s.cluster)),
                "removed": int(n - len(np.unique(s.cluster))),
                **s.scores,
            }
            for name, s in sides.items()
        },
        "ratios": ratios,
        "verdicts": verdicts,
    }


def print_report(result: dict[str, Any]) -> None:
    """The table, the ratios and one verdict line per bar."""
    c = result["corpus"]
    print(
        f"\n{c['docs']:,} documents (seed {c['seed']}), {c['true_pairs']:,} true pairs at J >= {c['threshold']} "
        f"({c['docs_in_a_true_pair']:,} documents in one), {c['num_perm']} permutations, word {c['ngram']}-grams\n"
    )
    head = (
        f"{'side':<24}{'b x r':>7}{'seconds':>9}{'docs/s':>9}{'pairs':>9}{'P pair':>8}{'R pair':>8}"
        f"{'F1 pair':>8}{'P doc':>8}{'R doc':>8}{'F1 doc':>8}{'removed':>9}"
    )
    print(head)
    print("-" * len(head))
    for name, s in result["sides"].items():
        print(
            f"{name:<24}{s['banding']:>7}{s['seconds']:>9.2f}{s['docs_per_s']:>9,.0f}{s['pairs']:>9,}"
            f"{s['precision']:>8.3f}{s['recall']:>8.3f}{s['f1']:>8.3f}{s['doc_precision']:>8.3f}"
            f"{s['doc_recall']:>8.3f}{s['doc_f1']:>8.3f}{s['removed']:>9,}"
        )
    ratios = [f"{k} {v:.2f}x" for k, v in result["ratios"].items() if v is not None]
    print("\ntime ratios: " + (", ".join(ratios) or "n/a"))
    for name, v in result["verdicts"].items():
        status = "SKIP" if v["ok"] is None else "PASS" if v["ok"] else "FAIL"
        value = "n/a" if v["value"] is None else f"{v['value']:.3f}"
        print(f"{status}  {name}: {value} (bar >= {v['bar']}; {v['what']})")


# ---------------------------------------------------------------------------- memory
PIPELINE = """name: bench_dedup_memory
steps:
  - {{id: docs, uses: read.jsonl, with: {{paths: [{path}]}}}}
  - {{id: dedup, uses: dedup.minhash, input: docs, with: {{threshold: {threshold}}}}}
  - {{id: out, uses: write.dataset, input: dedup, with: {{roles: {{text: text}}}}}}
outputs: {{deduplicated: out}}
"""


def memory(args: argparse.Namespace) -> int:
    """Peak RSS of ``datamill run`` deduplicating ``--memory-docs`` documents; 1 over the bar."""
    try:
        from datamill.pipeline.registry import registered_steps

        registered = "dedup.minhash" in registered_steps()
    except ImportError:
        registered = False
    if not registered:
        print(
            "memory test: the step dedup.minhash is not registered in this checkout (not written yet?)", file=sys.stderr
        )
        return 2
    corpus = dedup_corpus.jsonl_path(args.memory_docs, args.seed)
    with tempfile.TemporaryDirectory(prefix="bench_dedup_") as tmp:
        home = Path(tmp) / "workspace"
        env = {**os.environ, "DATAMILL_HOME": str(home)}
        subprocess.run([str(DATAMILL_BIN), "init", str(home)], check=True, env=env, stdout=subprocess.DEVNULL)
        pipeline = Path(tmp) / "pipeline.yaml"
        pipeline.write_text(PIPELINE.format(path=json.dumps(str(corpus)), threshold=THRESHOLD))
        output = Path(tmp) / "run.json"
        print(f"running datamill run on {args.memory_docs:,} documents ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        with output.open("wb") as out:
            proc = subprocess.Popen(
                [str(DATAMILL_BIN), "run", str(pipeline), "--workers", "1", "--no-progress", "--json"],
                env=env,
                stdout=out,
            )
            # wait4, not Popen.wait: its rusage is this child's (and its waited-for children's) alone.
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        peak = usage.ru_maxrss * 1024  # KiB on Linux
        text = output.read_text()
    if proc.returncode != 0:
        print(f"datamill run failed with exit code {proc.returncode}:\n{text[-3000:]}", file=sys.stderr)
        return 2
    figures = {
        "docs": args.memory_docs,
        "seconds": seconds,
        "docs_per_s": args.memory_docs / seconds,
        "peak_rss_bytes": peak,
        "bar_bytes": MEMORY_BAR_BYTES,
        "ok": peak <= MEMORY_BAR_BYTES,
        "run": _run_summary(text),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"datamill run, {args.memory_docs:,} documents, 1 worker: {seconds:.1f} s "
            f"({figures['docs_per_s']:,.0f} docs/s), peak RSS {peak / 1e6:,.0f} MB"
        )
        for step in figures["run"] if isinstance(figures["run"], list) else []:
            dropped = ", ".join(f"{k} {v:,}" for k, v in (step.get("dropped") or {}).items())
            print(
                f"  {step.get('id')}: {step.get('rows_in', 0):,} -> {step.get('rows_out', 0):,} rows"
                + (f" (dropped: {dropped})" if dropped else "")
            )
        verdict = "PASS" if figures["ok"] else "FAIL"
        print(f"{verdict}  peak RSS {peak / 1e9:.2f} GB (bar <= {MEMORY_BAR_BYTES / 1e9:g} GB)")
    return 0 if figures["ok"] else 1


def _run_summary(text: str) -> Any:
    """The rows in and out of each step, from ``datamill run --json`` (the raw text if unparsable)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return text[-500:]
    steps = doc.get("steps") if isinstance(doc, dict) else None
    if isinstance(steps, list):
        return [
            {k: s.get(k) for k in ("id", "rows_in", "rows_out", "dropped", "status") if k in s}
            for s in steps
            if isinstance(s, dict)
        ]
    if isinstance(steps, dict):
        return {
            k: {f: v.get(f) for f in ("rows_in", "rows_out", "dropped", "status") if f in v}
            for k, v in steps.items()
            if isinstance(v, dict)
        }
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags and run the comparison or the memory test."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000, help="documents in the corpus (default 100,000)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed")
    parser.add_argument("--repeat", type=int, default=2, help="runs per side but datasketch; the best counts")
    parser.add_argument(
        "--skip-datasketch", action="store_true", help="leave out datasketch (the slowest side: 1-2 min on 100k)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    parser.add_argument("--memory-docs", type=int, metavar="N", help="only the memory test, on N documents")
    args = parser.parse_args(argv)
    if args.memory_docs:
        return memory(args)
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
