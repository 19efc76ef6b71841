"""Step 5 of a resync: the report, built from the journal (and journaled itself before the archive)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from oktasync.workflows.resync.crash import crashpoint
from oktasync.workflows.resync.records import Completed, Outcome
from oktasync.workflows.resync.result import ResyncResult
from oktasync.workflows.resync.run import ResyncRun
from oktasync.workflows.resync.snapshot import count_users

_CONCURRENT_WARNINGS = (
    ("removed_before_cycle", "group(s) were removed by someone else before the cycle: not re-added"),
    (
        "changed_before_cycle",
        "group(s) had priority/profile changed by someone else before the cycle: new values kept",
    ),
    ("added", "group(s) were assigned by someone else during the run: left as they are"),
    ("deleted_during_run", "group(s) were deleted in Okta during the run: nothing to reassign"),
)


async def _app_users_after(run: ResyncRun) -> tuple[dict[str, int], dict[str, int]]:
    """The report's app-user counts after the run: journaled by the wait for the re-created app users
    (its last reads, after every group was reassigned); listed only when a journal lacks them."""
    back = run.state.return_wait
    if back is not None and back.app_users_after is not None and back.sync_states_after is not None:
        return dict(back.app_users_after), dict(back.sync_states_after)
    return count_users(await run.gateway.list_app_users(run.app.id, with_user=False))


def repush_summary(run: ResyncRun) -> dict[str, Any]:
    """Counts of the runbook step's purpose: every group-entitled user re-pushed, and the two waits."""
    back, removal = run.state.return_wait, run.state.removal_wait
    return {
        "expected": back.expected if back else 0,
        "repushed": back.repushed if back else 0,
        "push_failed": len(back.push_failed) if back else 0,
        "not_repushed": len(back.not_repushed) if back else 0,
        "removal_wait": {
            "outcome": removal.outcome if removal else None,
            "seconds": removal.seconds if removal else None,
            "polls": removal.polls if removal else None,
            "still_present": len(removal.still_present) if removal else 0,
        },
        "return_wait": {
            "outcome": back.outcome if back else None,
            "seconds": back.seconds if back else None,
            "polls": back.polls if back else None,
        },
    }


def _switch_warnings(run: ResyncRun) -> tuple[list[str], bool]:
    """Warnings about Deactivate Users during and after the run, and whether one means danger."""
    warnings: list[str] = []
    danger = False
    for event in run.state.found_on:
        if event.after_changes:
            danger = True
            warnings.append(
                "Deactivate Users was found ON right after the last unassignment: someone switched it on "
                "during the run, so users of the last batch may have been deactivated in the target; "
                "check the SCIM target and `oktasync tasks`"
            )
        else:
            warnings.append(
                f"Deactivate Users was found ON before unassignment batch {event.batch}; the run "
                "stopped there and was resumed"
            )
    restored = run.state.restored
    if restored is not None and restored.withheld:
        warnings.append(
            f"Deactivate Users is left OFF (it was on before the run): {restored.withheld} app user(s) "
            "were never seen removed, so Okta's unassignment job may still run for them, and with "
            "Deactivate Users on it would deactivate them in the target. Switch it on in the Admin "
            "Console (Applications > the app > Provisioning > To App > Deactivate Users) once the "
            "System Log shows their application.user_membership events, or run `oktasync apply`"
        )
    return warnings, danger


def _concurrent_changes(run: ResyncRun, deleted: list[str]) -> dict[str, list[Any]]:
    """What other admins changed during the run (refresh and verification), for the report."""
    state = run.state
    verify = state.verified
    before = state.concurrent
    seen = {a.group_id for a in before.added}
    added_during = [dict(a) for a in (verify.added_during_run if verify else ()) if a["group_id"] not in seen]
    return {
        "removed_before_cycle": [g.to_dict() for g in before.removed_before_cycle],
        "changed_before_cycle": [c.to_dict() for c in before.changed_before_cycle],
        "added": [*(g.to_dict() for g in before.added), *added_during],
        "deleted_during_run": [{"group_id": gid, "name": run.expected[gid].name} for gid in deleted],
        "changed_not_cycled": [dict(c) for c in verify.changed_not_cycled] if verify else [],
        "repaired": list(verify.repaired) if verify else [],
    }


def _warnings(
    run: ResyncRun, repush: dict[str, Any], concurrent: dict[str, list[Any]]
) -> tuple[list[str], bool]:
    warnings, danger = _switch_warnings(run)
    if repush["not_repushed"]:
        warnings.append(
            f"{repush['not_repushed']} of {repush['expected']} group-entitled user(s) were NOT re-pushed "
            "(listed in the report): the resync did not reach them; re-run it, or push them from the "
            "Admin Console"
        )
    restored = run.state.restored
    if not run.snapshot.deactivate_users and restored is not None and restored.final:
        warnings.append(
            "Deactivate Users was off before the run but is on now: someone else switched it on; left as is"
        )
    for key, label in _CONCURRENT_WARNINGS:
        if concurrent[key]:
            warnings.append(f"{len(concurrent[key])} {label}")
    return warnings, danger


def _notes(run: ResyncRun) -> list[str]:
    direct = run.snapshot.app_users.get("USER", 0)
    notes = [
        f"{direct} directly assigned user(s) are not touched by a group resync",
        "push results arrive asynchronously: run `oktasync tasks CONFIG` to list and retry failed pushes",
    ]
    begin = run.state.begin
    if begin is not None and begin.groups_filter != "all":
        notes.append(
            "resync.groups restricts the cycle: users who are also in groups that were not cycled stayed "
            "entitled throughout and were not re-pushed"
        )
    return notes


async def finish(run: ResyncRun, *, resumed: bool) -> ResyncResult:
    """Build the report, journal it, archive the journal."""
    after, sync_states = await _app_users_after(run)
    state, snap = run.state, run.snapshot
    deleted = sorted(state.deleted_groups())
    restored, off = state.restored, state.switched_off
    repush = repush_summary(run)
    concurrent = _concurrent_changes(run, deleted)
    warnings, danger = _warnings(run, repush, concurrent)
    result = ResyncResult(
        run_id=state.run_id or "",
        tenant=run.config.tenant,
        app_id=run.app.id,
        app_label=run.app.label,
        kind=str(run.kind),
        resumed=resumed,
        groups_assigned_before=len(snap.assignments),
        groups_cycled=tuple(gid for gid in run.expected if gid not in deleted),
        groups_not_restored=tuple(deleted),
        app_users_before=snap.app_users,
        app_users_after=after,
        sync_states_after=sync_states,
        deactivate_users={
            "recorded": snap.deactivate_users,
            "off_channel": off.channel if off else None,
            "restored_channel": restored.channel if restored else None,
            "final": bool(restored and restored.final),
            "withheld": bool(restored and restored.withheld),
        },
        repush=repush,
        not_repushed=tuple(n.to_dict() for n in state.return_wait.not_repushed) if state.return_wait else (),
        concurrent_changes=concurrent,
        warnings=tuple(warnings),
        danger=danger,
        api_calls=0,
        duration_seconds=0.0,
        missing_named_groups=snap.missing_named_groups,
        notes=tuple(_notes(run)),
    )
    run.journal.end(Completed(result.to_dict()))
    crashpoint("finish")
    path = run.journal.archive(Outcome.COMPLETED)
    return replace(result, journal=str(path))
