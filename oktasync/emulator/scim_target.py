"""A real SCIM 2.0 target for tests and the demo: ``scim2-server`` in-process, on a free loopback port.

``run_scim_server(token)`` serves scim2-server's ``BearerTokenApplication`` (in-memory storage, RFC 7643
schemas; https://github.com/python-scim/scim2-server) from a threaded ``wsgiref`` server in a daemon thread.
A small WSGI middleware in front of it can **reject** chosen users: writes (POST/PUT/PATCH) whose
``userName`` is in a set or matches a pattern get a real ``400`` SCIM Error, so failed pushes are real HTTP
failures. Change the rejections at any time with :meth:`ScimServer.reject` and
:meth:`ScimServer.clear_rejections`.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

SCIM_ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class _Rejecter:
    """WSGI middleware: 400 SCIM Error for writes of rejected userNames; counts requests."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.names: set[str] = set()
        self.pattern: re.Pattern[str] | None = None
        self.status = 400
        self.detail = "Rejected by the test SCIM server: userName {userName!r} is not allowed."
        self.requests = 0
        self.lock = threading.Lock()

    def rejects(self, user_name: str) -> bool:
        return user_name.lower() in self.names or bool(self.pattern and self.pattern.search(user_name))

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self.lock:
            self.requests += 1
        if environ.get("REQUEST_METHOD") in ("POST", "PUT", "PATCH") and (self.names or self.pattern):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            import io

            environ["wsgi.input"] = io.BytesIO(raw)
            try:
                doc = json.loads(raw) if raw else {}
            except ValueError:
                doc = {}
            user_name = doc.get("userName") if isinstance(doc, dict) else None
            if isinstance(user_name, str) and self.rejects(user_name):
                body = json.dumps(
                    {
                        "schemas": [SCIM_ERROR_SCHEMA],
                        "status": str(self.status),
                        "scimType": "invalidValue",
                        "detail": self.detail.format(userName=user_name),
                    }
                ).encode()
                start_response(
                    f"{self.status} Bad Request" if self.status == 400 else f"{self.status} Error",
                    [("Content-Type", "application/scim+json"), ("Content-Length", str(len(body)))],
                )
                return [body]
        return self.app(environ, start_response)


@functools.cache
def _provider() -> Any:
    """scim2-server's default provider plus the Bearer scheme; built once per process (it takes ~1 s)."""
    from scim2_models import ScimProvider
    from scim2_server.testserver.application import BEARER_TOKEN_SCHEME
    from scim2_server.utils import (
        load_default_resource_types,
        load_default_schemas,
        load_default_service_provider_config,
    )

    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    return ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )


class ScimServer:
    """A running scim2-server. ``base_url`` ends in ``/v2``; ``token`` is the accepted Bearer token."""

    def __init__(self, token: str, host: str = "127.0.0.1", port: int = 0) -> None:
        from scim2_server.memory import InMemoryStorage
        from scim2_server.service import ScimService
        from scim2_server.testserver.application import BearerTokenApplication

        provider = _provider()
        self.storage = InMemoryStorage()
        app = BearerTokenApplication(self.storage, provider, ScimService(provider), bearer_tokens=[token])
        self._rejecter = _Rejecter(app)
        self.token = token
        self.host = host
        self._server = make_server(
            host, port, self._rejecter, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="scim2-server",
            daemon=True,
        )
        self._client = httpx.Client(
            headers={"Authorization": f"Bearer {token}", "Accept": "application/scim+json"},
            timeout=10,
            verify=False,  # loopback http: skip loading CA certs
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v2"

    @property
    def request_count(self) -> int:
        return self._rejecter.requests

    def start(self) -> ScimServer:
        self._thread.start()
        for _ in range(200):  # ready when discovery answers (no auth needed)
            try:
                if self._client.get(self.base_url + "/ServiceProviderConfig", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            threading.Event().wait(0.02)
        raise RuntimeError("scim2-server did not start")

    def stop(self) -> None:
        self._client.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    # --- rejections -----------------------------------------------------------------------------------
    def reject(
        self,
        user_names: Iterable[str] = (),
        *,
        pattern: str | None = None,
        detail: str | None = None,
        status: int = 400,
    ) -> None:
        """Make writes for these userNames (case-insensitive) or this regex fail with a SCIM Error.

        ``detail`` may use ``{userName!r}``; it becomes the second half of Okta's failure reason.
        """
        with self._rejecter.lock:
            self._rejecter.names |= {n.lower() for n in user_names}
            if pattern is not None:
                self._rejecter.pattern = re.compile(pattern)
            if detail is not None:
                self._rejecter.detail = detail
            self._rejecter.status = status

    def clear_rejections(self) -> None:
        with self._rejecter.lock:
            self._rejecter.names = set()
            self._rejecter.pattern = None

    # --- reading, as a client -------------------------------------------------------------------------
    def users(self) -> list[dict[str, Any]]:
        """Every user on the target (paged GET /Users)."""
        out: list[dict[str, Any]] = []
        start = 1
        while True:
            resp = self._client.get(self.base_url + "/Users", params={"startIndex": start, "count": 500})
            resp.raise_for_status()
            doc = resp.json()
            page = doc.get("Resources") or []
            out += page
            start += len(page)
            if not page or start > int(doc.get("totalResults", 0)):
                return out

    def user_by_name(self, user_name: str) -> dict[str, Any] | None:
        resp = self._client.get(self.base_url + "/Users", params={"filter": f'userName eq "{user_name}"'})
        resp.raise_for_status()
        found = resp.json().get("Resources") or []
        return found[0] if found else None

    def create_user(
        self, user_name: str, *, given: str = "Pre", family: str = "Existing", active: bool = True
    ) -> dict[str, Any]:
        """POST a user directly (users that exist before Okta provisions, or unmanaged users)."""
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "name": {"givenName": given, "familyName": family},
            "emails": [{"primary": True, "value": user_name, "type": "work"}],
            "active": active,
        }
        resp = self._client.post(
            self.base_url + "/Users", json=body, headers={"Content-Type": "application/scim+json"}
        )
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result


@contextmanager
def run_scim_server(
    token: str = "scim-test-token", host: str = "127.0.0.1", port: int = 0
) -> Iterator[ScimServer]:
    """Start scim2-server on a free loopback port; stop it (port and thread freed) on exit."""
    server = ScimServer(token, host, port).start()
    try:
        yield server
    finally:
        server.stop()
