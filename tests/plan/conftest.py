"""Fixtures shared by the plan tests: the end-to-end harness (an emulator org and the CLI runner)."""

from test_plan_e2e_cli import h, org  # noqa: F401  (fixtures, found by name)
