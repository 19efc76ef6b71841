"""`apply`: make a tenant's plan true through each setting's channel, and prove it by reading.

Steps, per tenant (``apply_tenant``), from the plan the operator saw:

1. **api** (API-capable apps): connector changes (base URL, auth mode, token) → ``set_connection`` with the
   token only when it must change, then ``activate_connection``; To App changes → one partial
   ``update_to_app_settings``. Connector first, as in the vendor runbook.
2. **admin** (custom SCIM app with an admin session): one post of the provisioning form with every changed
   setting the page has a field for (the token only when it must change). Okta does not support this
   interface. A custom app whose General tab Provisioning is off has no provisioning form: nothing is
   written until a person switches it on (its console steps, exit 5; ``wait`` polls ``features[]`` for it).
3. **Re-read** everything through the same channels. Any written setting whose read-back differs from the
   desired value fails the tenant (``VerificationError``, exit 1). A token write is proven by "a token is
   set" where a read says so, and remembered by its salted fingerprint (``token_fingerprint``); a token the
   form took but nothing can read back stays for a person to check (``--confirm-manual`` in a later run).
4. **manual**: the settings only a person can change. Their console steps are returned (exit 5) unless
   ``wait`` (poll the reads until they show the change; exit 4 on timeout) and/or ``confirm_manual``
   (record the operator's confirmation of settings that nothing can read, with the date and the values,
   never a secret). Waiting can prove only readable settings; a read beats a confirmation, so
   ``confirm_manual`` never overrides a readable setting that still differs.
5. Re-plan: the result carries the settings after apply, so a second ``apply`` has nothing to do.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oktasync.config.schema import TenantConfig
from oktasync.errors import (
    EXIT_FAILED,
    EXIT_MANUAL,
    EXIT_OK,
    EXIT_REFUSED,
    OktasyncError,
    SafetyError,
    VerificationError,
)
from oktasync.models import App, AppKind, Channel
from oktasync.okta_gateway.base import OktaGateway
from oktasync.progress import Progress
from oktasync.state import StateDir, atomic_write_json
from oktasync.timestamps import utc_seconds
from oktasync.workflows import token_fingerprint
from oktasync.workflows.channels import ActualSettings, read_actual
from oktasync.workflows.manual_steps import steps_for
from oktasync.workflows.plan import (
    CONFIRMATIONS_FILE,
    DEFAULT_TENANT_CONCURRENCY,
    FORMAT_VERSION,
    PlanResult,
    SettingPlan,
    Status,
    TenantPlan,
    desired_values,
    failed_plan,
    gather_bounded,
    load_confirmations,
    manual_changes,
    plan_tenant,
    worst_exit_code,
)
from oktasync.workflows.session import TenantSession
from oktasync.workflows.settings import (
    AUTH_MODE,
    BASE_URL,
    BEARER_TOKEN,
    PROVISIONING,
    SETTINGS_BY_KEY,
    TO_APP,
)

ShowSteps = Callable[[str, list[str]], Awaitable[None] | None]
# Admin form spelling of the config's auth modes (the form's `scim_auth_mode`).
_ADMIN_AUTH_MODE = {"http_header": "header"}


@dataclass(frozen=True)
class ApplyOptions:
    confirm_manual: bool = False
    wait: bool = False
    rotate_token: bool = False
    poll_interval: float = 5.0
    timeout: float = 900.0
    token_source: str | None = None
    show_steps: ShowSteps | None = None  # called once with (tenant, steps) before waiting for a person
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class AppliedAction:
    key: str
    channel: str
    action: str  # written | sent | verified | waited | confirmed | pending
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "channel": self.channel,
            "action": self.action,
            "detail": self.detail or None,
        }


@dataclass(frozen=True)
class TenantApplyResult:
    tenant: str
    before: TenantPlan
    after: TenantPlan | None = None
    actions: tuple[AppliedAction, ...] = ()
    manual_steps: tuple[str, ...] = ()
    error: str | None = None
    exit_code: int = EXIT_OK

    @property
    def writes(self) -> int:
        return sum(1 for a in self.actions if a.action == "written")

    def to_dict(self) -> dict[str, Any]:
        outcome = {
            EXIT_OK: "applied",
            EXIT_MANUAL: "manual_action_required",
            EXIT_REFUSED: "refused",
        }.get(self.exit_code, "failed")
        return {
            "tenant": self.tenant,
            "config": self.before.source,
            "outcome": outcome,
            "exit_code": self.exit_code,
            "error": self.error,
            "actions": [a.to_dict() for a in self.actions],
            "manual_steps": list(self.manual_steps),
            "before": self.before.to_dict(),
            "after": self.after.to_dict() if self.after else None,
        }


@dataclass(frozen=True)
class ApplyResult:
    tenants: tuple[TenantApplyResult, ...]

    @property
    def exit_code(self) -> int:
        return worst_exit_code([t.exit_code for t in self.tenants])

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "command": "apply",
            "exit_code": self.exit_code,
            "summary": {
                "tenants": len(self.tenants),
                "writes": sum(t.writes for t in self.tenants),
                "manual_action_required": sum(1 for t in self.tenants if t.exit_code == EXIT_MANUAL),
                "failed": sum(1 for t in self.tenants if t.exit_code not in (EXIT_OK, EXIT_MANUAL)),
            },
            "tenants": [t.to_dict() for t in self.tenants],
        }


@dataclass
class _ApplyRun:
    """Mutable bookkeeping of one tenant's apply."""

    actions: list[AppliedAction] = field(default_factory=list)

    def add(self, key: str, channel: Channel | str, action: str, detail: str = "") -> None:
        self.actions.append(AppliedAction(key, str(channel), action, detail))


