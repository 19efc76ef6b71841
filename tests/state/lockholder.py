"""A state lock held by another process, for the tests that a second taker is refused (test_locks.py,
test_files.py). The holder is a forked child, so the lock is contended across processes as it is between
two oktasync commands, and the refusal can name the holder's pid."""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from oktasync.state import exclusive_lock


def _hold(path: str, label: str, ready: Any, release: Any) -> None:
    with exclusive_lock(Path(path), label):
        ready.set()
        release.wait(10)


@contextlib.contextmanager
def lock_held_elsewhere(path: Path, label: str) -> Iterator[BaseProcess]:
    """Another process holds ``exclusive_lock(path, label)`` for the block (unless the test kills it) and
    releases it at the block's end; the block gets that process."""
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(str(path), label, ready, release))
    holder.start()
    try:
        assert ready.wait(10), "the holding process never took the lock"
        yield holder
    finally:
        # Not once the test has killed the holder: setting the event waits for its waiters to wake, and a
        # killed waiter never does.
        if holder.is_alive():
            release.set()
        holder.join(10)
