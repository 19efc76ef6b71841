"""`doctor`: a read-only probe of one tenant — auth, scopes, the app and its kind, which channel serves each
setting, rate-limit headroom, and whether the admin session works.

Every check is a read. A 403 on a read means the credential lacks that read's permission: for an OAuth
service app, the scope named in the check (Okta's scopes per endpoint: docs/okta-behaviour.md, Authentication
and errors); for an SSWS token, a permission of the admin role behind it. ``okta.apps.manage`` (needed by
``apply`` and the resync) cannot be proven without writing, so doctor only says whether it is requested.

A missing scope is a failure (exit 1) when a command cannot work without it. ``okta.users.read`` is the one
exception: ``tasks`` reads the groups of each failed user with it (``GET /api/v1/users/{id}/groups``) and,
refused, falls back to listing the members of every assigned group (``workflows/tasks/scan.py``), so it
still works, only with more requests. Doctor reports that as a *warning*: ``ok`` None and ``warning`` True,
shown as ``warn``, not counted in the exit code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from oktasync.config.schema import TenantConfig
from oktasync.errors import EXIT_FAILED, EXIT_OK, AuthError, OktaApiError, OktasyncError
from oktasync.models import AdminProvisioningForm, App, AppKind, Channel, RateLimitState
from oktasync.okta_gateway.admin import IDLE_MINUTES, non_interactive_signs
from oktasync.okta_gateway.base import OktaGateway
from oktasync.timestamps import okta_time
from oktasync.workflows.channels import probe_kind, routes
from oktasync.workflows.session import TenantSession
from oktasync.workflows.settings import FEATURE_FLAGS, PROVISIONING, SETTINGS


@dataclass(frozen=True)
class DoctorCheck:
    name: str
    ok: bool | None  # None = not checked / informational, or (with ``warning``) works but degraded
    detail: str
    warning: bool = False  # something is missing that a command works around (never sets the exit code)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "warning": self.warning, "detail": self.detail}


@dataclass(frozen=True)
class DoctorResult:
    tenant: str
    org_url: str
    auth_method: str  # "ssws" | "oauth"
    checks: tuple[DoctorCheck, ...]
    app: App | None = None
    kind: AppKind | None = None
    admin_session: bool = False
    channels: tuple[dict[str, Any], ...] = ()
    rate_limits: tuple[RateLimitState, ...] = ()
    scopes: dict[str, str] = field(default_factory=dict)  # scope -> ok | missing | requested | not requested

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if any(c.ok is False for c in self.checks) else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": 1,
            "command": "doctor",
            "tenant": self.tenant,
            "org_url": self.org_url,
            "auth_method": self.auth_method,
            "exit_code": self.exit_code,
            "app": {"id": self.app.id, "label": self.app.label, "name": self.app.name} if self.app else None,
            "kind": self.kind.value if self.kind else None,
            "admin_session": self.admin_session,
            "checks": [c.to_dict() for c in self.checks],
            "scopes": dict(self.scopes),
            "channels": list(self.channels),
            "rate_limits": [
                {
                    "bucket": r.bucket,
                    "limit": r.limit,
                    "remaining": r.remaining,
                    "headroom": round(r.remaining / r.limit, 3) if r.limit else None,
                    "reset_epoch": r.reset_epoch,
                }
                for r in self.rate_limits
            ],
        }


def _missing_scope(error: OktasyncError, scope: str, oauth: bool) -> str:
    if isinstance(error, OktaApiError) and error.status == 403:
        if oauth:
            return f"403 on a read: the service app lacks the scope {scope} (grant it in Okta and request it)"
        return f"403 on a read: the API token's admin role lacks the permission behind {scope}"
    return error.message


APP_USERS_SAMPLE = 200  # app users doctor reads: one page

# What ``tasks`` does without okta.users.read (workflows/tasks/scan.py's fallback on a 403).
USERS_READ_FALLBACK = (
    "tasks still works without it, but finds the groups of failed users by listing the members of every "
    "assigned group (one read per group instead of one per failed user: slower on large groups)"
)


async def _user_groups_check(
    gateway: OktaGateway,
    user_id: str,
    checks: list[DoctorCheck],
    scopes: dict[str, str],
    *,
    oauth: bool,
    requested: set[str],
) -> None:
    """okta.users.read, proven by the read ``tasks`` makes with it: the groups of one user (1 request)."""
    scope = "okta.users.read"
    try:
        groups = await gateway.list_user_group_ids(user_id)
    except OktasyncError as error:
        if isinstance(error, OktaApiError) and error.status == 403:
            scopes[scope] = "missing"
            if oauth and scope not in requested:
                why = f"403 on a read: {scope} is not requested (add it to okta.oauth.scopes and grant it)"
            else:
                why = _missing_scope(error, scope, oauth)
            checks.append(DoctorCheck("user groups", None, f"{why}; {USERS_READ_FALLBACK}", warning=True))
            return
        checks.append(DoctorCheck("user groups", False, error.message))
        return
    checks.append(
        DoctorCheck("user groups", True, f"a user's groups readable ({len(groups)} for user {user_id})")
    )
    scopes.setdefault(scope, "ok")


async def _event_hook_checks(config: TenantConfig, gateway: OktaGateway) -> list[DoctorCheck]:
    """The config's event hook (docs/event-hooks.md): registered, active, verified; else a warning."""
    from oktasync.workflows.hooks import doctor_check

    found = await doctor_check(config, gateway)
    if found is None:
        return []
    ok, detail = found
    return [DoctorCheck("event hook", ok, detail, warning=ok is None)]