async def _write_api(
    config: TenantConfig, gateway: OktaGateway, app: App, plan: TenantPlan, run: _ApplyRun
) -> list[str]:
    desired = desired_values(config)
    todo = [s for s in plan.changes if s.channel is Channel.API]
    keys = {s.key for s in todo}
    written: list[str] = []
    connector = keys & {BASE_URL.key, AUTH_MODE.key, BEARER_TOKEN.key}
    if connector:
        token = desired[BEARER_TOKEN.key].reveal() if BEARER_TOKEN.key in keys else None
        # POST connections/default (TOKEN scheme) then activate: Okta returns DISABLED until activated
        # (docs/okta-behaviour.md, Apps, connections and features).
        await gateway.set_connection(app.id, desired[BASE_URL.key], token)
        await gateway.activate_connection(app.id)
        for key in sorted(connector):
            run.add(key, Channel.API, "written", "connections/default + lifecycle/activate")
        written += sorted(connector)
    to_app = {s.key: desired[s.key] for s in TO_APP if s.key in keys}
    if to_app:
        await gateway.update_to_app_settings(
            app.id, **{key.split(".", 1)[1]: value for key, value in to_app.items()}
        )
        for key in to_app:
            run.add(key, Channel.API, "written", "features/USER_PROVISIONING (partial)")
        written += list(to_app)
    return written


async def _write_admin(
    config: TenantConfig, gateway: OktaGateway, app: App, plan: TenantPlan, run: _ApplyRun
) -> list[str]:
    desired = desired_values(config)
    todo = [s for s in plan.changes if s.channel is Channel.ADMIN]
    if not todo:
        return []
    changes: dict[str, Any] = {}
    token: str | None = None
    for item in todo:
        setting = SETTINGS_BY_KEY[item.key]
        if setting is BEARER_TOKEN:
            token = desired[item.key].reveal()
        elif setting is AUTH_MODE:
            changes[setting.admin_field] = _ADMIN_AUTH_MODE.get(desired[item.key], desired[item.key])
        else:
            changes[setting.admin_field] = desired[item.key]
    await gateway.write_admin_form(app, changes, bearer_token=token)
    for item in todo:
        run.add(item.key, Channel.ADMIN, "written", "Admin Console provisioning form (unsupported by Okta)")
    return [item.key for item in todo]


def _verify(after: TenantPlan, written: list[str], run: _ApplyRun) -> list[str]:
    """Keys whose read-back disagrees with the desired value."""
    bad: list[str] = []
    for key in written:
        setting = after.setting(key)
        if key == BEARER_TOKEN.key and setting.read is None:
            run.add(key, setting.channel or "", "sent", "nothing can read it back: a person checks it")
            continue
        if key == BEARER_TOKEN.key:
            ok = setting.actual not in (None, "not set")  # "a token is set" is all Okta tells
        else:
            ok = setting.status is Status.IN_SYNC
        if ok:
            run.add(key, setting.channel or "", "verified", setting.read or "")
        else:
            bad.append(f"{setting.label}: wrote {setting.desired!r}, read back {setting.actual!r}")
    return bad


