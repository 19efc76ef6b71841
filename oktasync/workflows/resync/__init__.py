"""The safe group resync (docs/architecture.md, The resync; docs/resync.md): snapshot, Deactivate Users off
(confirmed), unassign every group, reassign every group, verify, restore — journaled, locked and resumable."""

from oktasync.workflows.resync.engine import plan_resync, run_resync
from oktasync.workflows.resync.journal import GroupRecord, ResyncJournal, RunState, Snapshot, replay
from oktasync.workflows.resync.options import ResyncOptions
from oktasync.workflows.resync.result import ResyncPlan, ResyncResult, minimum_calls
from oktasync.workflows.resync.snapshot import take_snapshot
from oktasync.workflows.resync.steps import Step
from oktasync.workflows.resync.switch import ChannelSwitch, DeactivateUsersSwitch

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
    "Step",
    "minimum_calls",
    "plan_resync",
    "replay",
    "run_resync",
    "take_snapshot",
]
