"""The one retry policy: 429s bounded by time (not count), 5xx/transport errors bounded by attempts, and the
Admin Console channel going through the same policy (GETs and the idempotent full-form POST).

Unit tests drive a fake clock (no real sleeping) over ``httpx.MockTransport``; the admin tests inject 503s,
dropped connections and 429s on the emulator's ``/admin`` routes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from gateway_helpers import FakeClock, gateway, run

from oktasync.emulator.testing import (
    ADMIN_SESSION,
    CUSTOM_APP_ID,
    RunningEmulator,
    run_emulator,
    standard_seed,
)
from oktasync.errors import OktaApiError, TransientApiError
from oktasync.okta_gateway.auth import SswsAuth
from oktasync.okta_gateway.pacing import APPS, Pacer, RetryPolicy
from oktasync.okta_gateway.transport import OktaTransport

ORG = "http://127.0.0.1:9"


def _rate(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(remaining),
        "X-Rate-Limit-Reset": str(int(reset)),
    }


def _too_many(headers: dict[str, str]) -> httpx.Response:
    return httpx.Response(
        429, headers=headers, json={"errorCode": "E0000047", "errorSummary": "API call exceeded rate limit"}
    )


def _transport(
    clock: FakeClock,
    handler: Callable[[httpx.Request], httpx.Response],
    notes: list[str] | None = None,
    **policy: Any,
) -> OktaTransport:
    pacer = Pacer(clock=clock, note=(notes.append if notes is not None else None))
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return OktaTransport(ORG, SswsAuth("t0k"), pacer, retry=RetryPolicy(**policy), client=client)


def _get(transport: OktaTransport, method: str = "GET") -> httpx.Response:
    async def go() -> httpx.Response:
        try:
            return await transport.request(method, "/api/v1/apps", params={"q": "x"})
        finally:
            await transport.aclose()

    return run(go())


class Storm:
    """The next ``count`` requests get 429 with Remaining 0 and the window's Reset (a 10 s window)."""

    def __init__(self, clock: FakeClock, count: int, window: float = 10.0) -> None:
        self.clock, self.count, self.window, self.seen = clock, count, window, 0

    def reset(self) -> float:
        return (self.clock.now // self.window + 1) * self.window

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if self.seen <= self.count:
            return _too_many(_rate(100, 0, self.reset()))
        return httpx.Response(200, headers=_rate(100, 99, self.reset()), json=[])


def test_a_25_request_429_storm_is_waited_out_reset_by_reset() -> None:
    """The soak's storm (25 consecutive 429s) would beat a fixed 12-attempt limit; a time budget absorbs it:
    every wait is until the announced reset, and the total stays well under the default 5 minutes."""
    clock = FakeClock(now=1_700_000_000.0)
    storm = Storm(clock, 25)
    notes: list[str] = []
    start = clock.now
    response = _get(_transport(clock, storm, notes), method="POST")  # any method: a 429 was not processed
    assert response.status_code == 200
    assert storm.seen == 26
    assert len(clock.sleeps) == 25
    # Each wait ends just after the reset (jitter 0.05-0.5 s), never a blind short backoff before it.
    assert all(0.05 <= s <= 10.5 for s in clock.sleeps)
    assert 25 * 10 - 10 <= clock.now - start <= 25 * 10.5
    assert notes and "429" in notes[-1] and "of at most 300s" in notes[-1]


def test_429s_stop_when_the_time_budget_is_spent() -> None:
    clock = FakeClock()
    storm = Storm(clock, 10_000, window=60.0)
    start = clock.now
    with pytest.raises(TransientApiError) as caught:
        _get(_transport(clock, storm, max_429_wait=200.0))
    waited = clock.now - start
    assert waited <= 200.0  # never waits past the budget...
    assert waited >= 200.0 - 61  # ...and gives up only when the next reset would exceed it
    assert 3 <= storm.seen <= 5
    assert "429" in str(caught.value) and "200s" in str(caught.value)
    assert caught.value.details is not None and caught.value.details.status == 429


def test_a_reset_beyond_the_budget_fails_at_once_without_sleeping() -> None:
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        return _too_many(_rate(100, 0, clock.now + 900))

    with pytest.raises(TransientApiError):
        _get(_transport(clock, handler))
    assert clock.sleeps == []


def test_concurrency_429_backs_off_with_jitter_and_leaves_the_bucket_alone() -> None:
    """Limit = Remaining = 0: the Reset is only a suggestion; back off (jittered) instead, and don't mark the
    rate-limit bucket empty."""
    clock = FakeClock()
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(1)
        if len(seen) <= 3:
            return _too_many(_rate(0, 0, clock.now + 30))
        return httpx.Response(200, headers=_rate(100, 80, clock.now + 60), json=[])

    transport = _transport(clock, handler, base=0.5, cap=4.0)
    assert _get(transport).status_code == 200
    assert len(clock.sleeps) == 3 and all(0 < s <= 4.0 for s in clock.sleeps)  # not the 30 s "reset"
    assert {s.bucket: s.remaining for s in transport.pacer.states()}[APPS] == 80


def test_5xx_and_dropped_connections_stay_bounded_by_attempts() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) % 2:
            raise httpx.ReadError("connection dropped")
        return httpx.Response(503, json={"errorCode": "E0000009", "errorSummary": "Internal Server Error"})

    with pytest.raises(TransientApiError):
        _get(_transport(clock, handler, max_attempts=6, base=0.25, cap=20.0))
    assert len(calls) == 6
    assert len(clock.sleeps) == 5 and all(s <= 20.0 for s in clock.sleeps)
    assert clock.sleeps[-1] >= 0.25 * 2**4 / 2  # exponential


