"""`plan`: desired (the tenant config) vs actual (read through the best channel) for every managed setting.

Steps, per tenant (``plan_tenant``):

1. probe the app's kind (``channels.probe_kind``) and read every setting (``channels.read_actual``);
2. for each setting in ``settings.SETTINGS``, pick its route (write channel + verifying read) and compare:

   * not applicable to this kind of app → ``not_applicable``;
   * readable → ``in_sync`` or ``change``;
   * the Bearer token (write-only) → compared through the salted fingerprint of the last applied token
     (``token_fingerprint``): ``in_sync`` only if Okta says a token is set *and* it is the one we applied;
   * not readable → ``confirmed_manually`` if the operator confirmed exactly this value earlier
     (``apply --confirm-manual``, recorded in the state dir), else ``unverifiable`` with its manual step.

3. ``unverifiable`` and ``confirmed_manually`` never count as drift; ``change`` does.

``plan`` reads only: it never writes to Okta nor to the state dir.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from oktasync.config.schema import TenantConfig
from oktasync.config.secret import MASK
from oktasync.errors import (
    EXIT_CHANGES,
    EXIT_FAILED,
    EXIT_OK,
    OktasyncError,
)
from oktasync.errors import worst_exit_code as worst_exit_code
from oktasync.models import App, AppKind, Channel
from oktasync.progress import Progress
from oktasync.state import StateDir, read_json
from oktasync.workflows import token_fingerprint
from oktasync.workflows.channels import ActualSettings, ActualValue, Route, probe, read_actual, route
from oktasync.workflows.manual_steps import TOKEN_SENT, steps_for
from oktasync.workflows.session import TenantSession
from oktasync.workflows.settings import (
    AUTH_MODE,
    BASE_URL,
    BEARER_TOKEN,
    CREATE_USERS,
    DEACTIVATE_USERS,
    PROVISIONING,
    PUSH_NEW_USERS,
    PUSH_PROFILE_UPDATES,
    SETTINGS,
    UNIQUE_IDENTIFIER,
    UPDATE_USER_ATTRIBUTES,
    Setting,
)

FORMAT_VERSION = 1
CONFIRMATIONS_FILE = "manual-confirmations.json"


class Status(enum.StrEnum):
    IN_SYNC = "in_sync"
    CHANGE = "change"
    UNVERIFIABLE = "unverifiable"
    CONFIRMED_MANUALLY = "confirmed_manually"
    NOT_APPLICABLE = "not_applicable"


def desired_values(config: TenantConfig) -> dict[str, Any]:
    """Setting key → desired value from the config. The token's value is the ``Secret`` itself."""
    scim, to_app = config.scim, config.to_app
    return {
        PROVISIONING.key: True,  # runbook step 4: a managed app has SCIM provisioning switched on
        BASE_URL.key: scim.base_url,
        UNIQUE_IDENTIFIER.key: scim.unique_identifier,
        PUSH_NEW_USERS.key: scim.push_new_users,
        PUSH_PROFILE_UPDATES.key: scim.push_profile_updates,
        AUTH_MODE.key: scim.auth.mode,
        BEARER_TOKEN.key: scim.auth.bearer_token,
        CREATE_USERS.key: to_app.create_users,
        UPDATE_USER_ATTRIBUTES.key: to_app.update_user_attributes,
        DEACTIVATE_USERS.key: to_app.deactivate_users,
    }


@dataclass(frozen=True)
class SettingPlan:
    """One setting of one tenant. ``desired``/``actual`` are display values: secrets are ``(sensitive)``;
    ``actual`` is None when unknown."""

    key: str
    label: str
    desired: Any
    actual: Any
    status: Status
    channel: Channel | None  # the channel that writes it; None = not applicable
    read: str | None  # the read that verifies it; None = nothing can
    reason: str = ""
    confirmed_at: str | None = None
    actual_known: bool = False  # False: ``actual`` is None because nothing read it (not "empty")
    assumed: str = ""  # the behaviour this step relies on that no public source settles, if any

    @property
    def needs_person(self) -> bool:
        """A person must act: a manual change, or an unverifiable setting nobody has confirmed."""
        return self.status is Status.UNVERIFIABLE or (
            self.status is Status.CHANGE and self.channel is Channel.MANUAL
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "desired": self.desired,
            "actual": self.actual,
            "actual_known": self.actual_known,
            "status": self.status.value,
            "channel": self.channel.value if self.channel else None,
            "read": self.read,
            "reason": self.reason or None,
            "confirmed_at": self.confirmed_at,
            "manual": self.needs_person,
            "assumed": self.assumed or None,
        }


