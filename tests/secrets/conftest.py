"""The secret-flow tests share the leak scanner of the hostile corpus (tests/hostile/hostile_harness.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hostile"))
