"""Fixtures of the GitHub Action tests: the plan tests' emulator org and CLI harness."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plan"))  # the plan tests' harness

from test_plan_e2e_cli import h, org  # noqa: E402, F401  (fixtures, found by name)
