"""An in-memory ``OktaGateway`` with Okta's semantics, for unit tests of workflows.

It behaves like Okta and the emulator where the workflows care (docs/okta-behaviour.md):

* custom SCIM apps (``AppKind.CUSTOM_SCIM``): the connection reads ``UNKNOWN`` and a POST to it is a 2xx that
  changes nothing; the features API answers 400 ``E0000001`` (reads return ``None``, writes raise);
  the settings are reachable only through the Admin Console form (when an admin session is set);
* API-capable apps: connection and ``USER_PROVISIONING`` feature read and write;
* ``features[]`` on the app is derived from the settings, including ``AUTO_CONFIRM_IMPORTS``;
* the admin form is a full post: what ``write_admin_form`` does not change keeps its current value, the
  Bearer token is write-only (only ``bearer_token_set`` shows);
* group assignments keep priority and profile (a missing priority gets the next highest); assigning a group
  entitles its members (app users with scope ``GROUP``), unassigning removes users nothing else entitles;
  unassigning an absent group is a no-op (the gateway treats 404 as done);
* System Log events with a minimal filter language: ``eventType``, ``target.id``, ``outcome.result`` or
  ``actor.id`` ``eq "…"`` (and ``eventType sw "…"``), joined by ``and``.

Seed it with ``add_user``, ``add_group``, ``add_app``, ``add_app_user`` and ``add_log_event``; make a method
fail with ``fail_next(method, error)``; every call is recorded in ``calls`` (secrets excluded).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from oktasync.errors import AdminSessionError, ApiErrorDetails, NotFoundError, OktaApiError
from oktasync.models import (
    AdminProvisioningForm,
    App,
    AppKind,
    AppUser,
    Connection,
    GroupAssignment,
    LogEvent,
    RateLimitState,
    ToAppSettings,
)
from oktasync.okta_gateway.base import EventHook, EventHookSpec
from oktasync.timestamps import okta_time

FORM_FIELDS = frozenset(f.name for f in fields(AdminProvisioningForm)) - {"found"}
# What the fake page offers by default: a field for every setting, the token and whether one is set.
FULL_FORM = FORM_FIELDS | {"bearer_token"}


@dataclass
class FakeAppState:
    """Everything the fake knows about one app; tests may read and edit it directly."""

    app: App
    kind: AppKind
    provisioning_enabled: bool = True  # General tab "Provisioning: SCIM"
    scim_base_url: str | None = None
    unique_identifier: str | None = "userName"
    push_new_users: bool = False
    push_profile_updates: bool = False
    auth_mode: str | None = "header"
    bearer_token: str | None = None
    create_users: bool = False
    update_user_attributes: bool = False
    deactivate_users: bool = False
    connection_status: str = "DISABLED"  # API-capable apps only
    groups: dict[str, GroupAssignment] = field(default_factory=dict)
    users: dict[str, AppUser] = field(default_factory=dict)
    admin_posts: list[dict[str, Any]] = field(default_factory=list)  # the posted forms, token masked
    form_found: frozenset[str] = (
        FULL_FORM  # the fields the Admin Console page has (see AdminProvisioningForm)
    )

    def features(self) -> tuple[str, ...]:
        out: list[str] = []
        if self.kind is AppKind.CUSTOM_SCIM and self.provisioning_enabled:
            out += ["IMPORT_NEW_USERS", "SCIM_PROVISIONING", "AUTO_CONFIRM_IMPORTS"]
        if self.create_users:
            out.append("PUSH_NEW_USERS")
        if self.update_user_attributes:
            out.append("PUSH_PROFILE_UPDATES")
        if self.deactivate_users:
            out.append("PUSH_USER_DEACTIVATION")
        return tuple(out)

    def form(self) -> AdminProvisioningForm:
        values: dict[str, Any] = {
            "scim_base_url": self.scim_base_url,
            "unique_identifier": self.unique_identifier,
            "push_new_users": self.push_new_users,
            "push_profile_updates": self.push_profile_updates,
            "auth_mode": self.auth_mode,
            "bearer_token_set": bool(self.bearer_token),
            "create_users": self.create_users,
            "update_user_attributes": self.update_user_attributes,
            "deactivate_users": self.deactivate_users,
        }
        shown = {k: v for k, v in values.items() if k in self.form_found}
        return AdminProvisioningForm(**shown, found=self.form_found)


def _api_error(status: int, code: str, summary: str, causes: Sequence[str] = ()) -> OktaApiError:
    details = ApiErrorDetails(status=status, error_code=code, summary=summary, causes=list(causes))
    if status == 404:
        return NotFoundError("Okta answered an error", details)
    return OktaApiError("Okta answered an error", details)


_FILTER_TERM = re.compile(r'^\s*([A-Za-z.]+)\s+(eq|sw)\s+"([^"]*)"\s*$')


def _event_matches(event: LogEvent, expression: str | None) -> bool:
    if not expression:
        return True
    for term in re.split(r"\s+and\s+", expression.strip()):
        match = _FILTER_TERM.match(term)
        if match is None:
            raise ValueError(f'FakeGateway supports only `field eq|sw "value"` terms joined by and: {term!r}')
        name, op, value = match.groups()
        if op == "sw" and name != "eventType":
            raise ValueError(f"FakeGateway supports sw only on eventType, not {name!r}")
        if name == "eventType":
            ok = event.event_type.startswith(value) if op == "sw" else event.event_type == value
        elif name == "outcome.result":
            ok = event.result == value
        elif name == "target.id":
            ok = any(t.get("id") == value for t in event.targets)
        elif name == "actor.id":
            ok = event.actor.get("id") == value
        else:
            raise ValueError(f"FakeGateway does not filter on {name!r}")
        if not ok:
            return False
    return True


class FakeGateway:
    """In-memory ``OktaGateway``. Not thread-safe; one event loop."""

    def __init__(self, *, admin_session: bool = False) -> None:
        self.apps: dict[str, FakeAppState] = {}
        self.users: dict[str, dict[str, Any]] = {}  # id -> {"login", "email", "profile"}
        self.groups: dict[str, tuple[str, list[str]]] = {}  # id -> (name, member ids)
        self.events: list[LogEvent] = []
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.admin_session = admin_session
        self.admin_session_valid = True
        self.closed = False
        self._failures: dict[str, list[BaseException]] = {}
        self._limits: dict[str, RateLimitState] = {}
        self._count = 0
        self._seq = 0
        self.event_hooks: dict[str, EventHook] = {}
        self.event_hook_secrets: dict[str, str] = {}  # hook id -> secret (tests read it; never returned)
        self.verify_ok = True  # what the next verify_event_hook answers (the fake calls no endpoint)

    # --- seeding -----------------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}fake{self._seq:013d}"

    def add_user(
        self, login: str, *, email: str | None = None, user_id: str | None = None, **profile: Any
    ) -> str:
        uid = user_id or self._id("00u")
        self.users[uid] = {"login": login, "email": email or login, "profile": dict(profile)}
        return uid

    def add_group(self, name: str, members: Sequence[str] = (), *, group_id: str | None = None) -> str:
        """A group; ``members`` are user ids or logins (users are created for unknown logins)."""
        gid = group_id or self._id("00g")
        ids = [self._user_ref(m) for m in members]
        self.groups[gid] = (name, ids)
        return gid

    def _user_ref(self, ref: str) -> str:
        if ref in self.users:
            return ref
        for uid, user in self.users.items():
            if user["login"] == ref:
                return uid
        return self.add_user(ref)

    def add_app(
        self,
        label: str,
        *,
        name: str = "chronosphere_scim",
        kind: AppKind = AppKind.CUSTOM_SCIM,
        app_id: str | None = None,
        status: str = "ACTIVE",
        sign_on_mode: str | None = "SAML_2_0",
        **settings: Any,
    ) -> App:
        """An app; ``settings`` are ``FakeAppState`` fields, e.g. ``deactivate_users=True``."""
        app = App(
            id=app_id or self._id("0oa"),
            name=name,
            label=label,
            status=status,
            sign_on_mode=sign_on_mode,
            features=(),
        )
        state = FakeAppState(app=app, kind=kind)
        for key, value in settings.items():
            if not hasattr(state, key) or key in {"app", "kind", "groups", "users", "admin_posts"}:
                raise TypeError(f"unknown app setting {key!r}")
            setattr(state, key, value)
        self.apps[app.id] = state
        return self._app(app.id)

    def add_app_user(
        self,
        app_id: str,
        user: str,
        *,
        scope: str = "USER",
        status: str = "PROVISIONED",
        sync_state: str | None = "SYNCHRONIZED",
        external_id: str | None = None,
        profile: dict[str, Any] | None = None,
    ) -> AppUser:
        """An app user in a given provisioning state (e.g. ``sync_state="ERROR"`` for a failed push)."""
        uid = self._user_ref(user)
        record = self.users[uid]
        app_user = AppUser(
            id=uid,
            scope=scope,
            status=status,
            sync_state=sync_state,
            external_id=external_id,
            user_name=record["email"],
            login=record["login"],
            email=record["email"],
            profile=dict(profile or {"email": record["email"]}),
            last_updated=okta_time(),
        )
        self.apps[app_id].users[uid] = app_user
        return app_user

    def add_log_event(
        self,
        event_type: str,
        *,
        result: str | None = "SUCCESS",
        reason: str | None = None,
        targets: Sequence[dict[str, Any]] = (),
        published: str | None = None,
        display_message: str | None = None,
        actor: dict[str, Any] | None = None,
    ) -> LogEvent:
        event = LogEvent(
            uuid=str(uuid.uuid4()),
            published=published or okta_time(),
            event_type=event_type,
            result=result,
            reason=reason,
            targets=tuple(targets),
            actor=dict(actor or {}),
            display_message=display_message,
        )
        self.events.append(event)
        self.events.sort(key=lambda e: e.published)
        return event

    def set_rate_limit(self, state: RateLimitState) -> None:
        self._limits[state.bucket] = state

    def fail_next(self, method: str, error: BaseException, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` raise ``error`` (before doing anything)."""
        self._failures.setdefault(method, []).extend([error] * times)

    def state(self, app_id: str) -> FakeAppState:
        return self.apps[app_id]

    # --- plumbing ----------------------------------------------------------------------------------
    def _call(self, method: str, *args: Any) -> None:
        self._count += 1
        self.calls.append((method, args))
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)

    def _state(self, app_id: str) -> FakeAppState:
        state = self.apps.get(app_id)
        if state is None:
            raise _api_error(404, "E0000007", f"Not found: Resource not found: {app_id} (AppInstance)")
        return state

    def _app(self, app_id: str) -> App:
        state = self._state(app_id)
        return replace(state.app, features=state.features())

    def _entitled(self, state: FakeAppState, user_id: str) -> bool:
        return any(user_id in self.groups[gid][1] for gid in state.groups)

    def _app_user(self, user_id: str, scope: str) -> AppUser:
        record = self.users[user_id]
        return AppUser(
            id=user_id,
            scope=scope,
            status="ACTIVE",
            sync_state="DISABLED",
            external_id=None,
            user_name=record["email"],
            login=record["login"],
            email=record["email"],
            profile={"email": record["email"]},
            last_updated=okta_time(),
        )

    # --- apps --------------------------------------------------------------------------------------
    async def find_apps(self, label: str) -> list[App]:
        self._call("find_apps", label)
        return [self._app(s.app.id) for s in self.apps.values() if s.app.label == label]

    async def get_app(self, app_id: str) -> App:
        self._call("get_app", app_id)
        return self._app(app_id)

    # --- connection and features -------------------------------------------------------------------
    async def get_connection(self, app_id: str) -> Connection:
        self._call("get_connection", app_id)
        state = self._state(app_id)
        if state.kind is AppKind.CUSTOM_SCIM:
            return Connection(status="UNKNOWN", auth_scheme="UNKNOWN", base_url=None)
        return Connection(status=state.connection_status, auth_scheme="TOKEN", base_url=state.scim_base_url)

    async def set_connection(self, app_id: str, base_url: str | None, token: str | None) -> None:
        self._call("set_connection", app_id, base_url, "(sensitive)" if token else None)
        state = self._state(app_id)
        if state.kind is AppKind.CUSTOM_SCIM:
            # Okta answers 200 UNKNOWN and changes nothing (docs/okta-behaviour.md, Apps, connections and
            # features): only a re-read tells
            return
        if base_url is not None:
            state.scim_base_url = base_url
        if token is not None:
            state.bearer_token = token

    async def activate_connection(self, app_id: str) -> None:
        self._call("activate_connection", app_id)
        state = self._state(app_id)
        if state.kind is AppKind.API_CAPABLE:
            state.connection_status = "ENABLED"

    async def get_to_app_settings(self, app_id: str) -> ToAppSettings | None:
        self._call("get_to_app_settings", app_id)
        state = self._state(app_id)
        if state.kind is AppKind.CUSTOM_SCIM:
            return None
        return ToAppSettings(
            create_users=state.create_users,
            update_user_attributes=state.update_user_attributes,
            deactivate_users=state.deactivate_users,
        )

    async def update_to_app_settings(
        self,
        app_id: str,
        *,
        create_users: bool | None = None,
        update_user_attributes: bool | None = None,
        deactivate_users: bool | None = None,
    ) -> None:
        self._call("update_to_app_settings", app_id, create_users, update_user_attributes, deactivate_users)
        state = self._state(app_id)
        if state.kind is AppKind.CUSTOM_SCIM:
            raise _api_error(
                400, "E0000001", "Api validation failed: feature", ["Provisioning is not supported."]
            )
        if create_users is None and update_user_attributes is None and deactivate_users is None:
            raise _api_error(400, "E0000003", "The request body was not well-formed.")
        if create_users is not None:
            state.create_users = create_users
        if update_user_attributes is not None:
            state.update_user_attributes = update_user_attributes
        if deactivate_users is not None:
            state.deactivate_users = deactivate_users

    # --- admin channel -----------------------------------------------------------------------------
    def has_admin_session(self) -> bool:
        return self.admin_session

    def _check_admin(self) -> None:
        if not self.admin_session:
            raise AdminSessionError(
                "no admin session configured", hint="set okta.admin_session in the config"
            )
        if not self.admin_session_valid:
            raise AdminSessionError(
                "the Admin Console session is invalid or expired",
                hint="sign in to the Admin Console again and export its cookies",
            )

    async def read_admin_form(self, app: App) -> AdminProvisioningForm:
        self._call("read_admin_form", app.id)
        self._check_admin()
        return self._state(app.id).form()

    async def write_admin_form(
        self, app: App, changes: dict[str, Any], *, bearer_token: str | None = None
    ) -> None:
        self._call("write_admin_form", app.id, dict(changes), "(sensitive)" if bearer_token else None)
        self._check_admin()
        unknown = set(changes) - FORM_FIELDS
        if unknown or "bearer_token_set" in changes:
            raise ValueError(
                f"not admin form fields: {sorted(unknown | ({'bearer_token_set'} & set(changes)))}"
            )
        state = self._state(app.id)
        absent = (set(changes) | ({"bearer_token"} if bearer_token else set())) - state.form_found
        if absent:
            raise ValueError(f"the page has no field for {sorted(absent)}")
        # A full post: the current form overlaid with the changes is what gets stored.
        current = state.form()
        posted = {**{f: getattr(current, f) for f in FORM_FIELDS if f in state.form_found}, **changes}
        posted.pop("bearer_token_set", None)
        for key, value in posted.items():
            setattr(state, key, value)
        if bearer_token:
            state.bearer_token = bearer_token
        state.admin_posts.append({**posted, "bearer_token": "(sensitive)" if bearer_token else None})

    # --- assignments -------------------------------------------------------------------------------
    async def list_group_assignments(self, app_id: str) -> list[GroupAssignment]:
        self._call("list_group_assignments", app_id)
        state = self._state(app_id)
        return [replace(a, group_name=self.groups[a.group_id][0]) for a in state.groups.values()]

    async def get_group_assignment(self, app_id: str, group_id: str) -> GroupAssignment | None:
        self._call("get_group_assignment", app_id, group_id)
        assignment = self._state(app_id).groups.get(group_id)
        return None if assignment is None else replace(assignment, group_name=self.groups[group_id][0])

    async def assign_group(
        self, app_id: str, group_id: str, priority: int | None, profile: dict[str, Any]
    ) -> GroupAssignment:
        self._call("assign_group", app_id, group_id, priority, dict(profile))
        state = self._state(app_id)
        if group_id not in self.groups:
            raise _api_error(404, "E0000007", f"Not found: Resource not found: {group_id} (UserGroup)")
        current = state.groups.get(group_id)
        if priority is None:
            priority = (
                current.priority
                if current is not None and current.priority is not None
                else max((a.priority or 0 for a in state.groups.values()), default=-1) + 1
            )
        assignment = GroupAssignment(
            group_id=group_id, priority=priority, profile=dict(profile), group_name=self.groups[group_id][0]
        )
        state.groups[group_id] = assignment
        for uid in self.groups[group_id][1]:
            state.users.setdefault(uid, self._app_user(uid, "GROUP"))
        return assignment

    async def unassign_group(self, app_id: str, group_id: str) -> None:
        self._call("unassign_group", app_id, group_id)
        state = self._state(app_id)
        if state.groups.pop(group_id, None) is None:
            return  # 404: already gone counts as done
        for uid in self.groups[group_id][1]:
            app_user = state.users.get(uid)
            if app_user is not None and app_user.scope == "GROUP" and not self._entitled(state, uid):
                del state.users[uid]

    async def list_app_users(self, app_id: str, *, with_user: bool = True) -> list[AppUser]:
        self._call("list_app_users", app_id)
        users = list(self._state(app_id).users.values())
        return users if with_user else [replace(u, login=None, email=None) for u in users]

    async def first_app_users(self, app_id: str, limit: int) -> list[AppUser]:
        self._call("first_app_users", app_id)
        users = list(self._state(app_id).users.values())[:limit]
        return [replace(u, login=None, email=None) for u in users]

    async def get_app_user(self, app_id: str, user_id: str) -> AppUser | None:
        self._call("get_app_user", app_id, user_id)
        return self._state(app_id).users.get(user_id)

    async def update_app_user(self, app_id: str, user_id: str, profile: dict[str, Any]) -> AppUser:
        self._call("update_app_user", app_id, user_id, dict(profile))
        state = self._state(app_id)
        current = state.users.get(user_id)
        if current is None:
            raise _api_error(404, "E0000007", f"Not found: Resource not found: {user_id} (AppUser)")
        updated = replace(current, profile={**current.profile, **profile}, last_updated=okta_time())
        state.users[user_id] = updated
        return updated

    async def list_group_member_ids(self, group_id: str) -> list[str]:
        self._call("list_group_member_ids", group_id)
        if group_id not in self.groups:
            raise _api_error(404, "E0000007", f"Not found: Resource not found: {group_id} (UserGroup)")
        return list(self.groups[group_id][1])

    async def list_user_group_ids(self, user_id: str) -> list[str]:
        self._call("list_user_group_ids", user_id)
        if user_id not in self.users:
            raise _api_error(404, "E0000007", f"Not found: Resource not found: {user_id} (User)")
        return [gid for gid, (_, members) in self.groups.items() if user_id in members]

    # --- system log --------------------------------------------------------------------------------
    async def list_log_events(
        self, *, since: str, until: str | None = None, filter: str | None = None
    ) -> list[LogEvent]:
        self._call("list_log_events", since, until, filter)
        return [
            e
            for e in self.events
            if e.published >= since and (until is None or e.published < until) and _event_matches(e, filter)
        ]

    # --- event hooks -------------------------------------------------------------------------------
    async def list_event_hooks(self) -> list[EventHook]:
        self._call("list_event_hooks")
        return list(self.event_hooks.values())

    async def create_event_hook(self, spec: EventHookSpec) -> EventHook:
        self._call("create_event_hook", spec.name, spec.uri)
        hook = EventHook(
            self._id("who"), spec.name, "ACTIVE", "UNVERIFIED", spec.uri, spec.events, spec.auth_header
        )
        self.event_hooks[hook.id] = hook
        self.event_hook_secrets[hook.id] = spec.secret
        return hook

    def _event_hook(self, hook_id: str) -> EventHook:
        if hook_id not in self.event_hooks:
            raise _api_error(404, "E0000007", f"Not found: Resource not found: {hook_id} (EventHook)")
        return self.event_hooks[hook_id]

    async def replace_event_hook(self, hook_id: str, spec: EventHookSpec) -> EventHook:
        self._call("replace_event_hook", hook_id, spec.name, spec.uri)
        old = self._event_hook(hook_id)
        secret_changed = self.event_hook_secrets.get(hook_id) != spec.secret
        changed = old.uri != spec.uri or old.auth_header != spec.auth_header or secret_changed
        hook = replace(
            old,
            name=spec.name,
            uri=spec.uri,
            events=spec.events,
            auth_header=spec.auth_header,
            verification_status="UNVERIFIED" if changed else old.verification_status,
        )
        self.event_hooks[hook_id] = hook
        self.event_hook_secrets[hook_id] = spec.secret
        return hook

    async def activate_event_hook(self, hook_id: str) -> EventHook:
        self._call("activate_event_hook", hook_id)
        hook = replace(self._event_hook(hook_id), status="ACTIVE")
        self.event_hooks[hook_id] = hook
        return hook

    async def verify_event_hook(self, hook_id: str) -> EventHook:
        self._call("verify_event_hook", hook_id)
        hook = self._event_hook(hook_id)
        if not self.verify_ok:
            raise _api_error(400, "E0000001", "Api validation failed: verifyEventHook", ["no valid response"])
        hook = replace(hook, verification_status="VERIFIED")
        self.event_hooks[hook_id] = hook
        return hook

    # --- introspection -----------------------------------------------------------------------------
    def rate_limits(self) -> Sequence[RateLimitState]:
        return tuple(self._limits.values())

    def request_count(self) -> int:
        return self._count

    async def close(self) -> None:
        self.closed = True
