"""The rehearsal org's config comes from the benchmarks' seeding helpers (top-level ``benchmarks`` package,
not installed): make it importable whatever the working directory."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
