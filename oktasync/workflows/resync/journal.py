"""The resync journal: what a run recorded, and what a resumed run must still do.

One JSONL file per Okta org + app (``<state dir>/apps/<org host>/<app id>/resync.journal.jsonl``), whatever
the tenant is called in the config, appended and fsynced through ``oktasync.state.Journal`` (every record
checksummed and sequence-numbered). A journal must chain from its ``begin`` record: every record carries the
run id of that ``begin``; one that does not (an empty file, records of another run, a lost ``begin``) is
refused with the file named, never read as "nothing to do". Every action on Okta is bracketed by two records::

    {"rec": "intent", "step": "unassign", "group_id": "00g…"}   # fsynced BEFORE the DELETE is sent
    {"rec": "done",   "step": "unassign", "group_id": "00g…"}   # fsynced AFTER Okta answered

so a run killed at any point leaves one of: no intent (not started), an intent without done (may or may not
have happened: the step is repeated, and every step is idempotent), or both (done). Other records:
``begin`` (run id, app, options), ``snapshot`` (the state before any change), ``refresh`` (the listing
taken just before the first unassignment), ``deactivate_found_on`` (a re-check found *Deactivate Users*
on), ``verify``, ``interrupted``, ``rollback`` (Ctrl-C during the unassignments: reassign what was
unassigned, restore, stop), ``aborted`` and ``finish`` (the report). A finished journal is renamed
to ``resync.<run id>.<outcome>.jsonl`` (kept, never deleted) so the next run starts clean.

Nothing secret is written here: group ids and names, priorities, assignment profiles, counts.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oktasync.state import Journal, StateDir, StateFileError
from oktasync.timestamps import okta_time, run_stamp
from oktasync.workflows.resync.records import Outcome, RunBegin, RunEnd, run_end_from
from oktasync.workflows.resync.steps import (
    DoneRecord,
    FoundOn,
    GroupOutcome,
    RemovalWait,
    Restored,
    ReturnWait,
    Roster,
    Step,
    SwitchedOff,
    Verified,
)

if TYPE_CHECKING:
    from oktasync.config.schema import TenantConfig
    from oktasync.models import App

JOURNAL_NAME = "resync.journal.jsonl"
LOCK_NAME = "app.lock"  # the app's write lock: resync, apply, tasks --retry, playbooks


def app_dir(config: TenantConfig, app: App, state_dir: Path) -> Path:
    """The journal's directory: the app's one state directory (``StateDir.app_dir``, the key
    ``TenantSession.app_dir`` uses), whatever the config calls the tenant. Resync journals kept by tenant
    name under ``<state dir>/<any tenant>/<app id>/`` are moved there too: a resync left unfinished under
    another tenant's name must still block writes to the app and be resumable."""
    state = StateDir(state_dir)
    target = state.app_dir(config.okta.org_url, app.id, tenant=config.tenant, label=app.label)
    for legacy in state.app_paths(app.id):
        for old in sorted(legacy.glob("resync.*jsonl")):
            _adopt_journal(old, target / old.name, app.id)
    return target


def _adopt_journal(old: Path, new: Path, app_id: str) -> None:
    if old.is_symlink() or not old.is_file():
        return
    if new.exists():
        raise StateFileError(
            f"two resync journals for app {app_id}: {old} (kept by tenant name) and {new}",
            hint=f"finish or inspect {new} first; then move {old} aside",
        )
    os.replace(old, new)


@dataclass(frozen=True)
class GroupRecord:
    """One group assignment as snapshotted: what must be back, exactly, after the resync."""

    group_id: str
    name: str | None
    priority: int | None
    profile: dict[str, Any]

    def to_dict(self) -> dict[str, object]:
        return {
            "group_id": self.group_id,
            "name": self.name,
            "priority": self.priority,
            "profile": self.profile,
        }

    @staticmethod
    def from_dict(raw: Mapping[str, Any]) -> GroupRecord:
        return GroupRecord(
            raw["group_id"], raw.get("name"), raw.get("priority"), dict(raw.get("profile") or {})
        )

    def label(self) -> str:
        return f"{self.name} ({self.group_id})" if self.name else self.group_id


