"""The one seam between oktasync and Okta (docs/architecture.md, Layers).

Workflows depend only on this protocol. Implementations:

* ``okta_gateway.sdk.SdkGateway`` — the public Management API through the official ``okta`` SDK, plus the
  Admin Console channel (``okta_gateway.admin``) when the config provides an admin session;
* ``okta_gateway.fake.FakeGateway`` — in memory, for unit tests.

Every method is async (the SDK is). Lists are complete or raise: an error mid-list is never a short list.
Writes return nothing; callers prove them with a read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from oktasync.models import (
    AdminProvisioningForm,
    App,
    AppUser,
    Connection,
    GroupAssignment,
    LogEvent,
    RateLimitState,
    ToAppSettings,
)


@dataclass(frozen=True)
class EventHook:
    """An Okta event hook as the Event Hooks API returns it (``/api/v1/eventHooks``). Okta never returns the
    secret (``channel.config.authScheme.value``): only the header name it goes in."""

    id: str
    name: str
    status: str  # ACTIVE | INACTIVE
    verification_status: str  # VERIFIED | UNVERIFIED
    uri: str
    events: tuple[str, ...]
    auth_header: str | None


@dataclass(frozen=True)
class EventHookSpec:
    """What ``create_event_hook`` / ``replace_event_hook`` send: one HTTP channel, one header secret."""

    name: str
    uri: str
    events: tuple[str, ...]
    auth_header: str
    secret: str = field(repr=False)


class OktaGateway(Protocol):
    # --- apps -------------------------------------------------------------------------------------
    async def find_apps(self, label: str) -> list[App]:
        """Apps whose label equals ``label`` exactly (Okta's ``q`` is a prefix match; we filter)."""
        ...

    async def get_app(self, app_id: str) -> App: ...

    # --- provisioning connection and features (api channel; only API-capable apps) ------------------
    async def get_connection(self, app_id: str) -> Connection: ...

    async def set_connection(self, app_id: str, base_url: str | None, token: str | None) -> None:
        """POST connections/default with a TOKEN profile; ``token=None`` keeps the current one."""
        ...

    async def activate_connection(self, app_id: str) -> None: ...

    async def get_to_app_settings(self, app_id: str) -> ToAppSettings | None:
        """USER_PROVISIONING capabilities, or None when the app does not support the features API."""
        ...

    async def update_to_app_settings(
        self,
        app_id: str,
        *,
        create_users: bool | None = None,
        update_user_attributes: bool | None = None,
        deactivate_users: bool | None = None,
    ) -> None:
        """Partial PUT of features/USER_PROVISIONING; only the given capabilities are sent."""
        ...

    # --- admin channel (custom SCIM apps, with an admin session) ------------------------------------
    def has_admin_session(self) -> bool: ...

    async def read_admin_form(self, app: App) -> AdminProvisioningForm: ...

    async def write_admin_form(
        self, app: App, changes: dict[str, Any], *, bearer_token: str | None = None
    ) -> None:
        """Post the full provisioning form: current values overlaid with ``changes`` (field names of
        ``AdminProvisioningForm``). ``bearer_token`` is sent only when given."""
        ...

    # --- assignments ----------------------------------------------------------------------------------
    async def list_group_assignments(self, app_id: str) -> list[GroupAssignment]: ...

    async def get_group_assignment(self, app_id: str, group_id: str) -> GroupAssignment | None: ...

    async def assign_group(
        self, app_id: str, group_id: str, priority: int | None, profile: dict[str, Any]
    ) -> GroupAssignment: ...

    async def unassign_group(self, app_id: str, group_id: str) -> None:
        """DELETE; a 404 (already gone) is success, so a resumed run can repeat it."""
        ...

    async def list_app_users(self, app_id: str, *, with_user: bool = True) -> list[AppUser]:
        """Every app user at the maximum page size (500). ``with_user`` embeds the Okta user
        (``expand=user``: login and email); without it each page is about half the size, for callers that
        only count app users by scope and sync state."""
        ...

    async def first_app_users(self, app_id: str, limit: int) -> list[AppUser]:
        """The first page of app users, at most ``limit`` (1..500), without ``expand=user``: one request,
        for probes that must stay cheap on an app with 50,000 users."""
        ...

    async def get_app_user(self, app_id: str, user_id: str) -> AppUser | None: ...

    async def update_app_user(self, app_id: str, user_id: str, profile: dict[str, Any]) -> AppUser: ...

    async def list_group_member_ids(self, group_id: str) -> list[str]: ...

    async def list_user_group_ids(self, user_id: str) -> list[str]:
        """Ids of every group the user is a member of (Users API "List all groups of a user",
        ``GET /api/v1/users/{id}/groups``), all pages. An unknown user raises ``NotFoundError``."""
        ...

    # --- system log -----------------------------------------------------------------------------------
    async def list_log_events(
        self, *, since: str, until: str | None = None, filter: str | None = None
    ) -> list[LogEvent]:
        """Bounded query (since..until, default until=now), ASCENDING, limit 1000, all pages."""
        ...

    # --- event hooks ------------------------------------------------------------------------------------
    async def list_event_hooks(self) -> list[EventHook]:
        """Every event hook of the org (``GET /api/v1/eventHooks``: one unpaged list)."""
        ...

    async def create_event_hook(self, spec: EventHookSpec) -> EventHook:
        """``POST /api/v1/eventHooks``: Okta creates it ACTIVE and UNVERIFIED."""
        ...

    async def replace_event_hook(self, hook_id: str, spec: EventHookSpec) -> EventHook:
        """``PUT /api/v1/eventHooks/{id}``; a changed channel needs a new verification."""
        ...

    async def activate_event_hook(self, hook_id: str) -> EventHook: ...

    async def verify_event_hook(self, hook_id: str) -> EventHook:
        """Okta calls the hook's URI with ``X-Okta-Verification-Challenge``; a failed verification is a 400
        (raised as ``OktaApiError``)."""
        ...

    # --- introspection ------------------------------------------------------------------------------
    def rate_limits(self) -> Sequence[RateLimitState]:
        """The last rate-limit headers seen, per bucket."""
        ...

    def request_count(self) -> int:
        """HTTP requests sent to Okta by this gateway (for reports and benchmarks)."""
        ...

    async def close(self) -> None: ...
