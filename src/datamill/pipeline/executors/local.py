"""The local executor: tasks in this process (one worker) or in a process pool."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from datamill.pipeline.task import PartResult, Task, execute_task

__all__ = ["LocalExecutor"]


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
                max_workers=self.workers, mp_context=multiprocessing.get_context("forkserver")
            )
        return self._pool

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
                    pending.add(pool.submit(execute_task, queue.pop()))
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
