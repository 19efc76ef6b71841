"""The safe group resync (docs/resync.md): a journaled, locked, resumable state machine.

Steps, each journaled before and after (``journal.py``)::

    1 snapshot   every group assignment (id, name, priority, profile), app users by scope, Deactivate Users
    2 off        Deactivate Users off through the best channel, confirmed by reading it back (else exit 4,
                 nothing changed)
    3 cycle      refresh the listing (other admins' changes since the snapshot), journal the roster (the app
                 users only the cycled groups entitle), then unassign EVERY target group, wait until Okta's
                 background jobs removed the roster's app users, reassign every group with its recorded
                 priority and profile, and wait until the jobs re-created them and their pushes are over.
                 Unassigning all first matters: a user in two groups stays entitled while either is
                 assigned, so cycling one group at a time never re-links them. Deactivate Users is re-read
                 before every batch of unassignments; if it is on, the run stops before the next one (exit 4,
                 journal kept).
    4 verify     a fresh listing must equal the snapshot (group, priority, profile); one repair round, then
                 exit 1 with Deactivate Users still off. Only then restore Deactivate Users to its recorded
                 state and confirm it -- unless a roster user was never seen removed: its removal job may
                 still run, so Deactivate Users stays off (exit 1).
    5 report     groups cycled, app users before/after, direct users (not touched), push failures, and the
                 group-entitled users who were not re-pushed (exit 1 when there are any)

Why re-send priority and profile: ``PUT`` without a priority gets "the next highest", and the priority a
``PUT {}`` answers need not be the one it reads back (docs/okta-behaviour.md).

Why it cannot deprovision: an unassignment only deactivates target users when Deactivate Users is on when
Okta's removal job runs (docs/okta-behaviour.md, "Group assignments and background jobs"). No unassignment is
ever sent unless a read just showed it off, and it is not switched back on before every removal was seen;
reassignments never deactivate anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from oktasync.config.schema import TenantConfig
from oktasync.errors import (
    AdminSessionError,
    Interrupted,
    ManualActionRequired,
    NotFoundError,
    OktaApiError,
    OktasyncError,
    ResumeRequiredError,
    SafetyError,
    VerificationError,
)
from oktasync.models import App, AppKind, AppUser, Channel
from oktasync.okta_gateway.base import OktaGateway
from oktasync.progress import NullProgress, Progress
from oktasync.state import StateWriteError, exclusive_lock
from oktasync.workflows.resync.crash import crashpoint
from oktasync.workflows.resync.journal import (
    GroupRecord,
    ResyncJournal,
    RunState,
    Snapshot,
    app_dir,
)
from oktasync.workflows.resync.result import USER_PAGE, ResyncPlan, ResyncResult, pages

log = logging.getLogger("oktasync.resync")

DEFAULT_BATCH = 20  # groups per batch: Deactivate Users is re-read before each batch of unassignments
DEFAULT_JOB_TIMEOUT = 900.0  # seconds each wait for Okta's group jobs may last
# An app user's push is over when its syncState is one of these: pushed, failed (a task), or never pushed.
SETTLED_SYNC_STATES = frozenset({"SYNCHRONIZED", "ERROR", "DISABLED"})
T = TypeVar("T")

WaitForPerson = Callable[[list[str]], Awaitable[None] | None]


class DeactivateUsersSwitch(Protocol):
    """Reads and writes *Provisioning > To App > Deactivate Users* of one app."""

    async def read(self) -> tuple[bool, Channel]: ...

    async def set(self, enabled: bool) -> Channel:
        """Return only once a read proves the new state (raise otherwise)."""
        ...


class ChannelSwitch:
    """The switch through ``workflows.channels`` (api / admin / manual with polling)."""

    def __init__(
        self,
        gateway: OktaGateway,
        app: App,
        kind: AppKind,
        *,
        wait_for_person: WaitForPerson | None = None,
        poll_interval: float = 5.0,
        timeout: float = 900.0,
        progress: Progress | None = None,
    ) -> None:
        self.gateway, self.app, self.kind = gateway, app, kind
        self.wait_for_person = wait_for_person
        self.poll_interval, self.timeout = poll_interval, timeout
        self.progress = progress

    async def read(self) -> tuple[bool, Channel]:
        from oktasync.workflows.channels import read_deactivate_users

        return await read_deactivate_users(self.gateway, self.app, self.kind)

    async def set(self, enabled: bool) -> Channel:
        from oktasync.workflows.channels import set_deactivate_users

        return await set_deactivate_users(
            self.gateway,
            self.app,
            self.kind,
            enabled,
            wait_for_person=self.wait_for_person,
            poll_interval=self.poll_interval,
            timeout=self.timeout,
            progress=self.progress,
        )


@dataclass(frozen=True)
class ResyncOptions:
    resume: bool = False
    max_affected_users: int | None = None  # overrides resync.max_affected_users when given
    batch_size: int = DEFAULT_BATCH
    concurrency: int | None = None  # default: okta.max_concurrency
    resume_command: str | None = None  # shown when the run stops before the end
    wait_for_person: WaitForPerson | None = None
    poll_interval: float = 5.0
    manual_timeout: float = 900.0
    # Okta's background jobs (docs/resync.md "Waiting for Okta's background jobs"): the longest each wait
    # lasts, and how often the app users are listed meanwhile (the first poll is at once, then every
    # job_poll_first seconds, growing by half each time up to job_poll_max).
    job_timeout: float = DEFAULT_JOB_TIMEOUT
    job_poll_first: float = 0.25
    job_poll_max: float = 30.0
    # The roster is taken from the snapshot's app-user listing when that listing finished at most this many
    # seconds before the roster step (about as long as a listing of 20,000 app users takes); else listed anew.
    roster_max_age: float = 60.0


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]


def _status_mark(user: AppUser) -> str:
    """When the app user's status last changed (Okta's ``statusChanged``, else ``lastUpdated``): an app
    user that Okta re-created after the unassignment carries a later one than the recorded value."""
    return user.status_changed or user.last_updated or ""


def _count_users(users: Iterable[AppUser]) -> tuple[dict[str, int], dict[str, int]]:
    scopes: Counter[str] = Counter()
    states: Counter[str] = Counter()
    for user in users:
        scopes[user.scope] += 1
        states[user.sync_state or "NONE"] += 1
    counts = {"total": sum(scopes.values()), **{k: scopes[k] for k in ("USER", "GROUP")}}
    return counts, dict(sorted(states.items()))


async def _probe_kind(gateway: OktaGateway, app: App) -> AppKind:
    from oktasync.workflows.channels import probe_kind

    return await probe_kind(gateway, app)


@dataclass(frozen=True)
class AppUserListing:
    """A complete listing of the app users and when it finished (``time.monotonic()``)."""

    users: tuple[AppUser, ...]
    finished_at: float


async def take_snapshot(
    gateway: OktaGateway, app: App, switch: DeactivateUsersSwitch, groups: str | list[str]
) -> Snapshot:
    """Step 1 (read-only): assignments, Deactivate Users, app users by scope, and who a run would affect."""
    snapshot, _ = await _snapshot_and_listing(gateway, app, switch, groups)
    return snapshot


async def _snapshot_and_listing(
    gateway: OktaGateway, app: App, switch: DeactivateUsersSwitch, groups: str | list[str]
) -> tuple[Snapshot, AppUserListing]:
    """The snapshot, and the app-user listing it counted (the roster is taken from it when still fresh)."""
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
    app_users, sync_states = _count_users(users)
    group_scoped = {u.id for u in users if u.scope == "GROUP"}
    if groups == "all":
        affected = len(group_scoped)
    else:
        members: set[str] = set()
        for gid in targets:
            members.update(await gateway.list_group_member_ids(gid))
        affected = len(members & group_scoped)
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


def _plan(
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


def _limit_error(plan: ResyncPlan) -> SafetyError:
    return SafetyError(
        f"resync of {plan.app_label} would affect {plan.affected_users} users, more than "
        f"resync.max_affected_users ({plan.max_affected_users}); nothing changed",
        hint=f"raise the limit explicitly: --max-affected-users {plan.affected_users} "
        "(or resync.max_affected_users in the config), or restrict resync.groups",
    )


async def plan_resync(
    config: TenantConfig,
    gateway: OktaGateway,
    app: App,
    *,
    state_dir: Path,
    max_affected_users: int | None = None,
    switch: DeactivateUsersSwitch | None = None,
    kind: AppKind | None = None,
) -> ResyncPlan:
    """``--dry-run``: the plan of a run, from reads only. Changes nothing, writes nothing, takes no lock."""
    kind = kind or await _probe_kind(gateway, app)
    switch = switch or ChannelSwitch(gateway, app, kind)
    journal = ResyncJournal(app_dir(config, app, state_dir))
    unfinished = None
    if journal.exists():
        state = journal.state()
        if state.finished is None:
            unfinished = state.run_id or "unknown"
    snapshot = await take_snapshot(gateway, app, switch, config.resync.groups)
    limit = config.resync.max_affected_users if max_affected_users is None else max_affected_users
    return _plan(config, app, kind, snapshot, limit, unfinished)


async def run_resync(
    config: TenantConfig,
    gateway: OktaGateway,
    app: App,
    *,
    state_dir: Path,
    options: ResyncOptions = ResyncOptions(),
    confirm: Callable[[ResyncPlan], bool] | None = None,
    stop_requested: Callable[[], bool] = lambda: False,
    progress: Progress | None = None,
    switch: DeactivateUsersSwitch | None = None,
    kind: AppKind | None = None,
) -> ResyncResult:
    """Run (or, with ``options.resume``, finish) the resync of ``app``; see the module docstring.

    ``confirm(plan)`` is called after the snapshot and before any change (the lock is held meanwhile);
    returning False stops with ``SafetyError`` and nothing changed. ``stop_requested()`` (Ctrl-C) is polled
    before Deactivate Users is switched off (the run ends, nothing changed) and before every unassignment
    (no further one is sent: every group already unassigned is reassigned, verified, Deactivate Users
    restored, then ``Interrupted``). After the last unassignment it is not polled: finishing the run is the
    way back. Cancelling the task (a second Ctrl-C) stops at once with the journal kept for ``--resume``.

    Raises ``ResumeRequiredError`` (exit 4) when an unfinished journal exists and ``resume`` is not set,
    ``SafetyError`` (exit 4) when a guard refuses, ``VerificationError`` (exit 1) when assignments cannot be
    proven back, ``Interrupted`` (130); the journal is kept in every case where anything changed.
    """
    progress = progress or NullProgress()
    started = time.monotonic()
    calls_at_start = gateway.request_count()
    journal = ResyncJournal(app_dir(config, app, state_dir))
    what = f"a write to {app.label} ({app.id}: resync, apply, tasks --retry or a playbook)"
    with exclusive_lock(journal.lock_path, what, reentrant=True):
        state = journal.state() if journal.exists() else None
        if state is not None and state.finished is not None:
            # Killed after the report was journaled but before the rename: that run is complete.
            journal.run_id = state.run_id
            archived = journal.archive(str(state.finished.get("outcome") or "completed"))
            if options.resume and state.finished.get("report"):
                return ResyncResult.from_report(state.finished["report"], str(archived))
            state = None
        listing: AppUserListing | None = None  # the snapshot's app-user listing, when taken by this process
        resume_cmd = options.resume_command or f"oktasync resync CONFIG --resume  (tenant {config.tenant})"
        if not options.resume:
            if state is not None:
                raise ResumeRequiredError(
                    f"an unfinished resync of {app.label} exists (run {state.run_id}); "
                    "a new one cannot start until it is finished",
                    hint=f"finish it with: {resume_cmd}  (journal: {journal.path})",
                )
            kind = kind or await _probe_kind(gateway, app)
            switch = switch or _default_switch(gateway, app, kind, options, progress)
            snapshot, listing = await _snapshot_and_listing(gateway, app, switch, config.resync.groups)
            _refuse_lost_journal(journal, snapshot, app)
            from oktasync.workflows.app_guard import check_okta_activity

            await check_okta_activity(
                gateway, app, deactivate_users=snapshot.deactivate_users, state_dir=state_dir, config=config
            )
            limit = (
                config.resync.max_affected_users
                if options.max_affected_users is None
                else options.max_affected_users
            )
            plan = _plan(config, app, kind, snapshot, limit, None)
            if plan.exceeds_limit:
                raise _limit_error(plan)
            if confirm is not None and not confirm(plan):
                raise SafetyError("resync not confirmed; nothing changed")
            journal.start(
                tenant=config.tenant,
                app_id=app.id,
                app_label=app.label,
                app_name=app.name,
                kind=str(kind),
                groups_filter=config.resync.groups,
                max_affected_users=limit,
            )
            journal.append("snapshot", snapshot=snapshot.to_dict())
            crashpoint("snapshot")
            resumed = False
        else:
            if state is None:
                switch = switch or _default_switch(
                    gateway, app, kind or await _probe_kind(gateway, app), options, progress
                )
                _refuse_lost_journal(journal, await take_snapshot(gateway, app, switch, "all"), app)
                raise SafetyError(
                    f"there is no unfinished resync of {app.label} to resume",
                    hint="start a new one without --resume",
                )
            journal.run_id = state.run_id
            journal.append("resume")
            kind = AppKind(state.begin.get("kind") or (kind or await _probe_kind(gateway, app)))
            switch = switch or _default_switch(gateway, app, kind, options, progress)
            if state.snapshot is None:
                # Killed between the begin and snapshot records: nothing changed yet, so snapshot now.
                groups = state.begin.get("groups_filter", config.resync.groups)
                snapshot = await take_snapshot(gateway, app, switch, groups)
                journal.append("snapshot", snapshot=snapshot.to_dict())
            resumed = True
        run = _Run(
            config=config,
            gateway=gateway,
            app=app,
            kind=kind,
            journal=journal,
            switch=switch,
            options=options,
            stop_requested=stop_requested,
            progress=progress,
            resume_command=resume_cmd,
            snapshot_listing=listing,
        )
        try:
            result = await run.execute(resumed=resumed)
        except OktasyncError as error:
            if journal.exists():
                with contextlib.suppress(StateWriteError):  # a full disk must not hide the first error
                    journal.append("calls", count=gateway.request_count() - calls_at_start)
                _add_resume_hint(error, journal, resume_cmd)
            raise
        elapsed = time.monotonic() - started
        result = _with(result, api_calls=gateway.request_count() - calls_at_start, duration_seconds=elapsed)
        return result


def _refuse_lost_journal(journal: ResyncJournal, now: Snapshot, app: App) -> None:
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


def _default_switch(
    gateway: OktaGateway, app: App, kind: AppKind, options: ResyncOptions, progress: Progress
) -> DeactivateUsersSwitch:
    return ChannelSwitch(
        gateway,
        app,
        kind,
        wait_for_person=options.wait_for_person,
        poll_interval=options.poll_interval,
        timeout=options.manual_timeout,
        progress=progress,
    )


def _with(result: ResyncResult, **changes: Any) -> ResyncResult:
    from dataclasses import replace

    return replace(result, **changes)


def _add_resume_hint(error: OktasyncError, journal: ResyncJournal, resume_cmd: str) -> None:
    if isinstance(error, Interrupted) or not journal.exists():
        return
    state = journal.state()
    if state.finished is not None:
        return
    out = state.unassigned_now()
    extra = f"the journal is kept ({journal.path}); finish with: {resume_cmd}"
    if out:
        extra = f"{len(out)} group(s) are unassigned right now; " + extra
    error.hint = f"{error.hint}; {extra}" if error.hint else extra


class _RollBack(Exception):
    """A stop (Ctrl-C) while groups are unassigned and none is reassigned yet: roll back."""


_SWITCH_ERRORS = (VerificationError, ManualActionRequired, SafetyError, OktaApiError, AdminSessionError)


class _Run:
    def __init__(
        self,
        *,
        config: TenantConfig,
        gateway: OktaGateway,
        app: App,
        kind: AppKind,
        journal: ResyncJournal,
        switch: DeactivateUsersSwitch,
        options: ResyncOptions,
        stop_requested: Callable[[], bool],
        progress: Progress,
        resume_command: str,
        snapshot_listing: AppUserListing | None = None,
    ) -> None:
        self.config, self.gateway, self.app, self.kind = config, gateway, app, kind
        self.snapshot_listing = snapshot_listing
        self.journal, self.switch, self.options = journal, switch, options
        self.stop_requested, self.progress, self.resume_command = stop_requested, progress, resume_command
        self.concurrency = options.concurrency or config.okta.max_concurrency
        self.state: RunState = journal.state()
        self._rolling_back = False

    # --- helpers ----------------------------------------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        assert self.state.snapshot is not None
        return self.state.snapshot

    @property
    def expected(self) -> dict[str, GroupRecord]:
        assert self.state.expected is not None
        return self.state.expected

    def _reload(self) -> None:
        self.state = self.journal.state()

    def _check_stop(self, phase: str) -> None:
        """A stop (Ctrl-C) at a safe point. Before Deactivate Users is touched: the run ends, nothing changed.
        Before any group is reassigned (the removal wait): roll back (``_RollBack``). While Okta re-creates
        the app users after reassigning: stop waiting, journal kept (``--resume`` waits again)."""
        if not self.stop_requested() or self._rolling_back:
            return  # a roll back is what the stop asked for: it runs to its end (a second Ctrl-C cancels)
        if not self.state.has_intent("deactivate_off"):
            self.journal.append("interrupted", phase=phase)
            self.journal.append("aborted", outcome="interrupted", reason="interrupted before any change")
            path = self.journal.archive("interrupted")
            raise Interrupted(
                f"resync of {self.app.label} interrupted before any change; nothing to resume "
                f"(journal: {path})"
            )
        if not self.state.intents.get("assign"):
            raise _RollBack()
        self.journal.append("interrupted", phase=phase)
        raise Interrupted(
            f"resync of {self.app.label} interrupted ({phase}): every group is assigned again; Deactivate "
            "Users stays off until the run is finished",
            self.resume_command,
        )

    async def _roll_back(self) -> ResyncResult:
        """Ctrl-C during the unassignments: send no further one, reassign every group that was (or may have
        been) unassigned with its recorded priority and profile, verify, restore Deactivate Users, archive
        the journal and stop (``Interrupted``). Journaled first, so a resumed run carries on rolling back."""
        self._rolling_back = True
        if not self.state.rolling_back:
            self.journal.append("rollback")
            self._reload()
        back = self.state.unassigned_now()
        unsettled: list[str] = []
        if self.state.expected is not None:
            todo = [gid for gid in self.expected if gid in back and not self.state.is_done("assign", gid)]
            self.progress.start("reassign groups", total=len(todo))
            try:
                await self._bounded(todo, self._assign_one)
            finally:
                self.progress.finish("reassign groups")
            self._reload()
            await self._verify()
            unsettled = await self._await_rollback_jobs(back)
        restored = "Deactivate Users is restored"
        if unsettled:
            # A removal job still pending would deactivate its users once Deactivate Users is on again.
            on, channel = await self.switch.read()
            self.journal.append(
                "done",
                step="restore",
                channel=None,
                final=on,
                withheld=len(unsettled),
                read_channel=str(channel),
            )
            restored = (
                f"Deactivate Users is LEFT OFF: {len(unsettled)} app user(s) were not re-created within "
                f"{self.options.job_timeout:g}s; switch it back on (Applications > {self.app.label} > "
                "Provisioning > To App) once the System Log shows Okta's jobs done"
            )
        elif self.state.has_intent("deactivate_off"):
            await self._restore()
        self.journal.append("finish", outcome="rolled_back", reassigned=sorted(back), unsettled=unsettled)
        path = self.journal.archive("rolled_back")
        raise Interrupted(
            f"resync of {self.app.label} interrupted: no further group was unassigned; the {len(back)} "
            "group(s) already unassigned are reassigned with their recorded priority and profile and "
            f"verified, and {restored}. Nothing to resume; run the resync again to cycle every group "
            f"(journal: {path})"
        )

    async def _await_rollback_jobs(self, back: set[str]) -> list[str]:
        """After a roll back, before Deactivate Users goes back on: wait until every app user that only the
        unassigned groups entitled is an app user again (Okta's assignment job re-created the ones its
        removal job took away). A removal job that runs later finds them entitled and removes nobody
        (assumed, as the emulator models it: docs/resync.md "Ctrl-C"). Returns those still missing."""
        roster = self._roster()
        if not roster or not back:
            return []
        entitled_throughout: set[str] = set()
        for gid in self.expected:
            if gid not in back:
                entitled_throughout.update(await self.gateway.list_group_member_ids(gid))
        affected = [uid for uid in roster if uid not in entitled_throughout]

        def waiting(listing: dict[str, AppUser]) -> set[str]:
            return {uid for uid in affected if uid not in listing}

        pending, _, _, _ = await self._poll_app_users(
            "wait for Okta to re-create app users", "rollback_wait", waiting, len(affected)
        )
        return sorted(pending)

    async def _bounded(self, items: Sequence[str], work: Callable[[str], Awaitable[None]]) -> None:
        """Run ``work`` on every item, at most ``concurrency`` at once; every started item finishes (and is
        journaled) before the first error is raised."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(item: str) -> None:
            async with gate:
                await work(item)

        outcomes = await asyncio.gather(*(one(i) for i in items), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    # --- the state machine ------------------------------------------------------------------------------
    async def execute(self, *, resumed: bool) -> ResyncResult:
        if self.state.rolling_back:
            return await self._roll_back()
        try:
            return await self._forward(resumed=resumed)
        except _RollBack:
            return await self._roll_back()

    async def _forward(self, *, resumed: bool) -> ResyncResult:
        if not self.state.is_done("unassign_phase"):
            self._check_stop("before switching Deactivate Users off")
            await self._switch_off()
            if self.state.expected is None:
                await self._refresh()
            if not self.state.is_done("roster"):
                await self._take_roster()
            if not await self._unassign_all():
                return await self._roll_back()
        if not self.state.is_done("removal_wait"):
            await self._await_removal()
        await self._assign_all()
        if not self.state.is_done("return_wait"):
            await self._await_return()
        if not self.state.is_done("restore"):
            await self._verify()
            await self._restore()
        return await self._finish(resumed=resumed)

    async def _switch_off(self) -> None:
        self.journal.append("intent", step="deactivate_off")
        crashpoint("deactivate_off.before")
        try:
            channel = await self.switch.set(False)
        except _SWITCH_ERRORS as error:
            raise self._off_failed(error) from error
        crashpoint("deactivate_off.after")
        self.journal.append("done", step="deactivate_off", channel=str(channel))
        self._reload()

    def _off_failed(self, error: OktasyncError) -> SafetyError:
        detail = error.message
        if isinstance(error, ManualActionRequired):
            detail += "\n" + "\n".join(f"  {n}. {s}" for n, s in enumerate(error.steps, 1))
        if not self.state.touched_groups:
            # No group was touched: the run is over and nothing changed. Archive it so a new run may start.
            self.journal.append("aborted", outcome="aborted", reason=error.message)
            self.journal.archive("aborted")
            return SafetyError(
                f"resync of {self.app.label} refused: Deactivate Users could not be confirmed off, so no "
                f"group was unassigned and nothing changed: {detail}",
                hint=error.hint
                or "switch Deactivate Users off (or fix the channel) and run the resync again",
            )
        return SafetyError(
            f"resync of {self.app.label} stopped: Deactivate Users could not be confirmed off, so no further "
            f"group is unassigned: {detail}",
            hint=error.hint,
        )

    async def _refresh(self) -> None:
        """A fresh listing right before the first unassignment: what other admins changed since step 1 is
        adopted (their later values are what must come back) and reported, never silently overwritten."""
        fresh = {a.group_id: a for a in await self.gateway.list_group_assignments(self.app.id)}
        snap = self.snapshot.by_id()
        expected: list[GroupRecord] = []
        removed, changed = [], []
        for gid in self.snapshot.targets:
            before = snap[gid]
            now = fresh.get(gid)
            if now is None:
                removed.append(before.to_dict())
                continue
            record = GroupRecord(gid, now.group_name or before.name, now.priority, dict(now.profile))
            if (record.priority, record.profile) != (before.priority, before.profile):
                changed.append({"before": before.to_dict(), "after": record.to_dict()})
            expected.append(record)
        added = [
            GroupRecord(gid, a.group_name, a.priority, dict(a.profile)).to_dict()
            for gid, a in fresh.items()
            if gid not in snap
        ]
        concurrent = {"removed_before_cycle": removed, "changed_before_cycle": changed, "added": added}
        self.journal.append("refresh", expected=[r.to_dict() for r in expected], concurrent=concurrent)
        self._reload()

    async def _deactivate_is_on(self, phase: str, batch: int) -> bool:
        on, channel = await self.switch.read()
        if on:
            self.journal.append("deactivate_found_on", phase=phase, batch=batch, channel=str(channel))
            self._reload()
        return on

    async def _unassign_all(self) -> bool:
        """Unassign every target; False when a stop was requested (no further group is unassigned then)."""
        targets = list(self.expected)
        todo = [gid for gid in targets if not self.state.is_done("unassign", gid)]
        self.progress.start("unassign groups", total=len(targets))
        self.progress.advance("unassign groups", len(targets) - len(todo))
        try:
            for index, batch in enumerate(_chunks(todo, self.options.batch_size)):
                if self.stop_requested():
                    return False
                # The first batch follows the confirmed switch-off directly; every later one re-reads.
                if index > 0 and await self._deactivate_is_on("unassign", index):
                    out = len(self.journal.state().unassigned_now())
                    raise SafetyError(
                        f"Deactivate Users was switched on during the resync of {self.app.label} "
                        f"(someone else?); stopped before the next unassignment. {out} group(s) are "
                        "unassigned right now and their users have no access until the run is finished",
                        hint=f"finish with: {self.resume_command}  (it switches Deactivate Users off again, "
                        "confirms it, and continues)",
                    )
                await self._bounded(batch, self._unassign_one)
        finally:
            self.progress.finish("unassign groups")
        if self.stop_requested():
            return False
        # A change between the last re-read and the last batch cannot be excluded; say so if it happened.
        await self._deactivate_is_on("after_unassign", -1)
        self.journal.append("done", step="unassign_phase")
        self._reload()
        crashpoint("unassign.phase_done")
        return True

    async def _unassign_one(self, gid: str) -> None:
        if self.stop_requested():
            return  # Ctrl-C: not one more unassignment (those already sent finish and are journaled)
        self.journal.append("intent", step="unassign", group_id=gid)
        crashpoint("unassign.before")
        await self.gateway.unassign_group(self.app.id, gid)  # a 404 (already gone) is success
        crashpoint("unassign.after")
        self.journal.append("done", step="unassign", group_id=gid)
        self.progress.advance("unassign groups")

    # --- Okta's background jobs ---------------------------------------------------------------------------
    async def _take_roster(self) -> None:
        """Right before the first unassignment: the app users that only the cycled groups entitle (the ones
        Okta's unassignment job must remove and its assignment job re-create), each with the time its status
        last changed, so that a re-created app user can be told from the one that was there before."""
        roster: dict[str, str] = {}
        source = "none"
        if not self.state.touched_groups:
            users, source = await self._roster_listing()
            keeping: set[str] = set()
            for gid in self._groups_not_cycled():
                keeping.update(await self.gateway.list_group_member_ids(gid))
            roster = {u.id: _status_mark(u) for u in users if u.scope == "GROUP" and u.id not in keeping}
        self.journal.append("done", step="roster", users=roster, source=source)
        self._reload()

    async def _roster_listing(self) -> tuple[Sequence[AppUser], str]:
        """The app users the roster is taken from: the snapshot's listing when this process took it less
        than ``options.roster_max_age`` seconds ago (no older than a listing of its own would be by the
        time it ended), else a new listing."""
        fresh = self.snapshot_listing
        if fresh is not None and time.monotonic() - fresh.finished_at <= self.options.roster_max_age:
            return fresh.users, "snapshot"
        return await self.gateway.list_app_users(self.app.id, with_user=False), "listing"

    def _groups_not_cycled(self) -> list[str]:
        """Groups that stay assigned throughout: not cycled by resync.groups, or assigned by someone else."""
        cycled = set(self.expected)
        removed = {g["group_id"] for g in self.state.concurrent.get("removed_before_cycle", [])}
        kept = [g.group_id for g in self.snapshot.assignments if g.group_id not in cycled | removed]
        return kept + [g["group_id"] for g in self.state.concurrent.get("added", [])]

    def _roster(self) -> dict[str, str]:
        record = self.state.done.get("roster", {}).get("")
        return dict(record.get("users") or {}) if record else {}

    async def _poll_app_users(
        self, title: str, phase: str, waiting: Callable[[dict[str, AppUser]], set[str]], total: int
    ) -> tuple[set[str], dict[str, AppUser], float, int]:
        """Read the app users (each request paced by the gateway) until ``waiting(listing)`` is empty or
        ``options.job_timeout`` has passed; Ctrl-C stops at the next poll. The first poll lists them all;
        a later one reads only the app users still waited for, one request each, when that takes fewer
        requests than the listing's pages. Returns what is still waited for, the last listing (with those
        re-reads applied), the seconds waited and the number of polls."""
        started = time.monotonic()
        interval = self.options.job_poll_first
        polls = counted = 0
        listing: dict[str, AppUser] | None = None
        pending: set[str] = set()
        self.progress.start(title, total=total)
        try:
            while True:
                self._check_stop(title)
                if listing is None or len(pending) >= pages(len(listing), USER_PAGE):
                    users = await self.gateway.list_app_users(self.app.id, with_user=False)
                    listing = {u.id: u for u in users}
                else:
                    await self._reread(listing, pending)
                polls += 1
                crashpoint(f"{phase}.polling")
                pending = waiting(listing)
                if total - len(pending) > counted:
                    self.progress.advance(title, total - len(pending) - counted)
                    counted = total - len(pending)
                elapsed = time.monotonic() - started
                if not pending or elapsed >= self.options.job_timeout:
                    return pending, listing, elapsed, polls
                await asyncio.sleep(min(interval, self.options.job_timeout - elapsed))
                interval = min(interval * 1.5, self.options.job_poll_max)
        finally:
            self.progress.finish(title)

    async def _reread(self, listing: dict[str, AppUser], user_ids: Iterable[str]) -> None:
        """Bring ``listing`` up to date for ``user_ids``: read each app user (gone when Okta answers 404)."""

        async def one(uid: str) -> None:
            user = await self.gateway.get_app_user(self.app.id, uid)
            if user is None:
                listing.pop(uid, None)
            else:
                listing[uid] = user

        await self._bounded(sorted(user_ids), one)

    async def _await_removal(self) -> None:
        """Before reassigning: wait until Okta's unassignment jobs removed every app user of the roster.
        An app user still there when the groups come back is never re-created, so it is not re-pushed."""
        roster = self._roster()

        def still_there(listing: dict[str, AppUser]) -> set[str]:
            return {uid for uid in roster if uid in listing and listing[uid].scope == "GROUP"}

        pending, _, seconds, polls = await self._poll_app_users(
            "wait for Okta to remove app users", "removal_wait", still_there, len(roster)
        )
        if pending:
            self.progress.note(
                f"{len(pending)} app user(s) were still there after {seconds:.0f}s "
                "(--job-timeout): reassigning anyway so that nobody stays without access; they will be "
                "reported as not re-pushed"
            )
        self.journal.append(
            "done",
            step="removal_wait",
            outcome="timeout" if pending else "complete",
            still_present=sorted(pending),
            seconds=round(seconds, 3),
            polls=polls,
        )
        self._reload()
        # Removal jobs ran during the wait: had someone switched Deactivate Users on, they deactivated.
        await self._deactivate_is_on("after_removal", -1)

    def _not_repushed_reason(self, uid: str, listing: dict[str, AppUser], seen_gone: set[str]) -> str | None:
        """Why the roster user ``uid`` is not (yet) proven re-pushed, or None when it is."""
        user = listing.get(uid)
        if user is None:
            return "missing"  # Okta's assignment job has not (re)created the app user
        if uid not in seen_gone and not _status_mark(user) > self._roster()[uid]:
            return "stale"  # never removed: the same app user as before, nothing re-pushed
        if user.sync_state not in SETTLED_SYNC_STATES:
            return "pending"  # the push has not finished
        if user.sync_state == "DISABLED":
            return "not_pushed"  # provisioning does not push to this app
        return None

    async def _await_return(self) -> None:
        """After reassigning: wait until every roster user is back as a fresh app user whose push is over
        (syncState SYNCHRONIZED or ERROR), then journal who was re-pushed and who was not."""
        roster = self._roster()
        removal = self.state.done.get("removal_wait", {}).get("") or {}
        seen_gone = set(roster) - set(removal.get("still_present") or ())

        def waiting(listing: dict[str, AppUser]) -> set[str]:
            final = {None, "not_pushed"}
            return {u for u in roster if self._not_repushed_reason(u, listing, seen_gone) not in final}

        _, listing, seconds, polls = await self._poll_app_users(
            "wait for Okta to re-create app users", "return_wait", waiting, len(roster)
        )
        not_repushed = []
        failed = []
        for uid in sorted(roster):
            reason = self._not_repushed_reason(uid, listing, seen_gone)
            user = listing.get(uid)
            if reason is not None:
                not_repushed.append(
                    {
                        "user_id": uid,
                        "user_name": user.user_name if user else None,
                        "reason": reason,
                        "sync_state": user.sync_state if user else None,
                    }
                )
            elif user is not None and user.sync_state == "ERROR":
                failed.append(uid)
        app_users_after, sync_states_after = _count_users(listing.values())
        self.journal.append(
            "done",
            step="return_wait",
            app_users_after=app_users_after,
            sync_states_after=sync_states_after,
            outcome="timeout" if any(n["reason"] != "not_pushed" for n in not_repushed) else "complete",
            expected=len(roster),
            repushed=len(roster) - len(not_repushed),
            push_failed=failed,
            not_repushed=not_repushed,
            seconds=round(seconds, 3),
            polls=polls,
        )
        self._reload()

    async def _assign_all(self) -> None:
        targets = list(self.expected)
        todo = [gid for gid in targets if not self.state.is_done("assign", gid)]
        self.progress.start("reassign groups", total=len(targets))
        self.progress.advance("reassign groups", len(targets) - len(todo))
        try:
            for batch in _chunks(todo, self.options.batch_size):
                await self._bounded(batch, self._assign_one)
        finally:
            self.progress.finish("reassign groups")
        self._reload()

    async def _assign_one(self, gid: str, step: str = "assign") -> None:
        record = self.expected[gid]
        self.journal.append("intent", step=step, group_id=gid)
        crashpoint(f"{step}.before")
        try:
            assignment = await self.gateway.assign_group(self.app.id, gid, record.priority, record.profile)
            outcome: dict[str, Any] = {"outcome": "assigned", "priority": assignment.priority}
        except NotFoundError:
            # The Okta group itself was deleted during the run: there is nothing to reassign.
            outcome = {"outcome": "group_deleted"}
        crashpoint(f"{step}.after")
        self.journal.append("done", step=step, group_id=gid, **outcome)
        if step == "assign":
            self.progress.advance("reassign groups")

    def _deleted_groups(self) -> set[str]:
        return {
            gid
            for step in ("assign", "repair")
            for gid, rec in self.state.done.get(step, {}).items()
            if rec.get("outcome") == "group_deleted"
        }

    def _mismatches(self, fresh: dict[str, Any]) -> list[dict[str, Any]]:
        deleted = self._deleted_groups()
        out = []
        for gid, record in self.expected.items():
            if gid in deleted:
                continue
            now = fresh.get(gid)
            if now is None:
                out.append({"group": record.to_dict(), "actual": None})
            elif now.profile != record.profile or (
                record.priority is not None and now.priority != record.priority
            ):
                out.append(
                    {"group": record.to_dict(), "actual": {"priority": now.priority, "profile": now.profile}}
                )
        return out

    async def _verify(self) -> None:
        crashpoint("verify.before")
        fresh = {a.group_id: a for a in await self.gateway.list_group_assignments(self.app.id)}
        mismatches = self._mismatches(fresh)
        repaired: list[str] = []
        if mismatches:
            # One repair round: a PUT that did not stick is re-sent (idempotent), then read again.
            repaired = [m["group"]["group_id"] for m in mismatches]
            await self._bounded(repaired, lambda gid: self._assign_one(gid, "repair"))
            self._reload()
            fresh = {a.group_id: a for a in await self.gateway.list_group_assignments(self.app.id)}
            mismatches = self._mismatches(fresh)
        if mismatches:
            self.journal.append("verify", ok=False, mismatches=mismatches)
            names = ", ".join(m["group"]["name"] or m["group"]["group_id"] for m in mismatches[:10])
            raise VerificationError(
                f"{len(mismatches)} group assignment(s) of {self.app.label} do not match the snapshot after "
                f"reassigning and one repair round: {names}; Deactivate Users is left off",
                hint="inspect them in the Admin Console (another admin may be changing them)",
            )
        snap = self.snapshot.by_id()
        targets = set(self.expected)
        added = [
            {"group_id": gid, "name": a.group_name, "priority": a.priority}
            for gid, a in fresh.items()
            if gid not in snap
        ]
        outside = []  # groups the run did not cycle (resync.groups) that changed meanwhile
        for gid, before in snap.items():
            if gid in targets:
                continue
            now = fresh.get(gid)
            if now is None or (now.priority, now.profile) != (before.priority, before.profile):
                outside.append({"group": before.to_dict(), "now": None if now is None else now.priority})
        self.journal.append(
            "verify", ok=True, repaired=repaired, added_during_run=added, changed_not_cycled=outside
        )
        self._reload()
        crashpoint("verify.after")

    def _removals_unseen(self) -> list[str]:
        """Roster users never seen removed: Okta's unassignment job for them may still be pending."""
        removal = self.state.done.get("removal_wait", {}).get("") or {}
        return list(removal.get("still_present") or ())

    async def _restore(self) -> None:
        unseen = self._removals_unseen()
        if self.snapshot.deactivate_users and unseen:
            # A removal job that runs after Deactivate Users is back on deactivates the user in the target:
            # leave it off, which never deprovisions anyone, and say so (the report exits 1).
            on, channel = await self.switch.read()
            self.journal.append(
                "done",
                step="restore",
                channel=None,
                final=on,
                withheld=len(unseen),
                read_channel=str(channel),
            )
        elif self.snapshot.deactivate_users:
            self.journal.append("intent", step="restore")
            crashpoint("restore.before")
            channel = await self.switch.set(True)
            crashpoint("restore.after")
            self.journal.append("done", step="restore", channel=str(channel), final=True)
        else:
            on, channel = await self.switch.read()
            self.journal.append("done", step="restore", channel=None, final=on, read_channel=str(channel))
        self._reload()

    def _return_record(self) -> dict[str, Any]:
        return self.state.done.get("return_wait", {}).get("") or {}

    def _repush_summary(self) -> dict[str, Any]:
        """Counts of the runbook step's purpose: every group-entitled user re-pushed, and the two waits."""
        back = self._return_record()
        removal = self.state.done.get("removal_wait", {}).get("") or {}
        return {
            "expected": int(back.get("expected") or 0),
            "repushed": int(back.get("repushed") or 0),
            "push_failed": len(back.get("push_failed") or ()),
            "not_repushed": len(back.get("not_repushed") or ()),
            "removal_wait": {
                "outcome": removal.get("outcome"),
                "seconds": removal.get("seconds"),
                "polls": removal.get("polls"),
                "still_present": len(removal.get("still_present") or ()),
            },
            "return_wait": {
                "outcome": back.get("outcome"),
                "seconds": back.get("seconds"),
                "polls": back.get("polls"),
            },
        }

    async def _app_users_after(self) -> tuple[dict[str, int], dict[str, int]]:
        """The report's app-user counts after the run: journaled by the wait for the re-created app users
        (its last reads, after every group was reassigned); listed only when a journal lacks them."""
        back = self._return_record()
        if "app_users_after" in back:
            return dict(back["app_users_after"]), dict(back["sync_states_after"])
        return _count_users(await self.gateway.list_app_users(self.app.id, with_user=False))

    async def _finish(self, *, resumed: bool) -> ResyncResult:
        after, sync_states = await self._app_users_after()
        state = self.state
        snap = self.snapshot
        deleted = sorted(self._deleted_groups())
        restore = state.done.get("restore", {}).get("", {})
        off = state.done.get("deactivate_off", {}).get("", {})
        warnings: list[str] = []
        danger = False
        for event in state.found_on:
            if event.get("phase") in ("after_unassign", "after_removal"):
                danger = True
                warnings.append(
                    "Deactivate Users was found ON right after the last unassignment: someone switched it on "
                    "during the run, so users of the last batch may have been deactivated in the target; "
                    "check the SCIM target and `oktasync tasks`"
                )
            else:
                warnings.append(
                    f"Deactivate Users was found ON before unassignment batch {event.get('batch')}; the run "
                    "stopped there and was resumed"
                )
        if restore.get("withheld"):
            warnings.append(
                f"Deactivate Users is left OFF (it was on before the run): {restore['withheld']} app user(s) "
                "were never seen removed, so Okta's unassignment job may still run for them, and with "
                "Deactivate Users on it would deactivate them in the target. Switch it on in the Admin "
                "Console (Applications > the app > Provisioning > To App > Deactivate Users) once the "
                "System Log shows their application.user_membership events, or run `oktasync apply`"
            )
        repush = self._repush_summary()
        if repush["not_repushed"]:
            warnings.append(
                f"{repush['not_repushed']} of {repush['expected']} group-entitled user(s) were NOT re-pushed "
                "(listed in the report): the resync did not reach them; re-run it, or push them from the "
                "Admin Console"
            )
        if not snap.deactivate_users and restore.get("final"):
            warnings.append(
                "Deactivate Users was off before the run but is on now: someone else switched it on; "
                "left as is"
            )
        verify = state.verified or {}
        concurrent: dict[str, list[Any]] = {
            "removed_before_cycle": state.concurrent.get("removed_before_cycle", []),
            "changed_before_cycle": state.concurrent.get("changed_before_cycle", []),
            "added": state.concurrent.get("added", [])
            + [
                a
                for a in verify.get("added_during_run", [])
                if a["group_id"] not in {x["group_id"] for x in state.concurrent.get("added", [])}
            ],
            "deleted_during_run": [{"group_id": gid, "name": self.expected[gid].name} for gid in deleted],
            "changed_not_cycled": verify.get("changed_not_cycled", []),
            "repaired": verify.get("repaired", []),
        }
        for key, label in (
            ("removed_before_cycle", "group(s) were removed by someone else before the cycle: not re-added"),
            (
                "changed_before_cycle",
                "group(s) had priority/profile changed by someone else before the cycle: new values kept",
            ),
            ("added", "group(s) were assigned by someone else during the run: left as they are"),
            ("deleted_during_run", "group(s) were deleted in Okta during the run: nothing to reassign"),
        ):
            if concurrent[key]:
                warnings.append(f"{len(concurrent[key])} {label}")
        notes = [
            f"{snap.app_users.get('USER', 0)} directly assigned user(s) are not touched by a group resync",
            "push results arrive asynchronously: run `oktasync tasks CONFIG` to list and retry failed pushes",
        ]
        if state.begin.get("groups_filter", "all") != "all":
            notes.append(
                "resync.groups restricts the cycle: users who are also in groups that were not cycled stayed "
                "entitled throughout and were not re-pushed"
            )
        cycled = tuple(gid for gid in self.expected if gid not in deleted)
        result = ResyncResult(
            run_id=state.run_id or "",
            tenant=self.config.tenant,
            app_id=self.app.id,
            app_label=self.app.label,
            kind=str(self.kind),
            resumed=resumed,
            groups_assigned_before=len(snap.assignments),
            groups_cycled=cycled,
            groups_not_restored=tuple(deleted),
            app_users_before=snap.app_users,
            app_users_after=after,
            sync_states_after=sync_states,
            deactivate_users={
                "recorded": snap.deactivate_users,
                "off_channel": off.get("channel"),
                "restored_channel": restore.get("channel"),
                "final": bool(restore.get("final")),
                "withheld": bool(restore.get("withheld")),
            },
            repush=repush,
            not_repushed=tuple(self._return_record().get("not_repushed") or ()),
            concurrent_changes=concurrent,
            warnings=tuple(warnings),
            danger=danger,
            api_calls=0,
            duration_seconds=0.0,
            missing_named_groups=snap.missing_named_groups,
            notes=tuple(notes),
        )
        self.journal.append("finish", outcome="completed", report=result.to_dict())
        crashpoint("finish")
        path = self.journal.archive("completed")
        return _with(result, journal=str(path))
