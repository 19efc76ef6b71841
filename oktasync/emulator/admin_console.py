"""The Admin Console's provisioning form (unsupported by Okta; reference/okta-api.md §1.8).

Contract (the ``admin`` channel of the Okta gateway builds against exactly this):

* Session: cookie ``sid=<admin session id>`` (seeded ``admin_sessions``). Missing or unknown → ``302`` to
  ``/login/default`` with no JSON.
* ``GET /admin/app/{appName}/instance/{appId}/`` → 200 HTML with ``<span id="_xsrfToken">TOKEN</span>`` and
  ``<form id="user-mgmt">`` whose inputs show the current values (see ``FIELDS``). The Bearer token is never
  rendered: ``scim_auth_header_value_new`` is always empty and hidden ``scim_auth_header_set`` says
  ``true``/``false``.
* ``POST /admin/app/{appName}/instance/{appId}/settings/user-mgmt`` (form-urlencoded) needs the cookie,
  ``X-Requested-With: XMLHttpRequest`` and the XSRF token in ``X-Okta-XsrfToken`` (or field ``_xsrfToken``);
  otherwise ``403``. It is a **full-form post**: a checkbox is ON when posted as ``true`` or ``on`` and OFF
  when absent, as browsers send forms; the text fields ``scim_base_url``, ``scim_unique_identifier`` and
  ``scim_auth_mode`` are required (``400 {"status":"error","errors":{field: message}}`` when missing);
  ``scim_auth_header_value_new`` empty or absent keeps the current token. Success → ``200 {"status":"ok"}``
  and a System Log ``application.lifecycle.update`` event with the admin as actor.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from oktasync.emulator.store import AdminSession, App

if TYPE_CHECKING:
    from oktasync.emulator.server import Emulator

LOGIN_PATH = "/login/default"

# form field -> setting; text fields first, then checkboxes.
TEXT_FIELDS = {
    "scim_base_url": "scim_base_url",
    "scim_unique_identifier": "unique_identifier",
    "scim_auth_mode": "auth_mode",
}
CHECKBOXES = {
    "pushNewUsers": "push_new_users",  # connector: Supported provisioning actions > Push New Users
    "pushProfileUpdates": "push_profile_updates",  # connector: Push Profile Updates
    "pushNewAccount": "create_users",  # To App: Create Users
    "pushProfile": "update_user_attributes",  # To App: Update User Attributes
    "pushDeactivation": "deactivate_users",  # To App: Deactivate Users
}
AUTH_MODES = ("header",)
UNIQUE_IDENTIFIERS = ("userName", "email", "login", "externalId")


def _session(em: Emulator, request: web.Request) -> AdminSession | None:
    sid = request.cookies.get("sid")
    return em.store.admin_sessions.get(sid) if sid else None


def _redirect() -> web.Response:
    return web.Response(status=302, headers={"Location": LOGIN_PATH})


def _find_app(em: Emulator, request: web.Request) -> App | None:
    app = em.store.apps.get(request.match_info["app_id"])
    if app is None or app.name != request.match_info["app_name"]:
        return None
    return app


def render_page(app: App, session: AdminSession) -> str:
    s = app.settings

    def text(name: str, value: str | None) -> str:
        return f'<input type="text" name="{name}" value="{html.escape(value or "", quote=True)}">'

    def box(name: str, on: bool) -> str:
        return f'<input type="checkbox" name="{name}"{" checked" if on else ""}>'

    fields = [
        text("scim_base_url", s.scim_base_url),
        text("scim_unique_identifier", s.unique_identifier),
        box("pushNewUsers", s.push_new_users),
        box("pushProfileUpdates", s.push_profile_updates),
        text("scim_auth_mode", s.auth_mode),
        '<input type="password" name="scim_auth_header_value_new" value="">',
        f'<input name="scim_auth_header_set" value="{"true" if s.bearer_token else "false"}" type="hidden">',
        box("pushNewAccount", s.create_users),
        box("pushProfile", s.update_user_attributes),
        box("pushDeactivation", s.deactivate_users),
    ]
    label = html.escape(app.label)
    return (
        "<!DOCTYPE html>\n<html><head><title>"
        + label
        + " - Provisioning</title></head><body>\n"
        + f'<span id="_xsrfToken">{html.escape(session.xsrf_token)}</span>\n'
        + f"<h1>{label}</h1>\n"
        + '<form id="user-mgmt" method="post" action="settings/user-mgmt"'
        + f' data-app-id="{html.escape(app.id)}">\n'
        + "\n".join(fields)
        + "\n</form>\n</body></html>\n"
    )


def add_routes(app: web.Application, em: Emulator) -> None:
    base = "/admin/app/{app_name}/instance/{app_id}"

    def signed_in(request: web.Request) -> tuple[AdminSession, App] | web.Response:
        """The admin session and the app of a console URL, or the answer a browser would get instead."""
        session = _session(em, request)
        if session is None:
            return _redirect()
        target = _find_app(em, request)
        if target is None:
            return web.Response(
                status=404, text="<html><body>Not found</body></html>", content_type="text/html"
            )
        return session, target

    async def page(request: web.Request) -> web.Response:
        found = signed_in(request)
        if isinstance(found, web.Response):
            return found
        session, target = found
        return web.Response(text=render_page(target, session), content_type="text/html")

    async def save(request: web.Request) -> web.Response:
        found = signed_in(request)
        if isinstance(found, web.Response):
            return found
        session, target = found
        form = await request.post()
        xsrf = request.headers.get("X-Okta-XsrfToken") or form.get("_xsrfToken")
        if request.headers.get("X-Requested-With") != "XMLHttpRequest" or xsrf != session.xsrf_token:
            return web.json_response(
                {"status": "error", "errors": {"_xsrfToken": "Invalid XSRF token"}}, status=403
            )
        errors: dict[str, str] = {}
        changes: dict[str, Any] = {}
        for field, setting in TEXT_FIELDS.items():
            value = form.get(field)
            if not isinstance(value, str) or not value.strip():
                errors[field] = "This field is required."
                continue
            changes[setting] = value.strip()
        if changes.get("auth_mode") not in (None, *AUTH_MODES):
            errors["scim_auth_mode"] = f"Unsupported authentication mode; use one of {list(AUTH_MODES)}."
        if changes.get("unique_identifier") not in (None, *UNIQUE_IDENTIFIERS):
            errors["scim_unique_identifier"] = f"Unknown attribute; use one of {list(UNIQUE_IDENTIFIERS)}."
        url = changes.get("scim_base_url")
        if isinstance(url, str) and not url.startswith(("http://", "https://")):
            errors["scim_base_url"] = "Enter a valid URL."
        if errors:
            return web.json_response({"status": "error", "errors": errors}, status=400)
        for field, setting in CHECKBOXES.items():
            value = form.get(field)
            changes[setting] = isinstance(value, str) and value.lower() in ("true", "on")
        token = form.get("scim_auth_header_value_new")
        if isinstance(token, str) and token:
            changes["bearer_token"] = token
        if em.store.update_settings(target, changes, "admin"):
            em.store.log_event(
                "application.lifecycle.update",
                "Update application",
                targets=[em.store.app_target(target)],
                actor={
                    "id": session.admin_id,
                    "type": "User",
                    "alternateId": session.admin_login,
                    "displayName": "Emulated Admin",
                    "detailEntry": None,
                },
            )
        return web.Response(body=json.dumps({"status": "ok"}).encode(), content_type="application/json")

    async def login(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Sign In</body></html>", content_type="text/html")

    app.router.add_get(base + "/", page)
    app.router.add_post(base + "/settings/user-mgmt", save)
    app.router.add_get(LOGIN_PATH, login)