def test_a_post_that_may_have_been_processed_is_not_repeated() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, json={"errorCode": "E0000009"})

    with pytest.raises(TransientApiError):
        _get(_transport(clock, handler), method="POST")
    assert len(calls) == 1


# --- the Admin Console channel, through the same policy, against the emulator ----------------------------


def _admin_round(emulator: RunningEmulator, changes: dict[str, Any]) -> tuple[Any, Any]:
    async def scenario() -> tuple[Any, Any]:
        gw = gateway(emulator.url, admin_session=ADMIN_SESSION)
        try:
            assert gw.admin is not None and gw.admin.retry is gw.transport.retry  # one policy
            app = await gw.get_app(CUSTOM_APP_ID)
            before = await gw.read_admin_form(app)
            await gw.write_admin_form(app, changes)
            return before, await gw.read_admin_form(app)
        finally:
            await gw.close()

    return run(scenario())


def test_admin_get_retries_503s_and_dropped_connections(emulator: RunningEmulator) -> None:
    # Targeted faults are checked in order, each counting its own matches: the first read gets 503, 503, then
    # a dropped connection, then succeeds.
    emulator.control.faults(
        targeted=[
            {"path_pattern": "^/admin/app/", "method": "GET", "nth": 1, "status": 503, "times": 2},
            {"path_pattern": "^/admin/app/", "method": "GET", "nth": 1, "status": 0, "times": 1},
        ]
    )
    before, after = _admin_round(emulator, {"deactivate_users": False})
    stats = emulator.control.stats()
    assert before.deactivate_users and not after.deactivate_users
    assert stats["faults_injected"] == 3
    assert stats["by_status"].get("503", 0) == 2


def test_admin_full_form_post_is_retried_and_applied_once(emulator: RunningEmulator) -> None:
    """The POST is a full-form replace of values read just before, so posting it again is safe: a dropped
    connection and a 503 on it are retried, and the settings end up exactly as asked."""
    # First attempt: connection dropped; second: 503; third: accepted.
    emulator.control.faults(
        targeted=[
            {"path_pattern": "/settings/user-mgmt$", "method": "POST", "nth": 1, "status": 0, "times": 1},
            {"path_pattern": "/settings/user-mgmt$", "method": "POST", "nth": 1, "status": 503, "times": 1},
        ]
    )
    history_before = len(emulator.control.settings_history(CUSTOM_APP_ID))
    before, after = _admin_round(emulator, {"deactivate_users": False})
    assert before.deactivate_users and not after.deactivate_users
    # Nothing else moved (a full post with every field read first).
    assert (after.create_users, after.update_user_attributes) == (True, True)
    assert after.scim_base_url == before.scim_base_url
    changes = emulator.control.settings_history(CUSTOM_APP_ID)[history_before:]
    assert [c["value"] for c in changes if c.get("source") == "admin"] == [False], changes
    assert emulator.control.stats()["faults_injected"] == 2


def test_admin_429s_wait_for_the_reset() -> None:
    # Own emulator with a 1.2 s "minute" so that waiting for the reset stays fast.
    with run_emulator(standard_seed(scim_base_url="https://scim.example.test/v2"), time_scale=0.02) as em:
        em.control.faults(
            targeted=[{"path_pattern": "^/admin/app/", "method": "GET", "nth": 1, "status": 429, "times": 3}]
        )
        before, after = _admin_round(em, {"deactivate_users": False})
        stats = em.control.stats()
    assert before.deactivate_users and not after.deactivate_users
    assert stats["by_status"].get("429", 0) == 3


def test_admin_errors_after_retries_are_transient(emulator: RunningEmulator) -> None:
    emulator.control.faults(
        targeted=[{"path_pattern": "^/admin/app/", "method": "GET", "nth": 1, "status": 503, "times": 100}]
    )

    async def scenario() -> None:
        gw = gateway(emulator.url, admin_session=ADMIN_SESSION)
        try:
            await gw.read_admin_form(await gw.get_app(CUSTOM_APP_ID))
        finally:
            await gw.close()

    with pytest.raises(TransientApiError) as caught:
        run(scenario())
    assert isinstance(caught.value, OktaApiError)
    assert "Admin Console" in str(caught.value) and "503" in str(caught.value)
    assert ADMIN_SESSION not in str(caught.value)
    assert emulator.control.stats()["by_status"]["503"] == RetryPolicy().max_attempts


def test_shared_policy_is_used_by_both_channels_concurrently(emulator: RunningEmulator) -> None:
    """API and admin requests interleave through one pacer under faults on every route."""
    emulator.control.faults(error_rate=0.2, error_status=503, drop_connection_rate=0.05, seed=3)

    async def scenario() -> list[Any]:
        gw = gateway(emulator.url, admin_session=ADMIN_SESSION)
        try:
            app = await gw.get_app(CUSTOM_APP_ID)
            return list(
                await asyncio.gather(*(gw.read_admin_form(app) for _ in range(5)), gw.get_app(CUSTOM_APP_ID))
            )
        finally:
            await gw.close()

    results = run(scenario())
    assert all(r.deactivate_users for r in results[:5]) and results[5].id == CUSTOM_APP_ID
    assert emulator.control.stats()["faults_injected"] >= 1
