"""The journal's begin, refresh and finish/aborted records read into typed values and written back field for
field: a record → its typed value → the same record, for the released format and for what a run writes now."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from resync_helpers import WatchedGateway, seed_org, tenant_config

from oktasync.models import AppKind
from oktasync.state import Journal, StateFileError
from oktasync.workflows.resync import ResyncJournal, run_resync
from oktasync.workflows.resync.journal import ConcurrentChanges, GroupChange, GroupRecord, app_dir
from oktasync.workflows.resync.records import (
    Aborted,
    Completed,
    Outcome,
    RolledBack,
    RunBegin,
    run_end_from,
)

RELEASED = Path(__file__).parent / "fixtures" / "main-format.resync.journal.jsonl"
ENVELOPE = ("rec", "at", "run_id", "seq", "sum")  # written by ResyncJournal.append and state.Journal


def released_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in RELEASED.read_text().splitlines()]


def payload(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ENVELOPE}


def test_a_released_begin_record_round_trips() -> None:
    record = next(r for r in released_records() if r["rec"] == "begin")
    begin = RunBegin.from_fields(record)
    assert begin.kind is AppKind.CUSTOM_SCIM and begin.groups_filter == "all" and begin.pid == 22435
    assert begin.to_fields() == payload(record)


def test_a_begin_record_naming_groups_round_trips() -> None:
    record = payload(next(r for r in released_records() if r["rec"] == "begin"))
    record.update(groups_filter=["team-1", "team-2"], kind="api_capable")
    begin = RunBegin.from_fields(record)
    assert begin.groups_filter == ("team-1", "team-2") and begin.groups == ["team-1", "team-2"]
    assert begin.to_fields() == record


@pytest.mark.parametrize("bad", [{"groups_filter": "some"}, {"groups_filter": [1]}, {"kind": "saml"}])
def test_a_begin_record_with_a_value_it_cannot_have_is_refused(bad: dict[str, Any]) -> None:
    record = {**payload(released_records()[0]), **bad}
    with pytest.raises(ValueError):
        RunBegin.from_fields(record)


def test_a_released_refresh_record_round_trips() -> None:
    record = next(r for r in released_records() if r["rec"] == "refresh")
    assert ConcurrentChanges.from_dict(record["concurrent"]).to_dict() == record["concurrent"]


def test_concurrent_changes_round_trip() -> None:
    """The refresh's ``concurrent`` field as ``cycle.refresh`` writes it when other admins changed things."""
    team = {"group_id": "00g1", "name": "team-1", "priority": 0, "profile": {"role": "a"}}
    raw = {
        "removed_before_cycle": [{"group_id": "00g2", "name": None, "priority": None, "profile": {}}],
        "changed_before_cycle": [
            {"before": team, "after": {**team, "priority": 4, "profile": {"role": "b"}}}
        ],
        "added": [{"group_id": "00g3", "name": "late", "priority": 9, "profile": {}}],
    }
    changes = ConcurrentChanges.from_dict(raw)
    assert changes.changed_before_cycle == (
        GroupChange(
            GroupRecord("00g1", "team-1", 0, {"role": "a"}), GroupRecord("00g1", "team-1", 4, {"role": "b"})
        ),
    )
    assert [g.group_id for g in changes.added] == ["00g3"]
    assert changes.to_dict() == raw
    assert ConcurrentChanges.from_dict({}) == ConcurrentChanges()


END_RECORDS = [
    {
        "rec": "finish",
        "outcome": "completed",
        "report": {"run_id": "r", "groups_cycled": ["00g1"], "danger": False},
    },
    {"rec": "finish", "outcome": "rolled_back", "reassigned": ["00g1", "00g2"], "unsettled": ["00u9"]},
    {"rec": "aborted", "outcome": "aborted", "reason": "Deactivate Users could not be confirmed off"},
    {"rec": "aborted", "outcome": "interrupted", "reason": "interrupted before any change"},
]


@pytest.mark.parametrize("record", END_RECORDS, ids=lambda r: str(r["outcome"]))
def test_an_end_record_round_trips(record: dict[str, Any]) -> None:
    end = run_end_from(record)
    assert str(end.outcome) == record["outcome"]
    assert {"rec": end.RECORD, **end.to_fields()} == record


def test_end_records_are_typed_by_outcome() -> None:
    completed, rolled_back, aborted, interrupted = (run_end_from(r) for r in END_RECORDS)
    assert isinstance(completed, Completed) and completed.report["groups_cycled"] == ["00g1"]
    assert rolled_back == RolledBack(("00g1", "00g2"), ("00u9",))
    assert aborted == Aborted(Outcome.ABORTED, "Deactivate Users could not be confirmed off")
    assert isinstance(interrupted, Aborted) and interrupted.outcome is Outcome.INTERRUPTED


@pytest.mark.parametrize(
    "record",
    [
        {"rec": "finish", "outcome": "aborted", "reason": "x"},
        {"rec": "aborted", "outcome": "completed", "report": {}},
        {"rec": "finish", "outcome": "vanished"},
    ],
)
def test_an_end_record_with_an_outcome_it_cannot_have_is_refused(record: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        run_end_from(record)


def test_the_records_a_run_writes_now_round_trip(tmp_path: Path) -> None:
    """A completed run on the fake gateway: its begin, refresh and finish records read back as typed values
    that write the very same records."""
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw)
    config = tenant_config()
    result = asyncio.run(run_resync(config, gw, app, state_dir=tmp_path))
    assert result.exit_code == 0
    records = Journal(Path(result.journal)).records()
    by_kind = {r["rec"]: r for r in records}
    begin = RunBegin.from_fields(by_kind["begin"])
    assert (begin.tenant, begin.app_id, begin.kind) == (config.tenant, app.id, AppKind.CUSTOM_SCIM)
    assert begin.to_fields() == payload(by_kind["begin"])
    concurrent = by_kind["refresh"]["concurrent"]
    assert ConcurrentChanges.from_dict(concurrent).to_dict() == concurrent
    end = run_end_from(by_kind["finish"])
    assert isinstance(end, Completed) and end.report["run_id"] == result.run_id
    assert {"rec": end.RECORD, **end.to_fields()} == {"rec": "finish", **payload(by_kind["finish"])}


def test_a_journal_whose_finish_record_has_an_unknown_outcome_cannot_be_trusted(tmp_path: Path) -> None:
    """Refused with the file named, never read as a run that ended some way."""
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw)
    journal = ResyncJournal(app_dir(tenant_config(), app, tmp_path))
    journal.app_dir.mkdir(parents=True, exist_ok=True)
    journal.path.write_bytes(RELEASED.read_bytes())
    journal.run_id = released_records()[0]["run_id"]
    journal.append("finish", outcome="vanished")
    with pytest.raises(StateFileError, match="cannot be read") as caught:
        journal.state()
    assert str(journal.path) in caught.value.message
