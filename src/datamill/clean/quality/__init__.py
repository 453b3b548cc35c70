"""Quality filters with published pedigrees: Gopher, C4 and FineWeb.

``filter.gopher_quality`` (`GopherQuality`) and ``filter.gopher_repetition`` (`GopherRepetition`):
Rae et al. 2021, Appendix A. ``filter.c4`` (`C4Quality`): Raffel et al. 2020, Section 2.2.
``filter.fineweb`` (`FineWebQuality`): Penedo et al. 2024, Section 3.5. Each rule is a drop
reason; a document is dropped under the first rule it fails, in the documented order, so the
counts add up. Defaults are the papers' values; see ``docs/quality-filters.md``.
"""

from __future__ import annotations

from datamill.clean.quality._filter import QualityFilterConfig
from datamill.clean.quality.c4 import C4Quality, C4QualityConfig
from datamill.clean.quality.fineweb import FineWebQuality, FineWebQualityConfig
from datamill.clean.quality.gopher import GopherQuality, GopherQualityConfig, GopherRepetition, GopherRepetitionConfig

__all__ = [
    "C4Quality",
    "C4QualityConfig",
    "FineWebQuality",
    "FineWebQualityConfig",
    "GopherQuality",
    "GopherQualityConfig",
    "GopherRepetition",
    "GopherRepetitionConfig",
    "QualityFilterConfig",
]