@dataclass(frozen=True)
class Snapshot:
    """Everything recorded before any change (step 1)."""

    assignments: tuple[GroupRecord, ...]
    targets: tuple[str, ...]  # group ids to cycle, in snapshot order
    deactivate_users: bool
    deactivate_channel: str
    app_users: dict[str, int]  # total, USER, GROUP
    sync_states: dict[str, int]
    affected_users: int
    missing_named_groups: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "assignments": [a.to_dict() for a in self.assignments],
            "targets": list(self.targets),
            "deactivate_users": self.deactivate_users,
            "deactivate_channel": self.deactivate_channel,
            "app_users": self.app_users,
            "sync_states": self.sync_states,
            "affected_users": self.affected_users,
            "missing_named_groups": list(self.missing_named_groups),
        }

    @staticmethod
    def from_dict(raw: Mapping[str, Any]) -> Snapshot:
        return Snapshot(
            assignments=tuple(GroupRecord.from_dict(a) for a in raw["assignments"]),
            targets=tuple(raw["targets"]),
            deactivate_users=bool(raw["deactivate_users"]),
            deactivate_channel=str(raw["deactivate_channel"]),
            app_users=dict(raw.get("app_users") or {}),
            sync_states=dict(raw.get("sync_states") or {}),
            affected_users=int(raw.get("affected_users") or 0),
            missing_named_groups=tuple(raw.get("missing_named_groups") or ()),
        )

    def by_id(self) -> dict[str, GroupRecord]:
        return {a.group_id: a for a in self.assignments}


@dataclass(frozen=True)
class GroupChange:
    """A cycled group whose priority or profile someone else changed between the snapshot and the refresh."""

    before: GroupRecord
    after: GroupRecord

    def to_dict(self) -> dict[str, object]:
        return {"before": self.before.to_dict(), "after": self.after.to_dict()}

    @staticmethod
    def from_dict(raw: Mapping[str, Any]) -> GroupChange:
        return GroupChange(GroupRecord.from_dict(raw["before"]), GroupRecord.from_dict(raw["after"]))


@dataclass(frozen=True)
class ConcurrentChanges:
    """What other admins changed between the snapshot and the refresh (the ``concurrent`` field of the
    ``refresh`` record): target groups removed, target groups changed, groups added."""

    removed_before_cycle: tuple[GroupRecord, ...] = ()
    changed_before_cycle: tuple[GroupChange, ...] = ()
    added: tuple[GroupRecord, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "removed_before_cycle": [g.to_dict() for g in self.removed_before_cycle],
            "changed_before_cycle": [c.to_dict() for c in self.changed_before_cycle],
            "added": [g.to_dict() for g in self.added],
        }

    @staticmethod
    def from_dict(raw: Mapping[str, Any]) -> ConcurrentChanges:
        return ConcurrentChanges(
            removed_before_cycle=tuple(
                GroupRecord.from_dict(g) for g in raw.get("removed_before_cycle") or ()
            ),
            changed_before_cycle=tuple(
                GroupChange.from_dict(c) for c in raw.get("changed_before_cycle") or ()
            ),
            added=tuple(GroupRecord.from_dict(g) for g in raw.get("added") or ()),
        )


@dataclass(frozen=True)
class RunState:
    """A journal replayed: what has been done, what may have been done, what is left."""

    run_id: str | None = None
    begin: RunBegin | None = None
    snapshot: Snapshot | None = None
    # Set by the refresh record: the groups to cycle and the values to restore (fresh listing just before
    # the first unassignment), plus what other admins changed between snapshot and refresh.
    expected: Mapping[str, GroupRecord] | None = None
    concurrent: ConcurrentChanges = ConcurrentChanges()
    intents: Mapping[Step, frozenset[str]] = field(default_factory=dict)  # group ids ("" for app steps)
    switched_off: SwitchedOff | None = None
    roster: Roster | None = None
    unassigned: frozenset[str] = frozenset()  # groups whose unassignment Okta answered
    unassign_phase_done: bool = False
    removal_wait: RemovalWait | None = None
    assigned: Mapping[str, GroupOutcome] = field(default_factory=dict)
    repaired: Mapping[str, GroupOutcome] = field(default_factory=dict)
    return_wait: ReturnWait | None = None
    restored: Restored | None = None
    found_on: tuple[FoundOn, ...] = ()
    verified: Verified | None = None
    interruptions: int = 0
    processes: int = 0  # begin + resume records
    api_calls: int = 0  # summed over the processes that journaled a count
    finished: RunEnd | None = None
    rolling_back: bool = False  # Ctrl-C during the unassignments: reassign, restore, stop

    def has_intent(self, step: Step, key: str = "") -> bool:
        return key in self.intents.get(step, frozenset())

    @property
    def touched_groups(self) -> bool:
        """Whether any group may have been unassigned (an unassign intent exists)."""
        return bool(self.intents.get(Step.UNASSIGN))

    def unassigned_now(self) -> set[str]:
        """Groups that were (or may have been) unassigned and are not yet known to be back."""
        return set(self.intents.get(Step.UNASSIGN, frozenset())) - set(self.assigned)

    def deleted_groups(self) -> set[str]:
        """Groups that no longer existed in Okta when the run (re)assigned them."""
        outcomes = [*self.assigned.items(), *self.repaired.items()]
        return {gid for gid, outcome in outcomes if outcome.group_deleted}


