"""The emulated org's state and the domain rules that change it (no HTTP here).

Everything runs on the emulator's event loop thread, so nothing here locks. Mutators that make Okta do
background work (assignments, profile updates) return :class:`Job` values; the server hands them to the
provisioning engine (``provisioning.py``), which pushes asynchronously as Okta does.

Shapes follow docs/okta-behaviour.md (apps, app groups, app users, System Log); the seed/dump format is
documented in docs/emulator.md and produced by ``seed.py``.
"""

from __future__ import annotations

import bisect
import secrets
import string
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

CUSTOM_SCIM = "custom_scim"
API_CAPABLE = "api"
APP_KINDS = (CUSTOM_SCIM, API_CAPABLE)

_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase  # ASCII order = numeric order

JobKind = Literal["create", "profile", "deactivate"]


def app_user_object_id(app_id: str, user_id: str) -> str:
    """The app user's own id (``0ua`` + 17 characters), which System Log events carry in the ``AppUser``
    target. The Apps API never shows it: an app user's ``id`` is the Okta user id."""
    digest = uuid.uuid5(uuid.NAMESPACE_URL, f"okta-app-user:{app_id}:{user_id}").hex
    return "0ua" + digest[:17]


def iso(ts: float | None = None) -> str:
    """Okta's timestamp format: ``2024-05-01T12:00:00.000Z``."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> float:
    """Parse the ISO-8601 timestamps Okta accepts in ``since``/``until``; raises ValueError."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class IdFactory:
    """Okta-looking ids (prefix + 17 base-62 chars) that sort in creation order."""

    def __init__(self) -> None:
        self._next = 1
        self._salt = secrets.choice(_B62[10:])  # keeps ids of different runs apart, still sortable

    def new(self, prefix: str) -> str:
        n = self._next
        self._next += 1
        digits = ""
        while n:
            n, r = divmod(n, 62)
            digits = _B62[r] + digits
        return prefix + self._salt + digits.rjust(16, "0")


@dataclass(slots=True)
class User:
    id: str
    profile: dict[str, Any]
    status: str = "ACTIVE"
    created: str = ""
    last_updated: str = ""

    @property
    def login(self) -> str:
        return str(self.profile.get("login", ""))

    @property
    def display_name(self) -> str:
        first = self.profile.get("firstName") or ""
        last = self.profile.get("lastName") or ""
        return f"{first} {last}".strip() or self.login


@dataclass(slots=True)
class Group:
    id: str
    name: str
    description: str = ""
    members: dict[str, None] = field(default_factory=dict)  # ordered set of user ids
    created: str = ""
    last_updated: str = ""
    last_membership_updated: str = ""


@dataclass(slots=True)
class AppSettings:
    """Provisioning settings of one app. ``bearer_token`` is a secret: no route ever returns it."""

    provisioning_enabled: bool = True  # General tab "Provisioning: SCIM" (custom apps)
    scim_base_url: str | None = None
    unique_identifier: str = "userName"
    push_new_users: bool = False
    push_profile_updates: bool = False
    auth_mode: str = "header"
    bearer_token: str | None = None
    create_users: bool = False
    update_user_attributes: bool = False
    deactivate_users: bool = False

    FIELDS = (
        "provisioning_enabled",
        "scim_base_url",
        "unique_identifier",
        "push_new_users",
        "push_profile_updates",
        "auth_mode",
        "bearer_token",
        "create_users",
        "update_user_attributes",
        "deactivate_users",
    )
    BOOL_FIELDS = frozenset(
        {
            "provisioning_enabled",
            "push_new_users",
            "push_profile_updates",
            "create_users",
            "update_user_attributes",
            "deactivate_users",
        }
    )

    def to_dict(self, *, secrets: bool) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.FIELDS}
        if not secrets and out["bearer_token"]:
            out["bearer_token"] = "(sensitive)"
        return out


@dataclass(slots=True)
class GroupAssignment:
    group_id: str
    priority: int
    profile: dict[str, Any]
    last_updated: str


@dataclass(slots=True)
class AppUser:
    user_id: str
    direct: bool  # assigned directly (scope USER); otherwise only through groups (scope GROUP)
    user_name: str  # credentials.userName: what the target sees as userName
    profile: dict[str, Any]
    status: str = "STAGED"
    sync_state: str = "SYNCING"
    external_id: str | None = None
    created: str = ""
    last_updated: str = ""
    status_changed: str = ""
    last_sync: str | None = None

    @property
    def scope(self) -> str:
        return "USER" if self.direct else "GROUP"


