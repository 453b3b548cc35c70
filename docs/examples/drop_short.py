"""A user-defined step, as shown in the README: use it with `uses: ./drop_short.py:DropShort`."""

import pyarrow as pa
import pyarrow.compute as pc

from datamill import Outcome, StepConfig, StepContext, Transform


class ShortConfig(StepConfig):
    min_chars: int = 10


class DropShort(Transform[ShortConfig]):
    """Drop rows whose `text` has fewer than `min_chars` characters (reason `too_short`)."""

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> Outcome:
        too_short = pc.less(pc.utf8_length(batch["text"]), self.config.min_chars)
        return Outcome(batch).drop(too_short, reason="too_short")
