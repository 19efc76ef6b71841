"""Loopback SCIM targets for the SCIM tests: a real scim2-server behind a fault-injecting WSGI middleware.

``ScimTarget`` serves scim2-server's ``BearerTokenApplication`` (in-memory storage) from a threaded wsgiref
server on a free loopback port, and records every request (method, path, raw query string, headers) so the
tests can assert what went over the wire. Faults (``ScimTarget.fault``) turn it into the broken targets the
connector test must diagnose:

* ``status=500``        every request under /Users answers 500 with a SCIM Error;
* ``string_paging``     ListResponse paging fields become strings (``"totalResults": "3"``);
* ``content_type=...``  every answer carries this Content-Type (e.g. ``text/json;charset=UTF-8``);
* ``ignore_filters``    the ``filter`` parameter is dropped before scim2-server sees it;
* ``no_delete``         DELETE answers 405;
* ``shuffle_pages``     unstable ordering: every page of /Users is taken from a re-shuffled list.
"""

from __future__ import annotations

import io
import json
import random
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import setup_testing_defaults

import httpx

TARGET_TOKEN = "scim-target-token-7f3a9c"
OKTA_TOKEN = "okta-api-token-for-tests"
ConfigWriter = Callable[..., Path]  # the write_config fixture (conftest.py)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@dataclass
class Faults:
    status: int | None = None
    string_paging: bool = False
    content_type: str | None = None
    ignore_filters: bool = False
    no_delete: bool = False
    shuffle_pages: bool = False


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str] = field(default_factory=dict)


class ScimTarget:
    def __init__(self, token: str) -> None:
        from scim2_models import ScimProvider
        from scim2_server.memory import InMemoryStorage
        from scim2_server.service import ScimService
        from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
        from scim2_server.utils import (
            load_default_resource_types,
            load_default_schemas,
            load_default_service_provider_config,
        )

        config = load_default_service_provider_config()
        config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
        provider = ScimProvider.from_discovery(
            load_default_schemas().values(), load_default_resource_types().values(), config=config
        )
        self.storage = InMemoryStorage()
        self.app = BearerTokenApplication(
            self.storage, provider, ScimService(provider), bearer_tokens=[token]
        )
        self.token = token
        self.faults = Faults()
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = make_server(
            "127.0.0.1", 0, self._middleware, server_class=_Server, handler_class=_Quiet
        )
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    def fault(self, **kwargs: Any) -> None:
        self.faults = Faults(**kwargs)

    # --- the middleware ---------------------------------------------------------------------------------

    def _middleware(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        with self._lock:
            self.requests.append(Recorded(environ["REQUEST_METHOD"], path, query, headers))
        faults = self.faults
        users = path.startswith("/v2/Users")
        if faults.status and users:
            return self._answer(start_response, faults.status, _error(faults.status, "injected failure"))
        if faults.no_delete and environ["REQUEST_METHOD"] == "DELETE":
            return self._answer(start_response, 405, _error(405, "DELETE is not supported"))
        if faults.ignore_filters and users:
            kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "filter"]
            environ["QUERY_STRING"] = "&".join(f"{k}={v}" for k, v in kept)
        if faults.shuffle_pages and users and environ["REQUEST_METHOD"] == "GET" and path == "/v2/Users":
            return self._shuffled_page(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = status
            captured["headers"] = response_headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        response_headers = list(captured["headers"])
        if faults.string_paging and body:
            doc = json.loads(body)
            if isinstance(doc, dict) and "totalResults" in doc:
                for key in ("totalResults", "startIndex", "itemsPerPage"):
                    if key in doc:
                        doc[key] = str(doc[key])
                body = json.dumps(doc).encode()
        if faults.content_type:
            response_headers = [(k, v) for k, v in response_headers if k.lower() != "content-type"]
            response_headers.append(("Content-Type", faults.content_type))
        response_headers = [(k, v) for k, v in response_headers if k.lower() != "content-length"]
        response_headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], response_headers)
        return [body]

    def _shuffled_page(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        params = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        start, count = int(params.get("startIndex", 1)), int(params.get("count", 100))
        everyone = self.users()
        random.Random(start).shuffle(everyone)  # a different order for every page: duplicates and holes
        page = everyone[start - 1 : start - 1 + count]
        doc = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(everyone),
            "startIndex": start,
            "itemsPerPage": len(page),
            "Resources": page,
        }
        return self._answer(start_response, 200, doc)

    @staticmethod
    def _answer(start_response: Any, status: int, doc: Any) -> Iterable[bytes]:
        body = json.dumps(doc).encode()
        phrase = {200: "OK", 405: "Method Not Allowed", 500: "Internal Server Error"}.get(status, "Error")
        start_response(
            f"{status} {phrase}",
            [("Content-Type", "application/scim+json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    # --- direct access (in-process WSGI calls: no socket, no fault) ------------------------------------

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        raw = b"" if body is None else json.dumps(body).encode()
        path_only, _, query = path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": "/v2" + path_only,
            "QUERY_STRING": query,
            "HTTP_AUTHORIZATION": f"Bearer {self.token}",
            "CONTENT_TYPE": "application/scim+json",
            "CONTENT_LENGTH": str(len(raw)),
            "wsgi.input": io.BytesIO(raw),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.port),
        }
        setup_testing_defaults(environ)
        captured: dict[str, Any] = {}

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split()[0])
            return lambda data: None

        out = b"".join(self.app(environ, start))
        return captured["status"], (json.loads(out) if out else None)

    def create(self, user_name: str, **attrs: Any) -> dict[str, Any]:
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name, **attrs}
        status, doc = self.call("POST", "/Users", body)
        assert status == 201, (status, doc)
        return dict(doc)

    def users(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        start = 1
        while True:
            status, doc = self.call("GET", f"/Users?startIndex={start}&count=1000")
            assert status == 200, doc
            page = doc.get("Resources") or []
            out += page
            start += len(page)
            if not page or start > doc["totalResults"]:
                return out

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> ScimTarget:
        self._thread.start()
        httpx.get(self.base_url + "/ServiceProviderConfig", timeout=5).raise_for_status()
        self.requests.clear()  # the readiness probe is not part of any test's wire
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _error(status: int, detail: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": str(status),
        "detail": detail,
    }


@contextmanager
def run_target(token: str) -> Iterator[ScimTarget]:
    target = ScimTarget(token).start()
    try:
        yield target
    finally:
        target.stop()
