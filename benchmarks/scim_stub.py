"""A minimal, O(1) SCIM 2.0 target for the large benchmarks.

At 20,000-50,000 users the real ``scim2-server`` (oktasync/emulator/scim_target.py) spends seconds of CPU per
thousand requests in pydantic validation, and it shares this machine's two cores with the emulator and the
client under test, so the benchmark would measure the *target*. This stub answers exactly the calls the
emulator's provisioning engine makes (docs/okta-behaviour.md, What Okta sends to a SCIM target: lookup ``GET
/Users?filter=
userName eq "…"``, ``POST /Users``, ``GET``/``PUT /Users/{id}``) from two dicts. The soak uses the real
scim2-server, at a scale where it is fast enough.

It keeps a history of every user it ever saw deactivated (``active: false``), which the benchmarks check:
a resync must never deactivate anyone.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from typing import Any

from aiohttp import web

_FILTER = re.compile(r'^\s*userName\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)
_LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimStub:
    """Run with ``start()`` (own thread and loop), stop with ``stop()``. ``base_url`` ends in ``/v2``."""

    def __init__(self, token: str = "bench-scim-token") -> None:
        self.token = token
        self.users: dict[str, dict[str, Any]] = {}  # id -> resource
        self.by_name: dict[str, str] = {}  # lower(userName) -> id
        self.deactivated: set[str] = set()  # userNames ever PUT with active=false
        self.rejected_names: set[str] = set()
        self.requests = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    # --- data -------------------------------------------------------------------------------------------
    def preload(self, users: list[tuple[str, str]]) -> None:
        """Users that already exist on the target: (userName, id) pairs. Call before ``start``."""
        for user_name, scim_id in users:
            self.users[scim_id] = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": scim_id,
                "userName": user_name,
                "active": True,
            }
            self.by_name[user_name.lower()] = scim_id

    def reject(self, user_names: set[str]) -> None:
        self.rejected_names = {n.lower() for n in user_names}

    # --- HTTP -------------------------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    @staticmethod
    def _error(status: int, detail: str) -> web.Response:
        body = {"schemas": [_ERROR], "status": str(status), "detail": detail}
        return web.json_response(body, status=status, content_type="application/scim+json")

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if not self._authorized(request):
            return self._error(401, "Authorization failure")
        tail = request.match_info.get("tail", "")
        if request.method == "GET" and tail == "":
            match = _FILTER.match(request.query.get("filter", ""))
            found: list[dict[str, Any]] = []
            if match:
                scim_id = self.by_name.get(match.group(1).lower())
                if scim_id is not None:
                    found = [self.users[scim_id]]
            elif "filter" not in request.query:
                found = list(self.users.values())[:100]
            body = {"schemas": [_LIST], "totalResults": len(found), "startIndex": 1, "Resources": found}
            return web.json_response(body, content_type="application/scim+json")
        doc: dict[str, Any] = {}
        if request.method in ("POST", "PUT"):
            doc = json.loads(await request.read() or b"{}")
            name = str(doc.get("userName", ""))
            if name.lower() in self.rejected_names:
                return self._error(400, f"userName {name!r} is not allowed by the benchmark target")
        if request.method == "POST" and tail == "":
            name = str(doc.get("userName", ""))
            if name.lower() in self.by_name:
                return self._error(409, "User already exists")
            scim_id = uuid.uuid4().hex
            doc["id"] = scim_id
            self.users[scim_id] = doc
            self.by_name[name.lower()] = scim_id
            return web.json_response(doc, status=201, content_type="application/scim+json")
        scim_id = tail
        if scim_id not in self.users:
            return self._error(404, f"Resource {scim_id} not found")
        if request.method == "GET":
            return web.json_response(self.users[scim_id], content_type="application/scim+json")
        if request.method == "PUT":
            doc["id"] = scim_id
            if doc.get("active") is False:
                self.deactivated.add(str(doc.get("userName", "")).lower())
            self.users[scim_id] = doc
            return web.json_response(doc, content_type="application/scim+json")
        return self._error(405, "method not supported")

    # --- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> ScimStub:
        self._thread = threading.Thread(target=self._run, name="scim-stub", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("SCIM stub did not start")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_route("*", "/v2/Users", self._handle)
        app.router.add_route("*", "/v2/Users/{tail}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        self.port = int(sockets[0].getsockname()[1])
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None
            self._thread = None
