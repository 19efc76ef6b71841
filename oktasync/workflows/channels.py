"""The managed provisioning settings, which channel writes each one, and which read proves it.

Every setting goes through a *channel* chosen per setting and per app kind (docs/plan-apply.md):

==================================  ======================  =======================  ================
setting                             API-capable (OIN) app   custom SCIM + admin      custom SCIM app
==================================  ======================  =======================  ================
General: Provisioning (SCIM)        not applicable          manual / features[]      manual / features[]
SCIM connector base URL             api / connection        admin / admin form       manual / no read
Unique identifier field for users   not applicable          admin / admin form       manual / no read
Push New Users (supported action)   not applicable          admin / admin form       manual / no read
Push Profile Updates (action)       not applicable          admin / admin form       manual / no read
Authentication mode (HTTP Header)   api / connection        admin / admin form       manual / no read
Bearer token                        api / conn. ENABLED     admin / no read          manual / no read
To App: Create Users                api / features API      admin / admin form       manual / features[]
To App: Update User Attributes      api / features API      admin / admin form       manual / features[]
To App: Deactivate Users            api / features API      admin / admin form       manual / features[]
==================================  ======================  =======================  ================

The admin column holds only for the settings whose field the Admin Console page has (it is found by the
name public evidence shows, else by its visible label; docs/admin-console-channel.md). A setting whose field
is not on the page falls back to the custom-app column, for that setting only.

Facts this table rests on (docs/okta-behaviour.md, "Apps, connections and features" and "Admin Console"):

* Kind probe: ``GET /connections/default`` answers 200 ``status: UNKNOWN`` for an app whose provisioning
  Okta does not manage through the API, and ``/features`` answers 400 for it. Both together mean a custom
  (App Integration Wizard) SCIM app, or an app whose provisioning was never switched on; anything else is
  treated as API-capable.
* Runbook step 4 (General tab > App Settings > Provisioning: SCIM > Save) shows in the app's read-only
  ``features[]`` as ``SCIM_PROVISIONING`` (an Application.features value in Okta's management spec). Until
  it is on, a custom app has no Provisioning tab: nothing else can be written, so it is planned first and
  only a person can do it.
* API-capable apps: the connection (base URL + ``TOKEN`` auth) is ``POST connections/default`` then
  ``lifecycle/activate``; the To App checkboxes are a partial ``PUT features/USER_PROVISIONING``. A 2xx
  proves nothing, so both are re-read.
* The unique identifier and the "Supported provisioning actions" of a connector exist only in the App
  Integration Wizard's SCIM connector form. An OIN integration that supports the Connections API has no such
  form: its matching rules and push actions are defined by the integration itself. We mark them **not
  applicable** for API-capable apps instead of inventing a manual step a person could not perform; ``plan``
  shows them as ``n/a`` and they never count as drift.
* Custom SCIM apps: no public API reads or writes the connector. The app's read-only ``features[]`` does show
  the To App checkboxes (``PUSH_NEW_USERS`` = Create Users, ``PUSH_PROFILE_UPDATES`` = Update User
  Attributes, ``PUSH_USER_DEACTIVATION`` = Deactivate Users), so without an admin session those three are
  verifiable though only a person can change them. With an admin session, the Admin Console's own form (an
  interface Okta does not support) reads and writes the fields it has; the Bearer token is write-only there.

Public helpers (used by plan/apply, doctor and the resync):

* :func:`probe_kind` — which kind of app this is;
* :func:`route` / :func:`routes` — the write channel and verifying read of each setting;
* :func:`read_actual` — every setting's actual value (or "unknown") with the read it came from;
* :func:`set_deactivate_users` — write *Deactivate Users* through the best channel and return only once a
  read proves it.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from oktasync.errors import ManualActionRequired, SafetyError, VerificationError
from oktasync.models import AdminProvisioningForm, App, AppKind, Channel, Connection, ToAppSettings
from oktasync.okta_gateway.base import OktaGateway
from oktasync.progress import NullProgress, Progress
from oktasync.workflows.manual_steps import steps_for
from oktasync.workflows.settings import (
    AUTH_MODE,
    BASE_URL,
    BEARER_TOKEN,
    CREATE_USERS,
    DEACTIVATE_USERS,
    FEATURE_FLAGS,
    NOT_APPLICABLE_TO_OIN,
    PROVISIONING,
    SETTINGS,
    SETTINGS_BY_KEY,
    TO_APP,
    UPDATE_USER_ATTRIBUTES,
    Setting,
)

# keyword of Gateway.update_to_app_settings for each To App setting
_TO_APP_KWARG: dict[str, str] = {
    CREATE_USERS.key: "create_users",
    UPDATE_USER_ATTRIBUTES.key: "update_user_attributes",
    DEACTIVATE_USERS.key: "deactivate_users",
}

READ_CONNECTION = "GET /api/v1/apps/{id}/connections/default"
READ_FEATURES = "GET /api/v1/apps/{id}/features/USER_PROVISIONING"
READ_ADMIN_FORM = "Admin Console provisioning form (admin session)"
READ_APP_FEATURES = "GET /api/v1/apps/{id} features[]"


ASSUMED_BY_LABEL = (
    "assumed: the Admin Console field labelled {label!r} is this setting (no public source shows its name)"
)
ASSUMED_TOKEN_POST = (
    "assumed: the form's new-token field takes the Bearer token (its name is evidenced, its effect is not "
    "readable)"
)


@dataclass(frozen=True)
class Route:
    """How one setting of one app is written and verified.

    ``write`` is None when the setting does not apply to this kind of app. ``read`` is None when nothing
    can read it back: such a setting is "cannot be verified", never "in sync". ``assumed`` names the
    behaviour the route relies on that no public source settles (docs/okta-behaviour.md), if any.
    """

    write: Channel | None
    read: str | None
    note: str = ""
    assumed: str = ""

    @property
    def applicable(self) -> bool:
        return self.write is not None

    @property
    def verifiable(self) -> bool:
        return self.read is not None


ASSUMED_FEATURE_FLAG = "assumed: features[] shows {flag} exactly when {label} is on in the console"


def _manual_route(setting: Setting, why: str = "") -> Route:
    if setting.key in FEATURE_FLAGS:
        flag = FEATURE_FLAGS[setting.key]
        label = setting.label.split(": ", 1)[-1] if setting.group == "to_app" else "Provisioning: SCIM"
        assumed = ASSUMED_FEATURE_FLAG.format(flag=flag, label=label)
        return Route(Channel.MANUAL, READ_APP_FEATURES + f" ({flag})", why, assumed)
    return Route(Channel.MANUAL, None, why or "no public API reads or writes a custom app's SCIM connector")


def route(
    setting: Setting, kind: AppKind, has_admin_session: bool, form: AdminProvisioningForm | None = None
) -> Route:
    """The channel that writes ``setting`` on this kind of app and the read that verifies it.

    ``form`` is the Admin Console page as read (None: not read): a setting whose field it lacks goes to a
    person, the others through the form.
    """
    if kind is AppKind.API_CAPABLE:
        if setting.key in NOT_APPLICABLE_TO_OIN:
            if setting is PROVISIONING:
                return Route(
                    None, None, "not applicable: an OIN integration's provisioning is its connection"
                )
            return Route(
                None, None, "not applicable: an OIN integration defines its own matching and actions"
            )
        if setting.group == "to_app":
            return Route(Channel.API, READ_FEATURES)
        if setting is BEARER_TOKEN:
            return Route(
                Channel.API,
                READ_CONNECTION + " (status ENABLED, authScheme TOKEN)",
                "write-only: the read proves a token is set, the state dir's fingerprint tells which",
            )
        if setting is AUTH_MODE:
            return Route(Channel.API, READ_CONNECTION + " (authScheme TOKEN)")
        return Route(Channel.API, READ_CONNECTION + " (baseUrl)")
    if setting is PROVISIONING:
        return _manual_route(setting, "only a person can switch it on (General tab)")
    if not has_admin_session:
        return _manual_route(setting)
    field = "bearer_token" if setting is BEARER_TOKEN else setting.admin_field
    if form is not None and not form.has(field):
        return _manual_route(setting, "the Admin Console page has no field for it")
    note = "Admin Console form: an interface Okta does not support"
    assumed = ""
    if form is not None and field in form.found_by_label:
        assumed = ASSUMED_BY_LABEL.format(label=setting.label.split(": ", 1)[-1])
    if setting is BEARER_TOKEN:
        readable = form is None or form.has("bearer_token_set")
        note += "; write-only" + (": the form says only whether a token is set" if readable else "")
        assumed = assumed or ("" if readable else ASSUMED_TOKEN_POST)
        return Route(Channel.ADMIN, READ_ADMIN_FORM if readable else None, note, assumed)
    return Route(Channel.ADMIN, READ_ADMIN_FORM, note, assumed)


def routes(
    kind: AppKind, has_admin_session: bool, form: AdminProvisioningForm | None = None
) -> dict[str, Route]:
    return {s.key: route(s, kind, has_admin_session, form) for s in SETTINGS}


# --- the kind probe -----------------------------------------------------------------------------------


async def probe_kind(gateway: OktaGateway, app: App) -> AppKind:
    """Custom SCIM app when the connection says ``UNKNOWN`` and the features API is unsupported.

    Both reads are needed: a bookmark app also answers ``UNKNOWN`` (docs/okta-behaviour.md), and an OIN app
    whose connection was never configured answers ``DISABLED`` with a readable features API.
    """
    kind, _ = await probe(gateway, app)
    return kind


@dataclass(frozen=True)
class ProbeReads:
    """The two reads the kind probe made, reusable by ``read_actual`` (saves two requests per plan)."""

    connection: Connection
    to_app: ToAppSettings | None


async def probe(gateway: OktaGateway, app: App) -> tuple[AppKind, ProbeReads]:
    """``probe_kind`` plus the reads it made."""
    connection = await gateway.get_connection(app.id)
    to_app = await gateway.get_to_app_settings(app.id)
    reads = ProbeReads(connection, to_app)
    if connection.status == "UNKNOWN" and to_app is None:
        return AppKind.CUSTOM_SCIM, reads
    return AppKind.API_CAPABLE, reads


# --- reading actual values ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ActualValue:
    """A setting's actual value as read, or unknown. For the Bearer token the value is ``True`` (set) or
    ``False`` (not set): the token itself is never readable."""

    known: bool
    value: Any = None
    read: str | None = None  # the read it came from

    @staticmethod
    def unknown(reason: str | None = None) -> ActualValue:
        return ActualValue(False, None, reason)


@dataclass(frozen=True)
class ActualSettings:
    kind: AppKind
    values: Mapping[str, ActualValue]
    features: tuple[str, ...] = ()
    form: AdminProvisioningForm | None = None  # the Admin Console page as read, if it was

    @property
    def provisioning_off(self) -> bool:
        """A custom app whose General tab Provisioning is known to be off (nothing else can be written)."""
        value = self.values.get(PROVISIONING.key)
        return self.kind is AppKind.CUSTOM_SCIM and value is not None and value.known and value.value is False

    def __getitem__(self, key: str) -> ActualValue:
        return self.values[key]

    def to_dict(self) -> dict[str, Any]:
        return {key: {"known": v.known, "value": v.value, "read": v.read} for key, v in self.values.items()}


def normalize_auth_mode(value: str | None) -> str | None:
    """The config says ``http_header``; the admin form and the Connections API have their own spellings."""
    if value is None:
        return None
    folded = value.strip().lower().replace(" ", "_").replace("-", "_")
    if folded in ("http_header", "header", "token", "httpheader"):
        return "http_header"
    return folded


def _from_features(setting: Setting, features: tuple[str, ...], why: str) -> ActualValue:
    flag = FEATURE_FLAGS.get(setting.key)
    if flag is None:
        return ActualValue.unknown(why)
    return ActualValue(True, flag in features, READ_APP_FEATURES + f" ({flag})")


def _from_admin_form(form: AdminProvisioningForm, features: tuple[str, ...]) -> dict[str, ActualValue]:
    out: dict[str, ActualValue] = {}
    for setting in SETTINGS:
        field = "bearer_token_set" if setting is BEARER_TOKEN else setting.admin_field
        if setting is PROVISIONING or not form.has(field):
            out[setting.key] = _from_features(setting, features, "the Admin Console page has no field for it")
            continue
        raw = getattr(form, field)
        if setting is AUTH_MODE:
            raw = normalize_auth_mode(raw)
        out[setting.key] = ActualValue(True, raw, READ_ADMIN_FORM)
    return out


async def read_actual(
    gateway: OktaGateway, app: App, kind: AppKind, *, reads: ProbeReads | None = None
) -> ActualSettings:
    """Every managed setting's actual value, each with the read it came from (or unknown and why).

    * API-capable: the connection and the USER_PROVISIONING feature (or ``reads``, if the probe just made
      them).
    * Custom SCIM: the app's ``features[]`` (Provisioning, and the To App checkboxes); then, with an admin
      session and Provisioning on, the Admin Console form for the settings it has a field for (raises
      ``AdminSessionError`` if the session is rejected). The connector is otherwise unknown.
    """
    values: dict[str, ActualValue] = {}
    features: tuple[str, ...] = app.features
    form: AdminProvisioningForm | None = None
    if kind is AppKind.API_CAPABLE:
        if reads is not None:  # just read by the kind probe
            connection, to_app = reads.connection, reads.to_app
        else:
            connection = await gateway.get_connection(app.id)
            to_app = await gateway.get_to_app_settings(app.id)
        # A missing baseUrl reads as "not set", so after a write a missing one fails verification loudly
        # instead of passing silently.
        values[BASE_URL.key] = ActualValue(True, connection.base_url, READ_CONNECTION)
        scheme = connection.auth_scheme.upper()
        values[AUTH_MODE.key] = ActualValue(
            True, "http_header" if scheme == "TOKEN" else scheme.lower(), READ_CONNECTION
        )
        values[BEARER_TOKEN.key] = ActualValue(
            True, scheme == "TOKEN" and connection.status == "ENABLED", READ_CONNECTION
        )
        for key in NOT_APPLICABLE_TO_OIN:
            values[key] = ActualValue.unknown("not applicable")
        for setting in TO_APP:
            if to_app is None:
                values[setting.key] = ActualValue.unknown(READ_FEATURES + " is not supported by this app")
            else:
                values[setting.key] = ActualValue(
                    True, getattr(to_app, _TO_APP_KWARG[setting.key]), READ_FEATURES
                )
        return ActualSettings(kind, values, features)
    features = (await gateway.get_app(app.id)).features
    provisioning_on = FEATURE_FLAGS[PROVISIONING.key] in features
    if gateway.has_admin_session() and provisioning_on:
        form = await gateway.read_admin_form(app)
        values = _from_admin_form(form, features)
    else:
        why = (
            "no Provisioning tab until General > Provisioning: SCIM is on"
            if not provisioning_on
            else "no read path without an admin session"
        )
        values = {setting.key: _from_features(setting, features, why) for setting in SETTINGS}
    return ActualSettings(kind, values, features, form)


# --- Deactivate Users, for the resync --------------------------------------------------------------------

WaitForPerson = Callable[[list[str]], Awaitable[None] | None]


async def read_deactivate_users(gateway: OktaGateway, app: App, kind: AppKind) -> tuple[bool, Channel]:
    """The actual *Deactivate Users* state through the channel that would write it (always readable)."""
    if kind is AppKind.API_CAPABLE:
        to_app = await gateway.get_to_app_settings(app.id)
        if to_app is None:
            raise VerificationError(
                f"{app.label}: the features API stopped answering; cannot read Deactivate Users"
            )
        return to_app.deactivate_users, Channel.API
    if gateway.has_admin_session():
        form = await gateway.read_admin_form(app)
        if form.has("deactivate_users"):
            return bool(form.deactivate_users), Channel.ADMIN
        # The page has no Deactivate Users field: a person switches it, features[] shows it.
    fresh = await gateway.get_app(app.id)
    return FEATURE_FLAGS[DEACTIVATE_USERS.key] in fresh.features, Channel.MANUAL


async def set_deactivate_users(
    gateway: OktaGateway,
    app: App,
    kind: AppKind,
    enabled: bool,
    *,
    wait_for_person: WaitForPerson | None = None,
    poll_interval: float = 5.0,
    timeout: float = 900.0,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Channel:
    """Set *Provisioning > To App > Deactivate Users* to ``enabled``; return only once a read proves it.

    Contract:

    1. Reads the current state first through the best channel (api: features/USER_PROVISIONING; admin:
       the admin form, when the page has the field; manual: the app's ``features[]``). If it already is
       ``enabled``, nothing is written and the channel that would have written it is returned.
    2. api / admin: writes only this checkbox (partial PUT / the form with only this field changed), re-reads
       through the same channel and returns the channel. A read-back that disagrees raises
       ``VerificationError`` (exit 1).
    3. manual (custom SCIM app without an admin session): with ``wait_for_person=None`` raises
       ``ManualActionRequired`` carrying the console steps. Otherwise calls ``wait_for_person(steps)`` once
       (it may be async; typically it shows the steps to the operator), then polls ``features[]`` every
       ``poll_interval`` seconds until it shows the change, and returns ``Channel.MANUAL``; after
       ``timeout`` seconds it raises ``SafetyError`` (exit 4) — the caller must not go on unconfirmed.

    Never raises after a write without having re-read. Gateway errors (``OktaApiError``,
    ``AdminSessionError``) propagate unchanged.
    """
    actual, channel = await read_deactivate_users(gateway, app, kind)
    if actual == enabled:
        return channel
    if channel is Channel.API:
        await gateway.update_to_app_settings(app.id, deactivate_users=enabled)
    elif channel is Channel.ADMIN:
        await gateway.write_admin_form(app, {"deactivate_users": enabled})
    else:
        steps = steps_for(app, {DEACTIVATE_USERS.key: enabled})
        if wait_for_person is None:
            raise _person_must_switch(gateway, app, enabled, steps)
        shown = wait_for_person(steps)
        if inspect.isawaitable(shown):
            await shown
        poll = _Poll(poll_interval, timeout, progress or NullProgress(), clock)
        await _poll_until_switched(gateway, app, kind, enabled, poll)
        return Channel.MANUAL
    actual, _ = await read_deactivate_users(gateway, app, kind)
    if actual != enabled:
        raise VerificationError(
            f"{app.label}: wrote Deactivate Users = {enabled} through the {channel} channel, "
            f"but reading it back gives {actual}",
            hint="Okta accepted the write without applying it; check the app's Provisioning tab",
        )
    return channel


def _person_must_switch(
    gateway: OktaGateway, app: App, enabled: bool, steps: list[str]
) -> ManualActionRequired:
    """The error that hands the console steps to the caller when nobody waits for a person."""
    why = (
        "(the Admin Console page has no Deactivate Users field)"
        if gateway.has_admin_session()
        else "(no admin session given)"
    )
    return ManualActionRequired(
        f"{app.label}: only a person can switch Deactivate Users {_on_off(enabled)} on this custom SCIM app "
        + why,
        steps,
        hint="do these steps in the Admin Console, or give an admin session (okta.admin_session)",
    )


@dataclass(frozen=True)
class _Poll:
    """How to wait for a person: every ``interval`` seconds, ``timeout`` seconds at most."""

    interval: float
    timeout: float
    progress: Progress
    clock: Callable[[], float]


async def _poll_until_switched(
    gateway: OktaGateway, app: App, kind: AppKind, enabled: bool, poll: _Poll
) -> None:
    """Poll ``features[]`` until it shows Deactivate Users switched to ``enabled``; ``SafetyError`` after
    ``poll.timeout`` seconds, so that the caller never goes on unconfirmed."""
    deadline = poll.clock() + poll.timeout
    poll.progress.note(f"{app.label}: waiting for Deactivate Users to be switched {_on_off(enabled)}")
    while True:
        actual, _ = await read_deactivate_users(gateway, app, kind)
        if actual == enabled:
            return
        if poll.clock() >= deadline:
            raise SafetyError(
                f"{app.label}: Deactivate Users still {_on_off(not enabled)} after waiting {poll.timeout:g}s",
                hint="do the console steps, then run the command again",
            )
        await asyncio.sleep(poll.interval)


def _on_off(enabled: bool) -> str:
    return "on" if enabled else "off"


__all__ = [
    "PROVISIONING",
    "SETTINGS",
    "SETTINGS_BY_KEY",
    "ActualSettings",
    "ActualValue",
    "Route",
    "Setting",
    "normalize_auth_mode",
    "probe",
    "probe_kind",
    "read_actual",
    "read_deactivate_users",
    "route",
    "routes",
    "set_deactivate_users",
]
