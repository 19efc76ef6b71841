"""One writer per Okta app: the guard every command that touches an app goes through (docs/resync.md).

* The app's write lock: one flock per Okta org + app (``<state dir>/apps/<org host>/<app id>/app.lock``),
  whatever the config calls the tenant. ``resync``, ``apply``, ``tasks --retry`` and playbook runs that write
  hold it; a second writer on the same machine and state dir is refused at once (exit 4).
* An unfinished resync of the app (its journal, same directory): writers refuse (exit 4) with the resume
  command; ``plan``, ``doctor`` and read-only playbooks report it.
* A lock covers one machine and one state dir, so before writing, Okta itself is read too: *Deactivate
  Users* off together with group unassignment events for the app in the System Log in the last
  ``ACTIVITY_WINDOW`` (events explained by a run this state dir finished are ignored) look like a resync in
  flight elsewhere; writers refuse (exit 4) unless the person overrides (``--ignore-okta-activity``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from oktasync.errors import OktasyncError, ResumeRequiredError, SafetyError
from oktasync.state import Journal, StateFileError, exclusive_lock
from oktasync.timestamps import okta_time, parse_time
from oktasync.workflows.resync.journal import LOCK_NAME, ResyncJournal, app_dir

if TYPE_CHECKING:
    from oktasync.config.schema import TenantConfig
    from oktasync.models import App, AppKind
    from oktasync.okta_gateway.base import OktaGateway
    from oktasync.workflows.plan import TenantPlan

ACTIVITY_WINDOW = timedelta(minutes=30)
# Okta's event types for a group's app assignment removed, and a user's app membership removed (which an
# unassignment causes for every member not entitled otherwise); docs/okta-behaviour.md "One writer per app".
UNASSIGN_EVENTS = ("group.application_assignment.remove", "application.user_membership.remove")
OVERRIDE_FLAG = "--ignore-okta-activity"

_ignore_okta_activity: ContextVar[bool] = ContextVar("ignore_okta_activity", default=False)


@contextlib.contextmanager
def ignoring_okta_activity(ignore: bool) -> Iterator[None]:
    """``--ignore-okta-activity``: the person says no resync runs elsewhere (set around ``asyncio.run``)."""
    token = _ignore_okta_activity.set(ignore)
    try:
        yield
    finally:
        _ignore_okta_activity.reset(token)


@dataclass(frozen=True)
class UnfinishedResync:
    journal: Path
    run_id: str | None
    unassigned: int  # groups unassigned (or maybe unassigned) right now
    problem: str | None = None  # the journal cannot be trusted (corrupt, empty, not chained)

    def describe(self, app_label: str) -> str:
        if self.problem:
            return f"the resync journal of {app_label} cannot be trusted: {self.problem}"
        out = f"; {self.unassigned} group(s) are unassigned right now" if self.unassigned else ""
        return f"an unfinished resync of {app_label} exists (run {self.run_id}){out}"

    def fix(self, config_path: str | None) -> str:
        if self.problem:
            return f"inspect {self.journal} (see the message) before anything writes to the app"
        return (
            f"finish it first: oktasync resync {config_path or 'CONFIG'} --resume  (journal: {self.journal})"
        )


def unfinished_resync(state_dir: Path, config: TenantConfig, app: App) -> UnfinishedResync | None:
    """The app's unfinished (or untrustworthy) resync journal, if any. Reads only."""
    journal = ResyncJournal(app_dir(config, app, state_dir))
    if not journal.exists():
        return None
    try:
        state = journal.state()
    except StateFileError as error:
        return UnfinishedResync(journal.path, None, 0, problem=error.message)
    if state.finished is not None:
        return None  # finished; archived by the next resync
    return UnfinishedResync(journal.path, state.run_id, len(state.unassigned_now()))


def unfinished_warning(
    state_dir: Path, config: TenantConfig, app: App | None, config_path: str | None = None
) -> str | None:
    """What ``plan``, ``doctor`` and read-only playbooks say about an unfinished resync (None: there is none).
    A state file that cannot be read is reported the same way, never raised: these commands only read."""
    if app is None:
        return None
    try:
        found = unfinished_resync(state_dir, config, app)
    except StateFileError as error:
        return error.message
    if found is None:
        return None
    return f"{found.describe(app.label)}: writes to the app are refused until then; {found.fix(config_path)}"


