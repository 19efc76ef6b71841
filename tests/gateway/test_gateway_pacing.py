"""Pacing: buckets, spreading the budget, waiting for reset, concurrency 429s; 3 workers sharing a bucket."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from gateway_helpers import FakeClock, gateway, run

from oktasync.emulator.testing import API_APP_ID, CUSTOM_APP_ID, run_emulator, standard_seed
from oktasync.okta_gateway.pacing import (
    API_V1,
    APP_BY_ID,
    APPS,
    GROUP_BY_ID,
    GROUPS,
    LOGS,
    USER_BY_ID,
    USER_BY_ID_GET,
    USER_ME,
    USERS,
    Pacer,
    RetryPolicy,
    bucket_for,
    shared_buckets,
)


def headers(limit: int, remaining: int, reset: float) -> httpx.Headers:
    return httpx.Headers(
        {
            "X-Rate-Limit-Limit": str(limit),
            "X-Rate-Limit-Remaining": str(remaining),
            "X-Rate-Limit-Reset": str(reset),
        }
    )


def test_buckets_follow_okta() -> None:
    assert bucket_for("/api/v1/apps") == APPS
    assert bucket_for("/api/v1/apps/0oa1/groups/00g1") == APPS
    assert bucket_for("/api/v1/apps/0oa1/connections/default") == APPS
    assert bucket_for("/api/v1/apps/0oa1") == APP_BY_ID
    assert bucket_for("/api/v1/logs") == LOGS
    # Groups and users have their own buckets (rate_limit_lines.go), with the exact path apart.
    assert bucket_for("/api/v1/groups") == GROUPS == "/api/v1/groups"
    assert bucket_for("/api/v1/groups/00g1/users") == GROUPS  # list_group_member_ids
    assert bucket_for("/api/v1/groups/00g1/users/00u1", "PUT") == GROUPS
    assert bucket_for("/api/v1/groups/00g1/apps") == GROUPS
    assert bucket_for("/api/v1/groups/rules") == GROUPS  # the group-rules list, not a group id
    assert bucket_for("/api/v1/groups/00g1") == GROUP_BY_ID == "/api/v1/groups/{id}"
    assert bucket_for("/api/v1/groups/00g1", "DELETE") == GROUP_BY_ID
    assert bucket_for("/api/v1/users") == USERS == "/api/v1/users"
    assert bucket_for("/api/v1/users", "POST") == USERS
    assert bucket_for("/api/v1/users/00u1/groups") == USERS  # list_user_group_ids
    assert bucket_for("/api/v1/users/00u1/lifecycle/deactivate", "POST") == USERS
    assert bucket_for("/api/v1/users/00u1") == USER_BY_ID_GET == "/api/v1/users/{id:.+}"
    assert bucket_for("/api/v1/users/carol@example.com") == USER_BY_ID_GET  # by login
    assert bucket_for("/api/v1/users/00u1", "post") == USER_BY_ID == "/api/v1/users/{id}"
    assert bucket_for("/api/v1/users/00u1", "PUT") == USER_BY_ID
    assert bucket_for("/api/v1/users/00u1", "DELETE") == USER_BY_ID
    assert bucket_for("/api/v1/users/me") == USER_ME
    assert bucket_for("/api/v1/users/me", "PUT") == USERS
    # Everything else: look-alike prefixes stay in the general bucket.
    assert bucket_for("/api/v1/group/types/default") == API_V1
    assert bucket_for("/api/v1/user/types") == API_V1
    assert bucket_for("/api/v1/usersX") == API_V1
    assert bucket_for("/api/v1/meta/schemas/user/default") == API_V1


def test_plenty_of_budget_goes_at_once_then_spreads_then_waits_for_reset() -> None:
    clock = FakeClock()
    notes: list[str] = []
    pacer = Pacer(clock=clock, headroom=0.1, note=notes.append)

    async def send(remaining: int, reset_in: float) -> None:
        await pacer.acquire(APPS)
        pacer.observe(APPS, headers(100, remaining, clock.now + reset_in), status=200)
        pacer.release(APPS)

    async def scenario() -> None:
        await send(80, 60)
        await send(79, 60)
        assert clock.sleeps == []  # more than half the limit usable: no waiting
        await send(40, 60)  # usable = 40 - 10 headroom = 30 -> 31 gaps of 60/31 s before the reset
        await send(39, 60)
        assert clock.sleeps and abs(clock.sleeps[-1] - 60 / 31) < 0.01
        start = clock.now
        await send(10, 50)  # usable 0: wait for the reset
        await send(99, 60)
        assert clock.now - start >= 50
        assert notes and "waiting" in notes[-1]

    run(scenario())


def test_alone_in_a_bucket_it_uses_all_but_the_headroom_of_every_window() -> None:
    # A bucket of 100 per 60 s window, answered as Okta does; a client alone must fit 90 requests into each
    # window (10 % headroom), not 89 with the 90th pushed to the next window.
    clock = FakeClock()
    pacer = Pacer(clock=clock, headroom=0.1)
    window_end = clock.now + 60
    used = 0
    per_window: list[int] = [0]

    async def one() -> None:
        nonlocal window_end, used
        await pacer.acquire(APPS)
        if clock.now >= window_end:  # the server opens a new window with the first request after the end
            window_end, used = clock.now + 60, 0
            per_window.append(0)
        used += 1
        per_window[-1] += 1
        assert used <= 100, "a 429: more than the limit in one window"
        pacer.observe(APPS, headers(100, 100 - used, window_end), status=200)
        pacer.release(APPS)

    async def scenario() -> None:
        for _ in range(300):
            await one()

    run(scenario())
    assert per_window[:3] == [90, 90, 90]


def test_a_decimal_reset_is_waited_for_to_the_millisecond() -> None:
    # A time-scaled emulator sends X-Rate-Limit-Reset with decimals; truncating them would send too early
    # (a 429), rounding them up would waste up to a second per window.
    clock = FakeClock()
    pacer = Pacer(clock=clock, headroom=0.0)
    reset = clock.now + 5.375
    pacer.observe(APPS, headers(100, 0, reset), status=200)
    assert abs(pacer.reset_wait(APPS) - 5.375) < 1e-9

    async def next_request() -> None:
        await pacer.acquire(APPS)
        pacer.release(APPS)

    run(next_request())
    assert clock.now == reset


def test_concurrency_429_does_not_poison_the_bucket() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.observe(APPS, headers(100, 90, clock.now + 60), status=200)
    assert pacer.observe(APPS, headers(0, 0, clock.now + 1), status=429) is True
    state = {s.bucket: s for s in pacer.states()}[APPS]
    assert (state.limit, state.remaining) == (100, 90)
    assert pacer.observe(APPS, headers(100, 0, clock.now + 60), status=429) is False
    assert pacer.reset_wait(APPS) == 60
    assert {s.bucket: s for s in pacer.states()}[APPS].remaining == 0


def test_backoff_is_bounded_and_jittered() -> None:
    policy = RetryPolicy(base=0.5, cap=8.0)
    waits = [policy.backoff(n) for n in range(10)]
    assert all(0 < w <= 8.0 for w in waits)
    assert waits[9] >= 4.0  # capped, at least half the cap
    assert len({round(policy.backoff(3), 6) for _ in range(20)}) > 1


def test_three_workers_sharing_a_100_per_minute_bucket_see_no_429() -> None:
    """Three independent gateways (as three processes would be) with one API token share its 50/min share
    of /api/v1/apps (100/min for the org); the emulator's minute lasts 1.2 s (time_scale 0.02). Figures are
    written in docs/gateway.md."""
    per_worker = 90
    with run_emulator(standard_seed(scim_base_url="https://scim.example.test/v2"), time_scale=0.02) as em:

        async def worker() -> int:
            gw = gateway(em.url)
            try:
                for i in range(per_worker):
                    await gw.get_connection(API_APP_ID if i % 2 else CUSTOM_APP_ID)
                return gw.request_count()
            finally:
                await gw.close()

        async def scenario() -> list[int]:
            return list(await asyncio.gather(worker(), worker(), worker()))

        started = time.monotonic()
        counts = run(scenario())
        elapsed = time.monotonic() - started
        stats: dict[str, Any] = em.control.stats()
    assert counts == [per_worker] * 3  # no retries were needed
    assert stats["by_status"].get("429", 0) == 0, stats
    assert stats["by_bucket"]["/api/v1/apps"] == 3 * per_worker
    # 270 requests at 50 per (scaled) minute need at least five resets.
    assert elapsed >= 5 * 1.2 * 0.9 - 0.5
    print(f"3 workers x {per_worker} requests: 0 x 429 in {elapsed:.1f}s")


@pytest.mark.parametrize("share", [0.5, 0.8, 1.0])
def test_two_api_tokens_pace_by_the_share_they_see_and_see_no_429(share: float) -> None:
    """Two clients of one org (two API tokens, as two integrations would be) on /api/v1/apps at 100/min.
    Each sees only its share in the headers (Okta's default 50%; an admin may grant more, so that the shares
    add up to more than the bucket) and paces by it; together they never drain the org's bucket into a 429."""
    per_client = 60
    seed = {**standard_seed(scim_base_url="https://scim.example.test/v2"), "api_tokens": ["tok-a", "tok-b"]}
    behaviour = {"rate_limit_client_share": share}
    with run_emulator(seed, time_scale=0.02, api_token="tok-a", behaviour=behaviour) as em:
        seen: dict[str, set[int]] = {}

        async def client(token: str) -> int:
            gw = gateway(em.url, token)
            try:
                for i in range(per_client):
                    await gw.get_connection(API_APP_ID if i % 2 else CUSTOM_APP_ID)
                seen[token] = {s.limit for s in gw.rate_limits() if s.bucket == APPS}
                return gw.request_count()
            finally:
                await gw.close()

        async def scenario() -> list[int]:
            return list(await asyncio.gather(client("tok-a"), client("tok-b")))

        counts = run(scenario())
        stats: dict[str, Any] = em.control.stats()
    assert counts == [per_client] * 2  # no retries were needed
    assert stats["by_status"].get("429", 0) == 0, stats
    assert stats["by_bucket"]["/api/v1/apps"] == 2 * per_client
    assert seen == {"tok-a": {int(100 * share)}, "tok-b": {int(100 * share)}}