@dataclass(slots=True)
class App:
    id: str
    name: str
    label: str
    kind: str
    settings: AppSettings
    sign_on_mode: str = "SAML_2_0"
    status: str = "ACTIVE"
    created: str = ""
    last_updated: str = ""
    # API-capable apps only: the TOKEN connection (docs/okta-behaviour.md, Apps, connections and features).
    # None = never configured.
    connection_status: str | None = None
    groups: dict[str, GroupAssignment] = field(default_factory=dict)
    users: dict[str, AppUser] = field(default_factory=dict)
    settings_history: list[dict[str, Any]] = field(default_factory=list)
    # Admin Console form fields oktasync does not manage (password sync, profile master, ...), as posted.
    console_extras: dict[str, str] = field(default_factory=dict)

    @property
    def provisioning_active(self) -> bool:
        """Would Okta push new users now? (Create Users + the connector, docs/architecture.md, The job, steps
        1-3)."""
        s = self.settings
        if self.kind == API_CAPABLE:
            return self.connection_status == "ENABLED" and bool(s.scim_base_url) and s.create_users
        return (
            s.provisioning_enabled
            and bool(s.scim_base_url)
            and bool(s.bearer_token)
            and s.push_new_users
            and s.create_users
        )

    @property
    def profile_push_active(self) -> bool:
        s = self.settings
        if self.kind == API_CAPABLE:
            return self.connection_status == "ENABLED" and bool(s.scim_base_url) and s.update_user_attributes
        return (
            s.provisioning_enabled
            and bool(s.scim_base_url)
            and bool(s.bearer_token)
            and s.push_profile_updates
            and s.update_user_attributes
        )

    @property
    def deactivation_active(self) -> bool:
        s = self.settings
        connected = (
            self.connection_status == "ENABLED"
            if self.kind == API_CAPABLE
            else s.provisioning_enabled and bool(s.bearer_token)
        )
        return connected and bool(s.scim_base_url) and s.deactivate_users

    def features(self) -> list[str]:
        """The read-only ``features[]`` derived from the settings (docs/okta-behaviour.md, Apps, connections
        and features)."""
        s = self.settings
        out: list[str] = []
        if self.kind == CUSTOM_SCIM and s.provisioning_enabled:
            # Real Okta returns AUTO_CONFIRM_IMPORTS on custom SAML apps with SCIM (okta-sdk-python#574);
            # it is not in the SDK's enum, so strict clients fail here exactly as they do against Okta.
            out += ["IMPORT_NEW_USERS", "SCIM_PROVISIONING", "AUTO_CONFIRM_IMPORTS"]
        if s.create_users:
            out.append("PUSH_NEW_USERS")
        if s.update_user_attributes:
            out.append("PUSH_PROFILE_UPDATES")
        if s.deactivate_users:
            out.append("PUSH_USER_DEACTIVATION")
        return out


@dataclass(slots=True)
class ServiceApp:
    """An OAuth service app for private_key_jwt client credentials (the SDK's PrivateKey mode;
    docs/okta-behaviour.md, Authentication and errors)."""

    client_id: str
    scopes: list[str]
    public_jwk: dict[str, Any] | None = None
    public_key_pem: str | None = None
    name: str = "oktasync service app"
    # Okta's "Require Demonstrating Proof of Possession (DPoP) header in token requests"
    # (settings.oauthClient.dpop_bound_access_tokens): token requests without a DPoP proof are refused.
    dpop_bound_access_tokens: bool = False


@dataclass(slots=True)
class AdminSession:
    """An Admin Console sign-in: the ``sid`` cookie plus any other cookies the console requires with it,
    the network it was signed in from, and when it was last used (for the idle timeout)."""

    id: str
    xsrf_token: str
    admin_login: str = "admin@example.com"
    admin_id: str = "00uadmin0000000000001"
    cookies: dict[str, str] = field(default_factory=dict)  # required besides sid
    network: str = "local"  # where it was signed in; requests to the emulator come from "local"
    idle_timeout_seconds: float = 900.0  # Okta's default Admin Console idle time (15 minutes)
    last_seen: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class Job:
    """Background provisioning work for the engine, Okta's "task" before it fails."""

    kind: JobKind
    app_id: str
    user_id: str
    snapshot: dict[str, Any] = field(default_factory=dict)


