"""Pipelines built in a temp dir around a small user-defined source."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

USER_STEPS = '''
import time

import pyarrow as pa
import pyarrow.compute as pc

from datamill.pipeline import Outcome, Source, StepConfig, Transform


class CountingConfig(StepConfig):
    parts: int = 3
    rows: int = 100
    bad_every: int = 0
    sleep_s: float = 0.0


class Counting(Source[CountingConfig]):
    """Rows x = 0..rows-1 in each partition; every `bad_every`-th row is quarantined."""

    def partitions(self):
        return [{"part": i} for i in range(self.config.parts)]

    def read(self, partition, ctx):
        p = partition["part"]
        if self.config.sleep_s:
            time.sleep(self.config.sleep_s)
        good = [j for j in range(self.config.rows)
                if not (self.config.bad_every and j % self.config.bad_every == 0)]
        bad = [j for j in range(self.config.rows) if j not in set(good)]
        yield pa.record_batch({"id": [f"{p}:{j}" for j in good], "x": good,
                               "text": [f"row {j} of {p}" for j in good]})
        ctx.quarantine([{"id": f"{p}:{j}", "line": j, "raw": "???"} for j in bad],
                       reason="malformed_row", error="could not parse")


class Double(Transform[StepConfig]):
    def process(self, batch, ctx):
        return batch.set_column(batch.schema.get_field_index("x"), "x", pc.multiply(batch["x"], 2))


class Slow(Transform[StepConfig]):
    def process(self, batch, ctx):
        time.sleep(0.4)
        return batch


class Loses(Transform[StepConfig]):
    """A buggy step: drops rows without saying why."""

    def process(self, batch, ctx):
        out = Outcome(batch.slice(0, 0))
        return out
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A directory with a user steps file; pipelines are written next to it."""
    (tmp_path / "steps.py").write_text(textwrap.dedent(USER_STEPS))
    return tmp_path


def write_pipeline(directory: Path, spec: dict[str, Any], name: str = "p.yaml") -> Path:
    """Write a pipeline spec as YAML."""
    path = directory / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path
