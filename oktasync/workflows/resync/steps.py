"""The resync's steps and what each one's ``done`` record holds, as typed frozen values.

The journal file stays JSON lines (``journal.py``): these values are turned into record fields by
``to_fields()`` when a record is appended, and read back by ``from_fields()`` when a journal is replayed;
nothing else in the resync handles a journal record as a dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Step(StrEnum):
    """A step that is journaled ``intent`` → ``done`` (the ``step`` field of those records)."""

    DEACTIVATE_OFF = "deactivate_off"
    ROSTER = "roster"
    UNASSIGN = "unassign"
    UNASSIGN_PHASE = "unassign_phase"
    REMOVAL_WAIT = "removal_wait"
    ASSIGN = "assign"
    RETURN_WAIT = "return_wait"
    REPAIR = "repair"
    RESTORE = "restore"


ROLLBACK_WAIT = "rollback_wait"  # the wait of a roll back: a crash-test boundary, not a journaled step


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class SwitchedOff:
    """Deactivate Users confirmed off, and through which channel."""

    channel: str

    def to_fields(self) -> dict[str, object]:
        return {"channel": self.channel}

    @staticmethod
    def from_fields(raw: Mapping[str, Any]) -> SwitchedOff:
        return SwitchedOff(str(raw.get("channel")))


@dataclass(frozen=True)
class Roster:
    """The app users only the cycled groups entitle, each with its status mark (``statusChanged``, else
    ``lastUpdated``) as it was before the first unassignment; ``source`` says which listing gave it."""

    users: Mapping[str, str]
    source: str | None = None

    def to_fields(self) -> dict[str, object]:
        fields: dict[str, object] = {"users": dict(self.users)}
        if self.source is not None:
            fields["source"] = self.source
        return fields

    @staticmethod
    def from_fields(raw: Mapping[str, Any]) -> Roster:
        return Roster({str(k): str(v) for k, v in (raw.get("users") or {}).items()}, raw.get("source"))


@dataclass(frozen=True)
class GroupOutcome:
    """One group's unassignment (no fields) or (re)assignment: ``assigned`` with the priority Okta answered,
    or ``group_deleted`` (the group no longer exists in Okta: nothing to reassign)."""

    outcome: str | None = None
    priority: int | None = None

    @property
    def group_deleted(self) -> bool:
        return self.outcome == "group_deleted"

    def to_fields(self) -> dict[str, object]:
        if self.outcome is None:
            return {}
        if self.outcome == "assigned":
            return {"outcome": self.outcome, "priority": self.priority}
        return {"outcome": self.outcome}

    @staticmethod
    def from_fields(raw: Mapping[str, Any]) -> GroupOutcome:
        return GroupOutcome(raw.get("outcome"), _optional_int(raw.get("priority")))


@dataclass(frozen=True)
class RemovalWait:
    """The wait for Okta's unassignment jobs: who was still there when it ended."""

    outcome: str  # complete | timeout
    still_present: tuple[str, ...]
    seconds: float
    polls: int

    def to_fields(self) -> dict[str, object]:
        return {
            "outcome": self.outcome,
            "still_present": list(self.still_present),
            "seconds": self.seconds,
            "polls": self.polls,
        }

    @staticmethod
    def from_fields(raw: Mapping[str, Any]) -> RemovalWait:
        return RemovalWait(
            outcome=str(raw.get("outcome")),
            still_present=tuple(raw.get("still_present") or ()),
            seconds=float(raw.get("seconds") or 0.0),
            polls=int(raw.get("polls") or 0),
        )


@dataclass(frozen=True)
class NotRepushed:
    """A group-entitled user the run could not prove re-pushed, and why (missing, stale, pending,
    not_pushed)."""

    user_id: str
    user_name: str | None
    reason: str
    sync_state: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "user_id": self.user_id,
            "user_name": self.user_name,
            "reason": self.reason,
            "sync_state": self.sync_state,
        }

    @staticmethod
    def from_dict(raw: Mapping[str, Any]) -> NotRepushed:
        return NotRepushed(
            str(raw["user_id"]), raw.get("user_name"), str(raw["reason"]), raw.get("sync_state")
        )


