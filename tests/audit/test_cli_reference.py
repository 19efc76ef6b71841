"""docs/cli.md is click's help for every command, rendered by ``oktasync.cli.docgen``: it must match the
commands as they are now, so the reference cannot drift from the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from oktasync.cli import _COMMANDS

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
REGENERATE = ".venv/bin/python -m oktasync.cli.docgen > docs/cli.md"


def _render() -> str:
    """In a fresh process: click caches each command's help option, so a command another test invoked on
    its own (without the root group's -h/--help) would render differently here."""
    completed = subprocess.run(
        [sys.executable, "-m", "oktasync.cli.docgen"], capture_output=True, text=True, check=True, timeout=60
    )
    return completed.stdout


def test_the_cli_reference_is_up_to_date() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == _render(), f"docs/cli.md is out of date: run {REGENERATE}"


def test_the_reference_has_a_section_for_every_command() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    for name in _COMMANDS:
        assert f"## `oktasync {name}`" in text and f"Usage: oktasync {name} " in text
    assert "## `oktasync hooks serve`" in text and "## `oktasync playbook run`" in text  # subcommands too
