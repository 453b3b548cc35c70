"""Validate data: mergeable statistics (this part), then schema, anomalies, drift and monitors.

>>> import pyarrow as pa
>>> profile(pa.table({"x": [1, 2, 3]}))["columns"][0]["numeric"]["mean"]
2.0
"""

from datamill.validate.profile import (
    Profile,
    ProfileConfig,
    profile,
    profile_table,
    report_from_table,
    stored_profile,
)
from datamill.validate.sketches import DistinctSketch, FrequentItems, QuantileSketch
from datamill.validate.stats import DEFAULT_QUANTILES, ColumnStats, Moments, StatsOptions, TableStats

__all__ = [
    "DEFAULT_QUANTILES",
    "ColumnStats",
    "DistinctSketch",
    "FrequentItems",
    "Moments",
    "Profile",
    "ProfileConfig",
    "QuantileSketch",
    "StatsOptions",
    "TableStats",
    "profile",
    "profile_table",
    "report_from_table",
    "stored_profile",
]
