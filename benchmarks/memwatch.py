"""Peak memory of a process tree, sampled in a thread (psutil + /proc).

CPU time (user + system) is summed over the processes of the tree as last sampled (a
process's last <50 ms can be missed), which is steadier than wall time on a shared machine.
RSS is summed over the process and all its descendants (the forkserver and the pool's
workers included). On Linux the anonymous part (``RssAnon``: heaps, Arrow buffers) is
tracked too: the rest of RSS is file-backed (shared libraries, memory-mapped Parquet),
which the kernel can drop under pressure and which is counted once per process here.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import psutil


def _rss(proc: psutil.Process) -> tuple[int, int]:
    """(rss, anonymous rss) in bytes; anonymous is rss where /proc is not available."""
    try:
        text = Path(f"/proc/{proc.pid}/status").read_text()
    except OSError:
        try:
            rss = proc.memory_info().rss
        except psutil.Error:
            return 0, 0
        return rss, rss
    fields = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "RssAnon:")):
            key, value = line.split(":", 1)
            fields[key] = int(value.split()[0]) * 1024
    rss = fields.get("VmRSS", 0)
    return rss, fields.get("RssAnon", rss)


class PeakRSS:
    """``with PeakRSS(pid) as peak: ...`` then ``peak.rss``, ``peak.anon``, ``peak.procs``,
    ``peak.cpu``."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.rss = 0
        self.anon = 0
        self.procs = 0
        self.samples = 0
        self._cpu: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        rss = anon = 0
        for proc in procs:
            r, a = _rss(proc)
            rss += r
            anon += a
            try:
                times = proc.cpu_times()
                self._cpu[(proc.pid, proc.create_time())] = times.user + times.system
            except psutil.Error:
                pass
        self.rss = max(self.rss, rss)
        self.anon = max(self.anon, anon)
        self.procs = max(self.procs, len(procs))
        self.samples += 1

    @property
    def cpu(self) -> float:
        """CPU seconds (user + system) of the tree, as last sampled for each process."""
        return sum(self._cpu.values())

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_measured(cmd: list[str], *, cwd: str | None = None, env: dict[str, str] | None = None,
                 interval: float = 0.05) -> tuple[float, PeakRSS, int, str, str]:
    """Run ``cmd``; return (wall seconds, peak memory of its tree, exit code, stdout, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        popen = psutil.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        with PeakRSS(popen.pid, interval) as peak:
            code = popen.wait()
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return wall, peak, code, out.read().decode(errors="replace"), err.read().decode(
            errors="replace")
