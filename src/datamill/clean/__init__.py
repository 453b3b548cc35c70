"""Repair, tag, filter and cut text; make tables consistent.

Text: ``clean.text`` (`CleanText`: mojibake, unicode form, whitespace and control characters),
``clean.boilerplate`` (`Boilerplate`: lines that repeat across many documents of one source).
Language: ``lang.detect`` (`DetectLanguage`), ``filter.language`` (`LanguageFilter`).
Quality rules with published pedigrees: ``filter.gopher_quality``, ``filter.gopher_repetition``,
``filter.c4``, ``filter.fineweb``. Retrieval: ``chunk.text`` (`ChunkText`). Tables:
``clean.table`` (`CleanTable`), ``table.to_text`` (`TableToText`).
"""

from __future__ import annotations

import importlib
from typing import Any

# Each step loads its module (and its libraries: ftfy, lingua, tokenizers) on first use only.
_MODULES = {
    "CleanText": "text",
    "Boilerplate": "boilerplate",
    "CleanTable": "table",
    "DetectLanguage": "language",
    "LanguageFilter": "language",
    "GopherQuality": "quality",
    "GopherRepetition": "quality",
    "C4Quality": "quality",
    "FineWebQuality": "quality",
    "ChunkText": "chunk",
    "TableToText": "table_text",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(f"datamill.clean.{_MODULES[name]}"), name)
    raise AttributeError(f"module 'datamill.clean' has no attribute {name!r}")
