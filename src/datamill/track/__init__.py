"""Runs and lineage: the experiment record of every pipeline run."""

from datamill.track.filter_report import filter_report, resolve_run_id
from datamill.track.lineage import lineage, lineage_dot, lineage_text
from datamill.track.runs import compare_runs, run_details

__all__ = ["compare_runs", "filter_report", "lineage", "lineage_dot", "lineage_text", "resolve_run_id",
           "run_details"]
