"""One profiling peer over issue 11's Parquet table, run in the peers' venv, one peer per process.

Run by ``benchmarks/bench_profile_peers.py`` (datamill's venv) with the peers' interpreter
(``benchmarks/requirements-validate.txt``)::

    benchmarks/_data/venv-validate/bin/python benchmarks/profile_peers.py ge benchmarks/_data/profile_1000000.parquet

It prints one JSON line: the peer, its version, rows, seconds (reading the Parquet file into pandas
and the peer's job; imports excluded, as for datamill's and polars' sides), the reading's share, the
process's peak RSS (``VmHWM``) after imports and at the end, and a few figures from the result so
that the work is seen to be done. This file imports nothing from datamill.

- ``ge``: Great Expectations 1.x, a 121-expectation suite (`ge_suite`) validated on the dataframe
  (``ge-sets``: the same with the 10k and 100k codes of two columns as literal value sets);
- ``whylogs``: ``why.log(pandas=df)`` with the default metrics, and the profile's summary;
- ``evidently``: Evidently 0.7 ``Report([DataSummaryPreset()])`` run on the dataframe (current only);
- ``ydata``: ydata-profiling ``ProfileReport(df, minimal=True)`` and ``get_description()``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

# None of the peers may phone home from a benchmark (and the machine may be offline).
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("EVIDENTLY_DISABLE_TELEMETRY", "1")
os.environ.setdefault("YDATA_PROFILING_NO_ANALYTICS", "True")

CARDINALITIES = (5, 100, 1_000, 10_000, 100_000)  # bench_profile.CARDINALITIES (not imported: other venv)


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_frame(path: Path) -> Any:
    """The file as a pandas dataframe, as each peer's user would read it."""
    import pandas as pd

    return pd.read_parquet(path, engine="pyarrow")


# ------------------------------------------------------------------------------------ Great Expectations
def ge_suite(columns: list[str], literal_sets: bool = False) -> list[Any]:
    """The 121 expectations over the 20 columns.

    - every column (20 x 2 = 40): not null (``mostly`` 0.95: half the columns have ~2% nulls) and
      its pandas dtype (an integer column may be int64 or, with nulls, float64);
    - 12 numbers (12 x 5 = 60): min, max, mean and standard deviation between bounds, and 5 quantiles;
    - 5 categoricals (5 x 3 = 15): values in the set of their codes, number of distinct values
      between bounds, most common value in that set; for ``c3`` and ``c4`` (10k and 100k codes) a
      regular expression instead of the set, and value lengths in place of the most common value,
      unless ``literal_sets`` (GE then spends ~11 s serialising the 110k values over and over,
      whatever the number of rows: 12.0 s against 0.7 s on 20k rows);
    - 2 texts (2 x 2 = 4): value lengths between 2 and 400, proportion of unique values between 0 and 1;
    - the timestamp (2): values between two dates, values increasing.
    """
    import great_expectations.expectations as gxe

    numbers = [f"f{i}" for i in range(8)] + [f"i{i}" for i in range(4)]
    categoricals = [f"c{i}" for i in range(len(CARDINALITIES))]
    texts = ["text0", "text1"]
    suite: list[Any] = []
    for name in columns:
        suite.append(gxe.ExpectColumnValuesToNotBeNull(column=name, mostly=0.95))
        if name.startswith("i"):
            suite.append(gxe.ExpectColumnValuesToBeInTypeList(column=name, type_list=["int64", "float64"]))
        else:
            dtype = "float64" if name.startswith("f") else "datetime64[us]" if name == "ts" else "object"
            suite.append(gxe.ExpectColumnValuesToBeOfType(column=name, type_=dtype))
    wide = {"min_value": -1e12, "max_value": 1e12}
    for name in numbers:
        suite += [gxe.ExpectColumnMinToBeBetween(column=name, **wide),
                  gxe.ExpectColumnMaxToBeBetween(column=name, **wide),
                  gxe.ExpectColumnMeanToBeBetween(column=name, **wide),
                  gxe.ExpectColumnStdevToBeBetween(column=name, min_value=0, max_value=1e12),
                  gxe.ExpectColumnQuantileValuesToBeBetween(
                      column=name, quantile_ranges={"quantiles": [0.05, 0.25, 0.5, 0.75, 0.95],
                                                    "value_ranges": [[-1e12, 1e12]] * 5})]
    for name, cardinality in zip(categoricals, CARDINALITIES, strict=True):
        distinct = gxe.ExpectColumnUniqueValueCountToBeBetween(column=name, min_value=1, max_value=cardinality)
        if cardinality > 1_000 and not literal_sets:
            digits = len(str(cardinality - 1))
            suite += [gxe.ExpectColumnValuesToMatchRegex(column=name, regex=rf"^{name}_\d+$"), distinct,
                      gxe.ExpectColumnValueLengthsToBeBetween(column=name, min_value=len(name) + 2,
                                                              max_value=len(name) + 1 + digits)]
            continue
        codes = [f"{name}_{k}" for k in range(cardinality)]
        suite += [gxe.ExpectColumnValuesToBeInSet(column=name, value_set=codes), distinct,
                  gxe.ExpectColumnMostCommonValueToBeInSet(column=name, value_set=codes, ties_okay=True)]
    for name in texts:
        suite += [gxe.ExpectColumnValueLengthsToBeBetween(column=name, min_value=2, max_value=400),
                  gxe.ExpectColumnProportionOfUniqueValuesToBeBetween(column=name, min_value=0, max_value=1)]
    suite += [gxe.ExpectColumnValuesToBeBetween(column="ts", min_value="2024-01-01T00:00:00",
                                                max_value="2034-12-31T23:59:59"),
              gxe.ExpectColumnValuesToBeIncreasing(column="ts")]
    assert len(suite) == 121, len(suite)
    return suite


