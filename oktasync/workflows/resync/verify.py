"""Step 4 of a resync: the assignments proven back (one repair round), then Deactivate Users restored."""

from __future__ import annotations

from dataclasses import dataclass

from oktasync.errors import VerificationError
from oktasync.models import GroupAssignment
from oktasync.workflows.resync.crash import crashpoint
from oktasync.workflows.resync.cycle import assign_one
from oktasync.workflows.resync.jobs import removals_unseen
from oktasync.workflows.resync.journal import GroupRecord
from oktasync.workflows.resync.run import ResyncRun
from oktasync.workflows.resync.steps import Restored, Step, Verified

Assignments = dict[str, GroupAssignment]


@dataclass(frozen=True)
class Mismatch:
    """A cycled group that does not read back as recorded: unassigned (``actual`` None) or assigned with
    another priority or profile."""

    group: GroupRecord
    actual: GroupAssignment | None

    def to_dict(self) -> dict[str, object]:
        """As the failed ``verify`` record journals it."""
        now = self.actual
        return {
            "group": self.group.to_dict(),
            "actual": None if now is None else {"priority": now.priority, "profile": now.profile},
        }


def _mismatches(run: ResyncRun, fresh: Assignments) -> list[Mismatch]:
    deleted = run.state.deleted_groups()
    out = []
    for gid, record in run.expected.items():
        if gid in deleted:
            continue
        now = fresh.get(gid)
        if (
            now is None
            or now.profile != record.profile
            or (record.priority is not None and now.priority != record.priority)
        ):
            out.append(Mismatch(record, now))
    return out


async def _listing(run: ResyncRun) -> Assignments:
    return {a.group_id: a for a in await run.gateway.list_group_assignments(run.app.id)}


async def verify(run: ResyncRun) -> None:
    """A fresh listing must equal what was recorded (group, priority, profile); one repair round (a PUT that
    did not stick is re-sent: idempotent), else ``VerificationError`` with Deactivate Users still off."""
    crashpoint("verify.before")
    fresh = await _listing(run)
    mismatches = _mismatches(run, fresh)
    repaired: list[str] = []
    if mismatches:
        repaired = [m.group.group_id for m in mismatches]
        await run.bounded(repaired, lambda gid: assign_one(run, gid, Step.REPAIR))
        run.reload()
        fresh = await _listing(run)
        mismatches = _mismatches(run, fresh)
    if mismatches:
        run.journal.append("verify", ok=False, mismatches=[m.to_dict() for m in mismatches])
        names = ", ".join(m.group.name or m.group.group_id for m in mismatches[:10])
        raise VerificationError(
            f"{len(mismatches)} group assignment(s) of {run.app.label} do not match the snapshot after "
            f"reassigning and one repair round: {names}; Deactivate Users is left off",
            hint="inspect them in the Admin Console (another admin may be changing them)",
        )
    run.journal.append("verify", **_verified(run, fresh, repaired).to_fields())
    run.reload()
    crashpoint("verify.after")


def _verified(run: ResyncRun, fresh: Assignments, repaired: list[str]) -> Verified:
    """What the verification saw besides the cycled groups: groups added by someone else during the run,
    and groups the run did not cycle (resync.groups) that changed meanwhile."""
    snap = run.snapshot.by_id()
    added = [
        {"group_id": gid, "name": a.group_name, "priority": a.priority}
        for gid, a in fresh.items()
        if gid not in snap
    ]
    outside = []
    for gid, before in snap.items():
        if gid in run.expected:
            continue
        now = fresh.get(gid)
        if now is None or (now.priority, now.profile) != (before.priority, before.profile):
            outside.append({"group": before.to_dict(), "now": None if now is None else now.priority})
    return Verified(tuple(repaired), tuple(added), tuple(outside))


async def restore(run: ResyncRun) -> None:
    """Deactivate Users back to its recorded state, confirmed; left off while a removal may be pending."""
    unseen = removals_unseen(run)
    if run.snapshot.deactivate_users and unseen:
        # A removal job that runs after Deactivate Users is back on deactivates the user in the target:
        # leave it off, which never deprovisions anyone, and say so (the report exits 1).
        await withhold_restore(run, len(unseen))
    elif run.snapshot.deactivate_users:
        run.journal.intent(Step.RESTORE)
        crashpoint("restore.before")
        channel = await run.switch.set(True)
        crashpoint("restore.after")
        run.journal.done(Step.RESTORE, Restored(str(channel), True))
    else:
        on, channel = await run.switch.read()
        run.journal.done(Step.RESTORE, Restored(None, on, read_channel=str(channel)))
    run.reload()


async def withhold_restore(run: ResyncRun, users: int) -> None:
    """Journal Deactivate Users as read, left off because ``users`` app users may still be removed."""
    on, channel = await run.switch.read()
    run.journal.done(Step.RESTORE, Restored(None, on, withheld=users, read_channel=str(channel)))
