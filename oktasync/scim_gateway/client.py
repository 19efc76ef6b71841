"""The SCIM target client: plain ``httpx`` for the wire, ``scim2-models`` for parsing and validation.

Why not scim2-client (docs/scim.md, "Why not scim2-client"):

* scim2-client >= 0.9 talks only through ``httpx2`` (pydantic's fork of httpx). oktasync already speaks
  ``httpx`` (the Admin Console channel) and aiohttp (the emulator); a second, forked HTTP stack would mean a
  second set of timeouts, retries, TLS and proxy settings to keep in step, for no gain.
* Okta's checks need exact control of the wire: the Test Connector request is a byte-exact query string
  (``/Users?startIndex=1&count=2``), Okta's lookup is ``filter=userName%20eq%20%22…%22``, and the integer rule
  for ``totalResults``/``startIndex``/``itemsPerPage`` can only be checked on the *raw* JSON, because
  scim2-models coerces ``"1"`` to ``1``. scim2-client builds query strings and validates bodies for us,
  which is exactly what a faithful probe must not let a library do.
* scim2-client is 0.x Alpha and changes signatures between minors (0.7.6, 0.13 deprecations).

So this module sends every request itself and hands the raw body to scim2-models (``ListResponse``,
``User``, ``Error``) for validation, leniently where a real target may be sloppy (one bad user never hides
the others).

Secrets: the Bearer token is a ``Secret`` and is revealed only when the ``Authorization`` header is built
for one request. Nothing here logs headers; log lines carry method, path (secret-looking query values
masked) and status only.

Retries: the one retry policy of every channel (``oktasync.retrying.RetryPolicy``, the same object the Okta
gateway uses): 429 and 500/502/503/504 answers, timeouts and dropped connections, with ``Retry-After``
(seconds or an HTTP date) honoured within the request's wait budget, else a jittered, bounded backoff; 5xx
and transport errors only for idempotent requests (a ``POST /Users`` that may have created the user is not
sent twice). ``sleep`` and ``clock`` are injectable so tests never sleep. Every attempt is traced at DEBUG
(``oktasync.httptrace``: method, path, status, time, attempt; never a header).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from oktasync.config.secret import Secret
from oktasync.errors import ScimError
from oktasync.httptrace import masked_path, trace
from oktasync.retrying import IDEMPOTENT_METHODS, RetryPolicy, RetryState, request_never_sent

log = logging.getLogger("oktasync.scim")

# What Okta's SCIM client sends (docs/okta-behaviour.md, What Okta sends to a SCIM target:
# oktadeveloper/okta-blog-archive PR #1956 and the
# field log of a SCIM 2.0 AIW app).
OKTA_USER_AGENT = "Okta SCIM Client 1.0.0"
SCIM_JSON = "application/scim+json"
LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"

Sleep = Callable[[float], Awaitable[None]]


class ScimHttpError(ScimError):
    """The target answered an HTTP error (after retries, for retried statuses)."""

    def __init__(self, response: ScimResponse, what: str) -> None:
        detail = response.error_detail()
        message = f"SCIM target: {what} answered HTTP {response.status}" + (f" — {detail}" if detail else "")
        hint = None
        if response.status == 401:
            hint = "check scim.auth.bearer_token: the target refused it"
        elif response.status == 403:
            hint = "the target's service account lacks the permission for this request"
        super().__init__(message, hint=hint)
        self.response = response
        self.status = response.status


class ScimTransportError(ScimError):
    """No usable answer: connection refused, DNS, TLS, timeout (after retries)."""


def _trace(
    method: str,
    path: str,
    attempt: int,
    elapsed: float,
    *,
    answer: httpx.Response | None = None,
    error: BaseException | None = None,
) -> None:
    """The ``-vv`` line of one SCIM attempt: its answer's status, or the error that came instead."""
    status, headers = (None, None) if answer is None else (answer.status_code, answer.headers)
    trace(
        log,
        "SCIM",
        method,
        path,
        attempt=attempt,
        elapsed=elapsed,
        status=status,
        headers=headers,
        error=error,
    )


def quote_value(value: str) -> str:
    """Percent-encode a query value the way Okta does (space → %20, quote → %22, @ → %40)."""
    return quote(value, safe="")


def filter_query(filter_expr: str, start_index: int = 1, count: int = 100) -> str:
    """Okta's lookup query string (docs/okta-behaviour.md, What Okta sends to a SCIM target): filter first,
    then startIndex and count."""
    return f"filter={quote_value(filter_expr)}&startIndex={start_index}&count={count}"


