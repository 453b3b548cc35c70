"""Bundle the tabular monitoring demo's data: three CSVs of ../shared/data/tabular, zstd-compressed.

The files are copied unchanged (read through their codec by `read.csv`); their origins and
licences are in src/datamill/examples/tabular_monitoring/README.md.

    .venv/bin/python scripts/build_demo_tabular.py
"""

from __future__ import annotations

from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "tabular"
TARGET = ROOT / "src" / "datamill" / "examples" / "tabular_monitoring" / "data"
FILES = ("chicago_taxi_train.csv", "chicago_taxi_serving.csv", "metro_traffic_volume.csv")


def main() -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    compressor = zstandard.ZstdCompressor(level=19)
    for name in FILES:
        raw = (SOURCE / name).read_bytes()
        out = TARGET / f"{name}.zst"
        out.write_bytes(compressor.compress(raw))
        print(f"{out.relative_to(ROOT)}: {len(raw):,} → {out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
