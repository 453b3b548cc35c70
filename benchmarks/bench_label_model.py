"""The label model against Snorkel's ``LabelModel``, majority vote and Dawid–Skene, on real LFs.

**Data and split.** ``../shared/data/youtube_spam`` with the Snorkel spam tutorial's split, as its
README documents (``splits.csv``): train = the 1,586 comments of videos 1–4 (labels unused by
every label model), valid = 120 and test = 250 comments of video 5. Texts are the raw
``CONTENT``, as the tutorial reads them.

**LFs.** The tutorial's final LF set (``spam/01_spam_tutorial``): the seven rules in
``src/datamill/examples/youtube_spam/lfs.py`` (keyword_my, keyword_subscribe, keyword_link,
keyword_please, keyword_song, regex_check_out, short_comment) plus ``textblob_polarity``
(polarity > 0.9 → ham) and ``textblob_subjectivity`` (subjectivity >= 0.5 → ham) with TextBlob,
defined below as datamill row LFs. The tutorial's tenth LF, ``has_person_nlp``, needs spaCy's
``en_core_web_sm`` model, which is not on PyPI; it is used only when importable (the output says
which LFs ran). datamill applies the LFs (``apply_lfs``) and saves the label matrices as .npy.

**Snorkel** (0.10.0) runs in its own virtual environment, never in datamill's: the script runs
``benchmarks/_data/venv-snorkel/bin/python`` (``--snorkel-python``) on the same saved matrices,
fits ``LabelModel(cardinality=2).fit(L_train, n_epochs=500, log_freq=100, seed=123)`` as the
tutorial does, times the fit inside that process (best of ``--reps``, torch with one thread and
with its default threads), and writes its test/valid/train probabilities back. Set it up with::

    python3.11 -m venv benchmarks/_data/venv-snorkel
    benchmarks/_data/venv-snorkel/bin/pip install -r benchmarks/requirements-snorkel.txt
    .venv/bin/pip install textblob          # the TextBlob LFs run in datamill's venv

**datamill's rows.** ``datamill label_model`` is the default fit (``estimator="moments"``:
Snorkel's matrix-completion objective with the class balance learned, ``l2=0.1`` toward
precision 0.7, abstains uninformative); ``estimator="em"`` is the latent class model by EM with
informative abstains (the default before issue 5's second slice). Both fit on train only.

**Scoring.** Every method is scored by one function on its class probabilities: the most
probable class, and where classes tie — items no LF covered always tie for Snorkel and majority
vote — the item counts 1/2, the *expected* accuracy of the tutorial's random tie break, without
its draw. Snorkel's own ``score(tie_break_policy="random")`` is printed too. ``covered`` (after test
and after train) is the accuracy on the items at least one LF voted on. An item no LF covered
gets no label from any datamill aggregation; its probabilities are scored all the same: the
class balance for ``"moments"`` and Snorkel (uniform there, a tie), the posterior of "every LF
abstained" for ``"em"`` (which reads the silence as ham).

**Scale row.** 1M synthetic comments × 20 LFs (16 column LFs, 4 row LFs in Python), apply +
fit + predict, in a child process whose peak RSS (with its children) is sampled; ``--scale 0``
skips it.

    .venv/bin/python benchmarks/bench_label_model.py
    .venv/bin/python benchmarks/bench_label_model.py --reps 5 --scale 1000000
"""

from __future__ import annotations

import argparse
import csv
import functools
import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "youtube_spam"
WORK = ROOT / "benchmarks" / "_data" / "label_model"
SNORKEL_PYTHON = ROOT / "benchmarks" / "_data" / "venv-snorkel" / "bin" / "python"
DEMO_LFS = ROOT / "src" / "datamill" / "examples" / "youtube_spam" / "lfs.py"
SPLITS = ("train", "valid", "test")