def eq_filter(attribute: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{attribute} eq "{escaped}"'


@dataclass(frozen=True)
class ScimResponse:
    """One answer, kept raw: the checks look at exact JSON types and headers."""

    method: str
    path: str  # path and query as sent, relative to the base URL
    status: int
    content_type: str | None
    headers: Mapping[str, str]
    text: str
    elapsed_ms: float
    attempts: int = 1
    retried_statuses: tuple[int, ...] = ()
    _json: Any = field(default=None, repr=False)
    _json_error: str | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls,
        method: str,
        path: str,
        raw: httpx.Response,
        text: str,
        elapsed: float,
        attempts: int,
        retried_statuses: tuple[int, ...],
    ) -> ScimResponse:
        """The answer ``raw`` (whose body is ``text``), parsed as JSON when it is JSON."""
        parsed: Any = None
        json_error: str | None = None
        if text.strip():
            try:
                parsed = json.loads(text)
            except ValueError as error:
                json_error = f"body is not JSON ({error})"
        return cls(
            method=method,
            path=path,
            status=raw.status_code,
            content_type=raw.headers.get("Content-Type"),
            headers=dict(raw.headers),
            text=text,
            elapsed_ms=elapsed * 1000,
            attempts=attempts,
            retried_statuses=retried_statuses,
            _json=parsed,
            _json_error=json_error,
        )

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def json(self) -> Any:
        """The parsed body with its raw JSON types (``"1"`` stays a string); None if not JSON."""
        return self._json

    @property
    def json_error(self) -> str | None:
        return self._json_error

    @property
    def media_type(self) -> str | None:
        if not self.content_type:
            return None
        return self.content_type.split(";", 1)[0].strip().lower()

    def error_detail(self) -> str | None:
        """``detail`` (and ``scimType``) of a SCIM Error body, else a short excerpt of the body."""
        body = self._json
        if isinstance(body, dict) and ("detail" in body or "scimType" in body):
            parts = [str(body.get("detail") or "").strip(), str(body.get("scimType") or "").strip()]
            return " ".join(p for p in (parts[0], f"(scimType {parts[1]})" if parts[1] else "") if p) or None
        excerpt = " ".join(self.text.split())[:160]
        return excerpt or None

    def is_scim_error(self) -> bool:
        body = self._json
        return isinstance(body, dict) and ERROR_SCHEMA in (body.get("schemas") or [])


