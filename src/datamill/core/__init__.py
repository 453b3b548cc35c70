"""Core types shared by every package: the dataset handle, columns, fingerprints, errors."""

from datamill.core.dataset import Dataset
from datamill.core.errors import (
    ConfigError,
    DatamillError,
    LedgerError,
    NotFoundError,
    PipelineError,
    SchemaError,
    StoreError,
)

__all__ = [
    "ConfigError",
    "DatamillError",
    "Dataset",
    "LedgerError",
    "NotFoundError",
    "PipelineError",
    "SchemaError",
    "StoreError",
]
