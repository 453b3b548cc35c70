"""Executors decide where tasks run; every one runs the same `execute_task`."""

from datamill.pipeline.executors.local import LocalExecutor

__all__ = ["LocalExecutor"]