class ScimGateway:
    """An async SCIM 2.0 client for one target (base URL + Bearer token).

    Low level: ``request()`` returns the raw ``ScimResponse`` for any status (retrying 429/5xx unless
    ``retry=False``); the probes of ``test-connector`` use it. High level: ``list_users``, ``get_user``,
    ``create_user``, ``replace_user``, ``delete_user`` raise ``ScimHttpError`` on an error answer.
    """

    def __init__(
        self,
        base_url: str,
        token: Secret,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
        sleep: Sleep = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = OKTA_USER_AGENT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        # The gateway's policy (``max_retries`` narrows its attempts: 0 = one attempt, for probes).
        policy = retry or RetryPolicy()
        if max_retries is not None:
            policy = dataclasses.replace(policy, max_attempts=max_retries + 1)
        self.retry = policy
        self._sleep = sleep
        self._clock = clock
        self.user_agent = user_agent
        self.request_count = 0
        self.deadline = timeout  # per attempt, in total: a target trickling bytes cannot hold a run forever
        # No base_url on the client: we join paths ourselves so the query string goes out byte for byte.
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), transport=transport, follow_redirects=False, trust_env=True
        )

    @classmethod
    def from_config(cls, scim: Any, **kwargs: Any) -> ScimGateway:
        """From a tenant config's ``scim`` section (``ScimConfig``)."""
        return cls(scim.base_url, scim.auth.bearer_token, **kwargs)

    async def __aenter__(self) -> ScimGateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def _headers(self, token: str | None, has_body: bool) -> dict[str, str]:
        headers = {
            "Accept": SCIM_JSON,
            "Accept-Charset": "utf-8",
            "User-Agent": self.user_agent,
        }
        bearer = self._token.reveal() if token is None else token
        headers["Authorization"] = f"Bearer {bearer}"
        if has_body:
            headers["Content-Type"] = SCIM_JSON
        return headers

    async def _send(self, method: str, path: str, content: bytes | None, token: str | None) -> httpx.Response:
        """One attempt, whole answer within ``deadline`` (httpx's own timeout bounds each read only)."""
        try:
            async with asyncio.timeout(self.deadline):
                return await self._http.request(
                    method, self.url(path), content=content, headers=self._headers(token, content is not None)
                )
        except TimeoutError:
            raise httpx.ReadTimeout(f"no complete answer within {self.deadline:g}s") from None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        token: str | None = None,
        retry: bool = True,
    ) -> ScimResponse:
        """Send one request (``path`` relative to the base URL, query string included, sent as is).

        ``token`` overrides the configured Bearer token (the wrong-token probe). Retries 429/5xx and
        transport errors when ``retry``; raises ``ScimTransportError`` when no answer came at all.
        """
        content = None if body is None else json.dumps(body).encode()
        state = self.retry.start(idempotent=method.upper() in IDEMPOTENT_METHODS)
        retried: list[int] = []
        while True:
            attempt = state.attempt
            try:
                raw, text, elapsed = await self._attempt(method, path, content, token, attempt)
            except httpx.HTTPError as error:
                await self._sleep(self._wait_after_error(error, method, path, state if retry else None))
                continue
            wait = state.after_status(raw.status_code, raw.headers, now=self._clock()) if retry else None
            if wait is None:
                return ScimResponse.of(method, path, raw, text, elapsed, attempt, tuple(retried))
            retried.append(raw.status_code)
            log.info("SCIM %s %s: HTTP %s; retry in %.1fs", method, masked_path(path), raw.status_code, wait)
            await self._sleep(wait)

    async def _attempt(
        self, method: str, path: str, content: bytes | None, token: str | None, attempt: int
    ) -> tuple[httpx.Response, str, float]:
        """One attempt, traced: the answer, its text and the seconds it took. Raises ``httpx.HTTPError`` when
        no answer came."""
        self.request_count += 1
        started = time.monotonic()
        try:
            raw = await self._send(method, path, content, token)
            text = raw.text
        except httpx.HTTPError as error:
            _trace(method, path, attempt, time.monotonic() - started, error=error)
            raise
        elapsed = time.monotonic() - started
        _trace(method, path, attempt, elapsed, answer=raw)
        return raw, text, elapsed

    def _wait_after_error(
        self, error: httpx.HTTPError, method: str, path: str, state: RetryState | None
    ) -> float:
        """The backoff before retrying an attempt that got no answer (``state`` None: no retries); raises
        ``ScimTransportError`` when the policy gives up."""
        shown = masked_path(path)
        wait = None if state is None else state.after_error(never_sent=request_never_sent(error))
        if wait is None:
            raise ScimTransportError(
                f"SCIM target unreachable: {method} {self.base_url}{shown}: {type(error).__name__}: {error}",
                hint="check scim.base_url, the network path and the target's TLS certificate",
            ) from error
        log.info("SCIM %s %s: %s; retry in %.1fs", method, shown, type(error).__name__, wait)
        return wait

    # --- high level -------------------------------------------------------------------------------------

    async def list_users(
        self, start_index: int = 1, count: int = 100, filter_expr: str | None = None
    ) -> tuple[ScimResponse, UserPage]:
        """One page of ``GET /Users``; ``ScimHttpError`` / ``ScimError`` unless it is a ListResponse."""
        if filter_expr is None:
            path = f"/Users?startIndex={start_index}&count={count}"
        else:
            path = "/Users?" + filter_query(filter_expr, start_index, count)
        response = await self.request("GET", path)
        if not response.ok:
            raise ScimHttpError(response, f"GET {path}")
        return response, parse_list_response(response)

    async def get_user(self, user_id: str) -> TargetUser | None:
        response = await self.request("GET", f"/Users/{quote_value(user_id)}")
        if response.status == 404:
            return None
        if not response.ok:
            raise ScimHttpError(response, "GET /Users/{id}")
        return parse_user(response.json)[0]

    async def create_user(self, body: Mapping[str, Any]) -> ScimResponse:
        return await self.request("POST", "/Users", body=dict(body))

    async def replace_user(self, user_id: str, body: Mapping[str, Any]) -> ScimResponse:
        return await self.request("PUT", f"/Users/{quote_value(user_id)}", body=dict(body))

    async def delete_user(self, user_id: str) -> ScimResponse:
        return await self.request("DELETE", f"/Users/{quote_value(user_id)}")


# --- parsing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetUser:
    """The parts of a SCIM user oktasync needs, whatever else the target sends."""

    id: str
    user_name: str | None
    external_id: str | None
    emails: tuple[str, ...]  # primary first
    active: bool  # SCIM default when absent is unspecified; absent counts as active, as Okta assumes
    given_name: str | None = None
    family_name: str | None = None
    display_name: str | None = None

    @property
    def email(self) -> str | None:
        return self.emails[0] if self.emails else None


@dataclass(frozen=True)
class UserPage:
    total_results: int | None
    start_index: int | None
    items_per_page: int | None
    users: tuple[TargetUser, ...]
    problems: tuple[str, ...] = ()  # resources that did not validate, and why (they are still included)


# Core User attributes scim2-models knows; vendor extensions and unknown keys are dropped before validation
# so one odd attribute cannot make a whole page unreadable.
_CORE_KEYS = (
    "id",
    "externalId",
    "userName",
    "name",
    "displayName",
    "nickName",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "active",
    "emails",
    "meta",
)