def _auth_check_after(error: OktasyncError) -> DoctorCheck:
    """The auth check when finding the app failed: "accepted" only if an authenticated request got an
    answer (a 404, or the app missing from the list Okta returned). No answer at all (TLS failure, no
    network, timeout) or a 5xx/429 proves nothing about the credential, and doctor says so."""
    if not isinstance(error, OktaApiError) or error.status == 404:
        return DoctorCheck("auth", True, "credential accepted")
    if error.status is None:
        return DoctorCheck("auth", False, "not checked: no request reached Okta (see the app check)")
    return DoctorCheck("auth", False, f"not checked: Okta answered HTTP {error.status} before authenticating")


async def doctor(session: TenantSession, *, now: datetime | None = None) -> DoctorResult:
    """Run every read-only check of the session's tenant; never raises for a failed check (it is
    reported), only for bugs and for a gateway that cannot even be opened (a config problem)."""
    return await _Doctor(session, await session.gateway(), now).run()


class _Doctor:
    """One doctor run: each check is a method; later checks use what earlier reads found."""

    def __init__(self, session: TenantSession, gateway: OktaGateway, now: datetime | None) -> None:
        config = session.config
        self.session = session
        self.config = config
        self.gateway = gateway
        self.now = now
        self.oauth = config.okta.oauth is not None
        self.requested = set(config.okta.oauth.scopes) if config.okta.oauth else set()
        self.checks: list[DoctorCheck] = []
        self.scopes: dict[str, str] = {}
        self.app: App | None = None
        self.kind: AppKind | None = None
        self.channel_rows: list[dict[str, Any]] = []
        self.assigned: list[Any] = []
        self.member_ids: list[str] = []
        self.user_ids: list[str] = []

    async def run(self) -> DoctorResult:
        await self.check_auth_and_app()
        if self.app is not None:
            await self.check_app(self.app)
        self.check_unexercised_scopes()
        self.checks += await _event_hook_checks(self.config, self.gateway)
        return DoctorResult(
            tenant=self.config.tenant,
            org_url=self.config.okta.org_url,
            auth_method="oauth" if self.oauth else "ssws",
            checks=tuple(self.checks),
            app=self.app,
            kind=self.kind,
            admin_session=self.gateway.has_admin_session(),
            channels=tuple(self.channel_rows),
            rate_limits=tuple(self.gateway.rate_limits()),
            scopes=self.scopes,
        )

    async def probe(self, name: str, scope: str, read: Callable[[], Awaitable[str]]) -> bool:
        """One read as one check: ok with the read's detail, or failed naming the scope it needs."""
        try:
            detail = await read()
        except OktasyncError as error:
            self.checks.append(DoctorCheck(name, False, _missing_scope(error, scope, self.oauth)))
            if isinstance(error, OktaApiError) and error.status == 403:
                self.scopes[scope] = "missing"
            return False
        self.checks.append(DoctorCheck(name, True, detail))
        self.scopes.setdefault(scope, "ok")
        return True

    async def check_auth_and_app(self) -> None:
        """Auth and the app (okta.apps.read), from finding the app the config names."""
        try:
            app = await self.session.app()
        except AuthError as error:
            if error.status == 403:
                self.checks.append(DoctorCheck("auth", True, "credential accepted (403, not 401)"))
                self.checks.append(
                    DoctorCheck("app", False, _missing_scope(error, "okta.apps.read", self.oauth))
                )
                self.scopes["okta.apps.read"] = "missing"
            else:
                self.checks.append(
                    DoctorCheck(
                        "auth", False, error.message + (f" (hint: {error.hint})" if error.hint else "")
                    )
                )
            return
        except OktasyncError as error:
            self.checks.append(_auth_check_after(error))
            self.checks.append(
                DoctorCheck("app", False, error.message + (f" (hint: {error.hint})" if error.hint else ""))
            )
            return
        self.app = app
        method = "OAuth 2.0 private_key_jwt" if self.oauth else "SSWS API token"
        self.checks.append(DoctorCheck("auth", True, f"{method} accepted"))
        self.checks.append(
            DoctorCheck("app", True, f'found "{app.label}" ({app.id}, {app.name}, {app.status})')
        )
        self.scopes["okta.apps.read"] = "ok"

    async def check_app(self, app: App) -> None:
        """Every read the commands make on the app, then the admin session and the channel of each setting."""
        admin = self.gateway.has_admin_session()
        await self.probe("kind", "okta.apps.read", lambda: self.read_kind(app))
        await self.probe("group assignments", "okta.apps.read", lambda: self.read_group_assignments(app))
        if self.assigned:
            await self.probe("group members", "okta.groups.read", self.read_group_members)
        else:
            self.checks.append(
                DoctorCheck("group members", None, "no group assigned: okta.groups.read not exercised")
            )
        await self.probe("app users", "okta.apps.read", lambda: self.read_app_users(app))
        await self.check_user_groups()
        await self.probe("system log", "okta.logs.read", lambda: self.read_logs(app))

        form: AdminProvisioningForm | None = None
        if self.kind is AppKind.CUSTOM_SCIM:
            self.checks.append(_provisioning_check(app))
        if admin:
            form, admin = await _admin_session_checks(self.gateway, app, self.kind, self.checks)
        else:
            self.checks.append(
                DoctorCheck("admin session", None, "not given: connector settings of custom apps are manual")
            )
        if self.kind is not None:
            self.channel_rows = _channel_rows(self.kind, admin, form)

    async def read_kind(self, app: App) -> str:
        self.kind = await probe_kind(self.gateway, app)
        if self.kind is AppKind.CUSTOM_SCIM:
            return "custom SCIM app: connection UNKNOWN and the features API unsupported"
        return "API-capable app: the Connections and Features APIs answer"

    async def read_group_assignments(self, app: App) -> str:
        self.assigned.extend(await self.gateway.list_group_assignments(app.id))
        return f"{len(self.assigned)} group(s) assigned"

    async def read_group_members(self) -> str:
        self.member_ids.extend(await self.gateway.list_group_member_ids(self.assigned[0].group_id))
        return f"group members readable ({len(self.member_ids)} in the first assigned group)"

    async def read_app_users(self, app: App) -> str:
        # One page, like every other check here: listing all of a 50,000-user app would spend a minute
        # of the /api/v1/apps bucket (100/min) on a probe. `oktasync tasks` counts the failures.
        users = await self.gateway.first_app_users(app.id, APP_USERS_SAMPLE)
        self.user_ids.extend(u.id for u in users)
        if not users:
            return "app users readable (none assigned)"
        errors = sum(1 for u in users if u.sync_state == "ERROR")
        more = " (the first page)" if len(users) == APP_USERS_SAMPLE else ""
        return f"app users readable: {len(users)}{more}, {errors} with syncState ERROR"

    async def check_user_groups(self) -> None:
        # One read of a user the reads above returned (an app user, else a group member): nothing extra to
        # list, and without any user `tasks` has no failed user whose groups it would need.
        some_user = next(iter(self.user_ids or self.member_ids), None)
        if some_user is None:
            self.checks.append(
                DoctorCheck("user groups", None, "no user to read: okta.users.read not exercised")
            )
            return
        await _user_groups_check(
            self.gateway, some_user, self.checks, self.scopes, oauth=self.oauth, requested=self.requested
        )

    async def read_logs(self, app: App) -> str:
        moment = self.now or datetime.now(UTC)
        since, until = okta_time(moment - timedelta(minutes=5)), okta_time(moment)
        events = await self.gateway.list_log_events(
            since=since, until=until, filter=f'target.id eq "{app.id}"'
        )
        return f"System Log readable ({len(events)} event(s) for the app in the last 5 minutes)"

    def check_unexercised_scopes(self) -> None:
        """Scopes doctor did not exercise: okta.apps.manage (only a write proves it) and okta.users.read
        when no user was found to read."""
        if not self.oauth:
            return
        for scope in ("okta.apps.manage", "okta.users.read"):
            self.scopes.setdefault(
                scope, "requested (not exercised)" if scope in self.requested else "not requested"
            )
        missing = [s for s, state in self.scopes.items() if state in ("missing", "not requested")]
        if "okta.apps.manage" in missing:
            self.checks.append(
                DoctorCheck("scopes", False, "okta.apps.manage is not requested: apply and resync need it")
            )


