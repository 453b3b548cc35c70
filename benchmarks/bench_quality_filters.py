"""Quality filters: datamill's ``filter.*`` against datatrove's, on the same documents.

Documents: real prose, the public-domain ``../shared/data/corpus/docs.jsonl`` (6,390 documents of
2-4 KB), plus web-like junk built here, deterministically, to trip every rule: bullet lists, nav
menus, lorem ipsum, JavaScript and cookie banners, repeated lines and paragraphs, hashtag and
ellipsis spam, short lines, numbers, non-English text, and prose with junk glued on.

Both sides run in one process on the same texts: datatrove's filters call ``filter(doc)`` per
document (their fastest path); datamill's steps run through ``datamill.testing.run_step`` (the
runner's code, ledger included) on Arrow batches of 1,000 rows, with datamill's word cache
emptied before each filter, so every filter starts cold. Thresholds are set to the papers'
values on both sides (datatrove's C4 and FineWeb defaults differ from the papers; see
``docs/quality-filters.md``). "agree" is the share of documents both keep or both drop; for
``filter.c4``, "same text" is the share of documents both keep whose cleaned text is equal.
The stack is the four filters in FineWeb's order (repetition, quality, C4, FineWeb), each on the
survivors of the one before.

    .venv/bin/python benchmarks/bench_quality_filters.py             # 1,000 corpus docs + junk
    .venv/bin/python benchmarks/bench_quality_filters.py --docs 0    # the whole corpus

Exit status 1 when a filter or the stack is slower than datatrove (ratio < 1.0) or agrees on
fewer than 99% of documents.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "data" / "corpus" / "docs.jsonl"
BATCH_ROWS = 1000
FILTERS = ("filter.gopher_repetition", "filter.gopher_quality", "filter.c4", "filter.fineweb")


# ---------------------------------------------------------------------------- documents
def corpus_documents(limit: int = 0, path: Path = CORPUS) -> list[dict[str, str]]:
    """The first ``limit`` documents of the prose corpus (all when 0), as ``{"id", "text"}``."""
    docs = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            docs.append({"id": row["id"], "text": row["text"]})
            if limit and len(docs) == limit:
                break
    return docs


_NAV = ["Home", "About us", "Products", "Blog", "Contact", "Careers", "Log in", "Sign up", "Cart (0)", "Search",
        "Privacy", "Help", "News", "Sport", "Weather", "Shop", "FAQ", "Sitemap", "Español", "More ▾"]
_WORDS = ["cheap", "best", "deal", "free", "shipping", "offer", "sale", "new", "buy", "now", "click", "here",
          "top", "price", "discount", "order", "today", "online", "quality", "product"]
_LOREM = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore "
          "et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut "
          "aliquip ex ea commodo consequat.")
_FOREIGN = [
    "Der Ausschuss hat am Dienstag beschlossen, den Bericht im Mai zu veröffentlichen. Die Mitglieder waren "
    "sich einig, dass die Ergebnisse wichtig sind und dass weitere Untersuchungen notwendig sein werden.",
    "Le comité s'est réuni mardi et a décidé de publier le rapport en mai. Les membres ont convenu que les "
    "résultats étaient importants et que d'autres études seraient nécessaires avant la fin de l'année.",
    "El comité se reunió el martes y decidió publicar el informe en mayo. Los miembros acordaron que los "
    "resultados eran importantes y que serían necesarios más estudios antes de que termine el año.",
    "Комитет собрался во вторник и решил опубликовать доклад в мае. Члены комитета согласились, что "
    "результаты важны и что потребуются дополнительные исследования до конца года.",
    "委员会星期二开会，决定在五月发布报告。委员们一致认为这些结果很重要，在年底之前还需要进行更多的研究。",
    "Il comitato si è riunito martedì e ha deciso di pubblicare la relazione a maggio. I membri hanno "
    "convenuto che i risultati sono importanti e che saranno necessari ulteriori studi entro la fine dell'anno.",
]


def junk_documents(prose: list[str], *, per_kind: int = 40, seed: int = 0) -> list[dict[str, str]]:
    """Web-like junk that trips each rule, ``per_kind`` documents of each kind, the same for a seed.

    ``prose`` (real paragraphs) is mixed into some kinds, so that junk also comes near the
    thresholds rather than only far past them.
    """
    rng = random.Random(seed)
    paragraphs = [p.strip() for text in prose for p in text.split("\n\n") if len(p.strip()) > 200]

    def para() -> str:
        return rng.choice(paragraphs)

    def words(n: int) -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(n))

    kinds: dict[str, Callable[[], str]] = {
        "bullets": lambda: "\n".join(f"{rng.choice('-•')} {words(rng.randint(3, 9)).capitalize()}"
                                     for _ in range(rng.randint(8, 30))),
        "bullets_in_prose": lambda: para() + "\n" + "\n".join(f"- {words(rng.randint(4, 12))}"
                                                              for _ in range(rng.randint(3, 25))),
        "nav_menu": lambda: "\n".join(rng.sample(_NAV, rng.randint(6, 15))) + "\n\n" + para(),
        "lorem_ipsum": lambda: para() + "\n" + _LOREM + "\n" + para(),
        "javascript": lambda: para() + "\nPlease enable JavaScript in your browser to view this site.\n"
                                       "function track(e) { window.dataLayer.push(e); return false; }\n" + para(),
        "cookie_banner": lambda: "We use cookies to improve your experience. By using this site you accept our "
                                 "privacy policy and terms of use.\n" + para() + "\nThis website uses cookies.",
        "repeated_lines": lambda: "\n".join([words(rng.randint(4, 9)) + "."] * rng.randint(3, 12) + [para()]),
        "repeated_paragraphs": lambda: "\n\n".join([para()] * rng.randint(2, 4) + [para()]),
        "hashtags": lambda: para() + "\n" + " ".join(f"#{rng.choice(_WORDS)}" for _ in range(rng.randint(10, 80))),
        "ellipsis_lines": lambda: "\n".join(f"{words(rng.randint(3, 10))}..." for _ in range(rng.randint(5, 20))),
        "short_lines": lambda: "\n".join(words(rng.randint(1, 4)) for _ in range(rng.randint(10, 40))),
        "numbers": lambda: "\n".join(" ".join(str(rng.randint(0, 9999)) for _ in range(rng.randint(5, 12)))
                                     for _ in range(rng.randint(5, 20))) + "\n" + para(),
        "foreign": lambda: "\n".join(rng.choice(_FOREIGN) for _ in range(rng.randint(2, 8))),
        "spam_words": lambda: words(rng.randint(20, 400)),
        "citations": lambda: "\n".join(f"{para()}[{rng.randint(1, 40)}] [edit]" for _ in range(rng.randint(1, 4))),
        "long_word": lambda: para() + "\n" + "".join(rng.choice("ABCDEFabcdef0123456789+/")
                                                     for _ in range(rng.randint(900, 1500))) + ".\n" + para(),
        "tiny": lambda: rng.choice(["", " ", "\n\n", "OK.", "Click here", words(rng.randint(1, 30)) + "."]),
        "glued": lambda: "\n".join(rng.choice([para(), para(), rng.choice(_NAV), words(5), "Share this:",
                                               "Read more...", "© 2024 All rights reserved"])
                                   for _ in range(rng.randint(4, 14))),
    }
    return [{"id": f"junk-{kind}-{i}", "text": make()} for kind, make in kinds.items() for i in range(per_kind)]


def documents(limit: int = 1000) -> list[dict[str, str]]:
    """The benchmark's documents: ``limit`` corpus documents (all when 0) and the junk."""
    prose = corpus_documents(limit)
    return prose + junk_documents([d["text"] for d in prose[:500]])