@dataclass(frozen=True)
class TenantPlan:
    tenant: str
    org_url: str
    app: App | None = None
    kind: AppKind | None = None
    admin_session: bool = False
    settings: tuple[SettingPlan, ...] = ()
    manual_steps: tuple[str, ...] = ()
    error: str | None = None
    error_exit_code: int = EXIT_FAILED
    source: str | None = None  # config file, filled by the caller
    actual: ActualSettings | None = field(default=None, repr=False, compare=False)  # the reads behind it

    @property
    def changes(self) -> list[SettingPlan]:
        return [s for s in self.settings if s.status is Status.CHANGE]

    @property
    def has_drift(self) -> bool:
        return bool(self.changes)

    @property
    def exit_code(self) -> int:
        """0 clean, 2 verifiable drift (for --detailed-exitcode), or the error's exit code."""
        if self.error:
            return self.error_exit_code
        return EXIT_CHANGES if self.has_drift else EXIT_OK

    def setting(self, key: str) -> SettingPlan:
        return next(s for s in self.settings if s.key == key)

    def to_dict(self) -> dict[str, Any]:
        state = "error" if self.error else "changes" if self.has_drift else "in_sync"
        return {
            "tenant": self.tenant,
            "config": self.source,
            "org_url": self.org_url,
            "app": (
                {"id": self.app.id, "label": self.app.label, "name": self.app.name} if self.app else None
            ),
            "kind": self.kind.value if self.kind else None,
            "admin_session": self.admin_session,
            "status": state,
            "error": self.error,
            "summary": {
                status.value: sum(1 for s in self.settings if s.status is status) for status in Status
            },
            "settings": [s.to_dict() for s in self.settings],
            "manual_steps": list(self.manual_steps),
        }


@dataclass(frozen=True)
class PlanResult:
    tenants: tuple[TenantPlan, ...]

    def exit_code(self, detailed: bool) -> int:
        codes = [t.exit_code for t in self.tenants]
        if not detailed:
            codes = [EXIT_OK if c == EXIT_CHANGES else c for c in codes]
        return worst_exit_code(codes)

    def to_dict(self, *, detailed: bool = False) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "command": "plan",
            "exit_code": self.exit_code(detailed),
            "summary": {
                "tenants": len(self.tenants),
                "with_changes": sum(1 for t in self.tenants if t.has_drift and not t.error),
                "changes": sum(len(t.changes) for t in self.tenants),
                "unverifiable": sum(
                    1 for t in self.tenants for s in t.settings if s.status is Status.UNVERIFIABLE
                ),
                "errors": sum(1 for t in self.tenants if t.error),
            },
            "tenants": [t.to_dict() for t in self.tenants],
        }


# --- state-dir records ------------------------------------------------------------------------------


def load_confirmations(app_dir: Path) -> dict[str, dict[str, Any]]:
    doc = read_json(app_dir / CONFIRMATIONS_FILE, default={})
    settings = doc.get("settings") if isinstance(doc, dict) else None
    return settings if isinstance(settings, dict) else {}


# --- comparing ---------------------------------------------------------------------------------------


def _display(setting: Setting, value: Any) -> Any:
    return MASK if setting.secret else value


def _token_plan(
    setting: Setting,
    rt: Route,
    actual: ActualValue,
    token: str,
    record: token_fingerprint.TokenRecord | None,
    confirmation: dict[str, Any] | None,
    rotate: bool,
) -> SettingPlan:
    matches = record is not None and record.matches(token)

    def make(status: Status, reason: str, shown: Any = None, confirmed_at: str | None = None) -> SettingPlan:
        return SettingPlan(
            setting.key,
            setting.label,
            MASK,
            shown,
            status,
            rt.write,
            rt.read,
            reason,
            confirmed_at,
            actual.known,
            rt.assumed,
        )

    if not actual.known and rt.write is Channel.ADMIN:
        return _form_token_plan(make, record, matches, confirmation, rotate)
    if not actual.known:
        if matches and confirmation is not None and not rotate:
            at = str(confirmation.get("confirmed_at", ""))
            return make(Status.CONFIRMED_MANUALLY, f"confirmed manually on {at[:10]}", None, at)
        if rotate:
            reason = "rotation requested (--rotate-token)"
        elif record is not None and not matches:
            reason = "token changed since it was last applied"
        else:
            reason = "write-only and not readable: cannot be verified"
        return make(Status.UNVERIFIABLE, reason)
    shown = MASK if actual.value else "not set"
    if not actual.value:
        return make(Status.CHANGE, "no token is set", shown)
    if rotate:
        return make(Status.CHANGE, "rotation requested (--rotate-token)", shown)
    if record is None:
        return make(
            Status.CHANGE, "a token is set, but not by oktasync: cannot tell which; will be rewritten", shown
        )
    if not matches:
        return make(Status.CHANGE, "token changed", shown)
    return make(Status.IN_SYNC, f"same token as applied on {record.applied_at[:10]}", shown)