def _record_confirmations(
    app_dir: Path, settings: list[SettingPlan], config: TenantConfig, run: _ApplyRun
) -> None:
    """Remember what the operator confirmed (date + values, never a secret)."""
    if not settings:
        return
    desired = desired_values(config)
    doc = load_confirmations(app_dir)
    moment = datetime.now(UTC)
    when = utc_seconds(moment)
    for item in settings:
        if item.key == BEARER_TOKEN.key:
            record = token_fingerprint.make_record(desired[item.key].reveal(), "manual", now=moment)
            token_fingerprint.save(app_dir, record)
            doc[item.key] = {
                "confirmed_at": when,
                "value": "(sensitive)",
                "fingerprint_file": token_fingerprint.FILE_NAME,
                "record_salt": record.salt,  # which write this confirms: a later write needs a new one
            }
        else:
            doc[item.key] = {"confirmed_at": when, "value": desired[item.key]}
        run.add(item.key, Channel.MANUAL, "confirmed", f"recorded in {CONFIRMATIONS_FILE}")
    atomic_write_json(app_dir / CONFIRMATIONS_FILE, {"settings": doc})


async def _wait_for_reads(
    config: TenantConfig,
    gateway: OktaGateway,
    app: App,
    kind: AppKind,
    keys: list[str],
    options: ApplyOptions,
    progress: Progress,
) -> ActualSettings:
    """Poll the reads until every key shows its desired value; return those reads. SafetyError on timeout."""
    import asyncio

    desired = desired_values(config)
    deadline = options.clock() + options.timeout
    progress.note(f"{config.tenant}: waiting for the console changes to show ({', '.join(keys)})")
    while True:
        actual = await read_actual(gateway, app, kind)
        missing = [k for k in keys if not (actual[k].known and actual[k].value == desired[k])]
        if not missing:
            return actual
        if options.clock() >= deadline:
            labels = ", ".join(SETTINGS_BY_KEY[k].label for k in missing)
            raise SafetyError(
                f"{config.tenant}: still not changed after waiting {options.timeout:g}s: {labels}",
                hint="do the console steps, then run apply again",
            )
        await asyncio.sleep(options.poll_interval)


@dataclass
class _TenantApply:
    """One tenant's apply in progress: what it works on, the latest plan and the actions so far."""

    session: TenantSession
    gateway: OktaGateway
    app: App
    options: ApplyOptions
    kind: AppKind
    before: TenantPlan  # the plan being applied (re-made once a person switched Provisioning on)
    last: TenantPlan  # the latest plan: a re-plan without reading reuses its reads
    run: _ApplyRun = field(default_factory=_ApplyRun)

    @property
    def config(self) -> TenantConfig:
        return self.session.config

    async def replan(self, reread: bool = True) -> TenantPlan:
        """The plan now: from fresh reads, or (``reread=False``) from the last reads and the state dir."""
        fresh = await plan_tenant(
            self.session,
            token_source=self.options.token_source,
            kind=self.kind,
            actual=None if reread else self.last.actual,
        )
        self.last = replace(fresh, source=self.before.source)
        return self.last

    async def wait_for(self, keys: list[str]) -> ActualSettings:
        return await _wait_for_reads(
            self.config, self.gateway, self.app, self.kind, keys, self.options, self.session.progress
        )

    def result(self, after: TenantPlan | None, **outcome: Any) -> TenantApplyResult:
        return TenantApplyResult(self.config.tenant, self.before, after, tuple(self.run.actions), **outcome)


async def apply_tenant(
    session: TenantSession, plan: TenantPlan, *, options: ApplyOptions | None = None
) -> TenantApplyResult:
    """Apply the session tenant's ``plan`` (see the module docstring). Never raises ``OktasyncError``: the
    result carries the error and its exit code, so that other tenants' results survive."""
    if plan.error or plan.kind is None:
        return TenantApplyResult(session.config.tenant, plan, error=plan.error, exit_code=plan.exit_code)
    try:
        tenant = _TenantApply(
            session,
            await session.gateway(),
            await session.app(),
            options or ApplyOptions(),
            plan.kind,
            before=plan,
            last=plan,
        )
    except OktasyncError as error:
        return TenantApplyResult(session.config.tenant, plan, error=_message(error), exit_code=_code(error))
    try:
        return await _apply_steps(tenant)
    except OktasyncError as error:
        return tenant.result(None, error=_message(error), exit_code=_code(error))


def _message(error: OktasyncError) -> str:
    return error.message + (f" (hint: {error.hint})" if error.hint else "")


def _code(error: OktasyncError) -> int:
    return error.exit_code if error.exit_code != EXIT_OK else EXIT_FAILED


