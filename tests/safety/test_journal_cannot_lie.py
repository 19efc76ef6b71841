"""A journal that cannot lie: torn, truncated, reordered and checksum-broken journals (real files, the real
CLI) are each repaired or refused with the file named, never "done"; a lost journal with the app mid-run is
refused; a full disk mid-resync leaves a run that --resume finishes once space is back."""

from __future__ import annotations

import errno
import json
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from safety_helpers import Org

import oktasync.state.files as files


def _crashed(org: Org, at: str = "unassign.after:3") -> Path:
    killed = org.spawn("resync", "--yes", str(org.config), extra_env={"OKTASYNC_TEST_CRASH_AT": at})
    killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL
    journal = org.journal()
    assert journal is not None
    return journal


def _lines(journal: Path) -> list[str]:
    return journal.read_text().splitlines(keepends=True)


def test_a_torn_last_line_is_cut_and_resume_finishes(org: Org) -> None:
    before = org.assignments()
    journal = _crashed(org)
    with open(journal, "a") as handle:
        handle.write('{"rec": "intent", "step": "unass')  # the disk filled up mid-line
    code, out, err = org.cli("resync", "--resume", str(org.config))
    assert code == 0, out + err
    assert "torn last line" in err
    assert org.assignments() == before and org.deactivate_users() is True


def _refused(org: Org, journal: Path, damage: Callable[[Path], None], why: str) -> None:
    before_damage = org.assignments()
    damage(journal)
    for args in (("resync", "--resume"), ("resync", "--yes"), ("apply", "--yes")):
        code, out, err = org.cli(*args, str(org.config))
        assert code == 4, f"{args}: {out}{err}"
        assert str(journal) in out + err and why in out + err, f"{args}: {out}{err}"
        assert "done" not in out.lower()
    assert org.assignments() == before_damage  # nothing was touched on the strength of a bad journal


def test_a_journal_truncated_to_nothing_is_refused(org: Org) -> None:
    _refused(org, _crashed(org), lambda path: path.write_text(""), "it is empty")


def test_a_reordered_journal_is_refused(org: Org) -> None:
    def swap(path: Path) -> None:
        lines = _lines(path)
        lines[3], lines[4] = lines[4], lines[3]
        path.write_text("".join(lines))

    _refused(org, _crashed(org), swap, "sequence number")


def test_a_journal_with_a_record_cut_out_is_refused(org: Org) -> None:
    def cut(path: Path) -> None:
        lines = _lines(path)
        path.write_text("".join(lines[:2] + lines[3:]))

    _refused(org, _crashed(org), cut, "sequence number")


def test_a_checksum_broken_journal_is_refused(org: Org) -> None:
    def tamper(path: Path) -> None:
        lines = _lines(path)
        record = json.loads(lines[-1])
        record["group_id"] = "00gsomeoneelse000001"
        lines[-1] = json.dumps(record, sort_keys=True) + "\n"
        path.write_text("".join(lines))

    _refused(org, _crashed(org), tamper, "checksum")


def test_a_journal_that_does_not_start_with_begin_is_refused(org: Org) -> None:
    def behead(path: Path) -> None:
        lines = _lines(path)
        path.write_text("".join(lines[1:]))  # every later line then carries the wrong sequence number too

    _refused(org, _crashed(org), behead, "sequence number")


def test_a_lost_journal_with_the_app_mid_run_is_refused(org: Org) -> None:
    before = org.assignments()
    code, out, err = org.cli("resync", "--yes", str(org.config))  # a completed run: its snapshot is archived
    assert code == 0, out + err
    journal = _crashed(org)
    journal.unlink()
    for args in (("resync", "--yes"), ("resync", "--resume")):
        code, out, err = org.cli(*args, str(org.config))
        assert code == 4, f"{args}: {out}{err}"
        assert "is missing" in err and str(journal) in err, err
    assert org.deactivate_users() is False and org.assignments() != before  # refused, not "done"


def test_disk_full_mid_resync_then_resume_finishes(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC on the 12th journal write (mid-unassignment; half the line reached the disk): exit 1 with the
    reason, the journal cut back to its last complete record; once space is back --resume finishes."""
    before = org.assignments()
    real_write_all = files._write_all
    writes = 0

    def disk_fills_up(fd: int, data: bytes) -> None:
        nonlocal writes
        writes += 1
        if writes >= 12:
            real_write_all(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write_all(fd, data)

    monkeypatch.setattr(files, "_write_all", disk_fills_up)
    code, out, err = org.cli("resync", "--yes", "--batch-size", "1", str(org.config))
    assert code == 1 and "the disk is full" in err and "--resume" in err, out + err
    journal = org.journal()
    assert journal is not None and journal.read_text().endswith("\n")  # no half record left behind
    assert files.Journal(journal).records()  # and every record still checks
    monkeypatch.setattr(files, "_write_all", real_write_all)  # space is back
    code, out, err = org.cli("resync", "--resume", str(org.config))
    assert code == 0, out + err
    assert org.assignments() == before and org.deactivate_users() is True
    assert org.em.control.wait_idle(30)
    assert org.deactivations() == []
