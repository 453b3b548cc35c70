"""Deduplication: exact, MinHash-LSH near duplicates, repeated lines, decontamination."""
