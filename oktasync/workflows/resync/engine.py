"""The safe group resync (docs/resync.md): a journaled, locked, resumable state machine.

Steps, each journaled before and after (``journal.py``; the step names are ``steps.Step``)::

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

This module runs the steps in order and resumes them; each step lives in its own module: ``snapshot``
(step 1 and the guards before it), ``cycle`` (steps 2 and 3), ``roster`` and ``jobs`` (who the cycle must
remove and re-create, and the waits for Okta's jobs), ``verify`` (step 4), ``report`` (step 5), over the
shared ``run.ResyncRun`` and the journal (``journal``, ``steps``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from oktasync.config.schema import TenantConfig
from oktasync.errors import (
    Interrupted,
    OktasyncError,
    ResumeRequiredError,
    SafetyError,
)
from oktasync.models import App, AppKind
from oktasync.okta_gateway.base import OktaGateway
from oktasync.progress import NullProgress, Progress
from oktasync.state import StateWriteError, exclusive_lock
from oktasync.workflows.resync import cycle, jobs, verify
from oktasync.workflows.resync.crash import crashpoint
from oktasync.workflows.resync.journal import ResyncJournal, RunState, app_dir
from oktasync.workflows.resync.options import DEFAULT_JOB_TIMEOUT, ResyncOptions
from oktasync.workflows.resync.records import Completed, Outcome, RolledBack, RunBegin
from oktasync.workflows.resync.report import finish
from oktasync.workflows.resync.result import ResyncPlan, ResyncResult
from oktasync.workflows.resync.roster import take_roster
from oktasync.workflows.resync.run import ResyncRun, RollBack
from oktasync.workflows.resync.snapshot import (
    AppUserListing,
    limit_error,
    plan_of,
    refuse_lost_journal,
    snapshot_and_listing,
    take_snapshot,
)
from oktasync.workflows.resync.steps import Step
from oktasync.workflows.resync.switch import ChannelSwitch, DeactivateUsersSwitch, default_switch, probe_kind

# ``ResyncOptions`` and the default job timeout are importable from here too (the playbooks and the CLI).
__all__ = ["DEFAULT_JOB_TIMEOUT", "ResyncOptions", "execute", "plan_resync", "roll_back", "run_resync"]


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
    kind = kind or await probe_kind(gateway, app)
    switch = switch or ChannelSwitch(gateway, app, kind)
    journal = ResyncJournal(app_dir(config, app, state_dir))
    unfinished = None
    if journal.exists():
        state = journal.state()
        if state.finished is None:
            unfinished = state.run_id or "unknown"
    snapshot = await take_snapshot(gateway, app, switch, config.resync.groups)
    limit = config.resync.max_affected_users if max_affected_users is None else max_affected_users
    return plan_of(config, app, kind, snapshot, limit, unfinished)


async def run_resync(
    config: TenantConfig,
    gateway: OktaGateway,
    app: App,
    *,
    state_dir: Path,
    options: ResyncOptions | None = None,
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
    options = options or ResyncOptions()
    started = time.monotonic()
    calls_at_start = gateway.request_count()
    opening = _Opening(
        config,
        gateway,
        app,
        state_dir,
        options,
        progress or NullProgress(),
        ResyncJournal(app_dir(config, app, state_dir)),
    )
    with exclusive_lock(opening.journal.lock_path, _lock_holder(app), reentrant=True):
        state, completed = opening.unfinished_state()
        if completed is not None:
            return completed
        if options.resume:
            started_run = await opening.resume(state, kind, switch)
        else:
            started_run = await opening.begin(state, kind, switch, confirm)
        run = opening.run(started_run, stop_requested)
        try:
            result = await execute(run, resumed=options.resume)
        except OktasyncError as error:
            _journal_stop(opening, error, gateway.request_count() - calls_at_start)
            raise
    calls = gateway.request_count() - calls_at_start
    return replace(result, api_calls=calls, duration_seconds=time.monotonic() - started)


def _lock_holder(app: App) -> str:
    return f"a write to {app.label} ({app.id}: resync, apply, tasks --retry or a playbook)"


@dataclass(frozen=True)
class _Started:
    """How a run goes on once its journal holds a snapshot."""

    kind: AppKind
    switch: DeactivateUsersSwitch
    listing: AppUserListing | None  # the snapshot's app-user listing, when this process took it


@dataclass(frozen=True)
class _Opening:
    """What ``run_resync`` was given, for the steps that open a run: a new one, or a resumed one."""

    config: TenantConfig
    gateway: OktaGateway
    app: App
    state_dir: Path
    options: ResyncOptions
    progress: Progress
    journal: ResyncJournal

    @property
    def resume_command(self) -> str:
        return (
            self.options.resume_command or f"oktasync resync CONFIG --resume  (tenant {self.config.tenant})"
        )

    def unfinished_state(self) -> tuple[RunState | None, ResyncResult | None]:
        """The journal's unfinished run, if any. A journal whose report was journaled but that was not
        archived (killed in between) is archived now; resuming it returns that report."""
        journal = self.journal
        state = journal.state() if journal.exists() else None
        if state is None or state.finished is None:
            return state, None
        journal.run_id = state.run_id
        archived = journal.archive(state.finished.outcome)
        if self.options.resume and isinstance(state.finished, Completed):
            return None, ResyncResult.from_report(dict(state.finished.report), str(archived))
        return None, None

    def _switch(self, kind: AppKind, switch: DeactivateUsersSwitch | None) -> DeactivateUsersSwitch:
        return switch or default_switch(self.gateway, self.app, kind, self.options, self.progress)

    async def begin(
        self,
        state: RunState | None,
        kind: AppKind | None,
        switch: DeactivateUsersSwitch | None,
        confirm: Callable[[ResyncPlan], bool] | None,
    ) -> _Started:
        """A new run: refuse while another is unfinished; snapshot, guards, confirmation, then the journal."""
        config, app, journal = self.config, self.app, self.journal
        if state is not None:
            raise ResumeRequiredError(
                f"an unfinished resync of {app.label} exists (run {state.run_id}); "
                "a new one cannot start until it is finished",
                hint=f"finish it with: {self.resume_command}  (journal: {journal.path})",
            )
        kind = kind or await probe_kind(self.gateway, app)
        switch = self._switch(kind, switch)
        snapshot, listing = await snapshot_and_listing(self.gateway, app, switch, config.resync.groups)
        refuse_lost_journal(journal, snapshot, app)
        from oktasync.workflows.app_guard import check_okta_activity

        await check_okta_activity(
            self.gateway,
            app,
            deactivate_users=snapshot.deactivate_users,
            state_dir=self.state_dir,
            config=config,
        )
        wanted = self.options.max_affected_users
        limit = config.resync.max_affected_users if wanted is None else wanted
        plan = plan_of(config, app, kind, snapshot, limit, None)
        if plan.exceeds_limit:
            raise limit_error(plan)
        if confirm is not None and not confirm(plan):
            raise SafetyError("resync not confirmed; nothing changed")
        groups = config.resync.groups
        journal.start(
            RunBegin(
                tenant=config.tenant,
                app_id=app.id,
                app_label=app.label,
                app_name=app.name,
                kind=kind,
                groups_filter="all" if groups == "all" else tuple(groups),
                max_affected_users=limit,
            )
        )
        journal.append("snapshot", snapshot=snapshot.to_dict())
        crashpoint("snapshot")
        return _Started(kind, switch, listing)

    async def resume(
        self, state: RunState | None, kind: AppKind | None, switch: DeactivateUsersSwitch | None
    ) -> _Started:
        """``--resume``: carry on the journal's run (refused when there is none)."""
        gateway, app, journal = self.gateway, self.app, self.journal
        if state is None:
            switch = self._switch(kind or await probe_kind(gateway, app), switch)
            refuse_lost_journal(journal, await take_snapshot(gateway, app, switch, "all"), app)
            raise SafetyError(
                f"there is no unfinished resync of {app.label} to resume",
                hint="start a new one without --resume",
            )
        journal.run_id = state.run_id
        journal.append("resume")
        begin = state.begin
        kind = begin.kind if begin is not None else (kind or await probe_kind(gateway, app))
        switch = self._switch(kind, switch)
        if state.snapshot is None:
            # Killed between the begin and snapshot records: nothing changed yet, so snapshot now.
            groups = begin.groups if begin is not None else self.config.resync.groups
            snapshot = await take_snapshot(gateway, app, switch, groups)
            journal.append("snapshot", snapshot=snapshot.to_dict())
        return _Started(kind, switch, None)

    def run(self, started: _Started, stop_requested: Callable[[], bool]) -> ResyncRun:
        return ResyncRun(
            config=self.config,
            gateway=self.gateway,
            app=self.app,
            kind=started.kind,
            journal=self.journal,
            switch=started.switch,
            options=self.options,
            stop_requested=stop_requested,
            progress=self.progress,
            resume_command=self.resume_command,
            snapshot_listing=started.listing,
        )


