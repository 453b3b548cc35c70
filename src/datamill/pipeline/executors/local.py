"""The local executor: tasks in this process (one worker) or in a process pool."""

from __future__ import annotations

import contextlib
import functools
import gc
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

import pyarrow as pa

from datamill.pipeline.step import Aggregate
from datamill.pipeline.task import PartResult, StepRef, Task, execute_task

__all__ = ["LocalExecutor"]


def _init_worker(threads: int) -> None:
    # Libraries with their own thread pools (lingua and tokenizers through rayon, polars) size
    # them to every core; with several workers that oversubscribes the machine. Each worker gets
    # its share, unless the user set these themselves.
    for name in ("RAYON_NUM_THREADS", "POLARS_MAX_THREADS"):
        os.environ.setdefault(name, str(threads))
    # jemalloc hands freed memory back to the OS sooner than mimalloc: measured on the 2 GB
    # identity benchmark, peak RSS of the process tree fell from 1.14 GB to 1.04 GB at equal CPU.
    with contextlib.suppress(NotImplementedError, pa.ArrowNotImplementedError):
        pa.set_memory_pool(pa.jemalloc_memory_pool())


_frozen_uses: set[str] = set()


def _run_in_worker(task: Task) -> PartResult:
    """`execute_task`, then, the first time a worker runs a kind of step, ``gc.freeze()``.

    A full garbage collection walks every object alive, and most of them are the modules a step
    imported (pyarrow, trafilatura, lingua...): freezing them once they are loaded takes them out
    of every later walk. On HTML extraction this cut datamill's overhead over calling trafilatura
    directly from about 15% to about 5%. What is frozen is what was alive after one task (its
    modules, caches and little else), once per kind of step.
    """
    result = execute_task(task)
    if task.step.uses not in _frozen_uses:
        _frozen_uses.add(task.step.uses)
        gc.collect()
        gc.freeze()
    return result


def _warm() -> None:
    """A no-op task: its only job is to make the pool start a worker."""


class LocalExecutor:
    """Runs tasks with at most ``workers`` processes; memory stays near batch size × workers.

    At most ``2 × workers`` tasks are in flight, so a step with thousands of partitions does not
    queue them all at once.
    """

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: the parent holds database connections and a progress thread, which a
            # plain fork would copy into every worker.
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("forkserver"),
                initializer=_init_worker, initargs=(max(1, (os.cpu_count() or 1) // self.workers),),
            )
        return self._pool

    def start(self) -> None:
        """Start the worker processes now (they import datamill while the caller works)."""
        if self.workers > 1 and self._pool is None:
            pool = self._get_pool()
            for _ in range(self.workers):
                pool.submit(_warm)

    def map(self, tasks: Sequence[Task]) -> Iterator[PartResult]:
        """Yield each task's result as it finishes (not in order)."""
        if self.workers == 1 or len(tasks) <= 1:
            for task in tasks:
                yield execute_task(task)
            return
        pool = self._get_pool()
        pending: set[Future[PartResult]] = set()
        queue = list(reversed(tasks))
        try:
            while queue or pending:
                while queue and len(pending) < 2 * self.workers:
                    pending.add(pool.submit(_run_in_worker, queue.pop()))
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()

    def merge_all(self, step: Aggregate[Any, Any, Any], ref: StepRef, states: Sequence[Any]) -> Any:
        """The partial states merged in order, in this process (merges are cheap next to partials)."""
        return functools.reduce(step.merge, states)

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