async def _apply_steps(tenant: _TenantApply) -> TenantApplyResult:
    """Provisioning first, then the writes and their read-back, then what a person must do."""
    actual = tenant.before.actual
    if actual is not None and actual.provisioning_off:
        if not tenant.options.wait:
            return _provisioning_first(tenant.config, tenant.app, tenant.before, tenant.run, tenant.options)
        await _wait_for_provisioning(tenant)
    written = await _write_api(tenant.config, tenant.gateway, tenant.app, tenant.before, tenant.run)
    written += await _write_admin(tenant.config, tenant.gateway, tenant.app, tenant.before, tenant.run)
    after = await _read_back(tenant, written) if written else tenant.before
    after = await _settle_manual(tenant, after, written)
    return _outcome(tenant, after)


async def _wait_for_provisioning(tenant: _TenantApply) -> None:
    """Show the steps, poll until General > Provisioning reads on, and plan again from there."""
    await _show(tenant.options, tenant.config.tenant, list(tenant.before.manual_steps))
    await tenant.wait_for([PROVISIONING.key])
    tenant.run.add(PROVISIONING.key, Channel.MANUAL, "waited", "the read now shows the change")
    tenant.before = await tenant.replan()


async def _read_back(tenant: _TenantApply, written: list[str]) -> TenantPlan:
    """Re-read everything; every written setting must read back as desired (VerificationError if not).
    A written token is remembered by its fingerprint, after which it plans "in sync"."""
    after = await tenant.replan()
    bad = _verify(after, written, tenant.run)
    if bad:
        raise VerificationError(
            f"{tenant.config.tenant}: Okta accepted the writes, but reading back disagrees: "
            + "; ".join(bad),
            hint="check the app's Provisioning tab; nothing else was changed",
        )
    if BEARER_TOKEN.key in written:
        channel = next(a.channel for a in tenant.run.actions if a.key == BEARER_TOKEN.key)
        token = desired_values(tenant.config)[BEARER_TOKEN.key].reveal()
        token_fingerprint.save(await tenant.session.app_dir(), token_fingerprint.make_record(token, channel))
        after = await tenant.replan(reread=False)  # the token now reads "in sync" through its fingerprint
    return after


async def _settle_manual(tenant: _TenantApply, after: TenantPlan, written: list[str]) -> TenantPlan:
    """The settings a person must change: wait for the readable ones (``wait``), record the unreadable
    ones (``confirm_manual``), and plan again from those reads and records."""
    people = [s for s in after.settings if s.needs_person]
    if not people:
        return after
    readable = [s.key for s in people if s.status is Status.CHANGE]
    if tenant.options.wait and readable:
        await _show(tenant.options, tenant.config.tenant, list(after.manual_steps))
        tenant.last = replace(tenant.last, actual=await tenant.wait_for(readable))
        for key in readable:
            tenant.run.add(key, Channel.MANUAL, "waited", "the read now shows the change")
    if tenant.options.confirm_manual:
        unreadable = [s for s in people if s.status is Status.UNVERIFIABLE]
        # A setting written in this very run (a token the form took) was not checked by anyone yet.
        _record_confirmations(
            await tenant.session.app_dir(),
            [s for s in unreadable if s.key not in written],
            tenant.config,
            tenant.run,
        )
    return await tenant.replan(reread=False)  # from the last reads (the wait's) and the new records


def _outcome(tenant: _TenantApply, after: TenantPlan) -> TenantApplyResult:
    """Done, or exit 5 with the console steps for what a person still has to do."""
    pending = [s for s in after.settings if s.needs_person]
    for item in pending:
        detail = (
            "nothing can read it: once done, confirm it with --confirm-manual"
            if item.status is Status.UNVERIFIABLE
            else ""
        )
        tenant.run.add(item.key, Channel.MANUAL, "pending", detail)
    if pending:
        changes = manual_changes(pending, tenant.config)
        steps = steps_for(tenant.app, changes, token_source=tenant.options.token_source)
        return tenant.result(
            after,
            manual_steps=tuple(steps),
            error=f"{len(pending)} setting(s) need a person in the Admin Console",
            exit_code=EXIT_MANUAL,
        )
    if after.has_drift:
        raise VerificationError(
            f"{tenant.config.tenant}: still differs after apply: " + ", ".join(s.label for s in after.changes)
        )
    return tenant.result(after)


async def _show(options: ApplyOptions, tenant: str, steps: list[str]) -> None:
    if options.show_steps is not None:
        shown = options.show_steps(tenant, steps)
        if inspect.isawaitable(shown):
            await shown


