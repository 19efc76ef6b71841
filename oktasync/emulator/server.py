"""The emulator's HTTP server: Okta Management API routes, strict like Okta (docs/emulator.md).

Request pipeline for Okta routes (``/api/v1``, ``/oauth2``, ``/admin``), in order: concurrency limit (75 in
flight) → injected faults (``faults.py``) → rate-limit bucket and the client's share of it (``ratelimit.py``)
→ auth (``SSWS <token>``, ``Bearer <token>`` or ``DPoP <token>`` with its proof (``oauth.py``) exactly, else
401 E0000011) → OAuth scope (403 E0000006) →
handler. Each behaviour's source is in docs/okta-behaviour.md.
Every Okta response carries ``X-Okta-Request-Id``, ``Date`` and ``X-Rate-Limit-Limit/Remaining/Reset``;
errors use Okta's body (``errorCode``, ``errorSummary``, ``errorLink``, ``errorId``, ``errorCauses``).
The control API (``/__emulator/``, ``control.py``) bypasses all of it.

This module never imports the okta SDK: it is the server side.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from oktasync.emulator import oauth, ratelimit
from oktasync.emulator.api_routes import ApiRoutes
from oktasync.emulator.behaviour import Behaviour
from oktasync.emulator.faults import Faults
from oktasync.emulator.group_jobs import GroupJobs
from oktasync.emulator.provisioning import ProvisioningEngine
from oktasync.emulator.ratelimit import RateLimiter
from oktasync.emulator.records import (
    App,
    Group,
    GroupAssignment,
    Job,
    NotFound,
)
from oktasync.emulator.responses import (
    METHOD_NOT_SUPPORTED,
    RATE_LIMITED_SUMMARY,
    BearerToken,
    OktaError,
    Stats,
    okta_error_response,
)
from oktasync.emulator.seed import load_state
from oktasync.emulator.store import Store

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONTROL_PREFIX = "/__emulator"
DEFAULT_CONCURRENCY_LIMIT = 75

# Scope needed by a Bearer token, by path prefix and method class (the spec's per-operation OAuth scopes).
_SCOPES: list[tuple[str, str, str]] = [
    ("/api/v1/apps", "okta.apps.read", "okta.apps.manage"),
    ("/api/v1/groups", "okta.groups.read", "okta.groups.manage"),
    ("/api/v1/users", "okta.users.read", "okta.users.manage"),
    ("/api/v1/logs", "okta.logs.read", "okta.logs.read"),
]


class InjectedDrop(ConnectionResetError):
    """A connection the fault injector dropped on purpose (the client sees a reset connection)."""


class _QuietInjectedDrops(logging.Filter):
    """aiohttp logs every handler exception with its traceback ("Error handling request"); a drop the
    fault injector asked for is the point of the exercise, not an error of the emulator."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedDrop))


_quiet = _QuietInjectedDrops()
logging.getLogger("aiohttp.server").addFilter(_quiet)