# ---------------------------------------------------------------------------- the two sides
def datatrove_filters() -> dict[str, Any]:
    """datatrove's filters, with the papers' thresholds where its defaults differ."""
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    return {
        "filter.gopher_repetition": GopherRepetitionFilter(),
        "filter.gopher_quality": GopherQualityFilter(),
        # T5 paper and the C4 code: 5 words per line, 3 sentences (datatrove's defaults are 3 and 5).
        "filter.c4": C4QualityFilter(min_words_per_line=5, min_num_sentences=3),
        # FineWeb paper: 0.1 (datatrove's default is 0.01).
        "filter.fineweb": FineWebQualityFilter(char_duplicates_ratio=0.1),
    }


def datamill_steps() -> dict[str, Any]:
    """datamill's filters with their defaults (the papers' values)."""
    from datamill.clean.quality import C4Quality, FineWebQuality, GopherQuality, GopherRepetition

    return {"filter.gopher_repetition": GopherRepetition(), "filter.gopher_quality": GopherQuality(),
            "filter.c4": C4Quality(), "filter.fineweb": FineWebQuality()}


def run_datatrove(flt: Any, docs: list[dict[str, str]]) -> dict[str, str | None]:
    """id → the text kept (C4 rewrites it), or None when dropped."""
    from datatrove.data import Document

    out: dict[str, str | None] = {}
    for doc in docs:
        document = Document(text=doc["text"], id=doc["id"])
        verdict = flt.filter(document)
        keep = verdict[0] if isinstance(verdict, tuple) else verdict
        out[doc["id"]] = document.text if keep else None
    return out


def clear_caches() -> None:
    """Empty datamill's word caches, so a filter is timed from a cold start."""
    from datamill.clean.quality import _words, gopher

    for fn in (_words._cached_chunk_words, _words._cached_sentence_steps, gopher._cached_stats_of):
        fn.cache_clear()


def run_datamill(step: Any, docs: list[dict[str, str]]) -> dict[str, str | None]:
    """id → the text kept, or None when dropped; the ledger must balance."""
    import pyarrow as pa

    from datamill.testing import run_step

    batches = [pa.record_batch({"id": [d["id"] for d in docs[i:i + BATCH_ROWS]],
                                "text": [d["text"] for d in docs[i:i + BATCH_ROWS]]})
               for i in range(0, len(docs), BATCH_ROWS)]
    result = run_step(step, batches)
    if not result.ledger.balanced:
        raise SystemExit(f"{step.name}: the ledger does not balance: {result.ledger}")
    out: dict[str, str | None] = dict.fromkeys((d["id"] for d in docs), None)
    out.update(zip(result.output["id"].to_pylist(), result.output["text"].to_pylist(), strict=True))
    return out


