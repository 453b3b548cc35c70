"""Training-ready LLM data: train a tokenizer, tokenize, pack into token shards, stream into PyTorch.

Steps: ``tokenize.train``, ``llm.tokenize``, ``llm.pack``. The PyTorch side,
`datamill.llm.StreamingDataset`, needs the ``[torch]`` extra and loads on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["StreamingDataset", "StreamingLoader"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from datamill.llm import stream

        return getattr(stream, name)
    raise AttributeError(f"module 'datamill.llm' has no attribute {name!r}")