def refuse_if_unfinished(
    state_dir: Path, config: TenantConfig, app: App, *, doing: str, config_path: str | None = None
) -> None:
    """Raise ``ResumeRequiredError`` (exit 4) when a resync of the app is unfinished."""
    found = unfinished_resync(state_dir, config, app)
    if found is not None:
        raise ResumeRequiredError(
            f"{doing} refused: {found.describe(app.label)}", hint=found.fix(config_path)
        )


def app_write_lock(
    state_dir: Path, config: TenantConfig, app: App
) -> contextlib.AbstractContextManager[None]:
    """The app's write lock (re-entrant within one process: a playbook's resync step shares it)."""
    path = app_dir(config, app, state_dir) / LOCK_NAME
    what = f"a write to {app.label} ({app.id}: resync, apply, tasks --retry or a playbook)"
    return exclusive_lock(path, what, reentrant=True)


def _parse(stamp: str) -> datetime | None:
    try:
        return parse_time(stamp)
    except ValueError:
        return None


def _last_local_finish(state_dir: Path | None, config: TenantConfig | None, app: App) -> datetime | None:
    """When a resync this state dir ran last ended: the events before it are explained by that run."""
    if state_dir is None or config is None:
        return None
    archives = ResyncJournal(app_dir(config, app, state_dir)).archives()
    for path in reversed(archives):
        with contextlib.suppress(StateFileError):
            records = Journal(path).records()
            if records and isinstance(records[-1].get("at"), str):
                return _parse(records[-1]["at"])
    return None


async def check_okta_activity(
    gateway: OktaGateway,
    app: App,
    *,
    deactivate_users: bool | None = None,
    kind: AppKind | None = None,
    state_dir: Path | None = None,
    config: TenantConfig | None = None,
    now: datetime | None = None,
) -> None:
    """Refuse (``SafetyError``, exit 4) when Okta shows signs of a resync in flight elsewhere: *Deactivate
    Users* off and group unassignment events for the app in the System Log within ``ACTIVITY_WINDOW``.
    ``deactivate_users`` is read when not given. Skipped under ``--ignore-okta-activity``."""
    if _ignore_okta_activity.get():
        return
    if deactivate_users is None:
        from oktasync.workflows.channels import probe_kind, read_deactivate_users

        try:
            deactivate_users, _ = await read_deactivate_users(
                gateway, app, kind or await probe_kind(gateway, app)
            )
        except OktasyncError:
            return  # unreadable (not applicable to this app): no resync can run on it either
    if deactivate_users:
        return
    now = now or datetime.now(UTC)
    since = now - ACTIVITY_WINDOW
    explained = _last_local_finish(state_dir, config, app)
    recent = []
    for event_type in UNASSIGN_EVENTS:
        expression = f'target.id eq "{app.id}" and eventType eq "{event_type}"'
        stamp = okta_time(since)
        for event in await gateway.list_log_events(since=stamp, filter=expression):
            published = _parse(event.published)
            if explained is not None and published is not None and published <= explained:
                continue
            recent.append(event)
    if not recent:
        return
    last = max(e.published for e in recent)
    raise SafetyError(
        f"{app.label} looks like a resync is running elsewhere: Deactivate Users is off and the System Log "
        f"shows {len(recent)} unassignment event(s) for the app in the last "
        f"{int(ACTIVITY_WINDOW.total_seconds() // 60)} minutes (latest {last}); writing now could deactivate "
        "users in the target",
        hint="wait for that run to finish (pipelines must run one job per app at a time, docs/gitops.md); if "
        f"you know no resync is running, re-run with {OVERRIDE_FLAG}",
    )


async def check_okta_activity_of_plan(
    gateway: OktaGateway, app: App, plan: TenantPlan, *, state_dir: Path, config: TenantConfig
) -> None:
    """``check_okta_activity`` with *Deactivate Users* as the plan read it. When the plan could not read it
    (not applicable to the app), no resync can run on the app either: nothing to check."""
    from oktasync.workflows.settings import DEACTIVATE_USERS

    actual = plan.actual.values.get(DEACTIVATE_USERS.key) if plan.actual is not None else None
    if actual is None or not actual.known or not isinstance(actual.value, bool):
        return
    await check_okta_activity(gateway, app, deactivate_users=actual.value, state_dir=state_dir, config=config)


__all__ = [
    "ACTIVITY_WINDOW",
    "OVERRIDE_FLAG",
    "UNASSIGN_EVENTS",
    "UnfinishedResync",
    "app_write_lock",
    "check_okta_activity",
    "check_okta_activity_of_plan",
    "ignoring_okta_activity",
    "refuse_if_unfinished",
    "unfinished_resync",
    "unfinished_warning",
]
