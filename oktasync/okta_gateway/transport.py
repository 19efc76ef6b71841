"""HTTP transport to the Okta Management API: auth header, pacing, retries, paging and error translation.

Every request the SDK gateway sends goes through ``OktaTransport.request`` — raw JSON calls and the SDK's
generated API classes alike (``sdk.SdkExecutor`` plugs into them) — so there is exactly one retry policy, one
rate-limit pacer, one request counter and one translation of errors into ``oktasync.errors``.

Settings are explicit: the org URL, token and TLS verification come from the tenant config only; no
``okta.yaml``, ``OKTA_*`` variable or proxy variable changes what is sent (``trust_env=False``; an HTTPS
proxy can be given with ``OKTASYNC_HTTPS_PROXY``). Plain ``http://`` is accepted only for loopback hosts
(the emulator); everything else must be ``https://`` and is verified.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from oktasync.errors import (
    ApiErrorDetails,
    AuthError,
    ConfigError,
    NotFoundError,
    OktaApiError,
    Problem,
    TransientApiError,
)
from oktasync.httptrace import trace
from oktasync.loopback import is_loopback_host
from oktasync.okta_gateway.pacing import Pacer, bucket_for
from oktasync.retrying import IDEMPOTENT_METHODS, RetryPolicy, RetryState, request_never_sent

log = logging.getLogger("oktasync.okta")

USER_AGENT = "oktasync/0.1 (okta-sdk-python 3.4; +https://github.com/oktasync)"
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([^";,]+)"?')


def normalize_org_url(org_url: str) -> str:
    """The org URL without trailing slash; https required except on loopback. Raises ConfigError."""
    url = org_url.strip().rstrip("/")
    parts = urlsplit(url)
    problem: str | None = None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        problem = f"okta.org_url {org_url!r} is not a URL"
    elif parts.scheme == "http" and not is_loopback_host(parts.hostname):
        problem = f"okta.org_url {org_url!r} must use https (plain http is only for a loopback emulator)"
    elif "-admin." in parts.hostname:
        problem = f"okta.org_url {org_url!r} is the Admin Console host; use the org URL without -admin"
    elif parts.path not in ("", "/"):
        problem = f"okta.org_url {org_url!r} must not have a path"
    if problem:
        raise ConfigError([Problem(file="(config)", line=None, column=None, message=problem, fix=None)])
    return url


def parse_links(headers: httpx.Headers) -> dict[str, str]:
    """``Link`` relations; Okta sends ``self`` and ``next`` as separate header lines (docs/okta-behaviour.md,
    Rate limits and paging)."""
    links: dict[str, str] = {}
    for value in headers.get_list("link"):
        for url, rel in _LINK.findall(value):
            links[rel.strip()] = url
    return links


def error_details(response: httpx.Response, method: str, url: str) -> ApiErrorDetails:
    """Okta's error body (``errorCode``/``errorSummary``/``errorCauses``), or OAuth's (``error``/…)."""
    details = ApiErrorDetails(
        status=response.status_code,
        request_id=response.headers.get("x-okta-request-id"),
        method=method,
        url=url.split("?", 1)[0],
    )
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        body = None
    if isinstance(body, dict):
        if "errorCode" in body or "errorSummary" in body:
            details.error_code = body.get("errorCode")
            details.summary = body.get("errorSummary")
            causes = body.get("errorCauses") or []
            details.causes = [str(c.get("errorSummary", c)) for c in causes if isinstance(c, dict)]
        elif "error" in body:
            details.error_code = str(body.get("error"))
            details.summary = body.get("error_description")
    if details.summary is None and not isinstance(body, dict):
        details.summary = response.reason_phrase or None
    return details


def translate(response: httpx.Response, method: str, url: str) -> OktaApiError:
    """The one translation of an Okta error answer into oktasync's hierarchy."""
    details = error_details(response, method, url)
    status = response.status_code
    what = f"{method} {details.url}"
    if status in (401, 403):
        hint = (
            "check the API token / OAuth client and its scopes (okta.apps.read, okta.apps.manage, "
            "okta.groups.read, okta.users.read, okta.logs.read) and the admin role behind it"
        )
        return AuthError(f"Okta refused {what}", details, hint=hint)
    if status == 404:
        return NotFoundError(f"Okta found nothing at {what}", details)
    if status == 429 or status >= 500:
        return TransientApiError(f"Okta could not serve {what}", details, hint="retry later")
    return OktaApiError(f"Okta rejected {what}", details)


