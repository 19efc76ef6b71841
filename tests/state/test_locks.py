"""The state locks (filelock's lock_descriptor on a link-refusing descriptor): a refused taker leaves the
holder's pid in the file, and a lock taken through filelock's own FileLock API contends with ours."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import filelock
import pytest

from oktasync.errors import LockedError
from oktasync.state import exclusive_lock


def _hold(path: str, ready: Any, release: Any) -> None:
    with exclusive_lock(Path(path), "tasks of acme"):
        ready.set()
        release.wait(10)


def test_refused_takers_never_erase_the_holders_pid(tmp_path: Path) -> None:
    lock = tmp_path / "tasks.lock"
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(str(lock), ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        for _ in range(3):
            with pytest.raises(LockedError) as raised, exclusive_lock(lock, "tasks of acme"):
                pass
            assert f"tasks of acme is already running (pid {holder.pid})" in str(raised.value)
            assert raised.value.exit_code == 4
        assert lock.read_text() == f"pid {holder.pid}"
    finally:
        release.set()
        holder.join(10)
    with exclusive_lock(lock, "tasks of acme"):
        assert lock.read_text() == f"pid {multiprocessing.current_process().pid}"


def test_lock_contends_with_filelocks_own_api(tmp_path: Path) -> None:
    lock = tmp_path / "app.lock"
    with exclusive_lock(lock, "apply of acme"):
        with pytest.raises(filelock.Timeout):
            filelock.FileLock(str(lock), timeout=0).acquire()
    other = filelock.FileLock(str(lock), timeout=0)
    with other:
        with pytest.raises(LockedError), exclusive_lock(lock, "apply of acme"):
            pass
    with exclusive_lock(lock, "apply of acme"):
        pass
