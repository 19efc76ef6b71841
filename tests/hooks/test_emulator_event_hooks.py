"""The emulator's Event Hooks API and deliveries, against a scripted endpoint on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hooks_helpers import assign, hook_state, wait_for

from oktasync.emulator.event_hooks import MAX_HOOKS, TIMEOUT_SECONDS
from oktasync.emulator.testing import RunningEmulator


@dataclass
class Endpoint:
    """Answers verification challenges (unless ``echo`` is off) and deliveries with ``status`` after
    ``delay`` seconds; records every request."""

    url: str
    status: int = 200
    delay: float = 0.0
    echo: bool = True
    requests: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def run_endpoint() -> Iterator[Endpoint]:
    holder: dict[str, Endpoint] = {}

    class Handler(BaseHTTPRequestHandler):
        def _record(self, body: Any) -> Endpoint:
            ep = holder["e"]
            ep.requests.append({"method": self.command, "headers": dict(self.headers), "body": body})
            time.sleep(ep.delay)
            return ep

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            ep = self._record(None)
            challenge = self.headers.get("X-Okta-Verification-Challenge", "")
            data = json.dumps({"verification": challenge if ep.echo else "nope"}).encode()
            self._answer(200, data)

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            length = int(self.headers.get("Content-Length") or 0)
            ep = self._record(json.loads(self.rfile.read(length) or b"{}"))
            self._answer(ep.status, b"")

        def _answer(self, status: int, data: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the emulator gave up (timeout): what Okta would do

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["e"] = Endpoint(url=f"http://127.0.0.1:{server.server_address[1]}/okta/event-hooks/acme")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["e"]
    finally:
        server.shutdown()
        server.server_close()


def hook_body(uri: str, events: list[str] | None = None, secret: str = "s3cret") -> dict[str, Any]:
    return {
        "name": "test hook",
        "events": {"type": "EVENT_TYPE", "items": events or ["application.provision.user.push"]},
        "channel": {
            "type": "HTTP",
            "version": "1.0.0",
            "config": {"uri": uri, "authScheme": {"type": "HEADER", "key": "Authorization", "value": secret}},
        },
    }


def create(emulator: RunningEmulator, body: dict[str, Any]) -> httpx.Response:
    return emulator.http.post("/api/v1/eventHooks", json=body)


def test_the_api_validates_hides_the_secret_and_limits_hooks(emulator: RunningEmulator) -> None:
    bad = create(emulator, hook_body("https://x.example/h", ["application.provision.user.deactivate"]))
    assert bad.status_code == 400 and bad.json()["errorCode"] == "E0000001"
    assert "application.provision.user.deactivate" in bad.json()["errorCauses"][0]["errorSummary"]
    assert create(emulator, hook_body("http://hooks.example.com/h")).status_code == 400  # HTTPS only
    made = create(emulator, hook_body("https://x.example/h"))
    assert made.status_code == 200
    hook = made.json()
    assert hook["status"] == "ACTIVE" and hook["verificationStatus"] == "UNVERIFIED"
    assert "value" not in hook["channel"]["config"]["authScheme"] and "s3cret" not in made.text
    listed = emulator.http.get("/api/v1/eventHooks")
    assert [h["id"] for h in listed.json()] == [hook["id"]] and "s3cret" not in listed.text
    for _ in range(MAX_HOOKS - 1):
        assert create(emulator, hook_body("https://x.example/h")).status_code == 200
    assert create(emulator, hook_body("https://x.example/h")).status_code == 400
    unauthenticated = httpx.get(f"{emulator.url}/api/v1/eventHooks")
    assert unauthenticated.status_code == 401


def test_verification_needs_the_challenge_back(emulator: RunningEmulator) -> None:
    with run_endpoint() as endpoint:
        hook = create(emulator, hook_body(endpoint.url)).json()
        endpoint.echo = False
        failed = emulator.http.post(f"/api/v1/eventHooks/{hook['id']}/lifecycle/verify")
        assert failed.status_code == 400
        assert (
            emulator.http.get(f"/api/v1/eventHooks/{hook['id']}").json()["verificationStatus"] == "UNVERIFIED"
        )
        endpoint.echo = True
        endpoint.requests.clear()
        verified = emulator.http.post(f"/api/v1/eventHooks/{hook['id']}/lifecycle/verify")
        assert verified.status_code == 200 and verified.json()["verificationStatus"] == "VERIFIED"
        [request] = endpoint.requests
        assert request["method"] == "GET" and request["headers"]["Authorization"] == "s3cret"
        # A changed channel must be verified again.
        replaced = emulator.http.put(
            f"/api/v1/eventHooks/{hook['id']}", json=hook_body(endpoint.url, secret="other")
        )
        assert replaced.json()["verificationStatus"] == "UNVERIFIED"


@pytest.mark.parametrize(("status", "attempts"), [(200, 1), (503, 2), (401, 1)])
def test_deliveries_retry_once_after_an_error_never_after_a_4xx(
    emulator: RunningEmulator, status: int, attempts: int
) -> None:
    with run_endpoint() as endpoint:
        hook = create(emulator, hook_body(endpoint.url)).json()
        emulator.http.post(f"/api/v1/eventHooks/{hook['id']}/lifecycle/verify").raise_for_status()
        endpoint.status = status
        assign(emulator, users=("alice@example.com",))
        # The emulator records a delivery once its attempts are over (the retry included).
        wait_for(lambda: [d for d in hook_state(emulator)["deliveries"] if "events" in d], 10, "a delivery")
        posts = [r for r in endpoint.requests if r["method"] == "POST"]
        assert len(posts) == attempts
        body = posts[0]["body"]
        assert body["eventType"] == "com.okta.event_hook" and body["source"].endswith(hook["id"])
        [event] = body["data"]["events"]
        assert event["eventType"] == "application.provision.user.push"
        assert posts[0]["headers"]["Authorization"] == "s3cret"
        failed_log = emulator.control.events("event_hook.delivery")
        assert len(failed_log) == (0 if status == 200 else 1)


def test_a_delivery_that_times_out_is_retried_once(emulator: RunningEmulator) -> None:
    with run_endpoint() as endpoint:
        hook = create(emulator, hook_body(endpoint.url)).json()
        emulator.http.post(f"/api/v1/eventHooks/{hook['id']}/lifecycle/verify").raise_for_status()
        endpoint.delay = TIMEOUT_SECONDS + 0.5
        started = time.monotonic()
        assign(emulator, users=("alice@example.com",))
        delivery = wait_for(
            lambda: [d for d in hook_state(emulator)["deliveries"] if "events" in d],
            15,
            "the delivery outcome",
        )
        assert delivery[0]["delivered"] is False and delivery[0]["status"] == "TimeoutError"
        assert len([r for r in endpoint.requests if r["method"] == "POST"]) == 2
        assert time.monotonic() - started >= 2 * TIMEOUT_SECONDS
