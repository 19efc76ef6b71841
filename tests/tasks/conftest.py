"""Fixtures of the tasks tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tasks_helpers import Receiver, run_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback webhook receiver (answers ``receiver.status``; records what it accepted)."""
    with run_receiver() as rec:
        yield rec
