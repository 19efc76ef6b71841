"""The ``admin`` channel: the Admin Console's own provisioning form, driven with an admin's web session.

**Okta does not support this interface.** It is what the Admin Console's browser page posts; it is not part of
the Management API, is unversioned and may change without notice. The field names come from a public
security-research proof of concept (authomize/okta_scim_attack_tool, reference/okta-api.md §1.8), not from
Okta documentation. oktasync uses it only for custom (App Integration Wizard) SCIM apps, where Okta offers no
API for the SCIM connector settings, and only when the tenant config provides ``okta.admin_session``. Every
write is re-read and checked; anything that cannot be confirmed is reported, never assumed
(docs/admin-console-channel.md).

Contract (the emulator implements exactly this):

* Session: cookie ``sid=<admin_session>`` sent to the org's Admin Console host — ``https://<org>-admin.okta.com``
  for ``https://<org>.okta.com`` (same host:port for a loopback emulator). A 302 to ``/login/…`` (redirects
  are not followed) or a 401/403 means the session is invalid or expired.
* Read: ``GET /admin/app/{app.name}/instance/{app.id}/`` → HTML with ``<span id="_xsrfToken">`` and the form's
  inputs holding the current values.
* Write: ``POST /admin/app/{app.name}/instance/{app.id}/settings/user-mgmt``, form-urlencoded, with
  ``X-Okta-XsrfToken`` and ``X-Requested-With: XMLHttpRequest``. A **full form post** with HTML checkbox
  semantics (absent = off): we always read the form first, overlay the changes and post every field.
  The form body is never logged (it may carry the SCIM Bearer token).

Retries: every request goes through the API's one retry policy (``transport.send_with_policy``, paced in
the ``/admin`` bucket): 429s wait for the reset, 503s and dropped connections are retried with jittered
backoff. That includes the POST: because it is a full-form replace of values we read just before (every
field posted, nothing relative), posting the same form twice leaves the same settings as posting it once —
it is idempotent like a PUT (docs/admin-console-channel.md, "Write"). Then the caller's read-back proves it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from oktasync.errors import AdminSessionError, ApiErrorDetails, OktaApiError, TransientApiError
from oktasync.loopback import is_loopback_host
from oktasync.models import AdminProvisioningForm, App
from oktasync.okta_gateway.pacing import ADMIN, Pacer, RetryPolicy
from oktasync.okta_gateway.transport import USER_AGENT, send_with_policy

log = logging.getLogger("oktasync.okta.admin")

SESSION_HINT = (
    "sign in to the Admin Console in a browser, copy the value of the `sid` cookie of the -admin host "
    "(developer tools > Application > Cookies) into OKTA_ADMIN_SESSION (okta.admin_session), and run again"
)

# Form field -> AdminProvisioningForm field.
TEXT_FIELDS = {
    "scim_base_url": "scim_base_url",
    "scim_unique_identifier": "unique_identifier",
    "scim_auth_mode": "auth_mode",
}
CHECKBOXES = {
    "pushNewUsers": "push_new_users",  # connector: Supported provisioning actions > Push New Users
    "pushProfileUpdates": "push_profile_updates",  # connector: Push Profile Updates
    "pushNewAccount": "create_users",  # Provisioning > To App: Create Users
    "pushProfile": "update_user_attributes",  # To App: Update User Attributes
    "pushDeactivation": "deactivate_users",  # To App: Deactivate Users
}
WRITABLE = frozenset(TEXT_FIELDS.values()) | frozenset(CHECKBOXES.values())


def admin_base_url(org_url: str) -> str:
    """``https://acme.okta.com`` → ``https://acme-admin.okta.com``; loopback URLs are used as they are."""
    parts = urlsplit(org_url)
    host = parts.hostname or ""
    if is_loopback_host(host) or "-admin." in host:
        return org_url.rstrip("/")
    first, dot, rest = host.partition(".")
    netloc = f"{first}-admin{dot}{rest}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, "", "", "")).rstrip("/")


class _FormParser(HTMLParser):
    """Collects the XSRF token and the provisioning form's inputs (stdlib parser: tolerant of real HTML)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.xsrf: str | None = None
        self._in_xsrf = False
        self.inputs: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "span" and attributes.get("id") == "_xsrfToken":
            self._in_xsrf = True
            self.xsrf = ""
        elif tag == "input" and attributes.get("name"):
            self.inputs[str(attributes["name"])] = attributes

    def handle_endtag(self, tag: str) -> None:
        if tag == "span":
            self._in_xsrf = False

    def handle_data(self, data: str) -> None:
        if self._in_xsrf and self.xsrf is not None:
            self.xsrf += data


def parse_form(page: str) -> tuple[str, AdminProvisioningForm]:
    """The XSRF token and the form's current values. Raises OktaApiError when the page is not the form."""
    parser = _FormParser()
    parser.feed(page)
    parser.close()
    missing = [n for n in (*TEXT_FIELDS, *CHECKBOXES, "scim_auth_header_set") if n not in parser.inputs]
    if not parser.xsrf or missing:
        raise OktaApiError(
            "the Admin Console page does not have the expected provisioning form "
            f"(missing: {', '.join(missing) or 'XSRF token'}); Okta may have changed this unsupported page",
            hint="configure the remaining settings by hand (oktasync prints the steps) and report this",
        )

    def text(name: str) -> str | None:
        value = parser.inputs[name].get("value")
        return value if value else None

    def checked(name: str) -> bool:
        return "checked" in parser.inputs[name]

    form = AdminProvisioningForm(
        scim_base_url=text("scim_base_url"),
        unique_identifier=text("scim_unique_identifier"),
        push_new_users=checked("pushNewUsers"),
        push_profile_updates=checked("pushProfileUpdates"),
        auth_mode=text("scim_auth_mode"),
        bearer_token_set=(parser.inputs["scim_auth_header_set"].get("value") or "").lower() == "true",
        create_users=checked("pushNewAccount"),
        update_user_attributes=checked("pushProfile"),
        deactivate_users=checked("pushDeactivation"),
    )
    return parser.xsrf.strip(), form