class _Replay:
    """Accumulates a journal's records, oldest first, into a ``RunState``."""

    def __init__(self) -> None:
        self.state = RunState()
        self.intents: dict[Step, set[str]] = {}
        self.unassigned: set[str] = set()
        self.assigned: dict[str, GroupOutcome] = {}
        self.repaired: dict[str, GroupOutcome] = {}
        self.found_on: list[FoundOn] = []
        self.interruptions = self.processes = self.api_calls = 0

    def _set(self, **changes: Any) -> None:
        self.state = replace(self.state, **changes)

    def add(self, record: Mapping[str, Any]) -> None:
        kind = record.get("rec")
        if kind == "begin":
            self._set(run_id=record.get("run_id"), begin=RunBegin.from_fields(record))
            self.processes += 1
        elif kind == "resume":
            self.processes += 1
        elif kind == "snapshot":
            self._set(snapshot=Snapshot.from_dict(record["snapshot"]))
        elif kind == "refresh":
            expected = {g["group_id"]: GroupRecord.from_dict(g) for g in record["expected"]}
            self._set(
                expected=expected, concurrent=ConcurrentChanges.from_dict(record.get("concurrent") or {})
            )
        elif kind == "intent":
            self.intents.setdefault(Step(record["step"]), set()).add(record.get("group_id") or "")
        elif kind == "done":
            self._done(Step(record["step"]), record.get("group_id") or "", record)
        elif kind == "deactivate_found_on":
            self.found_on.append(FoundOn.from_fields(record))
        elif kind == "verify":
            self._set(verified=Verified.from_fields(record) if record.get("ok") else None)
        elif kind == "interrupted":
            self.interruptions += 1
        elif kind == "rollback":
            self._set(rolling_back=True)
        elif kind == "calls":
            self.api_calls += int(record.get("count") or 0)
        elif kind in ("finish", "aborted"):
            self._set(finished=run_end_from(record))

    def _done(self, step: Step, group_id: str, record: Mapping[str, Any]) -> None:
        if step is Step.UNASSIGN:
            self.unassigned.add(group_id)
        elif step is Step.ASSIGN:
            self.assigned[group_id] = GroupOutcome.from_fields(record)
        elif step is Step.REPAIR:
            self.repaired[group_id] = GroupOutcome.from_fields(record)
        elif step is Step.UNASSIGN_PHASE:
            self._set(unassign_phase_done=True)
        else:
            name, parse = _APP_STEP_FIELDS[step]
            self._set(**{name: parse(record)})

    def result(self) -> RunState:
        return replace(
            self.state,
            interruptions=self.interruptions,
            processes=self.processes,
            api_calls=self.api_calls,
            intents={step: frozenset(keys) for step, keys in self.intents.items()},
            unassigned=frozenset(self.unassigned),
            assigned=dict(self.assigned),
            repaired=dict(self.repaired),
            found_on=tuple(self.found_on),
        )


# The done record of each step that happens once per run: the RunState field it fills and its parser.
_APP_STEP_FIELDS: dict[Step, tuple[str, Callable[[Mapping[str, Any]], DoneRecord]]] = {
    Step.DEACTIVATE_OFF: ("switched_off", SwitchedOff.from_fields),
    Step.ROSTER: ("roster", Roster.from_fields),
    Step.REMOVAL_WAIT: ("removal_wait", RemovalWait.from_fields),
    Step.RETURN_WAIT: ("return_wait", ReturnWait.from_fields),
    Step.RESTORE: ("restored", Restored.from_fields),
}


