"""The Admin Console's provisioning settings page of a custom SCIM app (unsupported by Okta).

It follows the public evidence cited in docs/admin-console-channel.md; where the evidence is silent, the page
variant is a switch (``Behaviour.admin_form``):

* ``evidence``: only the fields public projects show on the wire: ``enabled``, ``scim_base_url``,
  ``scim_auth_header_value_new``, ``profileMaster``, ``pushNewAccount``, ``pushProfile``,
  ``pushDeactivation``, ``pushPassword``, ``syncUniquePassword``, ``cycleSyncedPassword``, each checkbox
  followed by its Spring marker ``_name=on``;
* ``full``: also the unique identifier, the authentication mode and the connector's Push New Users / Push
  Profile Updates actions, under names no public source shows (found by their labels);
* ``relabelled``: every field of ``full`` under other names and ids, same visible labels, no rendered markers;
* ``without_deactivate``: the evidence form without *Deactivate Users*.

Contract:

* Session: cookie ``sid`` (seeded ``admin_sessions``) plus every other cookie the session was seeded with
  (``cookies``). A missing or unknown session, one idle for longer than its idle timeout (15 minutes by
  default), or (with ``Behaviour.admin_network_binding``) one signed in from another network (the session is
  then revoked) → ``302`` to ``/login/default``.
* At most 40 requests per admin per endpoint in any 10 seconds, else ``429``.
* ``GET /admin/app/{appName}/instance/{appId}/settings/user-mgmt`` → 200 HTML: a hidden ``_xsrfToken``
  input and ``<form action="settings/user-mgmt">`` whose controls show the current values, each with a
  ``<label>``. The Bearer token is never rendered. 404 when the app's provisioning (General tab) is off.
* ``POST`` to the same URL (form-urlencoded) needs the session, ``X-Requested-With: XMLHttpRequest`` and the
  XSRF token in ``X-Okta-XsrfToken`` (or field ``_xsrfToken``), else ``403``. Spring binding: a checkbox is ON
  when posted (any value but ``false``), OFF when only its marker ``_name`` is posted, unchanged when neither
  is; a text field posted is set (unchanged when absent); an empty token field keeps the current token.
  ``400 {"status":"error","errors":{field: message}}`` for invalid values. Success → ``200 {"status":"ok"}``
  and a System Log ``application.lifecycle.update`` event with the admin as actor.
"""

from __future__ import annotations

import html
import json
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from oktasync.emulator.behaviour import ADMIN_FORMS
from oktasync.emulator.records import AdminSession, App

if TYPE_CHECKING:
    from oktasync.emulator.server import Emulator

LOGIN_PATH = "/login/default"
LOCAL_NETWORK = "local"  # the network every request to the emulator comes from
RATE_LIMIT, RATE_WINDOW = 40, 10.0
AUTH_MODES = ("header", "oauth2", "basic")
UNIQUE_IDENTIFIERS = ("userName", "email", "login", "externalId")


@dataclass(frozen=True)
class Control:
    """One field of the page: its form name, its kind, its label, and the setting it shows."""

    name: str
    kind: str  # text | password | checkbox | radio | select
    label: str
    setting: str | None = None  # AppSettings field; None for extras kept in App.console_extras
    extra: str | None = None  # key in App.console_extras (fields oktasync does not manage)
    options: tuple[str, ...] = ()
    value: str = "true"  # a checkbox's submitted value


EVIDENCE = (
    Control("enabled", "checkbox", "Enable API integration", extra="enabled"),
    Control("scim_base_url", "text", "SCIM connector base URL", setting="scim_base_url"),
    Control("scim_auth_header_value_new", "password", "Authorization", setting="bearer_token"),
    Control("profileMaster", "checkbox", "Profile Master", extra="profileMaster"),
    Control("pushNewAccount", "checkbox", "Create Users", setting="create_users"),
    Control("pushProfile", "checkbox", "Update User Attributes", setting="update_user_attributes"),
    Control("pushDeactivation", "checkbox", "Deactivate Users", setting="deactivate_users"),
    Control("pushPassword", "checkbox", "Sync Password", extra="pushPassword"),
    Control(
        "syncUniquePassword",
        "radio",
        "Password type",
        extra="syncUniquePassword",
        options=("false", "true"),
    ),
    Control("cycleSyncedPassword", "checkbox", "Password cycle", extra="cycleSyncedPassword"),
)
NOT_EVIDENCED = (
    Control(
        "scim_unique_identifier", "text", "Unique identifier field for users", setting="unique_identifier"
    ),
    Control("pushNewUsers", "checkbox", "Push New Users", setting="push_new_users"),
    Control("pushProfileUpdates", "checkbox", "Push Profile Updates", setting="push_profile_updates"),
    Control("scim_auth_mode", "select", "Authentication Mode", setting="auth_mode", options=AUTH_MODES),
)
EXTRA_DEFAULTS = {
    "enabled": "true",
    "profileMaster": "",
    "pushPassword": "",
    "syncUniquePassword": "false",
    "cycleSyncedPassword": "",
}


