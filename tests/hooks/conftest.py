"""Fixtures of the hooks tests: the loopback webhook receiver of the tasks tests (reused, not copied)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tasks"))

from tasks_helpers import Receiver, run_receiver  # noqa: E402


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback webhook receiver for the notifications (records what it accepted)."""
    with run_receiver() as rec:
        yield rec