async def send_with_policy(
    pacer: Pacer,
    retry: RetryPolicy,
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    method: str,
    url: str,
    bucket: str,
    idempotent: bool,
    who: str = "Okta",
    channel: str = "Okta",
    prepare: Callable[[], Awaitable[None]] | None = None,
) -> httpx.Response:
    """One logical request to Okta (API, token endpoint or Admin Console) under the one retry policy
    (``oktasync.retrying``), paced by the Okta pacer.

    ``send`` makes one attempt; ``prepare`` (optional) runs before each attempt, outside the pacer (e.g. to
    fetch an OAuth access token, itself a paced request). Each attempt is paced through ``pacer`` (bucket
    budget and the concurrency bound), traced at DEBUG (``httptrace``), and retried as the policy decides:
    a 429 waits for the bucket's ``X-Rate-Limit-Reset`` (the concurrency 429 backs off with jitter instead)
    within the request's time budget; 5xx answers and transport errors back off, bounded by attempts, for
    idempotent requests only. A transport error that is not retried raises ``TransientApiError``, and so
    does a 429 whose next wait is over the budget.

    Returns the first answer that is not retried: a success, or an error the caller translates.
    """
    request = _PolicedRequest(
        pacer,
        retry,
        retry.start(idempotent=idempotent),
        method=method,
        url=url,
        bucket=bucket,
        who=who,
        channel=channel,
    )
    while True:
        if prepare is not None:
            await prepare()
        await pacer.acquire(bucket)
        try:
            response, concurrency_429 = await request.attempt(send)
        except httpx.TransportError as exc:
            # Released after the backoff (``finally``): the failed attempt may have reached Okta and used
            # the bucket's budget, so it counts as in flight until it is retried.
            await pacer.clock.sleep(request.wait_after_error(exc))
            continue
        finally:
            pacer.release(bucket)
        wait = request.wait_after_answer(response, concurrency_429)
        if wait is None:
            return response
        await pacer.clock.sleep(wait)


@dataclass
class _PolicedRequest:
    """One logical request's way through ``send_with_policy``: its attempts, their traces and the waits
    between them."""

    pacer: Pacer
    retry: RetryPolicy
    state: RetryState
    method: str
    url: str  # as traced: with its query string
    bucket: str
    who: str  # who answers, in messages: "Okta", "the Admin Console"
    channel: str  # the trace's channel name

    @property
    def short(self) -> str:
        """The URL without its query, for log lines and error messages (query values may be secret)."""
        return self.url.split("?", 1)[0]

    async def attempt(self, send: Callable[[], Awaitable[httpx.Response]]) -> tuple[httpx.Response, bool]:
        """One attempt inside the concurrency bound, traced; the answer and whether it is Okta's concurrency
        429. A transport error is traced and raised."""
        started = time.monotonic()
        try:
            async with self.pacer.semaphore:
                response = await send()
        except httpx.TransportError as exc:
            self.trace(started, error=exc)
            raise
        concurrency_429 = self.pacer.observe(self.bucket, response.headers, status=response.status_code)
        self.trace(started, answer=response)
        return response, concurrency_429

    def trace(
        self, started: float, *, answer: httpx.Response | None = None, error: BaseException | None = None
    ) -> None:
        """The ``-vv`` line of the attempt begun at ``started``: its answer's status, or the error instead."""
        trace(
            log,
            self.channel,
            self.method,
            self.url,
            attempt=self.state.attempt,
            elapsed=time.monotonic() - started,
            status=None if answer is None else answer.status_code,
            headers=None if answer is None else answer.headers,
            error=error,
        )

    def wait_after_error(self, exc: httpx.TransportError) -> float:
        """The backoff before retrying an attempt that got no answer; raises ``TransientApiError`` when the
        policy gives up (attempts spent, or a request that may have been processed and is not idempotent)."""
        never_sent = request_never_sent(exc)
        delay = self.state.after_error(never_sent=never_sent)
        if delay is not None:
            log.info(
                "%s %s: %s; retry %d in %.1fs",
                self.method,
                self.short,
                type(exc).__name__,
                self.state.failures,
                delay,
            )
            return delay
        unsafe = not (self.state.idempotent or never_sent)
        raise TransientApiError(
            f"no answer from {self.who} for {self.method} {self.short} ({type(exc).__name__}: {exc})"
            + ("; not retried because the request may have been processed" if unsafe else ""),
            ApiErrorDetails(method=self.method, url=self.short),
            hint="check the network and retry",
        ) from exc

    def wait_after_answer(self, response: httpx.Response, concurrency_429: bool) -> float | None:
        """The wait before retrying ``response``, or None to return it; raises ``TransientApiError`` for a
        429 whose next wait is over the request's time budget."""
        status = response.status_code
        wait = self.state.after_status(
            status,
            response.headers,
            now=self.pacer.clock.time(),
            reset_wait=self.pacer.reset_wait(self.bucket) if status == 429 else 0.0,
            concurrency=concurrency_429,
        )
        if wait is None:
            if status == 429:
                raise self.rate_limited(response)
            return None
        if status == 429:
            self.note_rate_limit_wait(wait)
        else:
            log.info(
                "%s %s: HTTP %d; retry %d in %.1fs",
                self.method,
                self.short,
                status,
                self.state.failures,
                wait,
            )
        return wait

    def rate_limited(self, response: httpx.Response) -> TransientApiError:
        """The error of a 429 the request may no longer wait for."""
        return TransientApiError(
            f"{self.who} kept answering 429 (rate limited) to {self.method} {self.short}: "
            f"waited {self.state.waited:.0f}s for resets, and the next one is "
            f"{self.state.over_budget or 0:.0f}s away, over the "
            f"{self.retry.max_429_wait:.0f}s this request may wait",
            error_details(response, self.method, self.url),
            hint="another client may be using up this rate-limit bucket; retry later",
        )

    def note_rate_limit_wait(self, wait: float) -> None:
        """Log a 429's wait; a long one (or a long total) is also shown to the operator, who would
        otherwise see a run stand still."""
        waited = self.state.waited
        if wait >= self.pacer.NOTE_AFTER or waited >= 30.0:
            self.pacer.note(
                f"{self.who} rate limit (429) on {self.bucket}: waiting {wait:.0f}s for the reset "
                f"({waited:.0f}s of at most {self.retry.max_429_wait:.0f}s for this request)"
            )
        log.info("%s %s: 429; waiting %.1fs (%.1fs in total)", self.method, self.short, wait, waited)
        self.pacer.waited += wait