# Documents where a filter's rule is defined differently on purpose (docs/quality-filters.md),
# left out of that filter's agreement: datatrove's repetition filter drops "" as empty but keeps
# whitespace-only text; datamill drops both as `empty_text`.
EXCLUDED: dict[str, Callable[[str], bool]] = {
    "filter.gopher_repetition": lambda text: bool(text) and not text.strip(),
}


def agreement(a: dict[str, str | None], b: dict[str, str | None],
              ids: list[str] | None = None) -> tuple[float, float, list[str]]:
    """Share of ``ids`` (default all) with the same keep/drop decision, share of both-kept ids with
    the same text, and the ids that differ."""
    ids = list(a) if ids is None else ids
    same = [i for i in ids if (a[i] is None) == (b[i] is None)]
    kept = [i for i in ids if a[i] is not None and b[i] is not None]
    same_text = sum(a[i] == b[i] for i in kept) / len(kept) if kept else 1.0
    return len(same) / len(ids), same_text, [i for i in ids if (a[i] is None) != (b[i] is None)]


def compared_ids(name: str, docs: list[dict[str, str]]) -> list[str]:
    """The ids of ``docs`` that filter ``name``'s agreement counts (see `EXCLUDED`)."""
    skip = EXCLUDED.get(name)
    return [d["id"] for d in docs if skip is None or not skip(d["text"])]


def timed(fn: Callable[[], dict[str, str | None]]) -> tuple[dict[str, str | None], float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1000, help="corpus documents (0: all 6,390)")
    parser.add_argument("--show", type=int, default=3, help="disagreeing document ids to print per filter")
    args = parser.parse_args()
    docs = documents(args.docs)
    theirs, ours = datatrove_filters(), datamill_steps()
    run_datatrove(theirs["filter.gopher_quality"], docs[:5])  # load spaCy before timing
    print(f"{len(docs):,} documents ({len(docs) - sum(d['id'].startswith('junk-') for d in docs):,} prose, "
          f"{sum(d['id'].startswith('junk-') for d in docs):,} junk)\n")
    header = f"{'filter':26s} {'datamill docs/s':>16s} {'datatrove docs/s':>17s} {'ratio':>7s} {'agree':>8s}  kept"
    print(header)
    print("-" * len(header))
    ok = True
    stack_dt: list[dict[str, str]] = docs
    stack_dm: list[dict[str, str]] = docs
    total_dt = total_dm = 0.0
    rows = []
    for name in FILTERS:
        clear_caches()
        mine, t_dm = timed(lambda name=name: run_datamill(ours[name], docs))  # type: ignore[misc]
        base, t_dt = timed(lambda name=name: run_datatrove(theirs[name], docs))  # type: ignore[misc]
        ids = compared_ids(name, docs)
        share, same_text, misfits = agreement(base, mine, ids)
        ratio = t_dt / t_dm
        ok &= ratio >= 1.0 and share >= 0.99
        kept = sum(v is not None for v in mine.values())
        extra = f"  same text {same_text:.2%}" if name == "filter.c4" else ""
        if len(ids) < len(docs):
            extra += f"  ({len(docs) - len(ids)} blank documents left out, see EXCLUDED)"
        rows.append(f"{name:26s} {len(docs) / t_dm:16,.0f} {len(docs) / t_dt:17,.0f} {ratio:7.1f} {share:8.2%}"
                    f"  {kept:,}{extra}")
        print(rows[-1])
        for doc_id in misfits[:args.show]:
            print(f"    differs: {doc_id} (datatrove {'keeps' if base[doc_id] is not None else 'drops'})")
    # The stack: each filter on the survivors of the one before, in FineWeb's order.
    clear_caches()
    for name in FILTERS:
        mine, t_dm = timed(lambda name=name, kept=stack_dm: run_datamill(ours[name], kept))  # type: ignore[misc]
        base, t_dt = timed(lambda name=name, kept=stack_dt: run_datatrove(theirs[name], kept))  # type: ignore[misc]
        total_dm += t_dm
        total_dt += t_dt
        stack_dm = [{"id": i, "text": t} for i, t in mine.items() if t is not None]
        stack_dt = [{"id": i, "text": t} for i, t in base.items() if t is not None]
    final_dm = {d["id"] for d in stack_dm}
    final_dt = {d["id"] for d in stack_dt}
    ids = compared_ids("filter.gopher_repetition", docs)
    share = sum((i in final_dm) == (i in final_dt) for i in ids) / len(ids)
    ratio = total_dt / total_dm
    ok &= ratio >= 1.0 and share >= 0.99
    print(f"{'stack (all four)':26s} {len(docs) / total_dm:16,.0f} {len(docs) / total_dt:17,.0f} {ratio:7.1f} "
          f"{share:8.2%}  {len(final_dm):,}")
    print(f"\n{'PASS' if ok else 'FAIL'}: every ratio >= 1.0 and every agreement >= 99%")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
