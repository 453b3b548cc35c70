"""The Ray executor: the same tasks as the local executor, run as Ray tasks on a cluster.

Ray is an optional extra (``pip install 'datamill[ray]'``) and is imported only when an executor
starts. Every task runs the same :func:`~datamill.pipeline.task.execute_task` as the local
executor; shards are content-addressed and the runner orders results by partition, so a pipeline
gives the same output version ids on Ray as on one core.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Sequence
from typing import Any

from datamill.core.errors import ConfigError, DatamillError, StoreError
from datamill.pipeline.task import PartResult, StepRef, Task, execute_task
from datamill.store.objects import ObjectStore

__all__ = ["RayExecutor"]


def _ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise ConfigError(
            "`--executor ray` needs Ray, which is not installed; install it with "
            "`pip install 'datamill[ray]'`."
        ) from err
    return ray


# The driver writes this object into the store before the first task; a worker that cannot
# read it cannot see the store. (A fresh store on S3 has no "folder" to look for: a prefix
# exists only once something is written below it.)
STORE_MARKER = "store.json"


def mark_store(task: Task) -> None:
    """Write `STORE_MARKER` into the task's store (the driver does this once per store)."""
    store = ObjectStore(task.store_url, task.storage_options)
    if not store.exists(STORE_MARKER):
        store.put_json_atomic(STORE_MARKER, {"store": "datamill"})


def check_store(task: Task) -> None:
    """Raise a `StoreError` when this process cannot see the task's object store.

    A worker on another machine cannot read a local folder of the driver's: the store must be an
    fsspec URL every worker reaches (``s3://bucket/prefix``, a shared file system).
    """
    store = ObjectStore(task.store_url, task.storage_options)
    try:
        reachable = store.exists(STORE_MARKER)
    except Exception as err:  # credentials, network, a missing fsspec backend...
        reachable, why = False, f"{type(err).__name__}: {err}"
    else:
        why = f"its {STORE_MARKER}, written by the driver, is not there"
    if not reachable:
        raise StoreError(
            f"Ray worker on {socket.gethostname()!r} cannot see the object store "
            f"{task.store_url!r} ({why}). Every worker must reach the workspace's store: use an "
            "fsspec URL they all see (e.g. `s3://bucket/prefix`, with credentials on each node) "
            "or a shared file system; see docs/ray.md."
        )


def run_on_ray_worker(task: Task) -> PartResult:
    """What each Ray task runs: check the store, then `execute_task`.

    Ray gives a task one CPU, so libraries with their own thread pools (lingua and tokenizers
    through rayon, polars) get one thread each unless the user set these themselves.
    """
    for name in ("RAYON_NUM_THREADS", "POLARS_MAX_THREADS"):
        os.environ.setdefault(name, "1")
    check_store(task)
    return execute_task(task)


def merge_on_ray_worker(ref: StepRef, left: Any, right: Any) -> Any:
    """One merge of the tree: ``left`` then ``right``, by the step rebuilt from ``ref``."""
    return ref.build().merge(left, right)  # type: ignore[attr-defined]


class RayExecutor:
    """Runs tasks as Ray tasks, at most ``2 × workers`` in flight.

    ``address`` (or ``RAY_ADDRESS``) names an existing cluster (``"auto"``, ``"127.0.0.1:6379"``,
    ``"ray://head:10001"``); without one, ``start()`` starts a local Ray with ``workers`` CPUs.
    A task whose worker process dies is retried (``max_retries``); a retry writes its shards
    again under new temp names and commits them to the same content addresses, so nothing is
    counted twice.
    """

    def __init__(self, workers: int = 1, address: str | None = None, *, max_retries: int = 3) -> None:
        self.workers = max(1, workers)
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.max_retries = max_retries
        self._ray: Any = None
        self._remote: Any = None
        self._owns_ray = False
        self._marked: set[str] = set()

    def start(self) -> None:
        """Connect to the cluster (or start a local one); a no-op when already connected."""
        if self._remote is not None:
            return
        ray = _ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "configure_logging": False}
            if self.address is None:
                kwargs["num_cpus"] = self.workers
            try:
                ray.init(address=self.address, **kwargs)
            except ConnectionError as err:
                raise ConfigError(
                    f"cannot connect to the Ray cluster at {self.address!r}: {err}. Check "
                    "`--address` / `RAY_ADDRESS` (e.g. `127.0.0.1:6379` or `ray://head:10001`), "
                    "or leave both unset to start a local Ray."
                ) from err
            self._owns_ray = True
        self._ray = ray
        self._remote = ray.remote(num_cpus=1, max_retries=self.max_retries)(run_on_ray_worker)

    def map(self, tasks: Sequence[Task]) -> Iterator[PartResult]:
        """Yield each task's result as it finishes (not in order)."""
        if not tasks:
            return
        self.start()
        for url in {task.store_url for task in tasks}:
            if url not in self._marked:
                mark_store(next(task for task in tasks if task.store_url == url))
                self._marked.add(url)
        ray = self._ray
        pending: list[Any] = []
        queue = list(reversed(tasks))
        try:
            while queue or pending:
                while queue and len(pending) < 2 * self.workers:
                    pending.append(self._remote.remote(queue.pop()))
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield self._get(ref)
        finally:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref)

    def merge_all(self, step: Any, ref: StepRef, states: Sequence[Any]) -> Any:
        """Merge the partial states as a tree of Ray tasks: neighbours pair up, level by level.

        Merging neighbours keeps the order of the partitions, so any associative ``merge`` gives
        the result of merging them one by one; the levels run in parallel on the cluster.
        """
        if len(states) <= 2:
            return step.merge(states[0], states[1]) if len(states) == 2 else states[0]
        self.start()
        ray = self._ray
        merge = ray.remote(num_cpus=1, max_retries=self.max_retries)(merge_on_ray_worker)
        level = [ray.put(state) for state in states]
        while len(level) > 1:
            pairs = [merge.remote(ref, level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            level = pairs + ([level[-1]] if len(level) % 2 else [])
        try:
            return ray.get(level[0])
        except ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, Exception):
                raise cause from err
            raise

    def _get(self, ref: Any) -> PartResult:
        ray = self._ray
        try:
            result: PartResult = ray.get(ref)
        except ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, DatamillError):
                raise cause from err
            if isinstance(cause, Exception):
                raise cause from err
            raise
        return result

    def close(self) -> None:
        """Disconnect from (or stop) Ray when this executor connected to (or started) it."""
        if self._owns_ray and self._ray is not None:
            self._ray.shutdown()
        self._ray = self._remote = None
        self._owns_ray = False