# Runs in Snorkel's interpreter; argv: work dir, reps.
SNORKEL_SIDE = r"""
import json, sys, time, warnings
import numpy as np, torch
warnings.filterwarnings("ignore")
from snorkel.labeling.model import LabelModel, MajorityLabelVoter
work, reps = sys.argv[1], int(sys.argv[2])
L = {s: np.load(f"{work}/L_{s}.npy") for s in ("train", "valid", "test")}
Y = {s: np.load(f"{work}/Y_{s}.npy") for s in ("valid", "test")}
times = {}
default_threads = torch.get_num_threads()
for threads in (1, default_threads):
    torch.set_num_threads(threads)
    best = float("inf")
    for _ in range(reps):
        model = LabelModel(cardinality=2, verbose=False)
        started = time.perf_counter()
        model.fit(L_train=L["train"], n_epochs=500, log_freq=100, seed=123, progress_bar=False)
        best = min(best, time.perf_counter() - started)
    times[str(threads)] = best
for s in ("train", "valid", "test"):
    np.save(f"{work}/snorkel_probs_{s}.npy", model.predict_proba(L[s]))
own = {s: {"label_model": model.score(L=L[s], Y=Y[s], tie_break_policy="random")["accuracy"],
           "majority_vote": MajorityLabelVoter().score(L=L[s], Y=Y[s], tie_break_policy="random")["accuracy"]}
       for s in ("valid", "test")}
torch.set_num_threads(1)
C = {s: np.load(f"{work}/C_{s}.npy") for s in ("train", "valid", "test")}
copies = LabelModel(cardinality=2, verbose=False)
copies.fit(L_train=C["train"], n_epochs=500, log_freq=100, seed=123, progress_bar=False)
for s in ("train", "valid", "test"):
    np.save(f"{work}/snorkel_copies_{s}.npy", copies.predict_proba(C[s]))
import snorkel
print(json.dumps({"fit_seconds": times, "default_threads": default_threads, "own_score": own,
                  "version": snorkel.__version__, "torch": torch.__version__}))
"""


