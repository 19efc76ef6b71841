"""The emulated org's records (users, groups, apps and their settings, assignments, app users, service apps,
Admin Console sessions, provisioning jobs), the ids and timestamps Okta gives them, and ``NotFound``.

Plain data with the few rules that read only one record (which features an app's settings switch on,
whether it pushes). They are apart from ``store.py`` so that the routes, the seed format and the
provisioning engine can use the shapes without the rules that change the org.
"""

from __future__ import annotations

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
