"""Reading the two sides of a drift comparison one column at a time, and what kind each column is.

>>> read_side(pa.table({"a": [1]})).num_rows
1
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeAlias

import numpy as np
import pyarrow as pa

from datamill.core.dataset import Dataset
from datamill.core.errors import ConfigError

__all__ = ["DriftInput", "Side", "decode", "read_side", "to_float"]

DriftInput: TypeAlias = "pa.Table | Dataset | str | Path"
_BATCH = 131_072


class Side:
    """One of the two inputs, read a few columns at a time."""

    def __init__(self, data: DriftInput, which: str) -> None:
        self.which = which
        self.table: pa.Table | None = None
        self.dataset: Dataset | None = None
        self.path: Path | None = None
        self.text_columns: set[str] = set()
        if isinstance(data, pa.Table):
            self.table, self.schema, self.num_rows = data, data.schema, data.num_rows
        elif isinstance(data, Dataset):
            self.dataset, self.schema, self.num_rows = data, data.schema, data.num_rows
            self.text_columns = {c for c, role in data.roles.items() if role == "text"}
        elif isinstance(data, str | Path):
            import pyarrow.dataset as pads

            self.path = Path(data)
            if not self.path.exists():
                raise ConfigError(f"the {which} data {str(self.path)!r} does not exist; give a Parquet file or folder")
            self._pads = pads.dataset(self.path, format="parquet")
            self.schema, self.num_rows = self._pads.schema, self._pads.count_rows()
        else:
            raise ConfigError(f"the {which} data must be a pyarrow.Table, a datamill Dataset or a Parquet path, "
                              f"got {type(data).__name__}")

    def batches(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        """The rows of ``columns`` only, batch by batch."""
        if self.table is not None:
            yield from self.table.select(list(columns)).to_batches(max_chunksize=_BATCH)
        elif self.dataset is not None:
            yield from self.dataset.batches(columns, batch_size=_BATCH)
        else:
            yield from self._pads.to_batches(columns=list(columns), batch_size=_BATCH, batch_readahead=0,
                                             fragment_readahead=0)

    def read(self, columns: Sequence[str]) -> pa.Table:
        """``columns`` as one table (the only columns held in memory)."""
        schema = pa.schema([self.schema.field(c) for c in columns])
        return pa.Table.from_batches(list(self.batches(columns)), schema=schema)


def read_side(data: DriftInput, which: str = "reference") -> Side:
    """Open a drift input (a table, a Dataset, a Parquet file or folder) for column-wise reading.

    """
    return Side(data, which)


def decode(values: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(values.type):
        return values.cast(values.type.value_type)
    return values


def to_float(values: pa.ChunkedArray) -> np.ndarray:
    """Finite values as float64 (nulls, NaN and infinities left out); temporal values as integers
    of their unit (epoch values for timestamps and dates)."""
    values = decode(values)
    if pa.types.is_null(values.type):
        return np.empty(0)
    if pa.types.is_temporal(values.type):
        width = pa.int32() if values.type.bit_width == 32 else pa.int64()
        values = values.cast(width)
    array = values.drop_null().to_numpy().astype(np.float64, copy=False) if len(values) else np.empty(0)
    return array[np.isfinite(array)]