def run_ge(path: Path, literal_sets: bool = False) -> dict[str, Any]:
    import great_expectations as gx
    import pyarrow.parquet as pq

    # Building the suite is setup, not work on the data, and GE's is slow with big value sets
    # (each added expectation is compared with and serialised against the others): it is done
    # before the clock starts, from the file's schema.
    columns = pq.read_schema(path).names
    context = gx.get_context(mode="ephemeral")
    batch_definition = (context.data_sources.add_pandas("bench").add_dataframe_asset("table")
                        .add_batch_definition_whole_dataframe("all"))
    suite = context.suites.add(gx.ExpectationSuite(name="issue11", expectations=ge_suite(columns, literal_sets)))
    started = time.perf_counter()
    df = read_frame(path)
    read = time.perf_counter()
    result = batch_definition.get_batch(batch_parameters={"dataframe": df}).validate(suite)
    stats = result.statistics
    return {"started_at": started, "read_at": read, "rows": len(df),
            "expectations": stats["evaluated_expectations"], "successful": stats["successful_expectations"],
            "failed": sorted({r.expectation_config.type for r in result.results if not r.success})}


# ------------------------------------------------------------------------------------ whylogs
def run_whylogs(path: Path) -> dict[str, Any]:
    import whylogs as why

    df = read_frame(path)
    read = time.perf_counter()
    summary = why.log(pandas=df).view().to_pandas()
    return {"read_at": read, "rows": len(df), "columns": len(summary),
            "metrics": len(summary.columns)}


# ------------------------------------------------------------------------------------ Evidently
def run_evidently(path: Path) -> dict[str, Any]:
    from evidently import Report
    from evidently.presets import DataSummaryPreset

    df = read_frame(path)
    read = time.perf_counter()
    snapshot = Report([DataSummaryPreset()]).run(current_data=df, reference_data=None)
    return {"read_at": read, "rows": len(df), "metrics": len(snapshot.dict()["metrics"])}


# ------------------------------------------------------------------------------------ ydata-profiling
def run_ydata(path: Path) -> dict[str, Any]:
    from ydata_profiling import ProfileReport

    df = read_frame(path)
    read = time.perf_counter()
    description = ProfileReport(df, minimal=True, progress_bar=False).get_description()
    return {"read_at": read, "rows": len(df), "variables": len(description.variables)}


def version(peer: str) -> str:
    from importlib.metadata import version as dist_version

    return dist_version({"ge": "great_expectations", "ge-sets": "great_expectations", "whylogs": "whylogs",
                         "evidently": "evidently", "ydata": "ydata-profiling"}[peer])


PEERS: dict[str, tuple[Callable[[Path], dict[str, Any]], str]] = {
    "ge": (run_ge, "great_expectations"),
    "ge-sets": (partial(run_ge, literal_sets=True), "great_expectations"),
    "whylogs": (run_whylogs, "whylogs"),
    "evidently": (run_evidently, "evidently.presets"),
    "ydata": (run_ydata, "ydata_profiling"),
}


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] not in PEERS:
        sys.exit(f"usage: profile_peers.py {{{','.join(PEERS)}}} FILE.parquet")
    peer, path = sys.argv[1], Path(sys.argv[2])
    run, module = PEERS[peer]
    import importlib

    import pandas  # noqa: F401  (imports count in the baseline, not in the pass)
    import pyarrow.parquet  # noqa: F401

    importlib.import_module(module)
    baseline = peak_rss_mib()
    started = time.perf_counter()
    result = run(path)
    ended = time.perf_counter()
    # A side may start its clock later, after setup that is not work on the data.
    started = result.pop("started_at", started)
    result["read_seconds"] = result.pop("read_at") - started
    print(json.dumps({"peer": peer, "version": version(peer), "seconds": ended - started, "peak_mib": peak_rss_mib(),
                      "baseline_mib": baseline, **result}))


if __name__ == "__main__":
    main()
