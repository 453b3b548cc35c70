"""Deduplication: exact copies, MinHash-LSH near duplicates; every removal names what it duplicates.

Steps: ``dedup.exact`` (``datamill.dedup.exact``) and ``dedup.minhash``
(``datamill.dedup.minhash``); ``near_duplicates`` clusters a list of texts in memory.
"""
