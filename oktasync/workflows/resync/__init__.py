"""The safe group resync (docs/architecture.md, The resync; docs/resync.md): snapshot, Deactivate Users off
(confirmed),
unassign every group, reassign every group, verify, restore — journaled, locked and resumable."""

from oktasync.workflows.resync.engine import (
    ChannelSwitch,
    DeactivateUsersSwitch,
    ResyncOptions,
    plan_resync,
    run_resync,
    take_snapshot,
)
from oktasync.workflows.resync.journal import GroupRecord, ResyncJournal, RunState, Snapshot, replay
from oktasync.workflows.resync.result import ResyncPlan, ResyncResult, minimum_calls

__all__ = [
    "ChannelSwitch",
    "DeactivateUsersSwitch",
    "GroupRecord",
    "ResyncJournal",
    "ResyncOptions",
    "ResyncPlan",
    "ResyncResult",
    "RunState",
    "Snapshot",
    "minimum_calls",
    "plan_resync",
    "replay",
    "run_resync",
    "take_snapshot",
]