def _form_token_plan(
    make: Callable[..., SettingPlan],
    record: token_fingerprint.TokenRecord | None,
    matches: bool,
    confirmation: dict[str, Any] | None,
    rotate: bool,
) -> SettingPlan:
    """The token through a form that cannot show it: written when the config's token was never sent (or
    changed), then unverifiable until a person confirms it works (a confirmation of an earlier write, told
    by the fingerprint record's random salt, does not count)."""
    if rotate:
        return make(Status.CHANGE, "rotation requested (--rotate-token)")
    if record is None:
        return make(Status.CHANGE, "not sent by oktasync yet: the form takes it, nothing can read it back")
    if not matches:
        return make(Status.CHANGE, "token changed since it was last applied")
    at = str((confirmation or {}).get("confirmed_at", ""))
    if confirmation is not None and confirmation.get("record_salt") == record.salt:
        return make(Status.CONFIRMED_MANUALLY, f"confirmed manually on {at[:10]}", None, at)
    return make(
        Status.UNVERIFIABLE,
        f"sent through the Admin Console form on {record.applied_at[:10]}; nothing can read it back",
    )


def compare(
    config: TenantConfig,
    kind: AppKind,
    has_admin_session: bool,
    actual: ActualSettings,
    *,
    token_record: token_fingerprint.TokenRecord | None = None,
    confirmations: dict[str, dict[str, Any]] | None = None,
    rotate_token: bool = False,
) -> list[SettingPlan]:
    """Pure: the per-setting plan from desired, actual and the state dir's records."""
    desired = desired_values(config)
    confirmations = confirmations or {}
    out: list[SettingPlan] = []
    for setting in SETTINGS:
        rt = route(setting, kind, has_admin_session, actual.form)
        act = actual[setting.key]
        want = desired[setting.key]
        if not rt.applicable:
            out.append(
                SettingPlan(
                    setting.key, setting.label, _display(setting, want), None,
                    Status.NOT_APPLICABLE, None, None, rt.note,
                )
            )  # fmt: skip
            continue
        out.append(_setting_plan(setting, rt, act, want, actual, token_record, confirmations, rotate_token))
    return out


def _setting_plan(
    setting: Setting,
    rt: Route,
    act: ActualValue,
    want: Any,
    actual: ActualSettings,
    token_record: token_fingerprint.TokenRecord | None,
    confirmations: dict[str, dict[str, Any]],
    rotate_token: bool,
) -> SettingPlan:
    """One applicable setting: in sync, a change, confirmed manually or unverifiable."""
    plan = _compare_one(setting, rt, act, want, token_record, confirmations, rotate_token)
    if plan.status is Status.CHANGE and setting is not PROVISIONING and actual.provisioning_off:
        return replace(plan, reason="waits for General > Provisioning: SCIM (no Provisioning tab until then)")
    return plan


def _compare_one(
    setting: Setting,
    rt: Route,
    act: ActualValue,
    want: Any,
    token_record: token_fingerprint.TokenRecord | None,
    confirmations: dict[str, dict[str, Any]],
    rotate_token: bool,
) -> SettingPlan:
    if setting is BEARER_TOKEN:
        return _token_plan(
            setting, rt, act, want.reveal(), token_record, confirmations.get(setting.key), rotate_token
        )
    if act.known:
        status = Status.IN_SYNC if act.value == want else Status.CHANGE
        return SettingPlan(
            setting.key, setting.label, want, act.value, status, rt.write, rt.read,
            actual_known=True, assumed=rt.assumed,
        )  # fmt: skip
    confirmed = confirmations.get(setting.key)
    if confirmed is not None and confirmed.get("value") == want:
        at = str(confirmed.get("confirmed_at", ""))
        return SettingPlan(
            setting.key, setting.label, want, None, Status.CONFIRMED_MANUALLY,
            rt.write, rt.read, f"confirmed manually on {at[:10]}", at, assumed=rt.assumed,
        )  # fmt: skip
    reason = act.read or "no read path"
    if rt.write in (Channel.API, Channel.ADMIN) and rt.read is not None:
        # Readable through its channel, just not yet (e.g. an OIN app's features API answers only once
        # provisioning is enabled): apply writes it and then verifies it, so it is drift.
        return SettingPlan(
            setting.key, setting.label, want, None, Status.CHANGE, rt.write, rt.read, reason,
            assumed=rt.assumed,
        )  # fmt: skip
    if confirmed is not None:
        reason = f"confirmed manually as {confirmed.get('value')!r}, but the config now wants {want!r}"
    return SettingPlan(
        setting.key, setting.label, want, None, Status.UNVERIFIABLE, rt.write, rt.read, reason,
        assumed=rt.assumed,
    )  # fmt: skip


