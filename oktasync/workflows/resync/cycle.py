"""Steps 2 and 3 of a resync: Deactivate Users off, the refresh, every unassignment, every reassignment.
Each action on Okta is journaled ``intent`` before and ``done`` after (``journal.py``)."""

from __future__ import annotations

from oktasync.errors import (
    AdminSessionError,
    ManualActionRequired,
    NotFoundError,
    OktaApiError,
    OktasyncError,
    SafetyError,
    VerificationError,
)
from oktasync.workflows.resync.crash import crashpoint
from oktasync.workflows.resync.journal import ConcurrentChanges, GroupChange, GroupRecord
from oktasync.workflows.resync.records import Aborted, Outcome
from oktasync.workflows.resync.run import ResyncRun, chunks
from oktasync.workflows.resync.steps import GroupOutcome, Step, SwitchedOff

_SWITCH_ERRORS = (VerificationError, ManualActionRequired, SafetyError, OktaApiError, AdminSessionError)


async def switch_off(run: ResyncRun) -> None:
    run.journal.intent(Step.DEACTIVATE_OFF)
    crashpoint("deactivate_off.before")
    try:
        channel = await run.switch.set(False)
    except _SWITCH_ERRORS as error:
        raise _off_failed(run, error) from error
    crashpoint("deactivate_off.after")
    run.journal.done(Step.DEACTIVATE_OFF, SwitchedOff(str(channel)))
    run.reload()


def _off_failed(run: ResyncRun, error: OktasyncError) -> SafetyError:
    detail = error.message
    if isinstance(error, ManualActionRequired):
        detail += "\n" + "\n".join(f"  {n}. {s}" for n, s in enumerate(error.steps, 1))
    if not run.state.touched_groups:
        # No group was touched: the run is over and nothing changed. Archive it so a new run may start.
        run.journal.end(Aborted(Outcome.ABORTED, error.message))
        run.journal.archive(Outcome.ABORTED)
        return SafetyError(
            f"resync of {run.app.label} refused: Deactivate Users could not be confirmed off, so no "
            f"group was unassigned and nothing changed: {detail}",
            hint=error.hint or "switch Deactivate Users off (or fix the channel) and run the resync again",
        )
    return SafetyError(
        f"resync of {run.app.label} stopped: Deactivate Users could not be confirmed off, so no further "
        f"group is unassigned: {detail}",
        hint=error.hint,
    )


async def refresh(run: ResyncRun) -> None:
    """A fresh listing right before the first unassignment: what other admins changed since step 1 is
    adopted (their later values are what must come back) and reported, never silently overwritten."""
    fresh = {a.group_id: a for a in await run.gateway.list_group_assignments(run.app.id)}
    snap = run.snapshot.by_id()
    expected: list[GroupRecord] = []
    removed: list[GroupRecord] = []
    changed: list[GroupChange] = []
    for gid in run.snapshot.targets:
        before = snap[gid]
        now = fresh.get(gid)
        if now is None:
            removed.append(before)
            continue
        record = GroupRecord(gid, now.group_name or before.name, now.priority, dict(now.profile))
        if (record.priority, record.profile) != (before.priority, before.profile):
            changed.append(GroupChange(before, record))
        expected.append(record)
    added = [
        GroupRecord(gid, a.group_name, a.priority, dict(a.profile))
        for gid, a in fresh.items()
        if gid not in snap
    ]
    concurrent = ConcurrentChanges(tuple(removed), tuple(changed), tuple(added))
    run.journal.append("refresh", expected=[r.to_dict() for r in expected], concurrent=concurrent.to_dict())
    run.reload()


async def unassign_all(run: ResyncRun) -> bool:
    """Unassign every target; False when a stop was requested (no further group is unassigned then)."""
    targets = list(run.expected)
    todo = [gid for gid in targets if gid not in run.state.unassigned]
    run.progress.start("unassign groups", total=len(targets))
    run.progress.advance("unassign groups", len(targets) - len(todo))
    try:
        for index, batch in enumerate(chunks(todo, run.options.batch_size)):
            if run.stop_requested():
                return False
            # The first batch follows the confirmed switch-off directly; every later one re-reads.
            if index > 0 and await run.deactivate_is_on("unassign", index):
                raise _found_on_error(run)
            await run.bounded(batch, lambda gid: _unassign_one(run, gid))
    finally:
        run.progress.finish("unassign groups")
    if run.stop_requested():
        return False
    # A change between the last re-read and the last batch cannot be excluded; say so if it happened.
    await run.deactivate_is_on("after_unassign", -1)
    run.journal.done(Step.UNASSIGN_PHASE)
    run.reload()
    crashpoint("unassign.phase_done")
    return True


def _found_on_error(run: ResyncRun) -> SafetyError:
    out = len(run.journal.state().unassigned_now())
    return SafetyError(
        f"Deactivate Users was switched on during the resync of {run.app.label} "
        f"(someone else?); stopped before the next unassignment. {out} group(s) are "
        "unassigned right now and their users have no access until the run is finished",
        hint=f"finish with: {run.resume_command}  (it switches Deactivate Users off again, "
        "confirms it, and continues)",
    )


async def _unassign_one(run: ResyncRun, gid: str) -> None:
    if run.stop_requested():
        return  # Ctrl-C: not one more unassignment (those already sent finish and are journaled)
    run.journal.intent(Step.UNASSIGN, gid)
    crashpoint("unassign.before")
    await run.gateway.unassign_group(run.app.id, gid)  # a 404 (already gone) is success
    crashpoint("unassign.after")
    run.journal.done(Step.UNASSIGN, group_id=gid)
    run.progress.advance("unassign groups")


async def assign_all(run: ResyncRun) -> None:
    targets = list(run.expected)
    todo = [gid for gid in targets if gid not in run.state.assigned]
    run.progress.start("reassign groups", total=len(targets))
    run.progress.advance("reassign groups", len(targets) - len(todo))
    try:
        for batch in chunks(todo, run.options.batch_size):
            await run.bounded(batch, lambda gid: assign_one(run, gid))
    finally:
        run.progress.finish("reassign groups")
    run.reload()


async def assign_one(run: ResyncRun, gid: str, step: Step = Step.ASSIGN) -> None:
    """(Re)assign one group with its recorded priority and profile (``Step.REPAIR`` in the verification)."""
    record = run.expected[gid]
    run.journal.intent(step, gid)
    crashpoint(f"{step}.before")
    try:
        assignment = await run.gateway.assign_group(run.app.id, gid, record.priority, record.profile)
        outcome = GroupOutcome("assigned", assignment.priority)
    except NotFoundError:
        # The Okta group itself was deleted during the run: there is nothing to reassign.
        outcome = GroupOutcome("group_deleted")
    crashpoint(f"{step}.after")
    run.journal.done(step, outcome, group_id=gid)
    if step is Step.ASSIGN:
        run.progress.advance("reassign groups")
