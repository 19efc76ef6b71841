"""The ``admin`` channel: the Admin Console's own provisioning form, driven with an admin's web session.

**Okta does not support this interface.** It is what the Admin Console's browser page posts; it is not part of
the Management API, is unversioned and may change without notice. Everything below follows public projects
that drive the page (docs/admin-console-channel.md cites each one, and says what is evidenced and what is
not). oktasync uses it only for custom (App Integration Wizard) SCIM apps, where Okta offers no API for the
SCIM connector settings, and only when the tenant config provides ``okta.admin_session``. Every write is
re-read and checked by the caller; anything that cannot be confirmed is reported, never assumed.

Contract:

* Session: the cookies the Admin Console host (``https://<org>-admin.okta.com`` for ``https://<org>.okta.com``;
  a loopback emulator URL as it is) holds after sign-in. ``okta.admin_session`` is a ``Cookie:`` header value,
  the content of a Netscape cookies.txt file, or a bare ``sid`` value (``parse_admin_session``). Redirects
  are never followed: a redirect to the sign-in page, a 401 or a 403 means the session is not valid here
  (expired, signed out, idle for longer than the console's idle timeout, or revoked because it is used
  from another network than the one it was created on: ``AdminSessionError`` says which is most likely).
* Read: ``GET /admin/app/{app.name}/instance/{app.id}/settings/user-mgmt`` → the HTML form: the XSRF token
  (``<input name="_xsrfToken">`` or ``<span id="_xsrfToken">``) and every input, select and textarea of the
  form with its current value and its visible label.
* Each setting's field is found by the names public evidence shows (``FIELDS``: the ``name`` or the
  ``userMgmtSettings.<name>`` id) and, for the others, by its visible label. A setting whose field is not on
  the page is absent from the form read (``AdminProvisioningForm.found``): the caller routes it to a person.
* Write: ``POST`` to the same URL, form-urlencoded, with ``X-Okta-XsrfToken`` and
  ``X-Requested-With: XMLHttpRequest``: every field read back as a browser would submit it (checked boxes
  with their value, unchecked ones left out), each checkbox with its Spring marker ``_<name>=on`` (the marker
  is what makes an absent box mean "off"), the changed settings overlaid. The body is never logged.
* Pacing: the Admin Console allows 40 requests per user per 10 seconds per endpoint; ``ConsolePacer`` keeps
  each endpoint below that (less the configured headroom), on top of the API's pacing and retry policy.

Retries: every request goes through the one retry policy of every channel (``oktasync.retrying``, through
``transport.send_with_policy``, paced in the ``/admin`` bucket). That includes the POST: it is a full-form
replace of values we read just before (every field posted, nothing relative), so posting the same form
twice leaves the same settings as posting it once, like a PUT (docs/admin-console-channel.md, "Write").
Then the caller's read-back proves it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx

from oktasync.errors import AdminSessionError, ApiErrorDetails, OktaApiError, TransientApiError
from oktasync.loopback import is_loopback_host
from oktasync.models import AdminProvisioningForm, App
from oktasync.okta_gateway.pacing import ADMIN, Pacer
from oktasync.okta_gateway.transport import USER_AGENT, send_with_policy
from oktasync.retrying import RetryPolicy

log = logging.getLogger("oktasync.okta.admin")

SESSION_HOW_TO = (
    "sign in to the Admin Console in a browser on the machine (network) that runs oktasync, export the "
    "cookies of the -admin host (a `Cookie:` header value from the developer tools' Network tab, or a "
    "cookies.txt file: admin_session: \"{{ file('cookies.txt') }}\") into okta.admin_session, and run "
    "again within 15 minutes"
)
IDLE_MINUTES = 15  # Okta's default Admin Console idle timeout since January 2024 (docs/okta-behaviour.md)

# --- the session -------------------------------------------------------------------------------------------


def parse_admin_session(value: str, admin_host: str, *, now: float | None = None) -> dict[str, str]:
    """The cookies to send to ``admin_host``, from what ``okta.admin_session`` holds.

    * Netscape cookies.txt content (what browser extensions and ``curl -c`` write): tab-separated lines
      ``domain, include-subdomains, path, secure, expiry, name, value``; ``#HttpOnly_`` lines are cookies,
      other ``#`` lines comments. Only cookies whose domain matches ``admin_host`` and that have not
      expired are kept.
    * A ``Cookie:`` header value (``name=value; name2=value2``, with or without the ``Cookie:`` prefix).
    * A bare value: the ``sid`` cookie alone.

    Raises ``AdminSessionError`` (never showing the value) when nothing usable is left.
    """
    text = value.strip()
    if "\t" in text:
        cookies = _from_cookies_txt(text, admin_host, time.time() if now is None else now)
        if not cookies:
            raise AdminSessionError(
                f"okta.admin_session holds a cookies.txt file with no unexpired cookie for {admin_host}",
                hint=SESSION_HOW_TO,
            )
        return cookies
    if text.lower().startswith("cookie:"):
        text = text[len("cookie:") :].strip()
    if "=" in text:
        cookies = {}
        for part in text.split(";"):
            name, sep, val = part.strip().partition("=")
            if sep and name.strip():
                cookies[name.strip()] = val.strip()
        if cookies:
            return cookies
    if not text or any(c in text for c in " ;\n"):
        raise AdminSessionError(
            "okta.admin_session is neither a Cookie header, a cookies.txt file nor a sid value",
            hint=SESSION_HOW_TO,
        )
    return {"sid": text}


def _domain_matches(domain: str, host: str) -> bool:
    domain = domain.lstrip(".").lower()
    host = host.lower()
    return host == domain or host.endswith("." + domain)


def _from_cookies_txt(text: str, host: str, now: float) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#HttpOnly_"):
            line = line[len("#HttpOnly_") :]
        elif not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 7:
            continue
        domain, _, _, _, expiry, name, val = parts
        expires = int(expiry) if expiry.strip().isdigit() else 0
        if _domain_matches(domain, host) and (expires == 0 or expires > now):
            cookies[name] = val.strip()
    return cookies


CI_VARIABLES = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "JENKINS_URL", "TF_BUILD", "CIRCLECI")


def non_interactive_signs(
    environ: Mapping[str, str] | None = None, isatty: Callable[[], bool] | None = None
) -> list[str]:
    """What makes this run look unattended: CI variables set, no terminal on stdin."""
    env = os.environ if environ is None else environ
    signs = [f"{name} is set" for name in CI_VARIABLES if env.get(name)]
    tty = isatty if isatty is not None else sys.stdin.isatty
    try:
        attended = tty()
    except (ValueError, OSError):  # a closed or replaced stdin
        attended = False
    if not attended:
        signs.append("no terminal on stdin")
    return signs


def rejected_session_error(status: str, environ: Mapping[str, str] | None = None) -> AdminSessionError:
    """The error for a session the console refused, naming its most likely cause.

    The console answers the same way (a redirect to sign-in) for a session that expired and for one Okta
    revoked because it was used from another network, so the cause is inferred from the run: in a CI job the
    session was almost certainly created elsewhere.
    """
    env = os.environ if environ is None else environ
    ci = [name for name in CI_VARIABLES if env.get(name)]
    if ci:
        return AdminSessionError(
            f"the Admin Console refused the admin session ({status}); this looks like a CI job "
            f"({', '.join(ci)} set): Okta binds an admin session to the network (ASN) it was signed in "
            "from and revokes it when used from another one, so a session copied from a browser cannot "
            "work here",
            hint="run the admin channel from the network where the admin signs in (a person's machine), "
            "or leave okta.admin_session empty and let oktasync print the console steps",
        )
    return AdminSessionError(
        f"the Admin Console refused the admin session ({status}): it has most likely expired (signed out, "
        f"or idle for more than the console's idle timeout, {IDLE_MINUTES} minutes by default), or it was "
        "signed in from another network (Okta binds admin sessions to their network)",
        hint=SESSION_HOW_TO,
    )


# --- the page ----------------------------------------------------------------------------------------------

# Settings whose field name public evidence shows (authomize/okta_scim_attack_tool, Brightspace's
# terraform-provider-okta; docs/admin-console-channel.md), then the visible label Okta's console shows next to
# each field, used when the name is not on the page (or not evidenced at all).
EVIDENCED_NAMES: dict[str, str] = {
    "scim_base_url": "scim_base_url",
    "create_users": "pushNewAccount",
    "update_user_attributes": "pushProfile",
    "deactivate_users": "pushDeactivation",
}
LABELS: dict[str, tuple[str, ...]] = {
    "scim_base_url": ("SCIM connector base URL",),
    "unique_identifier": ("Unique identifier field for users",),
    "push_new_users": ("Push New Users",),
    "push_profile_updates": ("Push Profile Updates",),
    "auth_mode": ("Authentication Mode",),
    "create_users": ("Create Users",),
    "update_user_attributes": ("Update User Attributes",),
    "deactivate_users": ("Deactivate Users",),
}
CHECKBOX_SETTINGS = frozenset(
    {"push_new_users", "push_profile_updates", "create_users", "update_user_attributes", "deactivate_users"}
)
TOKEN_NAME = "scim_auth_header_value_new"  # evidenced; write-only: the page never shows the token
TOKEN_LABELS = ("Authorization", "Bearer token", "Bearer")
WRITABLE = frozenset(LABELS)
XSRF = "_xsrfToken"
_NOT_POSTED = frozenset({"submit", "button", "image", "reset", "file"})


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(":").strip().casefold()


@dataclass
class FormField:
    """One control of the form, as the browser would submit it."""

    name: str
    kind: str  # text | hidden | password | checkbox | radio | select | textarea | ...
    value: str
    checked: bool = False
    element_id: str | None = None
    label: str = ""
    options: list[str] = field(default_factory=list)  # select: option values

    @property
    def id_suffix(self) -> str:
        return (self.element_id or "").removeprefix("userMgmtSettings.")


@dataclass
class ConsolePage:
    """The parsed settings page: its XSRF token and its form's controls in page order."""

    xsrf: str | None
    controls: list[FormField]

    def find(self, setting: str) -> list[FormField]:
        """The controls of ``setting``: by evidenced name (or ``userMgmtSettings.`` id), else by label."""
        return self.find_by_name(setting) or self.find_by_label(setting)

    def find_by_name(self, setting: str) -> list[FormField]:
        name = EVIDENCED_NAMES.get(setting)
        return [c for c in self.controls if name is not None and (c.name == name or c.id_suffix == name)]

    def find_by_label(self, setting: str) -> list[FormField]:
        labels = {_norm(text) for text in LABELS.get(setting, ())}
        return [
            c for c in self.controls if c.label and _norm(c.label) in labels and not c.name.startswith("_")
        ]

    def token_field(self) -> FormField | None:
        labels = {_norm(t) for t in TOKEN_LABELS}
        return next(
            (c for c in self.controls if c.name == TOKEN_NAME or (c.label and _norm(c.label) in labels)), None
        )

    def read(self) -> AdminProvisioningForm:
        values: dict[str, Any] = {}
        for setting in LABELS:
            hits = self.find(setting)
            if not hits:
                continue
            if setting in CHECKBOX_SETTINGS:
                values[setting] = any(c.checked for c in hits if c.kind == "checkbox")
            elif hits[0].kind == "radio":
                values[setting] = next((c.value for c in hits if c.checked), None) or None
            else:
                values[setting] = hits[0].value or None
        found = set(values)
        by_label = {setting for setting in found if not self.find_by_name(setting)}
        token = self.token_field()
        if token is not None:
            found.add("bearer_token")
            if token.name != TOKEN_NAME:
                by_label.add("bearer_token")
        return AdminProvisioningForm(**values, found=frozenset(found), found_by_label=frozenset(by_label))

    def body(self, changes: Mapping[str, Any], bearer_token: str | None) -> list[tuple[str, str]]:
        """Every field as a browser submits it, ``changes`` overlaid, a marker for each checkbox."""
        overlay: dict[int, Any] = {}
        for setting, wanted in changes.items():
            hits = self.find(setting)
            if not hits:
                raise ValueError(f"the page has no field for {setting}")
            for control in hits:
                overlay[id(control)] = wanted
        token = self.token_field()
        if bearer_token is not None:
            if token is None:
                raise ValueError("the page has no field for the Bearer token")
            overlay[id(token)] = bearer_token
        posted: list[tuple[str, str]] = []
        names = {c.name for c in self.controls}
        for control in self.controls:
            wanted = overlay.get(id(control), _UNCHANGED)
            if control.kind == "checkbox":
                on = control.checked if wanted is _UNCHANGED else bool(wanted)
                if on:
                    posted.append((control.name, control.value or "on"))
                marker = "_" + control.name
                if marker not in names:  # the page renders the marker itself when it has one
                    posted.append((marker, "on"))
            elif control.kind == "radio":
                if wanted is _UNCHANGED:
                    if control.checked:
                        posted.append((control.name, control.value))
                elif control.value == str(wanted):
                    posted.append((control.name, control.value))
            elif control.kind == "select" and wanted is not _UNCHANGED:
                posted.append((control.name, _option(control, str(wanted))))
            else:
                value = control.value if wanted is _UNCHANGED else str(wanted)
                posted.append((control.name, value))
        return posted