def test_gateways_of_one_client_share_what_the_headers_told_either() -> None:
    """Okta counts a share per API token: a second gateway of the same token (plan runs tenants side by side)
    must not send blind into a bucket the first one has seen drained."""
    clock = FakeClock()

    async def scenario() -> list[float]:
        first = Pacer(clock=clock, buckets=shared_buckets("https://acme.okta.com ssws abc"))
        second = Pacer(clock=clock, buckets=shared_buckets("https://acme.okta.com ssws abc"))
        await first.acquire(APPS)
        first.observe(APPS, headers(50, 5, clock.now + 30), status=200)  # 5 left = the 10% headroom
        first.release(APPS)
        await second.acquire(APPS)  # knows the bucket is spent: waits for the reset, sends nothing blind
        second.release(APPS)
        return clock.sleeps

    assert asyncio.run(scenario()) == [pytest.approx(30.0)]


def test_a_client_of_its_own_does_not_wait_for_another_tokens_bucket() -> None:
    clock = FakeClock()

    async def scenario() -> list[float]:
        first = Pacer(clock=clock, buckets=shared_buckets("https://acme.okta.com ssws abc"))
        other = Pacer(clock=clock, buckets=shared_buckets("https://acme.okta.com ssws def"))
        unshared = Pacer(clock=clock)
        await first.acquire(APPS)
        first.observe(APPS, headers(50, 5, clock.now + 30), status=200)
        first.release(APPS)
        for pacer in (other, unshared):
            await pacer.acquire(APPS)
            pacer.release(APPS)
        return clock.sleeps

    assert asyncio.run(scenario()) == []


def test_gateways_from_one_config_share_buckets_keyed_without_the_token() -> None:
    from oktasync.config.schema import OktaConfig
    from oktasync.okta_gateway.sdk import SdkGateway

    def okta(token: str) -> OktaConfig:
        return OktaConfig.model_validate({"org_url": "https://acme.okta.com", "token": token})

    async def scenario() -> tuple[bool, bool, str]:
        a, b = SdkGateway.from_config(okta("secret-one")), SdkGateway.from_config(okta("secret-one"))
        c = SdkGateway.from_config(okta("secret-two"))
        try:
            keys = " ".join(_shared_client_keys())
            return a.pacer._buckets is b.pacer._buckets, a.pacer._buckets is c.pacer._buckets, keys
        finally:
            for gw in (a, b, c):
                await gw.close()

    same, other, keys = asyncio.run(scenario())
    assert same and not other
    assert "secret-one" not in keys and "secret-two" not in keys


def _shared_client_keys() -> list[str]:
    from oktasync.okta_gateway import pacing

    return list(pacing._SHARED.get(asyncio.get_running_loop(), {}))