def parse_list_response(response: ScimResponse) -> UserPage:
    """Validate a ListResponse with scim2-models; the users are parsed one by one (see ``parse_user``)."""
    from pydantic import ValidationError
    from scim2_models import ListResponse, User

    body = response.json
    if not isinstance(body, dict):
        raise ScimError(
            f"SCIM target: {response.method} {response.path} did not return a JSON object "
            f"({response.json_error or type(body).__name__})",
            hint="the base URL must point at the SCIM 2.0 root (…/scim/v2), not a login page",
        )
    envelope = {k: v for k, v in body.items() if k != "Resources"}
    try:
        list_model: Any = ListResponse[User]  # type: ignore[type-arg]  # User is generic over extensions
        validated = list_model.model_validate({**envelope, "Resources": []})
    except ValidationError as error:
        raise ScimError(
            f"SCIM target: {response.method} {response.path}: not a SCIM ListResponse: "
            f"{error.errors()[0]['msg']}"
        ) from error
    if LIST_RESPONSE_SCHEMA not in (body.get("schemas") or []):
        raise ScimError(
            f"SCIM target: {response.method} {response.path}: body lacks the ListResponse schema "
            f"({LIST_RESPONSE_SCHEMA})"
        )
    resources = body.get("Resources") or []
    if not isinstance(resources, list):
        raise ScimError(f"SCIM target: {response.method} {response.path}: Resources is not an array")
    users: list[TargetUser] = []
    problems: list[str] = []
    for raw in resources:
        user, problem = parse_user(raw)
        if user is not None:
            users.append(user)
        if problem:
            problems.append(problem)
    return UserPage(
        total_results=validated.total_results,
        start_index=validated.start_index,
        items_per_page=validated.items_per_page,
        users=tuple(users),
        problems=tuple(problems),
    )


def parse_user(raw: Any) -> tuple[TargetUser | None, str | None]:
    """A ``TargetUser`` from one resource: scim2-models validation first, a lenient read if that fails.

    Returns the user (None only without an ``id``) and a problem description when validation failed.
    """
    from pydantic import ValidationError
    from scim2_models import User

    if not isinstance(raw, dict):
        return None, f"resource is not an object: {type(raw).__name__}"
    core = {k: raw[k] for k in _CORE_KEYS if k in raw}
    core["schemas"] = [USER_SCHEMA]
    problem: str | None = None
    try:
        user: Any = User.model_validate(core)
        emails = [e for e in (user.emails or []) if e.value]
        emails.sort(key=lambda e: not e.primary)
        if user.id is None:
            return None, f"user without id: userName {user.user_name!r}"
        return (
            TargetUser(
                id=str(user.id),
                user_name=user.user_name,
                external_id=user.external_id,
                emails=tuple(str(e.value) for e in emails),
                active=user.active is not False,
                given_name=user.name.given_name if user.name else None,
                family_name=user.name.family_name if user.name else None,
                display_name=user.display_name,
            ),
            None,
        )
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        who = f"user {raw.get('id')!r} ({raw.get('userName')!r})"
        problem = f"{who} does not validate: {where}: {first['msg']}"
    # Lenient fallback: read what is there with plain types.
    if not raw.get("id"):
        return None, problem
    raw_emails = [e for e in raw.get("emails") or [] if isinstance(e, dict) and e.get("value")]
    raw_emails.sort(key=lambda e: not e.get("primary"))
    name: dict[str, Any] = raw["name"] if isinstance(raw.get("name"), dict) else {}
    active = raw.get("active")
    return (
        TargetUser(
            id=str(raw["id"]),
            user_name=str(raw["userName"]) if raw.get("userName") is not None else None,
            external_id=str(raw["externalId"]) if raw.get("externalId") is not None else None,
            emails=tuple(str(e["value"]) for e in raw_emails),
            active=not (active is False or (isinstance(active, str) and active.lower() == "false")),
            given_name=name.get("givenName"),
            family_name=name.get("familyName"),
            display_name=raw.get("displayName"),
        ),
        problem,
    )


_PAGING_FIELDS = ("totalResults", "startIndex", "itemsPerPage")
_JSON_TYPE_NAMES: dict[type, str] = {str: "string", float: "number", type(None): "null", bool: "boolean"}


def raw_int_fields(body: Any, names: Sequence[str] = _PAGING_FIELDS) -> dict[str, str]:
    """Paging fields whose raw JSON type is not an integer: name → JSON type seen ("absent" if missing)."""
    if not isinstance(body, dict):
        return {n: "absent" for n in names}
    bad: dict[str, str] = {}
    for name in names:
        if name not in body:
            bad[name] = "absent"
            continue
        value = body[name]
        if isinstance(value, bool) or not isinstance(value, int):
            bad[name] = _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
    return bad
