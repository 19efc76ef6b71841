"""Domain values shared by the gateways and the workflows. Imports nothing else from oktasync.

These are oktasync's own shapes, independent of the okta SDK's generated models: the gateway translates
Okta's JSON into them (leniently, see okta_gateway), and the workflows only ever see these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class AppKind(enum.StrEnum):
    """What an app lets us do through the public API (docs/architecture.md, Channels)."""

    CUSTOM_SCIM = "custom_scim"  # connection UNKNOWN, features API unsupported: admin or manual channel
    API_CAPABLE = "api_capable"  # connection + features APIs work: api channel


class Channel(enum.StrEnum):
    API = "api"
    ADMIN = "admin"
    MANUAL = "manual"


@dataclass(frozen=True)
class App:
    id: str
    name: str  # Okta's app name (e.g. "scim2headerauth"); part of Admin Console URLs
    label: str
    status: str
    sign_on_mode: str | None
    features: tuple[str, ...]  # read-only features[]; may hold values the SDK's enum lacks


@dataclass(frozen=True)
class Connection:
    """GET /api/v1/apps/{id}/connections/default. ``UNKNOWN`` means provisioning is not API-managed."""

    status: str  # ENABLED | DISABLED | UNKNOWN
    auth_scheme: str  # TOKEN | OAUTH2 | UNKNOWN
    base_url: str | None


@dataclass(frozen=True)
class ToAppSettings:
    """The USER_PROVISIONING feature: Provisioning > To App."""

    create_users: bool
    update_user_attributes: bool
    deactivate_users: bool


@dataclass(frozen=True)
class AdminProvisioningForm:
    """The Admin Console's provisioning form for a custom SCIM app, as read from its page.

    The page may lack a field for some settings (docs/admin-console-channel.md): a value is None when the
    page has no field for it, and ``found`` names the settings it has a field for (``bearer_token`` when
    the page takes a new Bearer token). The token itself is write-only: at most the page says whether one
    is set (``bearer_token_set``, None when it does not say).
    """

    scim_base_url: str | None = None
    unique_identifier: str | None = None
    push_new_users: bool | None = None
    push_profile_updates: bool | None = None
    auth_mode: str | None = None
    bearer_token_set: bool | None = None
    create_users: bool | None = None
    update_user_attributes: bool | None = None
    deactivate_users: bool | None = None
    found: frozenset[str] = frozenset()
    found_by_label: frozenset[str] = frozenset()  # of ``found``: those found by label, not by evidenced name

    def has(self, name: str) -> bool:
        return name in self.found


@dataclass(frozen=True)
class GroupAssignment:
    """One group assigned to an app (GET /api/v1/apps/{id}/groups)."""

    group_id: str
    priority: int | None
    profile: dict[str, Any] = field(default_factory=dict)
    group_name: str | None = None  # filled when listed with expand=group


@dataclass(frozen=True)
class AppUser:
    """One user assigned to an app (GET /api/v1/apps/{id}/users?expand=user)."""

    id: str
    scope: str  # USER (direct) | GROUP
    status: str
    sync_state: str | None  # SYNCHRONIZED | SYNCING | OUT_OF_SYNC | ERROR | DISABLED
    external_id: str | None
    user_name: str | None  # credentials.userName: what the target sees as userName
    login: str | None = None  # from the embedded Okta user
    email: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    last_sync: str | None = None
    last_updated: str | None = None
    status_changed: str | None = None


@dataclass(frozen=True)
class LogEvent:
    """A System Log event, parsed leniently (reasons may be empty or longer than 255 characters)."""

    uuid: str
    published: str
    event_type: str
    result: str | None  # outcome.result
    reason: str | None  # outcome.reason, full length
    targets: tuple[dict[str, Any], ...] = ()
    actor: dict[str, Any] = field(default_factory=dict)
    display_message: str | None = None


@dataclass(frozen=True)
class RateLimitState:
    """The last X-Rate-Limit-* headers seen for one bucket."""

    bucket: str
    limit: int
    remaining: int
    reset_epoch: float