def _channel_rows(kind: AppKind, admin: bool, form: AdminProvisioningForm | None) -> list[dict[str, Any]]:
    """Which channel writes and which read verifies each setting, for this app and session."""
    rows: list[dict[str, Any]] = []
    for setting in SETTINGS:
        rt = routes(kind, admin, form)[setting.key]
        rows.append(
            {
                "key": setting.key,
                "label": setting.label,
                "write": rt.write.value if rt.write else None,
                "verify": rt.read,
                "note": rt.note or None,
                "assumed": rt.assumed or None,
            }
        )
    return rows


def _provisioning_check(app: App) -> DoctorCheck:
    """Runbook step 4 (General > Provisioning: SCIM), read from the app's features[]."""
    if FEATURE_FLAGS[PROVISIONING.key] in app.features:
        return DoctorCheck(
            "provisioning", True, "General > Provisioning: SCIM is on (features[] SCIM_PROVISIONING)"
        )
    return DoctorCheck(
        "provisioning",
        None,
        "General > Provisioning: SCIM is off (no SCIM_PROVISIONING in features[]): the app has no "
        "Provisioning tab yet; apply prints that console step first and writes nothing else until it is done",
        warning=True,
    )


async def _admin_session_checks(
    gateway: OktaGateway, app: App, kind: AppKind | None, checks: list[DoctorCheck]
) -> tuple[AdminProvisioningForm | None, bool]:
    """Prove the admin session with one read of the settings page; say what it can change. Returns the
    form read (None if not read) and whether the admin channel is usable."""
    if kind is not AppKind.CUSTOM_SCIM:
        checks.append(DoctorCheck("admin session", None, "given but not used: this app has a public API"))
        return None, True
    if FEATURE_FLAGS[PROVISIONING.key] not in app.features:
        checks.append(
            DoctorCheck("admin session", None, "not checked: the provisioning settings page exists only once "
                  "General > Provisioning: SCIM is on")
        )  # fmt: skip
        return None, True
    signs = non_interactive_signs()
    try:
        form = await gateway.read_admin_form(app)
    except OktasyncError as error:
        checks.append(
            DoctorCheck(
                "admin session", False, error.message + (f" (hint: {error.hint})" if error.hint else "")
            )
        )
        return None, False
    can = [s.label for s in SETTINGS if routes(AppKind.CUSTOM_SCIM, True, form)[s.key].write is Channel.ADMIN]
    cannot = [
        s.label
        for s in SETTINGS
        if s is not PROVISIONING and routes(AppKind.CUSTOM_SCIM, True, form)[s.key].write is Channel.MANUAL
    ]
    detail = (
        "valid: read the provisioning settings page (an interface Okta does not support); it can change: "
        + (", ".join(can) or "nothing")
        + ("; not on the page, so console steps: " + ", ".join(cannot) if cannot else "")
    )
    checks.append(DoctorCheck("admin session", True, detail))
    if signs:
        checks.append(
            DoctorCheck(
                "admin session run",
                None,
                f"this run looks unattended ({', '.join(signs)}): Okta binds an admin session to the "
                f"network it was signed in from and ends it after {IDLE_MINUTES} idle minutes, so a session "
                "copied from a browser into a CI job will be rejected; run the admin channel where the "
                "admin signs in, or leave okta.admin_session empty",
                warning=True,
            )
        )
    return form, True


__all__ = ["USERS_READ_FALLBACK", "DoctorCheck", "DoctorResult", "doctor"]
