"""The typed run record reads and writes the run-record file format unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oktasync.playbooks.record import RunRecord, RunRecordStore, RunStatus, StepRecord, StepStatus

# A record as `playbook run` writes it: a step skipped, one that ran, one that failed under
# on_failure: continue, one running when the process died; a resume; unknown keys a later format may add.
WRITTEN: dict[str, Any] = {
    "format": 1,
    "run_id": "20260101T000000Z-abc123",
    "playbook": {"name": "sample", "file": "playbooks/sample.yaml", "sha256": "0" * 64},
    "tenant": "acme",
    "config": "configs/acme.yaml",
    "inputs": {"label": "L", "do_apply": True},
    "status": "running",
    "started": "2026-01-01T00:00:00Z",
    "steps": {
        "plan": {
            "status": "skipped",
            "summary": "skipped (when: condition is false)",
            "attempts": 0,
            "result": {},
        },
        "apply": {
            "status": "ok",
            "started": "2026-01-01T00:00:01Z",
            "attempts": 1,
            "resumed": False,
            "writes": True,
            "exit_code": 0,
            "workflow_exit_code": 0,
            "summary": "applied 2 settings",
            "result": {"applied": 2},
            "finished": "2026-01-01T00:00:02Z",
            "seconds": 1.25,
            "dry_run": False,
        },
        "tasks": {
            "status": "failed",
            "started": "2026-01-01T00:00:03Z",
            "attempts": 5,
            "resumed": True,
            "writes": False,
            "exit_code": 1,
            "workflow_exit_code": 2,
            "summary": "3 failed (until condition still false after 5 attempts)",
            "result": {"failed": 3},
            "finished": "2026-01-01T00:00:04Z",
            "seconds": 0.5,
            "dry_run": False,
            "continued": True,
        },
        "note": {
            "status": "running",
            "started": "2026-01-01T00:00:05Z",
            "attempts": 0,
            "resumed": False,
            "writes": False,
            "future_key": [1],
        },
    },
    "resumed": ["2026-01-01T01:00:00Z"],
    "current": "note",
    "later_format_key": {"kept": True},
}


def test_a_record_written_today_loads_and_writes_back_the_same() -> None:
    record = RunRecord.from_json(json.loads(json.dumps(WRITTEN)))
    assert record.status is RunStatus.RUNNING and record.current == "note"
    assert record.steps["plan"].status is StepStatus.SKIPPED and record.steps["plan"].status.done
    assert record.steps["tasks"].continued and record.steps["tasks"].status.failed
    assert record.steps["apply"].result == {"applied": 2}
    assert record.to_json() == WRITTEN


def test_a_finished_record_writes_exit_code_and_stopped_at(tmp_path: Path) -> None:
    store = RunRecordStore(tmp_path / "apps" / "acme.okta.com" / "0oa1", "sample")
    record = RunRecord.from_json(WRITTEN).finish(RunStatus.STOPPED, 5, "tasks")
    store.finish(record)
    on_disk = json.loads(store.path.read_text())
    assert on_disk["status"] == "stopped" and on_disk["exit_code"] == 5 and on_disk["stopped_at"] == "tasks"
    assert "current" not in on_disk and on_disk["finished"].endswith("Z")
    assert store.read() == record
    lines = (store.directory / "history.jsonl").read_text().splitlines()
    # The journal adds its own sequence number and checksum to each line.
    history = [{k: v for k, v in json.loads(line).items() if k not in ("seq", "sum")} for line in lines]
    assert history == [
        {
            "run_id": WRITTEN["run_id"],
            "playbook": "sample",
            "status": "stopped",
            "exit_code": 5,
            "started": WRITTEN["started"],
            "finished": on_disk["finished"],
            "stopped_at": "tasks",
        }
    ]


def test_reopening_a_stopped_run_clears_its_end_and_notes_the_resume() -> None:
    stopped = RunRecord.from_json(WRITTEN).finish(RunStatus.STOPPED, 1, "tasks")
    reopened = stopped.reopen()
    assert reopened.status is RunStatus.RUNNING and len(reopened.resumed) == 2
    document = reopened.to_json()
    assert not {"finished", "exit_code", "stopped_at"} & set(document)


@pytest.mark.parametrize("status", ["done", ""])
def test_an_unknown_step_status_is_refused(status: str) -> None:
    with pytest.raises(ValueError):
        StepRecord.from_json({"status": status})