@dataclass(frozen=True)
class ReturnWait:
    """The wait for Okta's assignment jobs: who was re-pushed, who failed, who was not re-pushed, and the
    app users counted by its last reads (absent from journals that predate it)."""

    outcome: str  # complete | timeout
    expected: int
    repushed: int
    push_failed: tuple[str, ...]
    not_repushed: tuple[NotRepushed, ...]
    seconds: float
    polls: int
    app_users_after: Mapping[str, int] | None = None
    sync_states_after: Mapping[str, int] | None = None

    def to_fields(self) -> dict[str, object]:
        fields: dict[str, object] = {
            "outcome": self.outcome,
            "expected": self.expected,
            "repushed": self.repushed,
            "push_failed": list(self.push_failed),
            "not_repushed": [n.to_dict() for n in self.not_repushed],
            "seconds": self.seconds,
            "polls": self.polls,
        }
        if self.app_users_after is not None and self.sync_states_after is not None:
            fields["app_users_after"] = dict(self.app_users_after)
            fields["sync_states_after"] = dict(self.sync_states_after)
        return fields

    @staticmethod
    def from_fields(raw: Mapping[str, Any]) -> ReturnWait:
        after, states = raw.get("app_users_after"), raw.get("sync_states_after")
        return ReturnWait(
            outcome=str(raw.get("outcome")),
            expected=int(raw.get("expected") or 0),
            repushed=int(raw.get("repushed") or 0),
            push_failed=tuple(raw.get("push_failed") or ()),
            not_repushed=tuple(NotRepushed.from_dict(n) for n in raw.get("not_repushed") or ()),
            seconds=float(raw.get("seconds") or 0.0),
            polls=int(raw.get("polls") or 0),
            app_users_after=dict(after) if after is not None else None,
            sync_states_after=dict(states) if states is not None else None,
        )


@dataclass(frozen=True)
class Restored:
    """Deactivate Users at the end: switched back on through ``channel``, or only read (``channel`` None:
    it was off before the run, or it is withheld because ``withheld`` app users were never seen removed)."""

    channel: str | None
    final: bool
    withheld: int | None = None
    read_channel: str | None = None

    def to_fields(self) -> dict[str, object]:
        fields: dict[str, object] = {"channel": self.channel, "final": self.final}
        if self.withheld is not None:
            fields["withheld"] = self.withheld
        if self.read_channel is not None:
            fields["read_channel"] = self.read_channel
        return fields

    @staticmethod
    def from_fields(raw: Mapping[str, Any]) -> Restored:
        return Restored(
            channel=raw.get("channel"),
            final=bool(raw.get("final")),
            withheld=_optional_int(raw.get("withheld")),
            read_channel=raw.get("read_channel"),
        )


@dataclass(frozen=True)
class FoundOn:
    """A re-read found Deactivate Users on (before an unassignment batch, or right after the cycle)."""

    phase: str  # unassign | after_unassign | after_removal
    batch: int
    channel: str

    @property
    def after_changes(self) -> bool:
        """Found on after unassignments were sent: users of the last batch may have been deactivated."""
        return self.phase in ("after_unassign", "after_removal")

    def to_fields(self) -> dict[str, object]:
        return {"phase": self.phase, "batch": self.batch, "channel": self.channel}

    @staticmethod
    def from_fields(raw: Mapping[str, Any]) -> FoundOn:
        return FoundOn(str(raw.get("phase")), int(raw.get("batch") or 0), str(raw.get("channel")))


@dataclass(frozen=True)
class Verified:
    """A successful verification: groups re-sent by its repair round, groups assigned by someone else during
    the run, and groups the run did not cycle that changed meanwhile (report entries, as journaled)."""

    repaired: tuple[str, ...] = ()
    added_during_run: tuple[Mapping[str, Any], ...] = ()
    changed_not_cycled: tuple[Mapping[str, Any], ...] = ()

    def to_fields(self) -> dict[str, object]:
        return {
            "ok": True,
            "repaired": list(self.repaired),
            "added_during_run": [dict(a) for a in self.added_during_run],
            "changed_not_cycled": [dict(c) for c in self.changed_not_cycled],
        }

    @staticmethod
    def from_fields(raw: Mapping[str, Any]) -> Verified:
        return Verified(
            repaired=tuple(raw.get("repaired") or ()),
            added_during_run=tuple(raw.get("added_during_run") or ()),
            changed_not_cycled=tuple(raw.get("changed_not_cycled") or ()),
        )


DoneRecord = SwitchedOff | Roster | GroupOutcome | RemovalWait | ReturnWait | Restored