def manual_changes(settings: Sequence[SettingPlan], config: TenantConfig) -> dict[str, Any]:
    """Setting key → desired value for every setting a person must act on (token value left out; a token
    the form took is only to be checked: ``TOKEN_SENT``)."""
    desired = desired_values(config)
    out: dict[str, Any] = {}
    for item in settings:
        if not item.needs_person:
            continue
        if item.key == BEARER_TOKEN.key:
            out[item.key] = TOKEN_SENT if item.channel is Channel.ADMIN else MASK
        else:
            out[item.key] = desired[item.key]
    return out


async def plan_tenant(
    session: TenantSession,
    *,
    rotate_token: bool = False,
    token_source: str | None = None,
    kind: AppKind | None = None,
    actual: ActualSettings | None = None,
) -> TenantPlan:
    """The plan of the session's tenant (reads only). Gateway errors propagate.

    ``kind`` skips the probe (it does not change while we run); ``actual`` skips the reads too — apply uses
    both to re-plan from reads it already made, sparing the org's rate-limit bucket.
    """
    config, progress = session.config, session.progress
    gateway, app = await session.gateway(), await session.app()
    reads = None
    if kind is None:
        progress.note(f"{config.tenant}: reading {app.label} settings")
        kind, reads = await probe(gateway, app)
    admin = gateway.has_admin_session()
    if actual is None:
        actual = await read_actual(gateway, app, kind, reads=reads)
    app_dir = await session.app_dir()
    settings = compare(
        config,
        kind,
        admin,
        actual,
        token_record=token_fingerprint.load(app_dir),
        confirmations=load_confirmations(app_dir),
        rotate_token=rotate_token,
    )
    changes = manual_changes(settings, config)
    steps = steps_for(app, changes, token_source=token_source) if changes else []
    return TenantPlan(
        tenant=config.tenant,
        org_url=config.okta.org_url,
        app=app,
        kind=kind,
        admin_session=admin,
        settings=tuple(settings),
        manual_steps=tuple(steps),
        actual=actual,
    )


# --- many tenants at once ------------------------------------------------------------------------------

T = TypeVar("T")
DEFAULT_TENANT_CONCURRENCY = 4


async def gather_bounded(
    items: Sequence[Any],
    work: Callable[[Any], Awaitable[T]],
    *,
    concurrency: int = DEFAULT_TENANT_CONCURRENCY,
) -> list[T]:
    """``work(item)`` for every item, at most ``concurrency`` at a time, results in input order.

    Tenants are independent orgs (each gateway paces itself against its own org's rate limits), so the
    bound only keeps sockets and memory modest.
    """
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(item: Any) -> T:
        async with gate:
            return await work(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


__all__ = [
    "FORMAT_VERSION",
    "PlanResult",
    "SettingPlan",
    "Status",
    "TenantPlan",
    "compare",
    "desired_values",
    "gather_bounded",
    "plan_configs",
    "plan_one",
    "plan_tenant",
    "worst_exit_code",
]


async def plan_one(
    config: TenantConfig,
    source: str | None,
    *,
    state: StateDir,
    rotate_token: bool = False,
    token_source: str | None = None,
    progress: Progress | None = None,
) -> TenantPlan:
    """Open the tenant's session and plan its app. An ``OktasyncError`` becomes the plan's error (with its
    exit code) so that one broken tenant does not hide the others."""
    try:
        async with TenantSession(config, state.root, progress=progress) as session:
            plan = await plan_tenant(session, rotate_token=rotate_token, token_source=token_source)
    except OktasyncError as error:
        return failed_plan(config, source, error)
    return replace(plan, source=source)


def failed_plan(config: TenantConfig, source: str | None, error: OktasyncError) -> TenantPlan:
    message = error.message + (f" (hint: {error.hint})" if error.hint else "")
    return TenantPlan(
        tenant=config.tenant,
        org_url=config.okta.org_url,
        error=message,
        error_exit_code=error.exit_code or EXIT_FAILED,
        source=source,
    )


async def plan_configs(
    configs: Sequence[tuple[TenantConfig, str | None]],
    *,
    state: StateDir,
    rotate_token: bool = False,
    token_sources: Sequence[str | None] | None = None,
    progress: Progress | None = None,
    concurrency: int = DEFAULT_TENANT_CONCURRENCY,
) -> PlanResult:
    """Plan many tenants concurrently (bounded); results in the order of ``configs``."""
    sources = list(token_sources) if token_sources is not None else [None] * len(configs)
    indexed = list(enumerate(configs))

    async def work(item: tuple[int, tuple[TenantConfig, str | None]]) -> TenantPlan:
        index, (config, source) = item
        return await plan_one(
            config,
            source,
            state=state,
            rotate_token=rotate_token,
            token_source=sources[index],
            progress=progress,
        )

    return PlanResult(tuple(await gather_bounded(indexed, work, concurrency=concurrency)))