def _option(control: FormField, wanted: str) -> str:
    """The select's option for ``wanted`` (exact, else ignoring case); a missing one is an error, never a
    guess."""
    for option in control.options:
        if option == wanted:
            return option
    for option in control.options:
        if option.casefold() == wanted.casefold():
            return option
    raise OktaApiError(
        f"the Admin Console field {control.label or control.name!r} has no option {wanted!r} "
        f"(options: {', '.join(control.options) or 'none'}); Okta may have changed this unsupported page",
        hint="set it in the Admin Console by hand",
    )


_UNCHANGED = object()


class _PageParser(HTMLParser):
    """The XSRF token, the controls and their labels (stdlib parser: tolerant of real HTML)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.xsrf: str | None = None
        self.controls: list[FormField] = []
        self.label_for: dict[str, str] = {}
        self._text_target: str | None = None  # "xsrf" | "label" | "option" | "textarea"
        self._text = ""
        self._label: tuple[str | None, list[FormField]] | None = None  # (for=, controls inside)
        self._select: FormField | None = None
        self._option: tuple[str | None, bool] | None = None
        self._in_form = 0
        self._forms: list[list[FormField]] = []
        self._form_actions: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        present = {k for k, _ in attrs}
        if tag == "form":
            self._forms.append([])
            self._form_actions.append(a.get("action", ""))
        elif tag == "span" and a.get("id") == XSRF:
            self._start_text("xsrf")
        elif tag == "label":
            self._label = (a.get("for") or None, [])
            self._start_text("label")
        elif tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if a["name"] == XSRF:
                self.xsrf = self.xsrf or a.get("value", "")
            if kind in _NOT_POSTED or "disabled" in present:
                return
            self._add(FormField(a["name"], kind, a.get("value", ""), "checked" in present, a.get("id")))
        elif tag == "select" and a.get("name") and "disabled" not in present:
            self._select = FormField(a["name"], "select", "", element_id=a.get("id"))
            self._add(self._select)
        elif tag == "option" and self._select is not None:
            self._option = (a["value"] if "value" in present else None, "selected" in present)
            self._start_text("option")
        elif tag == "textarea" and a.get("name") and "disabled" not in present:
            self._add(FormField(a["name"], "textarea", "", element_id=a.get("id")))
            self._start_text("textarea")

    def _add(self, control: FormField) -> None:
        self.controls.append(control)
        if self._forms:
            self._forms[-1].append(control)
        if self._label is not None:
            self._label[1].append(control)

    def _start_text(self, target: str) -> None:
        self._text_target, self._text = target, ""

    def handle_data(self, data: str) -> None:
        if self._text_target is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        text = self._text.strip()
        if tag == "span" and self._text_target == "xsrf":
            self.xsrf = self.xsrf or text
            self._text_target = None
        elif tag == "label" and self._label is not None:
            target, inside = self._label
            for control in inside:
                control.label = control.label or text
            if target:
                self.label_for[target] = text
            self._label, self._text_target = None, None
        elif tag == "option" and self._select is not None and self._option is not None:
            value = self._option[0] if self._option[0] is not None else text
            self._select.options.append(value)
            if self._option[1] or len(self._select.options) == 1:
                self._select.value = value
            self._option, self._text_target = None, None
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._text_target == "textarea":
            self.controls[-1].value = self._text
            self._text_target = None

    def page(self) -> ConsolePage:
        # The settings form when the page names it (action ending in settings/user-mgmt), else every control.
        controls = self.controls
        for action, form_controls in zip(self._form_actions, self._forms, strict=True):
            if action.rstrip("/").endswith("settings/user-mgmt"):
                controls = form_controls
                break
        for control in controls:
            if not control.label and control.element_id in self.label_for:
                control.label = self.label_for[control.element_id]
        return ConsolePage(self.xsrf.strip() if self.xsrf else None, [c for c in controls if c.name != XSRF])


def parse_page(page: str) -> ConsolePage:
    parser = _PageParser()
    parser.feed(page)
    parser.close()
    return parser.page()


# --- pacing ------------------------------------------------------------------------------------------------

CONSOLE_LIMIT = 40  # requests per user per endpoint per window (developer.okta.com rate limits)
CONSOLE_WINDOW = 10.0  # seconds


class ConsolePacer:
    """At most ``limit`` requests per endpoint in any ``window`` seconds (a sliding window)."""

    def __init__(
        self,
        *,
        limit: int = CONSOLE_LIMIT,
        window: float = CONSOLE_WINDOW,
        headroom: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.limit = max(1, int(limit * (1 - headroom)))
        self.window = window
        self.clock, self.sleep = clock, sleep
        self.sent: dict[str, deque[float]] = {}
        self.locks: dict[str, asyncio.Lock] = {}  # one per endpoint: a wait on one never holds up another

    async def wait(self, endpoint: str) -> None:
        async with self.locks.setdefault(endpoint, asyncio.Lock()):
            times = self.sent.setdefault(endpoint, deque())
            while True:
                now = self.clock()
                while times and times[0] <= now - self.window:
                    times.popleft()
                if len(times) < self.limit:
                    times.append(now)
                    return
                await self.sleep(times[0] + self.window - now)


# --- the channel -------------------------------------------------------------------------------------------


def admin_base_url(org_url: str) -> str:
    """``https://acme.okta.com`` → ``https://acme-admin.okta.com``; loopback URLs are used as they are."""
    parts = urlsplit(org_url)
    host = parts.hostname or ""
    if is_loopback_host(host) or "-admin." in host:
        return org_url.rstrip("/")
    first, dot, rest = host.partition(".")
    netloc = f"{first}-admin{dot}{rest}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, "", "", "")).rstrip("/")


