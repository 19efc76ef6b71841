"""The journal records that open and close a resync run, as typed frozen values.

A run opens with one ``begin`` record (``RunBegin``: which app, with which options) and ends with one
``finish`` or ``aborted`` record (``RunEnd``: ``Completed``, ``RolledBack`` or ``Aborted``). The journal file
stays JSON lines (``journal.py``): these values become record fields through ``to_fields()`` when a record
is appended and are read back by ``from_fields()`` when a journal is replayed, field for field, so a journal
written before they existed reads the same.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Literal

from oktasync.models import AppKind

FORMAT = 1  # the ``format`` field of a ``begin`` record

GroupsFilter = Literal["all"] | tuple[str, ...]
"""``resync.groups`` as the run started with it: every group, or the names of the groups to cycle."""


def _groups_filter(raw: Any) -> GroupsFilter:
    if raw == "all":
        return "all"
    if isinstance(raw, list | tuple) and all(isinstance(name, str) for name in raw):
        return tuple(raw)
    raise ValueError(f"groups_filter is {raw!r}, not 'all' or a list of group names")


@dataclass(frozen=True)
class RunBegin:
    """The ``begin`` record: the app the run is for and the options it started with. ``format`` and ``pid``
    (the process that started the run) are filled in when it is built for a new run."""

    tenant: str
    app_id: str
    app_label: str
    app_name: str
    kind: AppKind
    groups_filter: GroupsFilter
    max_affected_users: int
    pid: int = field(default_factory=os.getpid)
    format: int = FORMAT

    @property
    def groups(self) -> Literal["all"] | list[str]:
        """The groups filter in the config's shape (``"all"`` or a list of names)."""
        return "all" if self.groups_filter == "all" else list(self.groups_filter)

    def to_fields(self) -> dict[str, object]:
        return {**asdict(self), "kind": str(self.kind), "groups_filter": self.groups}

    @staticmethod
    def from_fields(raw: Mapping[str, Any]) -> RunBegin:
        return RunBegin(
            tenant=str(raw["tenant"]),
            app_id=str(raw["app_id"]),
            app_label=str(raw["app_label"]),
            app_name=str(raw["app_name"]),
            kind=AppKind(raw["kind"]),
            groups_filter=_groups_filter(raw["groups_filter"]),
            max_affected_users=int(raw["max_affected_users"]),
            pid=int(raw["pid"]),
            format=int(raw["format"]),
        )


class Outcome(StrEnum):
    """How a run ended: the ``outcome`` field of its last record and the last part of its archive's name."""

    COMPLETED = "completed"  # verified and reported
    ROLLED_BACK = "rolled_back"  # Ctrl-C during the unassignments: reassigned, restored, stopped
    ABORTED = "aborted"  # refused before any group was unassigned
    INTERRUPTED = "interrupted"  # Ctrl-C before any change


@dataclass(frozen=True)
class Completed:
    """A ``finish`` record with the run's report (``ResyncResult.to_dict()``, as journaled: a resumed run
    that finds it returns that report)."""

    RECORD: ClassVar[str] = "finish"
    report: Mapping[str, Any]

    @property
    def outcome(self) -> Outcome:
        return Outcome.COMPLETED

    def to_fields(self) -> dict[str, object]:
        return {"outcome": str(self.outcome), "report": dict(self.report)}


@dataclass(frozen=True)
class RolledBack:
    """A ``finish`` record of a roll back: the groups reassigned, and the app users not re-created in time
    (Deactivate Users is left off for them)."""

    RECORD: ClassVar[str] = "finish"
    reassigned: tuple[str, ...]
    unsettled: tuple[str, ...] = ()

    @property
    def outcome(self) -> Outcome:
        return Outcome.ROLLED_BACK

    def to_fields(self) -> dict[str, object]:
        return {
            "outcome": str(self.outcome),
            "reassigned": list(self.reassigned),
            "unsettled": list(self.unsettled),
        }


@dataclass(frozen=True)
class Aborted:
    """An ``aborted`` record: the run ended before any group was unassigned (nothing to undo), and why."""

    RECORD: ClassVar[str] = "aborted"
    outcome: Outcome  # ABORTED or INTERRUPTED
    reason: str

    def to_fields(self) -> dict[str, object]:
        return {"outcome": str(self.outcome), "reason": self.reason}


RunEnd = Completed | RolledBack | Aborted


def run_end_from(record: Mapping[str, Any]) -> RunEnd:
    """A ``finish`` or ``aborted`` record as a typed value (``ValueError`` on an outcome it cannot have)."""
    outcome = Outcome(record["outcome"])
    if record["rec"] == Aborted.RECORD and outcome in (Outcome.ABORTED, Outcome.INTERRUPTED):
        return Aborted(outcome, str(record["reason"]))
    if record["rec"] == Completed.RECORD and outcome is Outcome.COMPLETED:
        return Completed(dict(record["report"]))
    if record["rec"] == RolledBack.RECORD and outcome is Outcome.ROLLED_BACK:
        return RolledBack(tuple(record["reassigned"]), tuple(record.get("unsettled") or ()))
    raise ValueError(f"a '{record['rec']}' record with outcome '{outcome}'")