class NotFound(Exception):
    """An app, group or user id that does not exist (404 E0000007)."""


class SortedKeys:
    """Sorted view of a dict's keys, rebuilt only after a mutation (cursor pagination by id)."""

    def __init__(self) -> None:
        self._version = -1
        self._keys: list[str] = []

    def get(self, mapping: dict[str, Any], version: int) -> list[str]:
        if version != self._version:
            self._keys = sorted(mapping)
            self._version = version
        return self._keys


class Store:
    """The whole org. Methods that mirror Okta operations keep Okta's side effects (events, jobs)."""

    def __init__(self) -> None:
        self.ids = IdFactory()
        self.users: dict[str, User] = {}
        self.users_by_login: dict[str, str] = {}
        self.groups: dict[str, Group] = {}
        self.groups_by_name: dict[str, str] = {}
        self.user_groups: dict[str, set[str]] = {}  # user id -> group ids
        self.apps: dict[str, App] = {}
        self.api_tokens: set[str] = set()
        self.service_apps: dict[str, ServiceApp] = {}
        self.admin_sessions: dict[str, AdminSession] = {}
        self.events: list[dict[str, Any]] = []
        self.event_times: list[float] = []
        self.scim_calls: list[dict[str, Any]] = []
        self.version = 0  # bumped on every mutation that changes list order/content
        self._sorted: dict[str, SortedKeys] = {}

    # --- helpers ------------------------------------------------------------------------------------
    def touch(self) -> None:
        self.version += 1

    def sorted_keys(self, name: str, mapping: dict[str, Any]) -> list[str]:
        view = self._sorted.setdefault(name, SortedKeys())
        return view.get(mapping, self.version)

    def app(self, app_id: str) -> App:
        app = self.apps.get(app_id)
        if app is None:
            raise NotFound(app_id)
        return app

    def group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            raise NotFound(group_id)
        return group

    def user(self, user_id: str) -> User:
        user = self.users.get(user_id)
        if user is None:
            raise NotFound(user_id)
        return user

    def resolve_user(self, ref: str) -> str:
        """A user id or login -> user id."""
        if ref in self.users:
            return ref
        found = self.users_by_login.get(ref.lower())
        if found is None:
            raise NotFound(ref)
        return found

    def user_group_ids(self, user_id: str) -> list[str]:
        """The groups a user is a member of, sorted by id (the order ``page_by_id`` pages in)."""
        return sorted(self.user_groups.get(user_id, ()))

    def resolve_group(self, ref: str) -> str:
        if ref in self.groups:
            return ref
        found = self.groups_by_name.get(ref)
        if found is None:
            raise NotFound(ref)
        return found

    # --- creation (seed and control) ----------------------------------------------------------------
    def add_user(
        self,
        profile: dict[str, Any],
        *,
        user_id: str | None = None,
        status: str = "ACTIVE",
        now: str | None = None,
    ) -> User:
        now = now or iso()
        prof = dict(profile)
        prof.setdefault("email", prof.get("login"))
        user = User(
            id=user_id or self.ids.new("00u"), profile=prof, status=status, created=now, last_updated=now
        )
        self.users[user.id] = user
        self.users_by_login[str(prof.get("login", "")).lower()] = user.id
        self.version += 1
        return user

    def add_group(
        self, name: str, *, group_id: str | None = None, description: str = "", now: str | None = None
    ) -> Group:
        now = now or iso()
        group = Group(
            id=group_id or self.ids.new("00g"),
            name=name,
            description=description,
            created=now,
            last_updated=now,
            last_membership_updated=now,
        )
        self.groups[group.id] = group
        self.groups_by_name.setdefault(name, group.id)
        self.touch()
        return group

    def add_app(
        self,
        name: str,
        label: str,
        kind: str,
        settings: AppSettings,
        *,
        app_id: str | None = None,
        sign_on_mode: str = "SAML_2_0",
        connection_status: str | None = None,
    ) -> App:
        if kind not in APP_KINDS:
            raise ValueError(f"app kind must be one of {APP_KINDS}, got {kind!r}")
        now = iso()
        app = App(
            id=app_id or self.ids.new("0oa"),
            name=name,
            label=label,
            kind=kind,
            settings=settings,
            sign_on_mode=sign_on_mode,
            created=now,
            last_updated=now,
            connection_status=connection_status,
        )
        app.settings_history.append(
            {"at": now, "source": "seed", "field": "deactivate_users", "value": settings.deactivate_users}
        )
        self.apps[app.id] = app
        self.touch()
        return app

    # --- settings ---------------------------------------------------------------------------------------
    def update_settings(self, app: App, changes: dict[str, Any], source: str) -> list[str]:
        """Apply setting changes; record every *Deactivate Users* change with time and source."""
        changed: list[str] = []
        for name, value in changes.items():
            if name not in AppSettings.FIELDS:
                raise ValueError(f"unknown setting {name!r}")
            if name in AppSettings.BOOL_FIELDS and not isinstance(value, bool):
                raise ValueError(f"setting {name!r} must be a boolean")
            if getattr(app.settings, name) != value:
                setattr(app.settings, name, value)
                changed.append(name)
                if name == "deactivate_users":
                    app.settings_history.append(
                        {"at": iso(), "source": source, "field": "deactivate_users", "value": value}
                    )
        if changed:
            app.last_updated = iso()
        return changed

    # --- assignments --------------------------------------------------------------------------------------
    def _entitled(self, app: App, user_id: str, *, ignore_group: str | None = None) -> bool:
        for gid in self.user_groups.get(user_id, ()):
            if gid != ignore_group and gid in app.groups:
                return True
        return False

    def _new_app_user(self, app: App, user: User, *, direct: bool) -> tuple[AppUser, list[Job]]:
        now = iso()
        s = app.settings
        user_name = str(user.profile.get("email") if s.unique_identifier == "email" else user.login)
        profile = {
            "email": user.profile.get("email"),
            "givenName": user.profile.get("firstName"),
            "familyName": user.profile.get("lastName"),
            "displayName": user.display_name,
        }
        app_user = AppUser(
            user_id=user.id,
            direct=direct,
            user_name=user_name,
            profile=profile,
            created=now,
            last_updated=now,
            status_changed=now,
        )
        jobs: list[Job] = []
        if app.provisioning_active:
            app_user.status, app_user.sync_state = "STAGED", "SYNCING"
            jobs.append(Job("create", app.id, user.id))
        else:
            # No push configured: assigned, nothing queued (docs/okta-behaviour.md, App users and sync state).
            app_user.status, app_user.sync_state = "ACTIVE", "DISABLED"
        app.users[user.id] = app_user
        return app_user, jobs

    def _membership_event(self, app: App, user: User, event_type: str, user_name: str | None = None) -> None:
        verb = "Add" if event_type.endswith(".add") else "Remove"
        self.log_event(
            event_type,
            f"{verb} user to application membership"
            if verb == "Add"
            else "Remove user's application membership",
            targets=self.app_user_targets(app, user, user_name),
        )

    def _remove_app_user(self, app: App, user_id: str) -> list[Job]:
        app_user = app.users.pop(user_id)
        self.touch()
        user = self.users[user_id]
        self._membership_event(app, user, "application.user_membership.remove", app_user.user_name)
        if app.deactivation_active:
            # Okta sets active=false with a PUT on AIW apps; it never DELETEs (docs/okta-behaviour.md, What
            # Okta sends to a SCIM target).
            return [
                Job(
                    "deactivate",
                    app.id,
                    user_id,
                    snapshot={
                        "external_id": app_user.external_id,
                        "user_name": app_user.user_name,
                        "profile": dict(app_user.profile),
                    },
                )
            ]
        return []

    def _add_entitlement(self, app: App, user_id: str, *, direct: bool) -> list[Job]:
        existing = app.users.get(user_id)
        if existing is not None:
            if direct and not existing.direct:
                existing.direct = True
                existing.last_updated = iso()
            return []
        user = self.users[user_id]
        _, jobs = self._new_app_user(app, user, direct=direct)
        self.touch()
        self._membership_event(app, user, "application.user_membership.add")
        return jobs

    def assign_group(
        self, app: App, group: Group, priority: int | None, profile: dict[str, Any] | None
    ) -> tuple[GroupAssignment, bool]:
        """PUT /apps/{id}/groups/{gid}: priority defaults to the next highest (docs/okta-behaviour.md, Group
        assignments and background jobs).

        Returns the assignment and whether it is new: a new one leaves Okta's background job to create the
        members' app users (``entitle_group_members``)."""
        now = iso()
        current = app.groups.get(group.id)
        if priority is None:
            if current is not None:
                priority = current.priority
            else:
                priority = max((a.priority for a in app.groups.values()), default=-1) + 1
        assignment = GroupAssignment(group.id, priority, dict(profile or {}), now)
        app.groups[group.id] = assignment
        self.touch()
        return assignment, current is None

    def entitle_group_members(self, app_id: str, group_id: str) -> list[Job]:
        """Okta's assignment job: an app user for every member the group entitles, if it still does."""
        app, group = self.apps.get(app_id), self.groups.get(group_id)
        if app is None or group is None or group_id not in app.groups:
            return []
        jobs: list[Job] = []
        for user_id in list(group.members):
            jobs += self._add_entitlement(app, user_id, direct=False)
        return jobs

    def unassign_group(self, app: App, group: Group) -> None:
        """DELETE /apps/{id}/groups/{gid}: the assignment goes at once; ``disentitle_group_members`` is the
        background job that removes the app users it entitled."""
        if group.id not in app.groups:
            raise NotFound(group.id)
        del app.groups[group.id]
        self.touch()
        # Okta's event type catalog lists group.application_assignment.remove ("Remove assigned application
        # from group"); the targets (the app and the group) are assumed (docs/resync.md "One writer per app").
        group_target = {
            "id": group.id,
            "type": "UserGroup",
            "alternateId": group.name,
            "displayName": group.name,
        }
        self.log_event(
            "group.application_assignment.remove",
            "Remove assigned application from group",
            targets=[self.app_target(app), group_target],
        )

    def disentitle_group_members(self, app_id: str, group_id: str) -> list[Job]:
        """Okta's unassignment job: remove the app users that nothing entitles any more, as of now."""
        app, group = self.apps.get(app_id), self.groups.get(group_id)
        if app is None or group is None:
            return []
        jobs: list[Job] = []
        for user_id in list(group.members):
            app_user = app.users.get(user_id)
            if app_user is None or app_user.direct or self._entitled(app, user_id):
                continue
            jobs += self._remove_app_user(app, user_id)
        return jobs

    def assign_user(self, app: App, user: User, profile: dict[str, Any] | None) -> tuple[AppUser, list[Job]]:
        jobs = self._add_entitlement(app, user.id, direct=True)
        app_user = app.users[user.id]
        if profile:
            app_user.profile.update(profile)
        return app_user, jobs

    def unassign_user(self, app: App, user_id: str) -> list[Job]:
        """DELETE /apps/{id}/users/{uid}. Raises PermissionError for a user only a group entitles."""
        app_user = app.users.get(user_id)
        if app_user is None:
            raise NotFound(user_id)
        if self._entitled(app, user_id):
            if not app_user.direct:
                # 403 E0000046 (docs/okta-behaviour.md, Authentication and errors)
                raise PermissionError(user_id)
            app_user.direct = False
            app_user.last_updated = iso()
            return []
        return self._remove_app_user(app, user_id)

    def update_app_user(self, app: App, user_id: str, body: dict[str, Any]) -> tuple[AppUser, list[Job]]:
        """POST /apps/{id}/users/{uid}: merge profile (and credentials.userName); may re-push."""
        app_user = app.users.get(user_id)
        if app_user is None:
            raise NotFound(user_id)
        profile = body.get("profile")
        if isinstance(profile, dict):
            app_user.profile.update(profile)
        creds = body.get("credentials")
        if isinstance(creds, dict) and isinstance(creds.get("userName"), str):
            app_user.user_name = creds["userName"]
        app_user.last_updated = iso()
        jobs: list[Job] = []
        if app_user.external_id is None:
            # Never created on the target (STAGED/ERROR): an update retries the create.
            if app.provisioning_active:
                app_user.sync_state = "SYNCING"
                jobs.append(Job("create", app.id, user_id))
        elif app.profile_push_active:
            app_user.sync_state = "SYNCING"
            jobs.append(Job("profile", app.id, user_id))
        return app_user, jobs

    def add_member(self, group: Group, user_id: str) -> list[Job]:
        if user_id in group.members:
            return []
        group.members[user_id] = None
        self.user_groups.setdefault(user_id, set()).add(group.id)
        group.last_membership_updated = iso()
        self.touch()
        jobs: list[Job] = []
        for app in self.apps.values():
            if group.id in app.groups:
                jobs += self._add_entitlement(app, user_id, direct=False)
        return jobs

    def remove_member(self, group: Group, user_id: str) -> list[Job]:
        if user_id not in group.members:
            return []
        del group.members[user_id]
        self.user_groups.get(user_id, set()).discard(group.id)
        group.last_membership_updated = iso()
        self.touch()
        jobs: list[Job] = []
        for app in self.apps.values():
            app_user = app.users.get(user_id)
            if (
                group.id in app.groups
                and app_user
                and not app_user.direct
                and not self._entitled(app, user_id)
            ):
                jobs += self._remove_app_user(app, user_id)
        return jobs

    def update_user_profile(self, user: User, changes: dict[str, Any]) -> list[Job]:
        """An Okta profile change: re-push to every app with Update User Attributes on."""
        old_login = user.login.lower()
        user.profile.update(changes)
        user.last_updated = iso()
        if user.login.lower() != old_login:
            self.users_by_login.pop(old_login, None)
            self.users_by_login[user.login.lower()] = user.id
        jobs: list[Job] = []
        for app in self.apps.values():
            app_user = app.users.get(user.id)
            if app_user is None:
                continue
            app_user.profile.update(
                {
                    "email": user.profile.get("email"),
                    "givenName": user.profile.get("firstName"),
                    "familyName": user.profile.get("lastName"),
                    "displayName": user.display_name,
                }
            )
            if app_user.external_id and app.profile_push_active:
                app_user.sync_state = "SYNCING"
                jobs.append(Job("profile", app.id, user.id))
        return jobs

    # --- system log ---------------------------------------------------------------------------------------
    def app_target(self, app: App) -> dict[str, Any]:
        return {"id": app.id, "type": "AppInstance", "alternateId": app.label, "displayName": app.label}

    def app_user_targets(self, app: App, user: User, user_name: str | None = None) -> list[dict[str, Any]]:
        """The targets of an event about one app user, as Okta writes them (docs/okta-behaviour.md, "System
        Log and provisioning events"): the ``AppUser`` (its own ``0ua`` id, the app username as
        ``alternateId``), the ``AppInstance``, and the ``User`` (the Okta user id and login)."""
        app_user = app.users.get(user.id)
        name = user_name or (app_user.user_name if app_user is not None else None) or user.login
        return [
            {
                "id": app_user_object_id(app.id, user.id),
                "type": "AppUser",
                "alternateId": name,
                "displayName": user.display_name,
                "detailEntry": None,
            },
            self.app_target(app),
            {
                "id": user.id,
                "type": "User",
                "alternateId": user.login,
                "displayName": user.display_name,
                "detailEntry": None,
            },
        ]

    def log_event(
        self,
        event_type: str,
        display_message: str,
        *,
        targets: list[dict[str, Any]],
        result: str = "SUCCESS",
        reason: str | None = None,
        actor: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        now = time.time()
        if self.event_times and now < self.event_times[-1]:
            now = self.event_times[-1]  # keep the log sorted even if the clock steps back
        event: dict[str, Any] = {
            "uuid": str(uuid.uuid4()),
            "published": iso(now),
            "eventType": event_type,
            "version": "0",
            "severity": "INFO" if result == "SUCCESS" else "WARN",
            "legacyEventType": None,
            "displayMessage": display_message,
            "actor": actor
            or {
                "id": "0oa1system00000000001",
                "type": "PublicClientApp",
                "alternateId": "Okta System",
                "displayName": "Okta System",
                "detailEntry": None,
            },
            "client": None,
            "outcome": {"result": result, "reason": reason},
            "target": targets,
            "transaction": {"type": "JOB", "id": secrets.token_hex(10), "detail": {}},
            "debugContext": {"debugData": {}},
            "authenticationContext": None,
            "securityContext": None,
            "request": {"ipChain": []},
        }
        self.events.append(event)
        self.event_times.append(now)
        return event

    def events_between(self, since: float, until: float) -> tuple[int, int]:
        """Index range [lo, hi) of events with since <= published < until."""
        return bisect.bisect_left(self.event_times, since), bisect.bisect_left(self.event_times, until)