def _journal_stop(opening: _Opening, error: OktasyncError, calls: int) -> None:
    """A run stopped by ``error``: journal the calls it made and tell how to finish it."""
    journal = opening.journal
    if not journal.exists():
        return
    with contextlib.suppress(StateWriteError):  # a full disk must not hide the first error
        journal.append("calls", count=calls)
    if isinstance(error, Interrupted):
        return
    state = journal.state()
    if state.finished is not None:
        return
    out = state.unassigned_now()
    extra = f"the journal is kept ({journal.path}); finish with: {opening.resume_command}"
    if out:
        extra = f"{len(out)} group(s) are unassigned right now; " + extra
    error.hint = f"{error.hint}; {extra}" if error.hint else extra


# --- the state machine ------------------------------------------------------------------------------------
async def execute(run: ResyncRun, *, resumed: bool) -> ResyncResult:
    if run.state.rolling_back:
        return await roll_back(run)
    try:
        return await _forward(run, resumed=resumed)
    except RollBack:
        return await roll_back(run)


async def _forward(run: ResyncRun, *, resumed: bool) -> ResyncResult:
    if not run.state.unassign_phase_done:
        run.check_stop("before switching Deactivate Users off")
        await cycle.switch_off(run)
        if run.state.expected is None:
            await cycle.refresh(run)
        if run.state.roster is None:
            await take_roster(run)
        if not await cycle.unassign_all(run):
            return await roll_back(run)
    if run.state.removal_wait is None:
        await jobs.await_removal(run)
    await cycle.assign_all(run)
    if run.state.return_wait is None:
        await jobs.await_return(run)
    if run.state.restored is None:
        await verify.verify(run)
        await verify.restore(run)
    return await finish(run, resumed=resumed)


