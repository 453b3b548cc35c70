"""Progress on stderr: a rich bar per step on a terminal, a plain line every few seconds otherwise."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["NullReporter", "PlainReporter", "Reporter", "RichReporter", "make_reporter"]


class Reporter(Protocol):
    def step_started(self, step_id: str, parts: int, status: str = "running") -> None: ...
    def part_done(self, step_id: str, rows: int) -> None: ...
    def step_finished(self, step_id: str, status: str, rows_out: int) -> None: ...
    def close(self) -> None: ...


class NullReporter:
    """Says nothing (library use, tests)."""

    def step_started(self, step_id: str, parts: int, status: str = "running") -> None:
        pass

    def part_done(self, step_id: str, rows: int) -> None:
        pass

    def step_finished(self, step_id: str, status: str, rows_out: int) -> None:
        pass

    def close(self) -> None:
        pass


class PlainReporter:
    """One line per step start and end, and one every ``interval`` seconds while it runs."""

    def __init__(self, stream: Any = None, interval: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self._state: dict[str, dict[str, Any]] = {}

    def _say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def step_started(self, step_id: str, parts: int, status: str = "running") -> None:
        self._state[step_id] = {"parts": parts, "done": 0, "rows": 0, "t0": time.monotonic(),
                                "last": time.monotonic()}
        self._say(f"{step_id}: {status} ({parts} partition{'s' if parts != 1 else ''})")

    def part_done(self, step_id: str, rows: int) -> None:
        st = self._state.get(step_id)
        if st is None:
            return
        st["done"] += 1
        st["rows"] += rows
        now = time.monotonic()
        if now - st["last"] >= self.interval:
            st["last"] = now
            rate = st["rows"] / max(now - st["t0"], 1e-9)
            self._say(f"{step_id}: {st['done']}/{st['parts']} partitions, {st['rows']:,} rows, "
                      f"{rate:,.0f} rows/s")

    def step_finished(self, step_id: str, status: str, rows_out: int) -> None:
        st = self._state.pop(step_id, None)
        took = f" in {time.monotonic() - st['t0']:.1f} s" if st else ""
        self._say(f"{step_id}: {status}, {rows_out:,} rows out{took}")

    def close(self) -> None:
        pass


class RichReporter:
    """A progress bar per step: partitions done, rows, rows/s and time left."""

    def __init__(self) -> None:
        self.console = Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")))
        self.progress = Progress(
            TextColumn("[bold]{task.fields[step]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rows]:,} rows · {task.fields[rate]:,.0f} rows/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self._tasks: dict[str, tuple[TaskID, float, int]] = {}

    def step_started(self, step_id: str, parts: int, status: str = "running") -> None:
        task = self.progress.add_task(step_id, total=max(parts, 1), step=step_id, rows=0, rate=0.0)
        self._tasks[step_id] = (task, time.monotonic(), 0)

    def part_done(self, step_id: str, rows: int) -> None:
        if step_id not in self._tasks:
            return
        task, t0, total = self._tasks[step_id]
        total += rows
        self._tasks[step_id] = (task, t0, total)
        rate = total / max(time.monotonic() - t0, 1e-9)
        self.progress.update(task, advance=1, rows=total, rate=rate)

    def step_finished(self, step_id: str, status: str, rows_out: int) -> None:
        if step_id in self._tasks:
            task, _, _ = self._tasks.pop(step_id)
            finished = self.progress.tasks[task].total or 1
            self.progress.update(task, completed=finished, step=f"{step_id} ({status})")

    def close(self) -> None:
        self.progress.stop()


def make_reporter(enabled: bool = True) -> Reporter:
    """A rich reporter on a terminal, plain lines otherwise, nothing when disabled."""
    if not enabled:
        return NullReporter()
    if sys.stderr.isatty() and os.environ.get("TERM") != "dumb":
        return RichReporter()
    return PlainReporter()
