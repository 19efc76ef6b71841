"""Step 1 of a resync (read-only): the snapshot, the plan shown before any change, and the guards that
refuse a run before it starts."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from oktasync.errors import SafetyError
from oktasync.models import App, AppKind, AppUser
from oktasync.okta_gateway.base import OktaGateway
from oktasync.workflows.resync.journal import GroupRecord, ResyncJournal, Snapshot
from oktasync.workflows.resync.result import ResyncPlan
from oktasync.workflows.resync.switch import DeactivateUsersSwitch

if TYPE_CHECKING:
    from oktasync.config.schema import TenantConfig


@dataclass(frozen=True)
class AppUserListing:
    """A complete listing of the app users and when it ended (``time.monotonic()``)."""

    users: tuple[AppUser, ...]
    finished_at: float


def count_users(users: Iterable[AppUser]) -> tuple[dict[str, int], dict[str, int]]:
    """App users by scope (total, USER, GROUP) and by sync state."""
    scopes: Counter[str] = Counter()
    states: Counter[str] = Counter()
    for user in users:
        scopes[user.scope] += 1
        states[user.sync_state or "NONE"] += 1
    counts = {"total": sum(scopes.values()), **{k: scopes[k] for k in ("USER", "GROUP")}}
    return counts, dict(sorted(states.items()))


async def take_snapshot(
    gateway: OktaGateway, app: App, switch: DeactivateUsersSwitch, groups: str | list[str]
) -> Snapshot:
    """Step 1 (read-only): assignments, Deactivate Users, app users by scope, and who a run would affect."""
    snapshot, _ = await snapshot_and_listing(gateway, app, switch, groups)
    return snapshot


async def snapshot_and_listing(
    gateway: OktaGateway, app: App, switch: DeactivateUsersSwitch, groups: str | list[str]
) -> tuple[Snapshot, AppUserListing]:
    """The snapshot, and the app-user listing it counted (the roster is taken from it while it is fresh)."""
    assignments = await gateway.list_group_assignments(app.id)
    deactivate, channel = await switch.read()
    users = await gateway.list_app_users(app.id, with_user=False)  # counted by scope and state only
    listing = AppUserListing(tuple(users), time.monotonic())
    records = sorted(
        (GroupRecord(a.group_id, a.group_name, a.priority, dict(a.profile)) for a in assignments),
        key=lambda r: (r.priority if r.priority is not None else 1 << 30, r.name or "", r.group_id),
    )
    missing: tuple[str, ...] = ()
    if groups == "all":
        targets = [r.group_id for r in records]
    else:
        wanted = set(groups)
        targets = [r.group_id for r in records if r.name in wanted]
        missing = tuple(sorted(wanted - {r.name for r in records if r.name}))
    app_users, sync_states = count_users(users)
    affected = await _affected_users(gateway, users, targets, every_group=groups == "all")
    snapshot = Snapshot(
        assignments=tuple(records),
        targets=tuple(targets),
        deactivate_users=deactivate,
        deactivate_channel=str(channel),
        app_users=app_users,
        sync_states=sync_states,
        affected_users=affected,
        missing_named_groups=missing,
    )
    return snapshot, listing


async def _affected_users(
    gateway: OktaGateway, users: list[AppUser], targets: list[str], *, every_group: bool
) -> int:
    """The app users a run would unassign: every group-scoped one, or those in the cycled groups."""
    group_scoped = {u.id for u in users if u.scope == "GROUP"}
    if every_group:
        return len(group_scoped)
    members: set[str] = set()
    for gid in targets:
        members.update(await gateway.list_group_member_ids(gid))
    return len(members & group_scoped)


def plan_of(
    config: TenantConfig, app: App, kind: AppKind, snapshot: Snapshot, limit: int, unfinished: str | None
) -> ResyncPlan:
    return ResyncPlan(
        tenant=config.tenant,
        app_id=app.id,
        app_label=app.label,
        kind=str(kind),
        groups=snapshot.assignments,
        targets=snapshot.targets,
        deactivate_users=snapshot.deactivate_users,
        deactivate_channel=snapshot.deactivate_channel,
        app_users=snapshot.app_users,
        affected_users=snapshot.affected_users,
        max_affected_users=limit,
        missing_named_groups=snapshot.missing_named_groups,
        unfinished_run=unfinished,
    )


def limit_error(plan: ResyncPlan) -> SafetyError:
    return SafetyError(
        f"resync of {plan.app_label} would affect {plan.affected_users} users, more than "
        f"resync.max_affected_users ({plan.max_affected_users}); nothing changed",
        hint=f"raise the limit explicitly: --max-affected-users {plan.affected_users} "
        "(or resync.max_affected_users in the config), or restrict resync.groups",
    )


def refuse_lost_journal(journal: ResyncJournal, now: Snapshot, app: App) -> None:
    """No journal, but the app looks mid-run: Deactivate Users off and groups of the last completed run's
    snapshot missing. A deleted or lost journal must never look like "nothing to do"."""
    if now.deactivate_users:
        return
    last = journal.last_completed_snapshot()
    if last is None:
        return
    assigned = {a.group_id for a in now.assignments}
    missing = [g for g in last.assignments if g.group_id not in assigned]
    if not missing:
        return
    names = ", ".join(g.label() for g in missing[:10])
    raise SafetyError(
        f"{app.label} looks like a resync is unfinished, but its journal {journal.path} is missing: "
        f"Deactivate Users is off and {len(missing)} group(s) of the last completed run's snapshot are not "
        f"assigned ({names})",
        hint="restore the journal file if you have it and run the resync with --resume; otherwise reassign "
        "those groups (priorities and profiles are in the snapshot record of "
        f"{journal.archives()[-1] if journal.archives() else 'the last archived journal'}), then restore "
        "Deactivate Users, before anything else writes to the app",
    )