def controls_for(variant: str) -> tuple[tuple[Control, ...], bool]:
    """The page's fields for a variant, and whether the page renders the checkbox markers itself."""
    if variant == "evidence":
        return EVIDENCE, True
    if variant == "full":
        return EVIDENCE + NOT_EVIDENCED, True
    if variant == "relabelled":
        renamed = tuple(
            Control(f"f{i}_{c.kind}", c.kind, c.label, c.setting, c.extra, c.options, c.value)
            for i, c in enumerate(EVIDENCE + NOT_EVIDENCED)
        )
        return renamed, False
    if variant == "without_deactivate":
        return tuple(c for c in EVIDENCE if c.setting != "deactivate_users"), True
    raise ValueError(f"unknown admin_form variant {variant!r}; known: {', '.join(ADMIN_FORMS)}")


def _current(app: App, control: Control) -> Any:
    if control.setting is not None:
        return getattr(app.settings, control.setting)
    return app.console_extras.get(control.extra or "", EXTRA_DEFAULTS.get(control.extra or "", ""))


def _render_control(app: App, control: Control, index: int, markers: bool, relabelled: bool) -> str:
    element_id = f"c{index}" if relabelled else f"userMgmtSettings.{control.name}"
    name = html.escape(control.name, quote=True)
    label = f'<label for="{element_id}">{html.escape(control.label)}</label>'
    current = _current(app, control)
    if control.kind == "checkbox":
        on = bool(current) and current != "false"
        box = (
            f'<input type="checkbox" id="{element_id}" name="{name}" value="{control.value}"'
            f"{' checked' if on else ''}>"
        )
        marker = f'<input type="hidden" name="_{name}" value="on">' if markers else ""
        return f"<div>{box}{marker}{label}</div>"
    if control.kind == "radio":
        radios = "".join(
            f'<label><input type="radio" name="{name}" value="{o}"{" checked" if current == o else ""}>'
            f"{o}</label>"
            for o in control.options
        )
        return f"<div><span>{html.escape(control.label)}</span>{radios}</div>"
    if control.kind == "select":
        options = "".join(
            f'<option value="{o}"{" selected" if current == o else ""}>{o}</option>' for o in control.options
        )
        return f'<div>{label}<select id="{element_id}" name="{name}">{options}</select></div>'
    value = "" if control.kind == "password" else html.escape(str(current or ""), quote=True)
    return f'<div>{label}<input type="{control.kind}" id="{element_id}" name="{name}" value="{value}"></div>'


def render_page(app: App, session: AdminSession, variant: str) -> str:
    controls, markers = controls_for(variant)
    relabelled = variant == "relabelled"
    fields = [_render_control(app, c, i, markers, relabelled) for i, c in enumerate(controls)]
    label = html.escape(app.label)
    return (
        f"<!DOCTYPE html>\n<html><head><title>{label} - Provisioning</title></head><body>\n"
        f"<h1>{label}</h1>\n"
        '<form id="user-mgmt" method="post" action="settings/user-mgmt">\n'
        f'<input type="hidden" name="_xsrfToken" value="{html.escape(session.xsrf_token, quote=True)}">\n'
        + "\n".join(fields)
        + '\n<input type="submit" value="Save">\n</form>\n</body></html>\n'
    )


