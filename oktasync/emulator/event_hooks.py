"""Okta event hooks in the emulator: the Event Hooks API and deliveries, as Okta documents them.

Sources are in docs/okta-behaviour.md "Event hooks"; in short:

* ``/api/v1/eventHooks``: list, create (ACTIVE, UNVERIFIED), get, replace (a changed channel needs a new
  verification), delete, ``lifecycle/activate|deactivate|verify``. The secret
  (``channel.config.authScheme.value``) is never returned. Only event types the catalogue tags
  ``event-hook-eligible`` may be subscribed (``ELIGIBLE``); at most ``MAX_HOOKS`` hooks per org.
* verify: a GET to the hook's URI with ``X-Okta-Verification-Challenge`` (and the hook's headers); the answer
  must be ``{"verification": <challenge>}``. 3-second timeout, one retry after a timeout or an error answer;
  a failure is a 400.
* delivery: only ACTIVE and VERIFIED hooks; events close together go in one POST (``data.events[]``, at most
  ``Behaviour.event_hook_batch_max``); 3-second timeout, at most one retry, none after a 4xx; a failed
  delivery is logged as an ``event_hook.delivery`` System Log event; 100,000 events per 24 hours.

Okta requires HTTPS endpoints; the emulator also accepts ``http://`` on loopback, where the tests run.
Deliveries start from the provisioning engine (``ProvisioningEngine.listeners``), so the events delivered are
the provisioning events it writes.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from oktasync.emulator.records import iso

if TYPE_CHECKING:
    from oktasync.emulator.server import Emulator

TIMEOUT_SECONDS = 3.0
MAX_HOOKS = 10
DAILY_EVENT_LIMIT = 100_000
BATCH_WINDOW_SECONDS = 0.2  # events this close together share a delivery
ELIGIBLE: frozenset[str] = frozenset(
    {
        "application.provision.user.push",
        "application.provision.user.push_profile",
        "application.provision.user.reactivate",
        "application.provision.user.import_profile",
        "application.provision.user.sync",
        "application.user_membership.add",
        "application.user_membership.remove",
        "application.user_membership.update",
        "group.user_membership.add",
        "group.user_membership.remove",
        "user.lifecycle.create",
        "user.lifecycle.activate",
        "user.lifecycle.deactivate",
    }
)
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _error(cause: str) -> Exception:
    from oktasync.emulator.responses import validation_error

    return validation_error(cause, "eventHook")


class EventHooks:
    def __init__(self, em: Emulator) -> None:
        self.em = em
        self.hooks: dict[str, dict[str, Any]] = {}  # id -> stored hook, secret included
        self.deliveries: list[dict[str, Any]] = []  # every delivery attempt series, for tests
        self.verifications: list[dict[str, Any]] = []
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._flushers: dict[str, asyncio.Task[None]] = {}
        self._day: tuple[float, int] = (time.time(), 0)  # window start, events sent in it
        self._session: aiohttp.ClientSession | None = None
        self.base_url = ""  # this org's URL as the last API request named it (the deliveries' ``source``)

    # --- HTTP plumbing -------------------------------------------------------------------------------
    async def start(self, _: web.Application) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS))

    async def stop(self, _: web.Application) -> None:
        for task in self._flushers.values():
            task.cancel()
        await asyncio.gather(*self._flushers.values(), return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def _headers(self, hook: dict[str, Any]) -> dict[str, str]:
        config = hook["channel"]["config"]
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        for header in config.get("headers") or []:
            if isinstance(header, dict) and header.get("key"):
                headers[str(header["key"])] = str(header.get("value") or "")
        scheme = config.get("authScheme") or {}
        if scheme.get("key"):
            headers[str(scheme["key"])] = str(scheme.get("value") or "")
        return headers

    async def _call(self, method: str, hook: dict[str, Any], **kwargs: Any) -> tuple[int | str, str]:
        """One request with Okta's timeout and retry rule: at most one retry, after a timeout, a connection
        error or a 5xx; none after a 4xx. Returns the last status (or error name) and body."""
        assert self._session is not None, "event hooks not started"
        status: int | str = "none"
        text = ""
        for _ in range(2):
            try:
                async with self._session.request(
                    method, hook["channel"]["config"]["uri"], allow_redirects=False, **kwargs
                ) as resp:
                    status, text = resp.status, await resp.text()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                status, text = type(exc).__name__, ""
                continue
            if isinstance(status, int) and status < 500:
                break
        return status, text

    # --- verification --------------------------------------------------------------------------------
    async def verify(self, hook: dict[str, Any]) -> bool:
        challenge = secrets.token_urlsafe(24)
        headers = {**self._headers(hook), "X-Okta-Verification-Challenge": challenge}
        headers.pop("Content-Type", None)
        status, text = await self._call("GET", hook, headers=headers)
        try:
            answer = json.loads(text) if status == 200 else None
        except ValueError:
            answer = None
        ok = isinstance(answer, dict) and answer.get("verification") == challenge
        self.verifications.append({"hook_id": hook["id"], "at": iso(), "status": status, "ok": ok})
        return ok

    # --- delivery ------------------------------------------------------------------------------------
    def on_event(self, event: dict[str, Any]) -> None:
        """Queue ``event`` for every ACTIVE, VERIFIED hook subscribed to its type."""
        for hook in self.hooks.values():
            if hook["status"] != "ACTIVE" or hook["verificationStatus"] != "VERIFIED":
                continue
            if event["eventType"] not in hook["events"]["items"]:
                continue
            self._pending.setdefault(hook["id"], []).append(json.loads(json.dumps(event)))
            flusher = self._flushers.get(hook["id"])
            if flusher is None or flusher.done():
                self._flushers[hook["id"]] = asyncio.get_running_loop().create_task(self._flush(hook["id"]))

    def _within_daily_limit(self, count: int) -> int:
        start, sent = self._day
        if time.time() - start >= 86400:
            start, sent = time.time(), 0
        allowed = max(0, min(count, DAILY_EVENT_LIMIT - sent))
        self._day = (start, sent + allowed)
        return allowed

    async def _flush(self, hook_id: str) -> None:
        await asyncio.sleep(BATCH_WINDOW_SECONDS)
        while self._pending.get(hook_id):
            hook = self.hooks.get(hook_id)
            queue = self._pending[hook_id]
            if hook is None:
                queue.clear()
                return
            size = max(1, int(self.em.behaviour.event_hook_batch_max))
            batch, self._pending[hook_id] = queue[:size], queue[size:]
            allowed = self._within_daily_limit(len(batch))
            if allowed < len(batch):
                self.deliveries.append({"hook_id": hook_id, "dropped": len(batch) - allowed, "at": iso()})
                batch = batch[:allowed]
            if batch:
                await self._deliver(hook, batch)

    async def _deliver(self, hook: dict[str, Any], events: list[dict[str, Any]]) -> None:
        body = {
            "eventType": "com.okta.event_hook",
            "eventTypeVersion": "1.0",
            "cloudEventsVersion": "0.1",
            "source": f"{self.base_url}/api/v1/eventHooks/{hook['id']}",
            "eventId": str(uuid.uuid4()),
            "data": {"events": events},
            "eventTime": iso(),
            "contentType": "application/json",
        }
        started = time.time()
        status, _ = await self._call(
            "POST", hook, headers=self._headers(hook), data=json.dumps(body).encode()
        )
        ok = isinstance(status, int) and 200 <= status < 300
        self.deliveries.append(
            {
                "hook_id": hook["id"],
                "at": iso(started),
                "events": [e["uuid"] for e in events],
                "status": status,
                "delivered": ok,
            }
        )
        if not ok:
            self.em.store.log_event(
                "event_hook.delivery",
                f"Event hook delivery failed: {status}",
                targets=[{"id": hook["id"], "type": "EventHook", "alternateId": hook["name"]}],
                result="FAILURE",
                reason=f"Event hook delivery failed: {status}",
            )

    # --- the API -------------------------------------------------------------------------------------
    def public(self, hook: dict[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(json.dumps(hook))
        scheme = doc["channel"]["config"].get("authScheme")
        if isinstance(scheme, dict):
            scheme.pop("value", None)
        doc["_links"] = {
            "self": {"href": f"/api/v1/eventHooks/{hook['id']}"},
            "verify": {
                "href": f"/api/v1/eventHooks/{hook['id']}/lifecycle/verify",
                "hints": {"allow": ["POST"]},
            },
        }
        return doc

    def validated(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _error("name: The field cannot be left blank")
        events = body.get("events")
        if not isinstance(events, dict) or events.get("type") != "EVENT_TYPE":
            raise _error("events.type: must be EVENT_TYPE")
        items = events.get("items")
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            raise _error("events.items: The field cannot be left blank")
        ineligible = sorted(set(items) - ELIGIBLE)
        if ineligible:
            raise _error(f"events.items: not eligible for event hooks: {', '.join(ineligible)}")
        channel = body.get("channel")
        config = channel.get("config") if isinstance(channel, dict) else None
        if (
            not isinstance(channel, dict)
            or channel.get("type") != "HTTP"
            or channel.get("version") != "1.0.0"
        ):
            raise _error("channel: type HTTP and version 1.0.0 are required")
        if not isinstance(config, dict) or not isinstance(config.get("uri"), str):
            raise _error("channel.config.uri: The field cannot be left blank")
        parts = urlsplit(config["uri"])
        if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)):
            raise _error("channel.config.uri: must be an HTTPS URL")
        scheme = config.get("authScheme")
        if scheme is not None and (not isinstance(scheme, dict) or scheme.get("type") != "HEADER"):
            raise _error("channel.config.authScheme.type: must be HEADER")
        return {
            "name": name,
            "description": body.get("description"),
            "events": {"type": "EVENT_TYPE", "items": list(dict.fromkeys(items))},
            "channel": {
                "type": "HTTP",
                "version": "1.0.0",
                "config": {
                    "uri": config["uri"],
                    "headers": list(config.get("headers") or []),
                    "authScheme": dict(scheme) if scheme else None,
                },
            },
        }

    def _hook(self, request: web.Request) -> dict[str, Any]:
        from oktasync.emulator.responses import not_found

        self.base_url = f"{request.scheme}://{request.host}"
        hook: dict[str, Any] | None = self.hooks.get(request.match_info["hook_id"])
        if hook is None:
            raise not_found(request.match_info["hook_id"])
        return hook

    async def list_hooks(self, request: web.Request) -> web.Response:
        return web.json_response([self.public(h) for h in self.hooks.values()])

    async def create(self, request: web.Request) -> web.Response:
        from oktasync.emulator.responses import read_json

        fields = self.validated(await read_json(request))
        self.base_url = f"{request.scheme}://{request.host}"
        if len(self.hooks) >= MAX_HOOKS:
            raise _error(f"an org can have at most {MAX_HOOKS} event hooks")
        now = iso()
        hook_id = "who" + secrets.token_hex(9)[:17]
        self.hooks[hook_id] = {
            "id": hook_id,
            "status": "ACTIVE",
            "verificationStatus": "UNVERIFIED",
            "created": now,
            "lastUpdated": now,
            "createdBy": "00uemulatoradmin0001",
            **fields,
        }
        return web.json_response(self.public(self.hooks[hook_id]))

    async def get(self, request: web.Request) -> web.Response:
        return web.json_response(self.public(self._hook(request)))

    async def replace(self, request: web.Request) -> web.Response:
        from oktasync.emulator.responses import read_json

        hook = self._hook(request)
        fields = self.validated(await read_json(request))
        if fields["channel"] != hook["channel"]:
            hook["verificationStatus"] = "UNVERIFIED"
        hook.update(fields, lastUpdated=iso())
        return web.json_response(self.public(hook))

    async def delete(self, request: web.Request) -> web.Response:
        hook = self._hook(request)
        self.hooks.pop(hook["id"])
        return web.Response(status=204)

    async def activate(self, request: web.Request) -> web.Response:
        hook = self._hook(request)
        hook.update(status="ACTIVE", lastUpdated=iso())
        return web.json_response(self.public(hook))

    async def deactivate(self, request: web.Request) -> web.Response:
        hook = self._hook(request)
        hook.update(status="INACTIVE", lastUpdated=iso())
        return web.json_response(self.public(hook))

    async def verify_route(self, request: web.Request) -> web.Response:
        hook = self._hook(request)
        if not await self.verify(hook):
            raise _error("Verification of the event hook endpoint failed: no valid verification response")
        hook.update(verificationStatus="VERIFIED", lastUpdated=iso())
        return web.json_response(self.public(hook))

    async def control_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "hooks": [self.public(h) for h in self.hooks.values()],
                "deliveries": self.deliveries,
                "verifications": self.verifications,
            }
        )


def add_routes(app: web.Application, em: Emulator) -> None:
    """The Event Hooks API, the control route ``GET /__emulator/event-hooks`` and delivery from the
    provisioning engine."""
    hooks = EventHooks(em)
    base = "/api/v1/eventHooks"
    app.router.add_get(base, hooks.list_hooks)
    app.router.add_post(base, hooks.create)
    app.router.add_get(base + "/{hook_id}", hooks.get)
    app.router.add_put(base + "/{hook_id}", hooks.replace)
    app.router.add_delete(base + "/{hook_id}", hooks.delete)
    app.router.add_post(base + "/{hook_id}/lifecycle/activate", hooks.activate)
    app.router.add_post(base + "/{hook_id}/lifecycle/deactivate", hooks.deactivate)
    app.router.add_post(base + "/{hook_id}/lifecycle/verify", hooks.verify_route)
    app.router.add_get("/__emulator/event-hooks", hooks.control_state)
    em.engine.listeners.append(hooks.on_event)
    app.on_startup.append(hooks.start)
    app.on_cleanup.append(hooks.stop)
