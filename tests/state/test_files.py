"""Crash-safe state files: journals survive torn writes, locks refuse a second holder."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from oktasync.errors import LockedError
from oktasync.state import Journal, StateDir, atomic_write_json, exclusive_lock, read_json


def test_journal_ignores_a_torn_last_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "run.jsonl")
    journal.append({"step": "snapshot"})
    journal.append({"step": "toggle_off"})
    with open(journal.path, "a") as handle:
        handle.write('{"step": "unass')  # killed mid-write
    assert [r["step"] for r in journal.records()] == ["snapshot", "toggle_off"]


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"b": 2})
    assert read_json(target) == {"b": 2}
    assert read_json(tmp_path / "missing.json", default={}) == {}
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".state.json")]
    assert leftovers == []  # no temporary file survives a completed write


def _hold_lock(path: str, ready: Any, release: Any) -> None:
    with exclusive_lock(Path(path), "resync of acme"):
        ready.set()
        release.wait(10)


def test_lock_refuses_second_holder_and_dies_with_its_process(tmp_path: Path) -> None:
    lock = tmp_path / "resync.lock"
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(str(lock), ready, release))
    holder.start()
    assert ready.wait(10)
    with pytest.raises(LockedError) as raised, exclusive_lock(lock, "resync of acme"):
        pass
    assert "already running" in str(raised.value) and f"pid {holder.pid}" in str(raised.value)
    holder.kill()
    holder.join()
    with exclusive_lock(lock, "resync of acme"):
        pass  # a killed holder leaves no stale lock


def test_state_dir_slugs_names(tmp_path: Path) -> None:
    path = StateDir(tmp_path).for_app("acme corp", "Chrono/sphere")
    assert path == tmp_path / "acme-corp" / "Chrono-sphere" and path.is_dir()