class AdminChannel:
    """The Admin Console form over httpx with the admin's cookies. Unsupported by Okta (see module)."""

    def __init__(
        self,
        org_url: str,
        session: str,
        pacer: Pacer,
        *,
        retry: RetryPolicy | None = None,
        client: httpx.AsyncClient | None = None,
        console_pacer: ConsolePacer | None = None,
    ):
        self.base_url = admin_base_url(org_url)
        self.pacer = pacer
        self.retry = retry or RetryPolicy()  # the gateway passes its transport's policy: one policy
        self.console_pacer = console_pacer or ConsolePacer(headroom=pacer.headroom)
        self.sent = 0
        cookies = parse_admin_session(session, urlsplit(self.base_url).hostname or "")
        self.client = client or httpx.AsyncClient(
            base_url=self.base_url,
            verify=True,
            trust_env=False,
            follow_redirects=False,  # a redirect to sign-in means the session is gone: never follow it
            timeout=httpx.Timeout(60.0, connect=15.0),
            headers={"User-Agent": USER_AGENT},
        )
        # A cookie jar: cookies the console sets on its answers are kept for the next request, as a browser
        # does. The client only ever talks to base_url (relative paths, no redirects), so no cookie can
        # reach another host.
        for name, value in cookies.items():
            self.client.cookies.set(name, value)

    def __repr__(self) -> str:
        return f"AdminChannel({self.base_url!r}, session=(sensitive))"

    async def aclose(self) -> None:
        await self.client.aclose()

    def _path(self, app: App) -> str:
        return f"/admin/app/{quote(app.name, safe='')}/instance/{quote(app.id, safe='')}/settings/user-mgmt"

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            await self.console_pacer.wait(path)
            self.sent += 1
            return await self.client.request(method, path, **kwargs)

        # Idempotent, POST included: the read, and the full-form post (see the module docstring).
        response = await send_with_policy(
            self.pacer,
            self.retry,
            send,
            method=method,
            url=path,
            bucket=ADMIN,
            idempotent=True,
            who="the Admin Console",
            channel="Admin Console",
        )
        location = response.headers.get("location", "")
        if response.status_code in (401, 403) and "xsrf" not in response.text.lower():
            raise rejected_session_error(f"HTTP {response.status_code}")
        if response.is_redirect:
            if "/login" in location or "/signin" in location:
                raise rejected_session_error("redirected to sign-in")
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
            if response.status_code == 429 or response.status_code >= 500:  # after the policy's retries
                raise TransientApiError(
                    f"the Admin Console could not serve {method} {path} (HTTP {response.status_code})",
                    details,
                    hint="retry later",
                )
            raise OktaApiError(
                f"the Admin Console refused {method} {path}{_error_summary(response)}", details
            )
        return response

    async def read_page(self, app: App) -> ConsolePage:
        response = await self._send("GET", self._path(app), headers={"Accept": "text/html"})
        page = parse_page(response.text)
        if not page.xsrf:
            if "sign in" in response.text.lower():
                raise rejected_session_error("answered with the sign-in page")
            raise OktaApiError(
                "the Admin Console page of the provisioning settings has no XSRF token; Okta may have "
                "changed this unsupported page",
                hint="leave okta.admin_session empty: oktasync then prints the console steps",
            )
        return page

    async def read_form(self, app: App) -> AdminProvisioningForm:
        return (await self.read_page(app)).read()

    async def write_form(self, app: App, changes: dict[str, Any], *, bearer_token: str | None = None) -> None:
        """Read the page, overlay ``changes`` (``AdminProvisioningForm`` field names), post every field."""
        unknown = set(changes) - WRITABLE
        if unknown:
            raise ValueError(
                f"not writable admin form fields: {sorted(unknown)}; writable: {sorted(WRITABLE)}"
            )
        page = await self.read_page(app)
        assert page.xsrf is not None  # read_page raises without one
        body = page.body(changes, bearer_token)
        log.info(
            "posting the Admin Console provisioning form of %s (%s): %s", app.label, app.id, sorted(changes)
        )
        await self._send(
            "POST",
            self._path(app),
            content=urlencode([(XSRF, page.xsrf), *body]).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
                "X-Okta-XsrfToken": page.xsrf,
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
