"""docs/cli.md is click's help for every command, rendered by ``oktasync.cli.docgen``: it must match the
commands as they are now, so the reference cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from oktasync.cli import _COMMANDS
from oktasync.cli.docgen import render

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
REGENERATE = ".venv/bin/python -m oktasync.cli.docgen > docs/cli.md"


def test_the_cli_reference_is_up_to_date() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render(), f"docs/cli.md is out of date: run {REGENERATE}"


def test_the_reference_has_a_section_for_every_command() -> None:
    text = render()
    for name in _COMMANDS:
        assert f"## `oktasync {name}`" in text and f"Usage: oktasync {name} " in text
    assert "## `oktasync hooks serve`" in text and "## `oktasync playbook run`" in text  # subcommands too
