"""Crash-safe state files: journals survive torn writes, locks refuse a second holder."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest
from lockholder import lock_held_elsewhere

import oktasync.state.files as files
from oktasync.errors import LockedError
from oktasync.state import (
    Journal,
    StateDir,
    StateFileError,
    StateWriteError,
    atomic_write_json,
    exclusive_lock,
    read_json,
)
from oktasync.state.files import record_checksum


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


def test_lock_refuses_second_holder_and_dies_with_its_process(tmp_path: Path) -> None:
    lock = tmp_path / "resync.lock"
    with lock_held_elsewhere(lock, "resync of acme") as holder:
        with pytest.raises(LockedError) as raised, exclusive_lock(lock, "resync of acme"):
            pass
        assert "already running" in str(raised.value) and f"pid {holder.pid}" in str(raised.value)
        holder.kill()
        holder.join()
        with exclusive_lock(lock, "resync of acme"):
            pass  # a killed holder leaves no stale lock


def test_state_dir_slugs_names(tmp_path: Path) -> None:
    path = StateDir(tmp_path).app_dir("https://acme.okta.com", "Chrono/sphere")
    assert path == tmp_path / "apps" / "acme.okta.com" / "Chrono-sphere" and path.is_dir()


# --- links, modes, corruption, checked journal records ----------------------------------------------------


def test_state_files_are_private(tmp_path: Path) -> None:
    app = StateDir(tmp_path / "state").app_dir("https://acme.okta.com", "0oa1")
    atomic_write_json(app / "state.json", {"a": 1})
    journal = Journal(app / "run.jsonl")
    journal.append({"rec": "begin"})
    with exclusive_lock(app / "x.lock", "test"):
        pass
    for path in (app / "state.json", journal.path, app / "x.lock"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    for directory in (app, app.parent, app.parent.parent):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700, directory


@pytest.mark.parametrize("kind", ["lock", "journal", "json"])
def test_a_linked_state_file_is_refused_and_its_target_untouched(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    app = StateDir(tmp_path / "state").app_dir("https://acme.okta.com", "0oa1")
    link = app / {"lock": "tasks.lock", "journal": "resync.journal.jsonl", "json": "tasks-state.json"}[kind]
    link.symlink_to(target)
    with pytest.raises(StateFileError, match="symbolic link") as refused:
        if kind == "lock":
            with exclusive_lock(link, "tasks"):
                pass
        elif kind == "journal":
            Journal(link).append({"rec": "begin"})
        else:
            atomic_write_json(link, {"a": 1})
    assert str(link) in refused.value.message and refused.value.exit_code == 4
    assert target.read_text() == "keep me\n" and link.is_symlink()


def test_a_linked_org_directory_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "state" / "apps").mkdir(parents=True)
    (tmp_path / "state" / "apps" / "acme.okta.com").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(StateFileError, match="state directory"):
        StateDir(tmp_path / "state").app_dir("https://acme.okta.com", "0oa1")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('{"known": {"00u1": 1}', "not valid JSON (line 1"),
        (
            '{\n<<<<<<< HEAD\n  "a": 1\n=======\n  "a": 2\n>>>>>>> theirs\n}\n',
            "merge conflict marker at line 2",
        ),
    ],
)
def test_a_corrupt_json_state_file_names_the_file_and_the_fix(tmp_path: Path, content: str, why: str) -> None:
    path = tmp_path / "tasks-state.json"
    path.write_text(content)
    with pytest.raises(StateFileError) as refused:
        read_json(path)
    assert str(path) in refused.value.message and why in refused.value.message
    assert "restore" in (refused.value.hint or "")


def test_journal_records_are_sequenced_and_checksummed(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "run.jsonl")
    for step in ("a", "b", "c"):
        journal.append({"rec": step})
    lines = [json.loads(line) for line in journal.path.read_text().splitlines()]
    assert [r["seq"] for r in lines] == [1, 2, 3] and all(r["sum"] == record_checksum(r) for r in lines)
    fresh = Journal(journal.path)  # a new process appends after what is on disk
    fresh.append({"rec": "d"})
    assert [r["rec"] for r in Journal(journal.path).records()] == ["a", "b", "c", "d"]


def test_a_torn_tail_is_cut_before_the_next_append(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "run.jsonl")
    journal.append({"rec": "a"})
    with open(journal.path, "a") as handle:
        handle.write('{"rec": "b", "se')
    assert Journal(journal.path).scan().torn
    Journal(journal.path).append({"rec": "c"})
    assert [r["rec"] for r in Journal(journal.path).records()] == ["a", "c"]
    assert not Journal(journal.path).scan().torn


def test_a_failed_write_leaves_the_journal_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(tmp_path / "run.jsonl")
    journal.append({"rec": "a"})
    before = journal.path.read_bytes()

    def half_then_enospc(fd: int, data: bytes) -> None:
        os.write(fd, data[:5])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "_write_all", half_then_enospc)
    with pytest.raises(StateWriteError, match="the disk is full"):
        journal.append({"rec": "b"})
    assert journal.path.read_bytes() == before


def test_unchecked_records_are_read_only_before_checked_ones(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('{"rec": "old"}\n')
    Journal(path).append({"rec": "new"})
    assert [r["rec"] for r in Journal(path).records()] == ["old", "new"]
    path.write_text(path.read_text() + '{"rec": "forged"}\n')
    with pytest.raises(StateFileError, match="line 3 has no checksum"):
        Journal(path).records()


def test_a_reentrant_lock_is_shared_within_the_process_only_when_asked(tmp_path: Path) -> None:
    lock = tmp_path / "app.lock"
    with exclusive_lock(lock, "app", reentrant=True):
        with exclusive_lock(lock, "app", reentrant=True):
            pass
        with pytest.raises(LockedError), exclusive_lock(lock, "app"):
            pass