def bind(
    app: App, controls: tuple[Control, ...], form: Any
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Spring binding of a posted form: (setting changes, extras changes, errors)."""
    changes: dict[str, Any] = {}
    extras: dict[str, str] = {}
    errors: dict[str, str] = {}
    for control in controls:
        posted = form.getall(control.name, [])
        if control.kind == "checkbox":
            if posted:
                on = any(str(v).lower() != "false" for v in posted)
            elif f"_{control.name}" in form:
                on = False
            else:
                continue  # neither the box nor its marker: Spring leaves the property as it was
            if control.setting is not None:
                changes[control.setting] = on
            else:
                extras[control.extra or ""] = "true" if on else ""
            continue
        if not posted:
            continue
        value = str(posted[-1]).strip()
        if control.setting == "bearer_token":
            if value:
                changes["bearer_token"] = value
        elif control.setting is not None:
            error = _invalid(control.setting, value)
            if error:
                errors[control.name] = error
            else:
                changes[control.setting] = value or None
        else:
            extras[control.extra or ""] = value
    return changes, extras, errors


def _invalid(setting: str, value: str) -> str | None:
    if setting == "scim_base_url" and value and not value.startswith(("http://", "https://")):
        return "Enter a valid URL."
    if setting == "unique_identifier" and value not in UNIQUE_IDENTIFIERS:
        return f"Unknown attribute; use one of {list(UNIQUE_IDENTIFIERS)}."
    if setting == "auth_mode" and value not in AUTH_MODES:
        return f"Unsupported authentication mode; use one of {list(AUTH_MODES)}."
    return None


def add_routes(app: web.Application, em: Emulator) -> None:
    routes = _ConsoleRoutes(em)
    base = "/admin/app/{app_name}/instance/{app_id}/settings/user-mgmt"
    app.router.add_get(base, routes.page)
    app.router.add_post(base, routes.save)
    app.router.add_get(LOGIN_PATH, routes.login)


class _ConsoleRoutes:
    """The provisioning settings page, its form post and the sign-in page a lost session lands on."""

    def __init__(self, em: Emulator) -> None:
        self.em = em
        self.recent: dict[tuple[str, str], deque[float]] = {}  # requests per admin and path, for the limit

    def session_of(self, request: web.Request) -> AdminSession | None:
        sid = request.cookies.get("sid")
        session = self.em.store.admin_sessions.get(sid) if sid else None
        if session is None:
            return None
        if any(request.cookies.get(k) != v for k, v in session.cookies.items()):
            return None  # part of the cookie jar is missing
        now = time.monotonic()
        if now - session.last_seen > session.idle_timeout_seconds:
            self.em.store.admin_sessions.pop(session.id, None)  # idle too long: signed out
            return None
        if self.em.behaviour.admin_network_binding and session.network != LOCAL_NETWORK:
            self.em.store.admin_sessions.pop(session.id, None)  # Okta revokes the session (ASN binding)
            return None
        session.last_seen = now
        return session

    def over_limit(self, session: AdminSession, path: str) -> bool:
        times = self.recent.setdefault((session.admin_login, path), deque())
        now = time.monotonic()
        while times and times[0] <= now - RATE_WINDOW:
            times.popleft()
        if len(times) >= RATE_LIMIT:
            return True
        times.append(now)
        return False

    def signed_in(self, request: web.Request) -> tuple[AdminSession, App] | web.Response:
        """The admin session and the app of a console URL, or the answer a browser would get instead."""
        session = self.session_of(request)
        if session is None:
            return web.Response(status=302, headers={"Location": LOGIN_PATH})
        if self.over_limit(session, request.path):
            return web.Response(status=429, text="Too Many Requests", headers={"Retry-After": "10"})
        target = self.em.store.apps.get(request.match_info["app_id"])
        if (
            target is None
            or target.name != request.match_info["app_name"]
            or target.kind != "custom_scim"
            or not target.settings.provisioning_enabled
        ):
            return web.Response(
                status=404, text="<html><body>Not found</body></html>", content_type="text/html"
            )
        return session, target

    async def page(self, request: web.Request) -> web.Response:
        found = self.signed_in(request)
        if isinstance(found, web.Response):
            return found
        session, target = found
        return web.Response(
            text=render_page(target, session, self.em.behaviour.admin_form), content_type="text/html"
        )

    async def save(self, request: web.Request) -> web.Response:
        found = self.signed_in(request)
        if isinstance(found, web.Response):
            return found
        session, target = found
        form = await request.post()
        xsrf = request.headers.get("X-Okta-XsrfToken") or form.get("_xsrfToken")
        if request.headers.get("X-Requested-With") != "XMLHttpRequest" or xsrf != session.xsrf_token:
            return web.json_response(
                {"status": "error", "errors": {"_xsrfToken": "Invalid XSRF token"}}, status=403
            )
        controls, _ = controls_for(self.em.behaviour.admin_form)
        changes, extras, errors = bind(target, controls, form)
        if errors:
            return web.json_response({"status": "error", "errors": errors}, status=400)
        target.console_extras.update(extras)
        if self.em.store.update_settings(target, changes, "admin"):
            self.em.store.log_event(
                "application.lifecycle.update",
                "Update application",
                targets=[self.em.store.app_target(target)],
                actor={
                    "id": session.admin_id,
                    "type": "User",
                    "alternateId": session.admin_login,
                    "displayName": "Emulated Admin",
                    "detailEntry": None,
                },
            )
        return web.Response(body=json.dumps({"status": "ok"}).encode(), content_type="application/json")

    async def login(self, request: web.Request) -> web.Response:
        return web.Response(
            text="<html><head><title>Sign In</title></head><body>Sign In</body></html>",
            content_type="text/html",
        )