def load_split() -> dict[str, tuple[list[str], np.ndarray]]:
    """The tutorial's train / valid / test texts and gold labels, in the tutorial's row order."""
    rows: dict[tuple[str, int], dict[str, str]] = {}
    for path in sorted(DATA.glob("Youtube0*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for index, row in enumerate(csv.DictReader(handle)):
                rows[(path.name, index)] = row
    order: dict[str, list[tuple[int, tuple[str, int]]]] = {s: [] for s in SPLITS}
    with (DATA / "splits.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            order[row["split"]].append((int(row["position"]), (row["file"], int(row["row"]))))
    out = {}
    for split, items in order.items():
        items.sort()
        out[split] = ([rows[k]["CONTENT"] for _, k in items], np.array([int(rows[k]["CLASS"]) for _, k in items]))
    return out


def tutorial_lfs() -> tuple[list[Any], list[str]]:
    """The tutorial's LFs: the demo's seven, the two TextBlob ones, and has_person_nlp if spaCy can."""

    from datamill.label import labeling_function, load_lfs

    lfs = list(load_lfs(DEMO_LFS).lfs)
    skipped = []
    try:
        from textblob import TextBlob
    except ImportError:
        skipped += ["textblob_polarity", "textblob_subjectivity (pip install textblob)"]
    else:
        @functools.cache
        def sentiment(text: str) -> tuple[float, float]:
            scores = TextBlob(text).sentiment
            return scores.polarity, scores.subjectivity

        @labeling_function(labels=("ham", "spam"))
        def textblob_polarity(text: str) -> str | None:
            return "ham" if sentiment(text)[0] > 0.9 else None

        @labeling_function(labels=("ham", "spam"))
        def textblob_subjectivity(text: str) -> str | None:
            return "ham" if sentiment(text)[1] >= 0.5 else None

        lfs += [textblob_polarity, textblob_subjectivity]
    try:
        import spacy

        nlp = spacy.load("en_core_web_sm")
    except (ImportError, OSError):
        skipped.append("has_person_nlp (needs spaCy's en_core_web_sm, not on PyPI)")
    else:
        @labeling_function(labels=("ham", "spam"))
        def has_person_nlp(text: str) -> str | None:
            doc = nlp(text)
            return "ham" if len(doc) < 20 and any(ent.label_ == "PERSON" for ent in doc.ents) else None

        lfs.insert(7, has_person_nlp)
    return lfs, skipped


def expected_accuracy(probs: np.ndarray, gold: np.ndarray, covered: np.ndarray | None = None) -> float:
    """Accuracy of the most probable class; a tie of t classes scores 1/t if gold is among them."""
    top = probs.max(axis=1, keepdims=True)
    tied = np.isclose(probs, top, rtol=1e-9, atol=1e-12)
    score = tied[np.arange(len(gold)), gold] / tied.sum(axis=1)
    return float(score[covered].mean() if covered is not None else score.mean())


def best_time(fn: Callable[[], Any], reps: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(reps):
        gc.collect()
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def spam(args: argparse.Namespace) -> None:
    from datamill.label import LabelModel, apply_lfs, dawid_skene, majority_vote

    data = load_split()
    lfs, skipped = tutorial_lfs()
    WORK.mkdir(parents=True, exist_ok=True)
    dense = {}
    started = time.perf_counter()
    for split in SPLITS:
        texts, gold = data[split]
        matrix = apply_lfs(lfs, [{"text": t} for t in texts], labels=["ham", "spam"])
        dense[split] = matrix.to_dense(np.int64)
        np.save(WORK / f"L_{split}.npy", dense[split])
        np.save(WORK / f"Y_{split}.npy", gold)
        # the correlated-LF case: short_comment (the weakest, ham) written three times, as
        # happens when one heuristic is re-expressed in several LFs
        short = [lf.name for lf in lfs].index("short_comment")
        np.save(WORK / f"C_{split}.npy", np.concatenate([dense[split], dense[split][:, [short, short]]], axis=1))
    apply_s = time.perf_counter() - started
    print(f"LFs ({len(lfs)}): {', '.join(lf.name for lf in lfs)}")
    if skipped:
        print(f"left out: {'; '.join(skipped)}")
    print(f"applied to {sum(len(data[s][0]) for s in SPLITS):,} comments in {apply_s:.2f} s")

    fit_s, model = best_time(lambda: LabelModel.fit(dense["train"]), args.reps)
    em_s, em = best_time(lambda: LabelModel.fit(dense["train"], estimator="em"), args.reps)
    ds_s, ds = best_time(lambda: dawid_skene(dense["train"]), args.reps)
    probs: dict[str, dict[str, np.ndarray]] = {"datamill label_model": {}, '  (estimator="em")': {},
                                               "majority vote": {}, "Dawid-Skene (datamill)": {}}
    for split in SPLITS:
        probs["datamill label_model"][split] = model.predict_proba(dense[split])
        probs['  (estimator="em")'][split] = em.predict_proba(dense[split])
        probs["majority vote"][split] = majority_vote(dense[split], tie_break="abstain").probs
        # Dawid–Skene fitted on train, applied to each split with its fitted confusions and priors
        probs["Dawid-Skene (datamill)"][split] = _ds_probs(dense[split], ds.class_priors, ds.confusions)

    snorkel: dict[str, Any] | None = None
    python = Path(args.snorkel_python)
    if python.exists():
        done = subprocess.run([str(python), "-c", SNORKEL_SIDE, str(WORK), str(args.reps)], capture_output=True,
                              text=True, timeout=1800)
        if done.returncode != 0:
            print(f"Snorkel failed:\n{done.stderr[-2000:]}")
        else:
            snorkel = json.loads(done.stdout.strip().splitlines()[-1])
            probs["Snorkel LabelModel"] = {s: np.load(WORK / f"snorkel_probs_{s}.npy") for s in SPLITS}
    else:
        print(f"Snorkel's interpreter {python} is missing: see this script's docstring to set it up.")
    copies = {s: np.load(WORK / f"C_{s}.npy") for s in SPLITS}
    joined = LabelModel.fit(copies["train"])
    independent = LabelModel.fit(copies["train"], merge_overlap=None)
    em_joined = LabelModel.fit(copies["train"], estimator="em")
    with_copies: dict[str, dict[str, np.ndarray]] = {
        "datamill label_model": {s: joined.predict_proba(copies[s]) for s in SPLITS},
        "  (sources independent)": {s: independent.predict_proba(copies[s]) for s in SPLITS},
        '  (estimator="em")': {s: em_joined.predict_proba(copies[s]) for s in SPLITS},
        "majority vote": {s: majority_vote(copies[s]).probs for s in SPLITS},
    }
    if snorkel is not None:
        with_copies["Snorkel LabelModel"] = {s: np.load(WORK / f"snorkel_copies_{s}.npy") for s in SPLITS}

    print()
    header = (f"{'method':26s} {'test':>7s} {'covered':>8s} {'valid':>7s} {'train':>7s} {'covered':>8s} "
              f"{'fit (train)':>12s}")
    print(header)
    print("-" * len(header))
    fit_times = {"datamill label_model": fit_s, '  (estimator="em")': em_s, "Dawid-Skene (datamill)": ds_s,
                 "majority vote": None}
    if snorkel is not None:
        fit_times["Snorkel LabelModel"] = min(snorkel["fit_seconds"].values())
    for name, by_split in probs.items():
        covered = (dense["test"] >= 0).any(axis=1)
        cells = [expected_accuracy(by_split[s], data[s][1]) for s in SPLITS]
        test_covered = expected_accuracy(by_split["test"], data["test"][1], covered)
        train_covered = expected_accuracy(by_split["train"], data["train"][1], (dense["train"] >= 0).any(axis=1))
        seconds = fit_times.get(name)
        print(f"{name:26s} {cells[2]:7.3f} {test_covered:8.3f} {cells[1]:7.3f} {cells[0]:7.3f} {train_covered:8.3f} "
              f"{'—' if seconds is None else f'{seconds * 1000:9.1f} ms':>12s}")
    print(f"\nthe same, with short_comment written three times (groups found: "
          f"{[g for g in joined.groups if len(g) > 1]})")
    print(header)
    print("-" * len(header))
    for name, by_split in with_copies.items():
        covered = (copies["test"] >= 0).any(axis=1)
        cells = [expected_accuracy(by_split[s], data[s][1]) for s in SPLITS]
        test_covered = expected_accuracy(by_split["test"], data["test"][1], covered)
        train_covered = expected_accuracy(by_split["train"], data["train"][1], (copies["train"] >= 0).any(axis=1))
        print(f"{name:26s} {cells[2]:7.3f} {test_covered:8.3f} {cells[1]:7.3f} {cells[0]:7.3f} {train_covered:8.3f} "
              f"{'':>12s}")
    print()
    print(f"test items covered by an LF: {(dense['test'] >= 0).any(axis=1).mean():.1%} "
          f"(train {(dense['train'] >= 0).any(axis=1).mean():.1%}); estimator {model.estimator!r}: "
          f"{model.n_iter} L-BFGS iterations, class balance {np.round(model.class_priors, 3).tolist()}; "
          f"estimator 'em': {em.n_iter} EM iterations, "
          f"groups of dependent LFs: {[g for g in model.groups if len(g) > 1] or 'none'}")
    if snorkel is not None:
        one, many = snorkel["fit_seconds"]["1"], snorkel["fit_seconds"][str(snorkel["default_threads"])]
        print(f"Snorkel {snorkel['version']} (torch {snorkel['torch']}) fit: {one * 1000:.0f} ms with 1 thread, "
              f"{many * 1000:.0f} ms with {snorkel['default_threads']}; datamill's fit {fit_s * 1000:.1f} ms: "
              f"Snorkel's best / datamill's = {min(one, many) / fit_s:.0f}x")
        own = snorkel["own_score"]
        print(f"Snorkel's own score(tie_break_policy='random'): label model test {own['test']['label_model']:.3f}, "
              f"valid {own['valid']['label_model']:.3f}; majority vote test {own['test']['majority_vote']:.3f}, "
              f"valid {own['valid']['majority_vote']:.3f}")


def _ds_probs(dense: np.ndarray, priors: np.ndarray, confusions: np.ndarray) -> np.ndarray:
    joint = np.tile(np.log(np.maximum(priors, 1e-300)), (len(dense), 1))
    log_conf = np.log(np.maximum(confusions, 1e-300))
    for s in range(dense.shape[1]):
        voted = dense[:, s] >= 0
        joint[voted] += log_conf[s][:, dense[voted, s]].T
    joint -= joint.max(axis=1, keepdims=True)
    out = np.exp(joint)
    return out / out.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------- scale
def scale_lfs() -> list[Any]:
    """20 LFs over synthetic comments: 16 column LFs and 4 row LFs."""
    from datamill.label import KeywordLF, LengthLF, RegexLF, UrlLF, labeling_function

    spam_words = ["subscribe", "channel", "check", "free", "win", "money", "please", "click"]
    ham_words = ["song", "love", "video", "beautiful", "best", "voice"]
    lfs: list[Any] = [KeywordLF(f"kw_{w}", [w], "spam") for w in spam_words]
    lfs += [KeywordLF(f"kw_{w}", [w], "ham") for w in ham_words]
    lfs += [RegexLF("check_out", r"check.*out", "spam", ignore_case=True), UrlLF("has_link", "spam")]
    lfs += [LengthLF("short", "ham", max_words=4)]

    @labeling_function(labels=("ham", "spam"))
    def shouting(text: str) -> str | None:
        return "spam" if sum(c.isupper() for c in text) > 10 else None

    @labeling_function(labels=("ham", "spam"))
    def exclaims(text: str) -> str | None:
        return "spam" if text.count("!") >= 3 else None

    @labeling_function(labels=("ham", "spam"))
    def question(x: dict[str, Any]) -> str | None:
        return "ham" if x["text"].endswith("?") else None

    lfs += [shouting, exclaims, question]
    return lfs


def scale_child(n_items: int) -> None:
    """Runs in a child process so that its peak RSS is measured alone."""
    import pyarrow as pa

    from datamill.label import LabelModel, apply_lfs

    rng = np.random.default_rng(0)
    data = load_split()
    texts = np.array(data["train"][0] + data["valid"][0] + data["test"][0], dtype=object)
    words = np.array(" ".join(texts).split(), dtype=object)
    base = texts[rng.integers(0, len(texts), n_items)]
    extra = words[rng.integers(0, len(words), n_items)]
    table = pa.table({"text": pa.array([f"{a} {b}" for a, b in zip(base, extra, strict=True)], pa.string())})
    del base, extra
    lfs = scale_lfs()
    started = time.perf_counter()
    matrix = apply_lfs(lfs, table)
    applied = time.perf_counter() - started
    del table
    dense = matrix.to_dense()
    del matrix
    gc.collect()
    started = time.perf_counter()
    model = LabelModel.fit(dense)
    fitted = time.perf_counter() - started
    started = time.perf_counter()
    result = model.predict(dense)
    predicted = time.perf_counter() - started
    print(json.dumps({"items": n_items, "lfs": len(lfs), "apply_s": applied, "fit_s": fitted,
                      "predict_s": predicted, "n_iter": model.n_iter, "covered": float(result.covered.mean())}))


def scale(n_items: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from memwatch import run_measured

    wall, peak, code, out, err = run_measured([sys.executable, __file__, "--scale-child", str(n_items)])
    if code != 0:
        print(f"scale run failed ({code}):\n{err[-2000:]}")
        return
    row = json.loads(out.strip().splitlines()[-1])
    total = row["apply_s"] + row["fit_s"] + row["predict_s"]
    print(f"\nscale: {row['items']:,} items × {row['lfs']} LFs: apply {row['apply_s']:.1f} s + fit "
          f"{row['fit_s']:.1f} s ({row['n_iter']} fit iterations) + predict {row['predict_s']:.1f} s = {total:.1f} s; "
          f"process wall {wall:.1f} s (with building the texts); peak RSS {peak.rss / 2**30:.2f} GiB; "
          f"covered {row['covered']:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="fits timed per method (best kept)")
    parser.add_argument("--snorkel-python", default=str(SNORKEL_PYTHON), help="the interpreter with snorkel")
    parser.add_argument("--scale", type=int, default=1_000_000, help="items of the scale row (0: skip)")
    parser.add_argument("--scale-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_child:
        scale_child(args.scale_child)
        return
    spam(args)
    if args.scale:
        scale(args.scale)


if __name__ == "__main__":
    main()