def _provisioning_first(
    config: TenantConfig, app: App, plan: TenantPlan, run: _ApplyRun, options: ApplyOptions
) -> TenantApplyResult:
    """Provisioning (General tab) is off: nothing else can land. Exit 5 with the steps, nothing written."""
    for item in plan.settings:
        if item.needs_person:
            run.add(item.key, Channel.MANUAL, "pending")
        elif item.status is Status.CHANGE:
            run.add(item.key, item.channel or "", "pending", "waits for General > Provisioning: SCIM")
    changes = manual_changes(plan.settings, config)
    return TenantApplyResult(
        config.tenant,
        plan,
        plan,
        tuple(run.actions),
        tuple(steps_for(app, changes, token_source=options.token_source)),
        error="provisioning is not switched on (General tab): a person must do it before anything else",
        exit_code=EXIT_MANUAL,
    )


# approve(plan, needed): shown every plan; ``needed`` says whether applying it writes anything.
Approve = Callable[[PlanResult, bool], Awaitable[bool]]


def needs_approval(plan: TenantPlan, options: ApplyOptions) -> bool:
    """Would applying this plan write anything (to Okta, or a confirmation to the state dir)?"""
    writes = any(s.channel in (Channel.API, Channel.ADMIN) for s in plan.changes)
    confirms = options.confirm_manual and any(s.status is Status.UNVERIFIABLE for s in plan.settings)
    return writes or confirms


async def apply_configs(
    configs: Sequence[tuple[TenantConfig, str | None]],
    *,
    state: StateDir,
    options: ApplyOptions,
    approve: Approve,
    token_sources: Sequence[str | None] | None = None,
    progress: Progress | None = None,
    concurrency: int = DEFAULT_TENANT_CONCURRENCY,
    check: Callable[[PlanResult], bool] | None = None,
) -> tuple[PlanResult, ApplyResult | None]:
    """Plan every tenant, ask ``approve(plan, needed)`` once, then apply every tenant; all concurrently
    (bounded). A "no" matters only when ``needed`` (the plan would write something). ``check(plan)``, when
    given, runs first on the fresh plan (under the apps' write locks): False refuses, whatever is needed
    (a saved plan that no longer matches, see ``saved_plan``).

    Each tenant's session stays open from plan to apply, so that each tenant is applied through the same
    gateway under the same write lock. Returns ``(plan, None)`` when the plan is refused. Tenants whose
    plan failed keep their error.
    """
    sources = list(token_sources) if token_sources is not None else [None] * len(configs)
    indexes = list(range(len(configs)))
    async with AsyncExitStack() as stack:
        sessions = [
            await stack.enter_async_context(TenantSession(config, state.root, progress=progress))
            for config, _ in configs
        ]

        async def plan_item(index: int) -> TenantPlan:
            return await _plan_to_apply(sessions[index], configs[index][1], sources[index], options)

        plan_result = PlanResult(tuple(await gather_bounded(indexes, plan_item, concurrency=concurrency)))
        if not await _plan_accepted(plan_result, options, approve, check):
            return plan_result, None

        async def apply_item(index: int) -> TenantApplyResult:
            tenant_options = replace(options, token_source=sources[index])
            return await apply_tenant(sessions[index], plan_result.tenants[index], options=tenant_options)

        results = await gather_bounded(indexes, apply_item, concurrency=concurrency)
        return plan_result, ApplyResult(tuple(results))


async def _plan_to_apply(
    session: TenantSession, source: str | None, token_source: str | None, options: ApplyOptions
) -> TenantPlan:
    """The plan apply works from, made under the app's write lock (held until the session closes) and
    refused over an unfinished resync of the app or one Okta shows running elsewhere."""
    from oktasync.workflows.app_guard import check_okta_activity_of_plan

    config = session.config
    try:
        await session.guard_write(doing="apply", config_path=source, check_okta=False)
        fresh = await plan_tenant(session, rotate_token=options.rotate_token, token_source=token_source)
        await check_okta_activity_of_plan(
            await session.gateway(), await session.app(), fresh, state_dir=session.state_dir, config=config
        )
    except OktasyncError as error:
        return failed_plan(config, source, error)
    return replace(fresh, source=source)


async def _plan_accepted(
    plan: PlanResult, options: ApplyOptions, approve: Approve, check: Callable[[PlanResult], bool] | None
) -> bool:
    """``check`` passes (when given), and ``approve`` says yes or applying writes nothing."""
    if check is not None and not check(plan):
        return False
    needed = any(needs_approval(p, options) for p in plan.tenants if not p.error)
    return await approve(plan, needed) or not needed


__all__ = [
    "AppliedAction",
    "ApplyOptions",
    "ApplyResult",
    "TenantApplyResult",
    "apply_configs",
    "apply_tenant",
    "needs_approval",
]