class Authenticator(Protocol):
    async def headers(self, transport: OktaTransport, method: str, url: str) -> dict[str, str]:
        """The credential headers of one attempt: ``Authorization`` (``SSWS 00abc…``, note the space;
        ``Bearer …``; ``DPoP …``) and, for a DPoP-bound token, its ``DPoP`` proof for ``method url``."""
        ...

    def invalidate(self) -> bool:
        """Forget a cached credential after a 401; True when a new one may work (OAuth access tokens)."""
        ...

    def challenged(self, response: httpx.Response) -> bool:
        """True when ``response`` asks for the request again with a new DPoP nonce (which it learns)."""
        ...


class OktaTransport:
    """Sends requests to one org through one pacer. Owns its httpx client."""

    def __init__(
        self,
        org_url: str,
        auth: Authenticator | None,
        pacer: Pacer,
        *,
        retry: RetryPolicy | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.org_url = normalize_org_url(org_url)
        self.auth = auth
        self.pacer = pacer
        self.retry = retry or RetryPolicy()
        self.sent = 0
        proxy = os.environ.get("OKTASYNC_HTTPS_PROXY") or None
        if is_loopback_host(urlsplit(self.org_url).hostname):
            proxy = None
        self.deadline = timeout  # per attempt, in total: a peer trickling bytes cannot hold a run forever
        self.client = client or httpx.AsyncClient(
            verify=True,  # never disabled: loopback http has no TLS to verify, everything else is https
            trust_env=False,  # no proxy / netrc / CA variables silently change the wire
            proxy=proxy,
            timeout=httpx.Timeout(timeout, connect=15.0),
            limits=httpx.Limits(max_connections=pacer.max_concurrency + 2),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            if not path_or_url.startswith(self.org_url + "/"):
                # Never send the org's credentials to another host (e.g. a tampered Link header).
                raise OktaApiError(f"refusing to follow a URL outside {self.org_url}: {path_or_url}")
            return path_or_url
        return self.org_url + path_or_url

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = True,
        idempotent: bool | None = None,
        sign: Callable[[str, str], Mapping[str, str]] | None = None,
        challenged: Callable[[httpx.Response], bool] | None = None,
    ) -> httpx.Response:
        """One logical request: paced, retried per policy; returns a 2xx/3xx response or raises.

        ``sign`` adds headers to every attempt (the token request's DPoP proof); ``challenged`` sees the
        answer and says whether to send the request again at once, once (a DPoP nonce challenge). For an
        authenticated request both come from the authenticator."""
        method = method.upper()
        url = self.url(path_or_url)
        attempts = _Attempts(self, method, url, params, json_body, content, form, headers, authenticate, sign)
        if challenged is None and authenticate and self.auth is not None:
            challenged = self.auth.challenged
        bucket = bucket_for(urlsplit(url).path, method)
        nonce_retried = auth_retried = False
        while True:
            response = await send_with_policy(
                self.pacer,
                self.retry,
                attempts.send,
                prepare=attempts.prepare,
                method=method,
                url=str(httpx.URL(url, params=params)) if params else url,  # traced with its query
                bucket=bucket,
                idempotent=method in IDEMPOTENT_METHODS if idempotent is None else idempotent,
            )
            if challenged is not None and challenged(response) and not nonce_retried:
                nonce_retried = True  # the server handed out a DPoP nonce and wants it in the proof
                continue
            status = response.status_code
            if status < 400:
                return response
            if status == 401 and authenticate and self.auth is not None and not auth_retried:
                auth_retried = True
                if self.auth.invalidate():  # an expired OAuth access token: mint a new one, once
                    continue
            raise translate(response, method, url)

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        return decode_json(response, method, path)

    async def get_all(
        self,
        path: str,
        params: Mapping[str, str | int],
        parse_item: Callable[[Any], Any] | None = None,
    ) -> list[Any]:
        """Every item of a paged list, following ``Link: rel="next"``. An error on any page raises.

        ``parse_item`` turns each raw item into its model page by page, so a long list (50,000 app users with
        their embedded users) never holds every raw JSON document at once."""
        items: list[Any] = []
        url: str = path
        query: Mapping[str, str | int] | None = params
        seen: set[str] = set()
        while True:
            response = await self.request("GET", url, params=query)
            page = decode_json(response, "GET", url)
            if not isinstance(page, list):
                raise OktaApiError(f"GET {path}: expected a JSON list, got {type(page).__name__}")
            items.extend(page if parse_item is None else map(parse_item, page))
            del page
            nxt = parse_links(response.headers).get("next")
            if not nxt or nxt in seen:
                return items
            seen.add(nxt)
            url, query = nxt, None  # follow the link as given: it carries the cursor and limit


@dataclass
class _Attempts:
    """What each attempt of one ``OktaTransport.request`` sends: the same request, with its headers made
    anew before every attempt."""

    transport: OktaTransport
    method: str
    url: str
    params: Mapping[str, str | int] | None
    json_body: Any
    content: bytes | None
    form: Mapping[str, str] | None
    extra_headers: Mapping[str, str] | None
    authenticate: bool
    sign: Callable[[str, str], Mapping[str, str]] | None
    headers: dict[str, str] = field(default_factory=dict)

    async def prepare(self) -> None:
        """The headers of the next attempt. Per attempt, before pacing: an OAuth access token may be renewed
        while a retry waits, and fetching it is itself a paced request (so not while holding a concurrency
        slot)."""
        auth = self.transport.auth
        self.headers.clear()
        self.headers.update(self.extra_headers or {})
        if self.json_body is not None:
            self.headers["Content-Type"] = "application/json"
        if self.authenticate and auth is not None:
            self.headers.update(await auth.headers(self.transport, self.method, self.url))
        if self.sign is not None:
            self.headers.update(self.sign(self.method, self.url))  # a fresh DPoP proof per attempt

    async def send(self) -> httpx.Response:
        """One attempt; its whole answer must come within the transport's deadline."""
        transport = self.transport
        transport.sent += 1
        try:
            async with asyncio.timeout(transport.deadline):
                return await transport.client.request(
                    self.method,
                    self.url,
                    params=self.params,
                    content=self.content if self.content is not None else _encode(self.json_body),
                    data=self.form,
                    headers=self.headers,
                )
        except TimeoutError:
            # httpx bounds each read; this bounds the whole answer (retried as a transport error)
            raise httpx.ReadTimeout(f"no complete answer within {transport.deadline:g}s") from None


def _encode(body: Any) -> bytes | None:
    if body is None:
        return None
    return json.dumps(body).encode()


def decode_json(response: httpx.Response, method: str, path: str) -> Any:
    """The JSON body; None for an empty body (Okta's 204s have no Content-Type)."""
    if response.status_code == 204 or not response.content.strip():
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        details = ApiErrorDetails(
            status=response.status_code, request_id=response.headers.get("x-okta-request-id"), method=method
        )
        raise OktaApiError(f"{method} {path}: Okta's answer is not JSON", details) from exc
