"""The control API under ``/__emulator/``: no rate limits, no faults (a test tool, loopback only).

Two guards keep a web page in the user's browser away from it (docs/emulator.md "Control API"): a request
whose ``Host`` header is not a loopback name or address is refused (403; a DNS-rebinding page sends its own
host name), and every call that changes something, or reads the state with its secrets, needs the per-run
control token in the ``X-Emulator-Control-Token`` header (401 without it). ``Control`` sends both.

Routes (JSON in and out; errors are ``{"error": "..."}`` with 400/404):

* ``PUT /state``: replace the whole org with a seed document.
* ``GET /state[?secrets=true]``: dump (seed format + ``scim_calls``; tokens masked unless asked).
* ``GET /stats``: request counts per route/bucket/status, 429s, rate-limit windows, provisioning queue.
* ``POST /stats/reset``: zero the counters.
* ``GET|PUT|DELETE /faults``: read / replace / clear the injected faults (``faults.py``).
* ``GET|PATCH /behaviour``: read / change the switches for unsettled Okta behaviours (``behaviour.py``).
* ``POST /idle?timeout=S``: wait until no group job is pending and the provisioning queue is empty: 200
  ``{"idle": true}`` or 408.
* ``PATCH /apps/{id}/settings``: change settings as an out-of-band admin (source ``control``).
* ``GET /apps/{id}/settings-history``: every *Deactivate Users* change, with time and source.
* ``PUT|DELETE /apps/{id}/groups/{gid}``: assign / unassign a group, bypassing rate limits; the app users
  follow in Okta's background job, after the ``group_*_delay_seconds`` behaviours, as for the API.
* ``PUT|DELETE /groups/{gid}/users/{uid}``: add / remove a group member (engine runs).
* ``POST /users`` (``{login, firstName, ...}``), ``POST /groups`` (``{name, members}``): create.
* ``PATCH /users/{uid}``: change an Okta profile (pushes profile updates where enabled).
* ``GET /scim-calls[?app_id=&user_id=]``: SCIM calls made by the engine.
* ``GET /events[?event_type=]``: System Log events, without time bounds.
* ``PUT /rate-limits`` (``{bucket: per-minute limit}``), ``POST /rate-limits/reset``,
  ``POST /rate-limits/exhaust?bucket=B``.
* ``DELETE /admin-sessions/{sid}``: expire an admin session.

All paths are under ``/__emulator``; group and user references accept ids, names and logins.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from oktasync.emulator.faults import Faults
from oktasync.emulator.records import NotFound
from oktasync.emulator.responses import Stats
from oktasync.emulator.seed import SeedError, dump_state
from oktasync.loopback import is_loopback_host

if TYPE_CHECKING:
    from oktasync.emulator.server import Emulator

P = "/__emulator"
TOKEN_HEADER = "X-Emulator-Control-Token"
_Handler = Callable[[web.Request], Awaitable[web.Response]]


def _ok(doc: Any = None, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps({"status": "ok"} if doc is None else doc).encode(),
        status=status,
        content_type="application/json",
    )


def _err(message: str, status: int = 400) -> web.Response:
    return _ok({"error": message}, status)


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    return json.loads(raw)


def _host_name(request: web.Request) -> str | None:
    host = request.headers.get("Host", "")
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else None
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host or None


def refusal(request: web.Request, em: Emulator) -> web.Response | None:
    """Why the control API will not answer ``request`` (403 or 401), or None; every control route passes
    here (the emulator's middleware)."""
    if not is_loopback_host(_host_name(request)):
        return _err("the control API answers only loopback Host names (localhost, 127.0.0.1, [::1])", 403)
    changes = request.method not in ("GET", "HEAD")
    reveals = request.path == P + "/state" and request.query.get("secrets", "").lower() == "true"
    if changes or reveals:
        given = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), em.control_token.encode()):
            return _err(f"this control call needs the emulator's control token in {TOKEN_HEADER}", 401)
    return None


def add_routes(app: web.Application, em: Emulator) -> None:
    """Every control route, each answering a lookup miss with 404 and bad input with 400."""
    for method, path, handler in _ControlRoutes(em).table():
        app.router.add_route(method, P + path, _guarded(handler))


