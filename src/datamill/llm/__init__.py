"""Training-ready LLM data: tokenizers and tokenization (packing, shards and streaming come next)."""