class Emulator:
    """One emulated org: state, limits, faults, provisioning engine, and the aiohttp application."""

    def __init__(
        self,
        seed: dict[str, Any] | None = None,
        *,
        time_scale: float = 1.0,
        rate_limits: dict[str, int] | None = None,
        concurrency_limit: int = DEFAULT_CONCURRENCY_LIMIT,
        api_tokens: list[str] | tuple[str, ...] = (),
        workers: int = 4,
        behaviour: Behaviour | None = None,
        control_token: str | None = None,
    ) -> None:
        self.store: Store = load_state(seed or {})
        # Mutating control API calls need this (control.py); a fresh one per run unless given.
        self.control_token = control_token or secrets.token_urlsafe(18)
        self.behaviour = behaviour or Behaviour()
        self.store.api_tokens.update(api_tokens)
        self.limiter = RateLimiter(time_scale, rate_limits)
        self.time_scale = time_scale
        self.concurrency_limit = concurrency_limit
        self.faults = Faults()
        self.stats = Stats()
        self.bearer_tokens: dict[str, BearerToken] = {}
        self.used_jtis: set[str] = set()
        self.dpop = oauth.DpopServer()
        self.engine = ProvisioningEngine(self.store, workers=workers, time_scale=time_scale)
        self.group_jobs = GroupJobs()
        self.in_flight = 0

    # --- state ------------------------------------------------------------------------------------
    def replace_state(self, seed: dict[str, Any]) -> None:
        keep_tokens = set(self.store.api_tokens) if not seed.get("api_tokens") else set()
        self.engine.clear()
        self.group_jobs.clear()
        self.store = load_state(seed)
        self.store.api_tokens.update(keep_tokens)
        self.engine.store = self.store
        self.bearer_tokens.clear()

    def submit(self, jobs: list[Job]) -> None:
        if jobs:
            self.engine.submit(jobs)

    # --- group assignments (Okta's background jobs, group_jobs.py) ---------------------------------------
    def assign_group(
        self, app: App, group: Group, priority: int | None, profile: dict[str, Any] | None
    ) -> GroupAssignment:
        """Assign at once; a new assignment's app users come from a background job after the delay."""
        assignment, new = self.store.assign_group(app, group, priority, profile)
        if new:
            delay = self.group_jobs.delay(
                self.behaviour.group_assign_delay_seconds, self.behaviour.group_job_late_seconds
            )
            app_id, group_id = app.id, group.id
            self.group_jobs.run_after(
                delay * self.time_scale,
                lambda: self.submit(self.store.entitle_group_members(app_id, group_id)),
            )
        return assignment

    def unassign_group(self, app: App, group: Group) -> None:
        """Unassign at once; the app users go in a background job after the delay."""
        self.store.unassign_group(app, group)
        delay = self.group_jobs.delay(
            self.behaviour.group_unassign_delay_seconds, self.behaviour.group_job_late_seconds
        )
        app_id, group_id = app.id, group.id
        self.group_jobs.run_after(
            delay * self.time_scale,
            lambda: self.submit(self.store.disentitle_group_members(app_id, group_id)),
        )

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no group job is pending and the provisioning queue is empty."""
        deadline = asyncio.get_running_loop().time() + timeout
        if not await self.group_jobs.wait_idle(timeout):
            return False
        left = max(0.0, deadline - asyncio.get_running_loop().time())
        return await self.engine.wait_idle(left)

    # --- application --------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=8 * 1024**2)
        app.on_response_prepare.append(_common_headers)
        from oktasync.emulator import admin_console, control, event_hooks, oauth

        control.add_routes(app, self)
        oauth.add_routes(app, self)
        admin_console.add_routes(app, self)
        ApiRoutes(self).add_routes(app)
        event_hooks.add_routes(app, self)

        async def on_startup(_: web.Application) -> None:
            await self.engine.start()

        async def on_cleanup(_: web.Application) -> None:
            await self.engine.stop()

        app.on_startup.append(on_startup)
        app.on_cleanup.append(on_cleanup)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith(CONTROL_PREFIX):
            from oktasync.emulator.control import refusal

            return refusal(request, self) or await handler(request)
        self.stats.total += 1
        bucket = ratelimit.bucket_for(path, request.method) or ratelimit.API_V1
        self.stats.by_bucket[bucket] += 1
        route = _route_name(request)
        self.stats.by_route[route] += 1
        if self.in_flight >= self.concurrency_limit:
            # Concurrency 429: Limit and Remaining are both 0 (docs/okta-behaviour.md, "Rate limits").
            self.stats.concurrency_rejected += 1
            resp = okta_error_response(429, "E0000047", RATE_LIMITED_SUMMARY)
            _rate_headers(resp, 0, 0, int(time.time()) + 1)
            self.stats.by_status[429] += 1
            return resp
        self.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.in_flight)
        result: web.StreamResponse
        try:
            result = await self._guarded(request, handler, bucket)
        finally:
            self.in_flight -= 1
        self.stats.by_status[result.status] += 1
        if result.status == 429:
            self.stats.rate_limited += 1
        return result

    async def _guarded(self, request: web.Request, handler: Handler, bucket: str) -> web.StreamResponse:
        decision = self.limiter.take(bucket, self._client(request), self.behaviour.rate_limit_client_share)
        verdict = self.faults.decide(request.method, request.path) if self.faults.active else None
        if verdict is not None:
            if verdict.delay:
                await asyncio.sleep(verdict.delay)
            if verdict.drop:
                self.stats.faults_injected += 1
                if request.transport is not None:
                    request.transport.close()
                raise InjectedDrop("connection dropped by fault injection")
            if verdict.rate_limited:
                self.stats.faults_injected += 1
                resp = okta_error_response(429, "E0000047", RATE_LIMITED_SUMMARY)
                _rate_headers(resp, decision.limit, 0, decision.reset)
                return resp
            if verdict.status is not None:
                self.stats.faults_injected += 1
                resp = okta_error_response(
                    verdict.status, "E0000009", "Internal Server Error", ["injected fault"]
                )
                _rate_headers(resp, decision.limit, decision.remaining, decision.reset)
                return resp
        if not decision.allowed:
            resp = okta_error_response(429, "E0000047", RATE_LIMITED_SUMMARY)
            _rate_headers(resp, decision.limit, 0, decision.reset)
            return resp
        answer: web.StreamResponse
        try:
            if request.path.startswith("/api/"):
                self._authorize(request)
            answer = await handler(request)
        except OktaError as exc:
            answer = okta_error_response(exc.status, exc.code, exc.summary, exc.causes, exc.headers)
        except NotFound as exc:
            answer = okta_error_response(404, "E0000007", f"Not found: Resource not found: {exc} (Object)")
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            # A method a route does not serve is 405 E0000022, without rate-limit headers (recorded: POST on
            # /api/v1/realms/{id}, GET on /api/v1/sessions/); Okta answers the same for a path it has no
            # route for under that method.
            return okta_error_response(405, "E0000022", METHOD_NOT_SUPPORTED)
        _rate_headers(answer, decision.limit, decision.remaining, decision.reset)
        return answer

    def _client(self, request: web.Request) -> str | None:
        """Who a request counts against in rate limiting: its API token or OAuth app (ratelimit.py)."""
        header = request.headers.get("Authorization", "")
        if header.startswith("SSWS ") and header[5:] in self.store.api_tokens:
            return "token:" + hashlib.sha256(header[5:].encode()).hexdigest()[:16]
        scheme, _, value = header.partition(" ")
        if scheme in ("Bearer", "DPoP"):
            token = self.bearer_tokens.get(value)
            if token is not None:
                return "app:" + token.client_id
        return None

    def _authorize(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        scopes: frozenset[str] | None = None
        if header.startswith("SSWS ") and header[5:] in self.store.api_tokens:
            scopes = None  # an API token carries its admin's full permissions
        elif (
            header.partition(" ")[0] in ("Bearer", "DPoP") and header.partition(" ")[2] in self.bearer_tokens
        ):
            scheme, _, value = header.partition(" ")
            token = self.bearer_tokens[value]
            if token.expires < time.time():
                raise OktaError(401, "E0000011", "Invalid token provided")
            oauth.check_resource_proof(self, request, scheme, value, token.jkt)  # DPoP (RFC 9449)
            scopes = token.scopes
        else:
            raise OktaError(401, "E0000011", "Invalid token provided")
        if scopes is None:
            return
        for prefix, read_scope, manage_scope in _SCOPES:
            if request.path.startswith(prefix):
                needed = read_scope if request.method in ("GET", "HEAD") else manage_scope
                if needed not in scopes and not (
                    needed.endswith(".read") and needed[:-5] + ".manage" in scopes
                ):
                    raise OktaError(
                        403, "E0000006", "You do not have permission to perform the requested action"
                    )
                return


def _route_name(request: web.Request) -> str:
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    canonical = getattr(resource, "canonical", None)
    return f"{request.method} {canonical or '(unknown)'}"


def _rate_headers(resp: web.StreamResponse, limit: int, remaining: int, reset: float) -> None:
    resp.headers["X-Rate-Limit-Limit"] = str(limit)
    resp.headers["X-Rate-Limit-Remaining"] = str(remaining)
    resp.headers["X-Rate-Limit-Reset"] = ratelimit.format_reset(reset)


async def _common_headers(request: web.Request, resp: web.StreamResponse) -> None:
    resp.headers.setdefault("X-Okta-Request-Id", secrets.token_urlsafe(18))
    resp.headers.setdefault("Date", email.utils.formatdate(usegmt=True))
    if resp.status == 204:
        resp.headers.pop("Content-Type", None)


# --- helpers for handlers ---------------------------------------------------------------------------------