async def roll_back(run: ResyncRun) -> ResyncResult:
    """Ctrl-C during the unassignments: send no further one, reassign every group that was (or may have
    been) unassigned with its recorded priority and profile, verify, restore Deactivate Users, archive
    the journal and stop (``Interrupted``). Journaled first, so a resumed run carries on rolling back."""
    run.rolling_back = True
    if not run.state.rolling_back:
        run.journal.append("rollback")
        run.reload()
    back = run.state.unassigned_now()
    unsettled = await _reassign_unassigned(run, back) if run.state.expected is not None else []
    restored = "Deactivate Users is restored"
    if unsettled:
        # A removal job still pending would deactivate its users once Deactivate Users is on again.
        await verify.withhold_restore(run, len(unsettled))
        restored = (
            f"Deactivate Users is LEFT OFF: {len(unsettled)} app user(s) were not re-created within "
            f"{run.options.job_timeout:g}s; switch it back on (Applications > {run.app.label} > "
            "Provisioning > To App) once the System Log shows Okta's jobs done"
        )
    elif run.state.has_intent(Step.DEACTIVATE_OFF):
        await verify.restore(run)
    run.journal.end(RolledBack(tuple(sorted(back)), tuple(unsettled)))
    path = run.journal.archive(Outcome.ROLLED_BACK)
    raise Interrupted(
        f"resync of {run.app.label} interrupted: no further group was unassigned; the {len(back)} "
        "group(s) already unassigned are reassigned with their recorded priority and profile and "
        f"verified, and {restored}. Nothing to resume; run the resync again to cycle every group "
        f"(journal: {path})"
    )


async def _reassign_unassigned(run: ResyncRun, back: set[str]) -> list[str]:
    """Reassign the groups in ``back``, verify, and wait for Okta's jobs; the app users still missing."""
    todo = [gid for gid in run.expected if gid in back and gid not in run.state.assigned]
    run.progress.start("reassign groups", total=len(todo))
    try:
        await run.bounded(todo, lambda gid: cycle.assign_one(run, gid))
    finally:
        run.progress.finish("reassign groups")
    run.reload()
    await verify.verify(run)
    return await jobs.await_rollback_jobs(run, back)