def _guarded(fn: _Handler) -> _Handler:
    async def handler(request: web.Request) -> web.Response:
        try:
            return await fn(request)
        except NotFound as exc:
            return _err(f"not found: {exc}", 404)
        except (ValueError, KeyError, TypeError, SeedError) as exc:
            return _err(f"{type(exc).__name__}: {exc}", 400)

    return handler


class _ControlRoutes:
    """The control API's handlers, one method a route (the module docstring lists them)."""

    def __init__(self, em: Emulator) -> None:
        self.em = em

    def table(self) -> list[tuple[str, str, _Handler]]:
        return [
            ("PUT", "/state", self.put_state),
            ("GET", "/state", self.get_state),
            ("GET", "/stats", self.get_stats),
            ("POST", "/stats/reset", self.reset_stats),
            ("GET", "/faults", self.get_faults),
            ("PUT", "/faults", self.put_faults),
            ("DELETE", "/faults", self.clear_faults),
            ("GET", "/behaviour", self.get_behaviour),
            ("PATCH", "/behaviour", self.patch_behaviour),
            ("POST", "/idle", self.idle),
            ("PATCH", "/apps/{app_id}/settings", self.patch_settings),
            ("GET", "/apps/{app_id}/settings-history", self.settings_history),
            ("PUT", "/apps/{app_id}/groups/{group_id}", self.assign_group),
            ("DELETE", "/apps/{app_id}/groups/{group_id}", self.unassign_group),
            ("PUT", "/groups/{group_id}/users/{user_id}", self.add_member),
            ("DELETE", "/groups/{group_id}/users/{user_id}", self.remove_member),
            ("POST", "/users", self.create_user),
            ("POST", "/groups", self.create_group),
            ("PATCH", "/users/{user_id}", self.patch_user),
            ("GET", "/scim-calls", self.scim_calls),
            ("GET", "/events", self.events),
            ("PUT", "/rate-limits", self.set_limits),
            ("POST", "/rate-limits/reset", self.reset_limits),
            ("POST", "/rate-limits/exhaust", self.exhaust),
            ("DELETE", "/admin-sessions/{sid}", self.expire_session),
        ]

    async def put_state(self, request: web.Request) -> web.Response:
        doc = await _body(request)
        if not isinstance(doc, dict):
            raise ValueError("state must be a JSON object")
        self.em.replace_state(doc)
        return _ok(
            {
                "users": len(self.em.store.users),
                "groups": len(self.em.store.groups),
                "apps": len(self.em.store.apps),
            }
        )

    async def get_state(self, request: web.Request) -> web.Response:
        secrets = request.query.get("secrets", "").lower() == "true"
        return _ok(dump_state(self.em.store, secrets=secrets))

    async def get_stats(self, request: web.Request) -> web.Response:
        doc = self.em.stats.to_dict()
        doc["in_flight"] = self.em.in_flight
        doc["rate_limits"] = self.em.limiter.snapshot()
        doc["provisioning"] = {"pending": self.em.engine.pending, "scim_calls": len(self.em.store.scim_calls)}
        doc["group_jobs"] = {"pending": self.em.group_jobs.pending}
        return _ok(doc)

    async def reset_stats(self, request: web.Request) -> web.Response:
        self.em.stats = Stats()
        return _ok()

    async def get_faults(self, request: web.Request) -> web.Response:
        return _ok(self.em.faults.raw)

    async def put_faults(self, request: web.Request) -> web.Response:
        self.em.faults = Faults.from_dict(await _body(request))
        return _ok(self.em.faults.raw)

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.em.faults = Faults()
        return _ok()

    async def get_behaviour(self, request: web.Request) -> web.Response:
        return _ok(self.em.behaviour.to_dict())

    async def patch_behaviour(self, request: web.Request) -> web.Response:
        changes = await _body(request)
        if not isinstance(changes, dict):
            raise ValueError("behaviour changes must be a JSON object")
        self.em.behaviour = self.em.behaviour.updated(changes)
        return _ok(self.em.behaviour.to_dict())

    async def idle(self, request: web.Request) -> web.Response:
        timeout = float(request.query.get("timeout", "30"))
        done = await self.em.wait_idle(timeout)
        pending = {"pending": self.em.engine.pending, "group_jobs": self.em.group_jobs.pending}
        return _ok({"idle": done, **pending}, 200 if done else 408)

    async def patch_settings(self, request: web.Request) -> web.Response:
        app_ = self.em.store.app(request.match_info["app_id"])
        body = await _body(request)
        connection = body.pop("connection_status", None)
        self.em.store.update_settings(app_, body, "control")
        if connection is not None:
            app_.connection_status = str(connection)
        return _ok(app_.settings.to_dict(secrets=False))

    async def settings_history(self, request: web.Request) -> web.Response:
        return _ok(self.em.store.app(request.match_info["app_id"]).settings_history)

    async def assign_group(self, request: web.Request) -> web.Response:
        app_ = self.em.store.app(request.match_info["app_id"])
        group = self.em.store.group(self.em.store.resolve_group(request.match_info["group_id"]))
        body = await _body(request)
        self.em.assign_group(app_, group, body.get("priority"), body.get("profile"))
        return _ok()

    async def unassign_group(self, request: web.Request) -> web.Response:
        app_ = self.em.store.app(request.match_info["app_id"])
        group = self.em.store.group(self.em.store.resolve_group(request.match_info["group_id"]))
        self.em.unassign_group(app_, group)
        return _ok()

    async def add_member(self, request: web.Request) -> web.Response:
        group = self.em.store.group(self.em.store.resolve_group(request.match_info["group_id"]))
        self.em.submit(
            self.em.store.add_member(group, self.em.store.resolve_user(request.match_info["user_id"]))
        )
        return _ok()

    async def remove_member(self, request: web.Request) -> web.Response:
        group = self.em.store.group(self.em.store.resolve_group(request.match_info["group_id"]))
        self.em.submit(
            self.em.store.remove_member(group, self.em.store.resolve_user(request.match_info["user_id"]))
        )
        return _ok()

    async def create_user(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if not body.get("login"):
            raise ValueError("login is required")
        if body["login"].lower() in self.em.store.users_by_login:
            raise ValueError(f"login {body['login']!r} exists")
        user = self.em.store.add_user(body)
        return _ok({"id": user.id}, 201)

    async def create_group(self, request: web.Request) -> web.Response:
        body = await _body(request)
        group = self.em.store.add_group(str(body["name"]), description=str(body.get("description", "")))
        for ref in body.get("members") or []:
            self.em.store.add_member(group, self.em.store.resolve_user(ref))
        return _ok({"id": group.id}, 201)

    async def patch_user(self, request: web.Request) -> web.Response:
        user = self.em.store.user(self.em.store.resolve_user(request.match_info["user_id"]))
        self.em.submit(self.em.store.update_user_profile(user, await _body(request)))
        return _ok()

    async def scim_calls(self, request: web.Request) -> web.Response:
        calls = self.em.store.scim_calls
        for key in ("app_id", "user_id"):
            if request.query.get(key):
                calls = [c for c in calls if c[key] == request.query[key]]
        return _ok(calls)

    async def events(self, request: web.Request) -> web.Response:
        out = self.em.store.events
        if request.query.get("event_type"):
            out = [e for e in out if e["eventType"] == request.query["event_type"]]
        return _ok(out)

    async def set_limits(self, request: web.Request) -> web.Response:
        body = await _body(request)
        self.em.limiter.limits.update({str(k): int(v) for k, v in body.items()})
        return _ok(self.em.limiter.limits)

    async def reset_limits(self, request: web.Request) -> web.Response:
        self.em.limiter.reset()
        return _ok()

    async def exhaust(self, request: web.Request) -> web.Response:
        self.em.limiter.exhaust(request.query["bucket"])
        return _ok()

    async def expire_session(self, request: web.Request) -> web.Response:
        if self.em.store.admin_sessions.pop(request.match_info["sid"], None) is None:
            raise NotFound(request.match_info["sid"])
        return _ok()
