"""Runs and lineage: the experiment record of every pipeline run."""

from datamill.track.lineage import lineage, lineage_dot, lineage_text
from datamill.track.runs import compare_runs, run_details

__all__ = ["compare_runs", "lineage", "lineage_dot", "lineage_text", "run_details"]