def form_fields(form: AdminProvisioningForm, xsrf: str, bearer_token: str | None) -> list[tuple[str, str]]:
    """Every field of the full post: text fields, checked boxes as ``name=true`` (unchecked omitted)."""
    values = asdict(form)
    fields: list[tuple[str, str]] = [("_xsrfToken", xsrf), ("enabled", "true")]
    for name, attr in TEXT_FIELDS.items():
        fields.append((name, values[attr] or ""))
    for name, attr in CHECKBOXES.items():
        if values[attr]:
            fields.append((name, "true"))
    # Empty keeps the current token; only a new one is sent.
    fields.append(("scim_auth_header_value_new", bearer_token or ""))
    return fields


class AdminChannel:
    """The Admin Console form over httpx with the admin's ``sid`` cookie. Unsupported by Okta (see module)."""

    def __init__(
        self,
        org_url: str,
        session_id: str,
        pacer: Pacer,
        *,
        retry: RetryPolicy | None = None,
        client: httpx.AsyncClient | None = None,
    ):
        self.base_url = admin_base_url(org_url)
        self.pacer = pacer
        self.retry = retry or RetryPolicy()  # the gateway passes its transport's policy: one policy
        self.sent = 0
        self.client = client or httpx.AsyncClient(
            base_url=self.base_url,
            verify=True,
            trust_env=False,
            follow_redirects=False,  # a redirect to /login means the session is gone: never follow it
            timeout=httpx.Timeout(60.0, connect=15.0),
            # The client only ever talks to base_url (relative paths, no redirects), so the cookie cannot
            # reach another host.
            headers={"User-Agent": USER_AGENT, "Cookie": f"sid={session_id}"},
        )

    def __repr__(self) -> str:
        return f"AdminChannel({self.base_url!r}, sid=(sensitive))"

    async def aclose(self) -> None:
        await self.client.aclose()

    def _path(self, app: App) -> str:
        return f"/admin/app/{quote(app.name, safe='')}/instance/{quote(app.id, safe='')}/"

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            self.sent += 1
            return await self.client.request(method, path, **kwargs)

        # Idempotent, POST included: the read-page GET, and the full-form post (see the module docstring).
        response = await send_with_policy(
            self.pacer,
            self.retry,
            send,
            method=method,
            url=path,
            bucket=ADMIN,
            idempotent=True,
            who="the Admin Console",
        )
        location = response.headers.get("location", "")
        if response.status_code in (401, 403) and "xsrf" not in response.text.lower():
            raise AdminSessionError(
                f"the Admin Console rejected the admin session (HTTP {response.status_code})",
                hint=SESSION_HINT,
            )
        if response.is_redirect:
            if "/login" in location:
                raise AdminSessionError("the Admin Console session is invalid or expired", hint=SESSION_HINT)
            raise OktaApiError(
                f"unexpected redirect from the Admin Console for {method} {path} to {location}"
            )
        if response.status_code >= 400:
            details = ApiErrorDetails(
                status=response.status_code,
                request_id=response.headers.get("x-okta-request-id"),
                method=method,
                url=path,
            )
            summary = _error_summary(response)
            if response.status_code == 429 or response.status_code >= 500:  # after the policy's retries
                raise TransientApiError(
                    f"the Admin Console could not serve {method} {path} (HTTP {response.status_code})",
                    details,
                    hint="retry later",
                )
            raise OktaApiError(f"the Admin Console refused {method} {path}{summary}", details)
        return response

    async def read_page(self, app: App) -> tuple[str, AdminProvisioningForm]:
        response = await self._send("GET", self._path(app), headers={"Accept": "text/html"})
        return parse_form(response.text)

    async def read_form(self, app: App) -> AdminProvisioningForm:
        return (await self.read_page(app))[1]

    async def write_form(self, app: App, changes: dict[str, Any], *, bearer_token: str | None = None) -> None:
        """Read the form, overlay ``changes`` (``AdminProvisioningForm`` field names), post every field."""
        unknown = set(changes) - WRITABLE
        if unknown:
            raise ValueError(
                f"not writable admin form fields: {sorted(unknown)}; writable: {sorted(WRITABLE)}"
            )
        xsrf, current = await self.read_page(app)
        merged = AdminProvisioningForm(**{**asdict(current), **changes})
        log.info(
            "posting the Admin Console provisioning form of %s (%s): %s", app.label, app.id, sorted(changes)
        )
        await self._send(
            "POST",
            self._path(app) + "settings/user-mgmt",
            data=dict(form_fields(merged, xsrf, bearer_token)),
            headers={
                "X-Okta-XsrfToken": xsrf,
                "X-Requested-With": "XMLHttpRequest",
                "Accept": "application/json",
            },
        )


def _error_summary(response: httpx.Response) -> str:
    try:
        doc = response.json()
    except ValueError:
        return ""
    if isinstance(doc, dict) and isinstance(doc.get("errors"), dict):
        return ": " + "; ".join(f"{k}: {v}" for k, v in doc["errors"].items())
    return ""
