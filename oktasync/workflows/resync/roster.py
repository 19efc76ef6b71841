"""The roster: the app users only the cycled groups entitle, the ones Okta's unassignment job must remove
and its assignment job re-create, each with the time its status last changed, taken right before the first
unassignment so that a re-created app user can be told from the one that was there before."""

from __future__ import annotations

import time
from collections.abc import Sequence

from oktasync.models import AppUser
from oktasync.workflows.resync.run import ResyncRun
from oktasync.workflows.resync.steps import Roster, Step


def status_mark(user: AppUser) -> str:
    """When the app user's status last changed (Okta's ``statusChanged``, else ``lastUpdated``): an app
    user that Okta re-created after the unassignment carries a later one than the recorded value."""
    return user.status_changed or user.last_updated or ""


async def take_roster(run: ResyncRun) -> None:
    """Journal the roster (empty when a group may already have been unassigned: a listing then no longer
    shows every user the cycle removes)."""
    roster = Roster({}, "none")
    if not run.state.touched_groups:
        users, source = await _roster_listing(run)
        keeping: set[str] = set()
        for gid in groups_not_cycled(run):
            keeping.update(await run.gateway.list_group_member_ids(gid))
        entitled = {u.id: status_mark(u) for u in users if u.scope == "GROUP" and u.id not in keeping}
        roster = Roster(entitled, source)
    run.journal.done(Step.ROSTER, roster)
    run.reload()


async def _roster_listing(run: ResyncRun) -> tuple[Sequence[AppUser], str]:
    """The app users the roster is taken from: the snapshot's listing when this process took it at most
    ``options.roster_max_age`` seconds ago, else a new listing."""
    fresh = run.snapshot_listing
    if fresh is not None and time.monotonic() - fresh.finished_at <= run.options.roster_max_age:
        return fresh.users, "snapshot"
    return await run.gateway.list_app_users(run.app.id, with_user=False), "listing"


def groups_not_cycled(run: ResyncRun) -> list[str]:
    """Groups that stay assigned throughout: not cycled by resync.groups, or assigned by someone else."""
    cycled = set(run.expected)
    concurrent = run.state.concurrent
    removed = {g.group_id for g in concurrent.removed_before_cycle}
    kept = [g.group_id for g in run.snapshot.assignments if g.group_id not in cycled | removed]
    return kept + [g.group_id for g in concurrent.added]


def roster_users(run: ResyncRun) -> dict[str, str]:
    """The journaled roster: app user id → status mark before the cycle."""
    return dict(run.state.roster.users) if run.state.roster is not None else {}
