"""The state locks (filelock's lock_descriptor on a link-refusing descriptor): a refused taker leaves the
holder's pid in the file, and a lock taken through filelock's own FileLock API contends with ours."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import filelock
import pytest
from lockholder import lock_held_elsewhere

from oktasync.errors import LockedError
from oktasync.state import exclusive_lock


def test_refused_takers_never_erase_the_holders_pid(tmp_path: Path) -> None:
    lock = tmp_path / "tasks.lock"
    with lock_held_elsewhere(lock, "tasks of acme") as holder:
        for _ in range(3):
            with pytest.raises(LockedError) as raised, exclusive_lock(lock, "tasks of acme"):
                pass
            assert f"tasks of acme is already running (pid {holder.pid})" in str(raised.value)
            assert raised.value.exit_code == 4
        assert lock.read_text() == f"pid {holder.pid}"
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
