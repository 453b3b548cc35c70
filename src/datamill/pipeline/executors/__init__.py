"""Executors decide where tasks run; every one runs the same `execute_task`.

`RayExecutor` imports Ray only when it starts, so importing this package never needs the extra.
"""

from datamill.pipeline.executors.local import LocalExecutor
from datamill.pipeline.executors.ray import RayExecutor

__all__ = ["LocalExecutor", "RayExecutor", "make_executor"]


def make_executor(kind: str, workers: int = 1, address: str | None = None) -> LocalExecutor | RayExecutor:
    """The executor named ``kind`` (``"local"`` or ``"ray"``) with ``workers`` workers."""
    from datamill.core.errors import ConfigError

    if kind == "local":
        if address is not None:
            raise ConfigError(f"`--address` {address!r} is for the Ray executor; add `--executor ray`.")
        return LocalExecutor(workers)
    if kind == "ray":
        return RayExecutor(workers, address)
    raise ConfigError(f"no executor named {kind!r}; use 'local' or 'ray'.")