def replay(records: Iterable[Mapping[str, Any]]) -> RunState:
    """The run state a journal's records describe (``ValueError``/``KeyError`` on a record it cannot read)."""
    replayed = _Replay()
    for record in records:
        replayed.add(record)
    return replayed.result()


class ResyncJournal:
    """The journal file of one tenant+app and its archive."""

    def __init__(self, app_dir: Path) -> None:
        self.app_dir = app_dir
        self.path = app_dir / JOURNAL_NAME
        self._journal = Journal(self.path)
        self.run_id: str | None = None

    @property
    def lock_path(self) -> Path:
        return self.app_dir / LOCK_NAME

    def exists(self) -> bool:
        return self._journal.exists()

    def records(self) -> list[dict[str, Any]]:
        return self._journal.records()

    def _broken(self, detail: str) -> StateFileError:
        return StateFileError(
            f"the resync journal {self.path} cannot be trusted: {detail}",
            hint="do not start another resync. Check the app's group assignments and Deactivate Users in "
            "the Admin Console against the last archived journal "
            f"({self.app_dir}/resync.*.completed.jsonl, its snapshot record); once the app is whole again, "
            f"move {self.path.name} aside",
        )

    def checked_records(self) -> list[dict[str, Any]]:
        """The records, refused unless they chain from one ``begin``: the first record is ``begin`` and every
        record carries its run id (``StateFileError`` naming the file otherwise)."""
        records = self.records()
        if not records:
            raise self._broken("it is empty (truncated?), so what the run did is unknown")
        if records[0].get("rec") != "begin":
            raise self._broken(f"its first record is '{records[0].get('rec')}', not 'begin'")
        run_id = records[0].get("run_id")
        for number, record in enumerate(records, start=1):
            if record.get("run_id") != run_id:
                raise self._broken(f"record {number} belongs to run {record.get('run_id')}, not {run_id}")
            if number > 1 and record.get("rec") == "begin":
                raise self._broken(f"record {number} begins a second run")
        return records

    def state(self) -> RunState:
        records = self.checked_records()
        try:
            return replay(records)
        except (KeyError, TypeError, ValueError) as error:
            raise self._broken(f"a record cannot be read ({error!r})") from error

    def last_completed_snapshot(self) -> Snapshot | None:
        """The snapshot of the newest completed run in the archive (what the app looked like whole)."""
        for path in reversed(self.archives()):
            if not path.name.endswith(".completed.jsonl"):
                continue
            with contextlib.suppress(StateFileError, KeyError, TypeError, ValueError):
                for record in Journal(path).records():
                    if record.get("rec") == "snapshot":
                        return Snapshot.from_dict(record["snapshot"])
        return None

    def start(self, begin: RunBegin) -> str:
        self.run_id = run_stamp() + "-" + uuid.uuid4().hex[:8]
        self.append("begin", **begin.to_fields())
        return self.run_id

    def append(self, rec: str, **fields: Any) -> None:
        self._journal.append({"rec": rec, "at": okta_time(), "run_id": self.run_id, **fields})

    def end(self, end: RunEnd) -> None:
        """Journal how the run ended (its ``finish`` or ``aborted`` record)."""
        self.append(end.RECORD, **end.to_fields())

    def intent(self, step: Step, group_id: str | None = None) -> None:
        """Journal that ``step`` (for ``group_id``) is about to act on Okta."""
        self.append("intent", step=str(step), **({"group_id": group_id} if group_id else {}))

    def done(self, step: Step, record: DoneRecord | None = None, group_id: str | None = None) -> None:
        """Journal that ``step`` (for ``group_id``) is done, with what it found."""
        fields = record.to_fields() if record is not None else {}
        self.append("done", step=str(step), **({"group_id": group_id} if group_id else {}), **fields)

    def archive(self, outcome: Outcome) -> Path:
        """Rename the finished journal out of the way (kept for the record)."""
        target = self.app_dir / f"resync.{self.run_id or 'unknown'}.{outcome}.jsonl"
        os.replace(self.path, target)
        fd = os.open(self.app_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return target

    def archives(self) -> list[Path]:
        return sorted(p for p in self.app_dir.glob("resync.*.jsonl") if p.name != JOURNAL_NAME)
