"""Rate-limit buckets, 429s, the concurrency limit, time scaling and injected faults."""

from __future__ import annotations

import concurrent.futures
import email.utils
import logging
import time

import httpx
import pytest

from oktasync.emulator.ratelimit import (
    API_V1,
    APP_BY_ID,
    APPS,
    DEFAULT_LIMITS,
    GROUP_BY_ID,
    GROUPS,
    LOGS,
    USER_BY_ID,
    USER_BY_ID_GET,
    USER_ME,
    USERS,
    RateLimiter,
    bucket_for,
    client_ceiling,
    format_reset,
)
from oktasync.emulator.testing import CUSTOM_APP_ID, RunningEmulator, run_emulator, standard_seed


@pytest.mark.parametrize(
    ("path", "bucket"),
    [
        ("/api/v1/apps", APPS),
        (f"/api/v1/apps/{CUSTOM_APP_ID}/groups", APPS),
        (f"/api/v1/apps/{CUSTOM_APP_ID}/users/00u1", APPS),
        (f"/api/v1/apps/{CUSTOM_APP_ID}/connections/default", APPS),
        (f"/api/v1/apps/{CUSTOM_APP_ID}/features/USER_PROVISIONING", APPS),
        (f"/api/v1/apps/{CUSTOM_APP_ID}", APP_BY_ID),
        ("/api/v1/logs", LOGS),
        # rate_limit_lines.go: "/api/v1/groups GET /api/v1/groups",
        # "/api/v1/groups/ID/users GET /api/v1/groups", "/api/v1/groups/ID GET /api/v1/groups/{id}",
        # "/api/v1/groups/rules GET /api/v1/groups"
        ("/api/v1/groups", GROUPS),
        ("/api/v1/groups/00g1/users", GROUPS),
        ("/api/v1/groups/00g1/apps", GROUPS),
        ("/api/v1/groups/rules", GROUPS),
        ("/api/v1/groups/00g1", GROUP_BY_ID),
        ("/api/v1/groups/00g1/", GROUP_BY_ID),
        # "/api/v1/users GET /api/v1/users", "/api/v1/users/ID/groups GET /api/v1/users",
        # "/api/v1/users/{id:.+} GET /api/v1/users/{id:.+}", "/api/v1/users/me GET /api/v1/users/me"
        ("/api/v1/users", USERS),
        ("/api/v1/users/00u1/groups", USERS),
        ("/api/v1/users/carol@example.com/groups", USERS),
        ("/api/v1/users/00u1/factors", USERS),
        ("/api/v1/users/00u1", USER_BY_ID_GET),
        ("/api/v1/users/carol@example.com", USER_BY_ID_GET),
        ("/api/v1/users/me", USER_ME),
        # Everything else: the general bucket.
        ("/api/v1/group/types/default", API_V1),
        ("/api/v1/user/types", API_V1),
        ("/api/v1/usersX", API_V1),
        ("/api/v1/org", API_V1),
        ("/__emulator/state", None),
    ],
)
def test_bucket_layout(path: str, bucket: str | None) -> None:
    assert bucket_for(path) == bucket
    assert bucket is None or bucket in DEFAULT_LIMITS  # every bucket has a limit


@pytest.mark.parametrize(
    ("method", "path", "bucket"),
    [
        # "/api/v1/users/ID POST|PUT|DELETE /api/v1/users/{id}": writes are apart from the GET by id or login.
        ("POST", "/api/v1/users/00u1", USER_BY_ID),
        ("PUT", "/api/v1/users/00u1", USER_BY_ID),
        ("DELETE", "/api/v1/users/00u1", USER_BY_ID),
        ("get", "/api/v1/users/00u1", USER_BY_ID_GET),
        ("POST", "/api/v1/users", USERS),
        ("POST", "/api/v1/users/00u1/lifecycle/deactivate", USERS),
        ("PUT", "/api/v1/users/me", USERS),  # "/api/v1/users/me PUT /api/v1/users"
        ("PUT", "/api/v1/groups/00g1", GROUP_BY_ID),
        ("DELETE", "/api/v1/groups/00g1/users/00u1", GROUPS),
        ("PUT", f"/api/v1/apps/{CUSTOM_APP_ID}", APP_BY_ID),
    ],
)
def test_bucket_layout_by_method(method: str, path: str, bucket: str) -> None:
    assert bucket_for(path, method) == bucket


def test_users_and_groups_limits_are_okta_workforce_figures() -> None:
    # rl-global-mgmt/index.md, Workforce column (docs/okta-behaviour.md, Rate limits and paging, cites the
    # table).
    assert DEFAULT_LIMITS[GROUPS] == 500 and DEFAULT_LIMITS[GROUP_BY_ID] == 1000
    assert DEFAULT_LIMITS[USERS] == 600 and DEFAULT_LIMITS[USER_BY_ID] == 600
    assert DEFAULT_LIMITS[USER_BY_ID_GET] == 2000
    assert DEFAULT_LIMITS[APPS] == 100 and DEFAULT_LIMITS[API_V1] == 1200  # unchanged


def test_users_and_groups_routes_announce_their_own_buckets(emulator: RunningEmulator) -> None:
    c = emulator.control
    carol = c.user_id("carol@example.com")
    engineering = c.group_id("engineering")
    # The headers show this API token's share: half of each bucket's org limit (500, 1000, 600, 2000).
    calls = {
        "/api/v1/groups": "250",
        f"/api/v1/groups/{engineering}/users": "250",
        f"/api/v1/groups/{engineering}": "500",
        "/api/v1/users": "300",
        f"/api/v1/users/{carol}/groups": "300",
        f"/api/v1/users/{carol}": "1000",
    }
    c.reset_stats()
    for path, limit in calls.items():
        resp = emulator.http.get(path)
        assert resp.status_code == 200 and resp.headers["X-Rate-Limit-Limit"] == limit, path
    # The second call of each shared bucket sees the first one's use.
    assert emulator.http.get("/api/v1/groups").headers["X-Rate-Limit-Remaining"] == "247"
    assert emulator.http.get("/api/v1/users").headers["X-Rate-Limit-Remaining"] == "297"
    assert c.stats()["by_bucket"] == {
        GROUPS: 3,
        GROUP_BY_ID: 1,
        USERS: 3,
        USER_BY_ID_GET: 1,
    }


def test_exhausting_groups_leaves_users_and_apps_alone() -> None:
    # One request's worth of /api/v1/groups per (emulated) minute; the window lasts an hour of real time.
    with run_emulator(standard_seed(), time_scale=60.0, rate_limits={GROUPS: 1}) as em:
        engineering = em.control.group_id("engineering")
        carol = em.control.user_id("carol@example.com")
        assert em.http.get("/api/v1/groups").status_code == 200
        limited = em.http.get(f"/api/v1/groups/{engineering}/users")  # same bucket, now empty
        assert limited.status_code == 429 and limited.json()["errorCode"] == "E0000047"
        assert limited.headers["X-Rate-Limit-Limit"] == "1"
        assert limited.headers["X-Rate-Limit-Remaining"] == "0"
        assert em.http.get("/api/v1/groups").status_code == 429
        # Every other bucket still answers, with this token's full share of it.
        for path, limit in (
            ("/api/v1/users", "300"),
            (f"/api/v1/users/{carol}/groups", "300"),
            (f"/api/v1/users/{carol}", "1000"),
            ("/api/v1/apps", "50"),
            (f"/api/v1/apps/{CUSTOM_APP_ID}/groups", "50"),
            (f"/api/v1/groups/{engineering}", "500"),
        ):
            resp = em.http.get(path)
            assert resp.status_code == 200, path
            assert resp.headers["X-Rate-Limit-Limit"] == limit, path
        stats = em.control.stats()
        assert stats["rate_limited"] == 2
        assert stats["by_bucket"][GROUPS] == 3 and stats["by_bucket"][USERS] == 2
        assert stats["by_bucket"][APPS] == 2


def test_app_subresources_share_one_bucket_of_100(emulator: RunningEmulator) -> None:
    first = emulator.http.get(f"/api/v1/apps/{CUSTOM_APP_ID}/groups")
    second = emulator.http.get(f"/api/v1/apps/{CUSTOM_APP_ID}/users")
    third = emulator.http.get("/api/v1/apps")
    exact = emulator.http.get(f"/api/v1/apps/{CUSTOM_APP_ID}")
    # The token's share of the org's 100 and 500, as recorded real headers show it (50 and 250).
    assert [r.headers["X-Rate-Limit-Limit"] for r in (first, second, third, exact)] == [
        "50",
        "50",
        "50",
        "250",
    ]
    assert [int(r.headers["X-Rate-Limit-Remaining"]) for r in (first, second, third)] == [49, 48, 47]
    assert exact.headers["X-Rate-Limit-Remaining"] == "249"
    stats = emulator.control.stats()
    assert stats["by_bucket"][APPS] == 3 and stats["by_bucket"][APP_BY_ID] == 1
    assert stats["by_route"]["GET /api/v1/apps/{app_id}/groups"] == 1


def test_429_with_headers_then_success_after_reset() -> None:
    # time_scale 0.02: the 60 s window lasts 1.2 real seconds; headers still announce the per-minute limit.
    # An org limit of 6: the token's share is 3.
    with run_emulator(standard_seed(), time_scale=0.02, rate_limits={APPS: 6}) as em:
        path = f"/api/v1/apps/{CUSTOM_APP_ID}/groups"
        for expected in (2, 1, 0):
            assert int(em.http.get(path).headers["X-Rate-Limit-Remaining"]) == expected
        limited = em.http.get(path)
        assert limited.status_code == 429
        body = limited.json()
        assert body["errorCode"] == "E0000047"
        assert body["errorSummary"] == "API call exceeded rate limit due to too many requests."
        assert (
            limited.headers["X-Rate-Limit-Limit"] == "3" and limited.headers["X-Rate-Limit-Remaining"] == "0"
        )
        reset = float(limited.headers["X-Rate-Limit-Reset"])
        date = email.utils.parsedate_to_datetime(limited.headers["Date"]).timestamp()
        assert 0 <= reset - date <= 3  # real epoch seconds, not the nominal 60 s
        # Other buckets are unaffected.
        assert em.http.get(f"/api/v1/apps/{CUSTOM_APP_ID}").status_code == 200
        # A client that waits until Reset by its own wall clock succeeds.
        time.sleep(max(0.0, reset - time.time()) + 0.05)
        ok = em.http.get(path)
        assert ok.status_code == 200 and ok.headers["X-Rate-Limit-Remaining"] == "2"
        assert em.control.stats()["rate_limited"] == 1


def test_each_client_gets_half_a_bucket_and_clients_share_the_org_bucket() -> None:
    # Org limit 10 on /api/v1/apps; the window lasts an hour of real time (time_scale 60).
    seed = {**standard_seed(), "api_tokens": ["token-a", "token-b", "token-c"]}
    with run_emulator(seed, time_scale=60.0, rate_limits={APPS: 10}, api_token="token-a") as em:

        def get(token: str) -> httpx.Response:
            return em.http.get("/api/v1/apps", headers={"Authorization": f"SSWS {token}"})

        first = [get("token-a") for _ in range(5)]
        assert [r.headers["X-Rate-Limit-Limit"] for r in first] == ["5"] * 5
        assert [int(r.headers["X-Rate-Limit-Remaining"]) for r in first] == [4, 3, 2, 1, 0]
        over = get("token-a")  # its share is used up; the org's bucket is not
        assert over.status_code == 429 and over.headers["X-Rate-Limit-Limit"] == "5"
        assert over.headers["X-Rate-Limit-Remaining"] == "0"
        second = [get("token-b") for _ in range(5)]  # a second token has its own share of the same bucket
        assert [r.status_code for r in second] == [200] * 5
        assert [int(r.headers["X-Rate-Limit-Remaining"]) for r in second] == [4, 3, 2, 1, 0]
        third = get("token-c")  # its share is untouched, but the org's bucket is empty
        assert third.status_code == 429 and third.headers["X-Rate-Limit-Remaining"] == "0"
        assert em.control.stats()["rate_limits"][APPS]["used"] == 10


def test_a_client_sees_the_org_bucket_drained_by_another() -> None:
    seed = {**standard_seed(), "api_tokens": ["token-a", "token-b"]}
    with run_emulator(
        seed,
        time_scale=60.0,
        rate_limits={APPS: 10},
        api_token="token-a",
        behaviour={"rate_limit_client_share": 0.8},
    ) as em:
        for _ in range(7):
            assert em.http.get("/api/v1/apps").status_code == 200
        other = em.http.get("/api/v1/apps", headers={"Authorization": "SSWS token-b"})
        # token-b's share is 8, but only 3 are left in the org's bucket: Remaining shows the smaller.
        assert other.headers["X-Rate-Limit-Limit"] == "8" and other.headers["X-Rate-Limit-Remaining"] == "2"


def test_client_share_is_a_behaviour_switch() -> None:
    with run_emulator(
        standard_seed(), rate_limits={APPS: 10}, behaviour={"rate_limit_client_share": 1}
    ) as em:
        assert em.http.get("/api/v1/apps").headers["X-Rate-Limit-Limit"] == "10"
        em.control.behaviour(rate_limit_client_share=0.3)
        assert em.http.get("/api/v1/apps").headers["X-Rate-Limit-Limit"] == "3"


def test_rate_limiter_counts_clients_apart_and_unknown_clients_against_the_org() -> None:
    limiter = RateLimiter(limits={APPS: 4})
    assert client_ceiling(4, 0.5) == 2 and client_ceiling(1, 0.5) == 1 and client_ceiling(4, 2.0) == 4
    assert limiter.take(APPS, "app:0oa1", now=10.0).remaining == 1
    assert limiter.take(APPS, "token:x", now=10.0).remaining == 1
    anonymous = limiter.take(APPS, None, now=10.0)  # the token endpoint, a rejected credential
    assert (anonymous.limit, anonymous.remaining) == (4, 1)
    assert limiter.take(APPS, "app:0oa1", now=10.0).remaining == 0  # 2 of its 2; the org's last one
    assert not limiter.take(APPS, "token:x", now=10.0).allowed  # org bucket empty
    assert limiter.snapshot(now=10.0)[APPS]["clients"] == 2


def test_scaled_reset_keeps_okta_resolution_in_emulated_seconds() -> None:
    # At s = 0.1 one emulated second is 0.1 real seconds: Reset is rounded up to it, not to a real second.
    limiter = RateLimiter(time_scale=0.1, limits={APPS: 2})
    first = limiter.take(APPS, now=1000.42)
    assert abs(first.reset - 1006.5) < 1e-6  # window 1000.42 + 6 = 1006.42, up to the next 0.1 s
    assert format_reset(first.reset) == "1006.5"
    assert limiter.take(APPS, now=1003.0).remaining == 0
    assert not limiter.take(APPS, now=1006.41).allowed
    assert limiter.take(APPS, now=1006.5).allowed  # a client that waited until Reset finds a new window
    assert format_reset(RateLimiter().take(APPS, now=1000.5).reset) == "1061"  # s = 1: Okta's integer
    assert format_reset(1006.0333334) == "1006.034"  # never rounded down below the window's end


def test_rate_limiter_windows_are_not_wall_clock_aligned() -> None:
    limiter = RateLimiter(time_scale=1.0, limits={APPS: 2})
    assert limiter.take(APPS, now=1000.5).reset == 1061
    assert limiter.take(APPS, now=1030.0).remaining == 0
    assert not limiter.take(APPS, now=1060.0).allowed
    fresh = limiter.take(APPS, now=1060.6)  # window started at 1000.5 ended at 1060.5
    assert fresh.allowed and fresh.remaining == 1 and fresh.reset == 1121


def test_concurrency_limit_answers_429_with_zero_limit_and_remaining() -> None:
    with run_emulator(standard_seed(), concurrency_limit=3) as em:
        em.control.faults(latency_ms=300, path_pattern="^/api/v1/groups")

        def call(_: int) -> httpx.Response:
            with httpx.Client(headers=em.headers) as client:
                return client.get(f"{em.url}/api/v1/groups")

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(call, range(8)))
        rejected = [r for r in responses if r.status_code == 429]
        assert rejected and len([r for r in responses if r.status_code == 200]) >= 3
        assert all(r.headers["X-Rate-Limit-Limit"] == "0" for r in rejected)
        assert all(r.headers["X-Rate-Limit-Remaining"] == "0" for r in rejected)
        assert em.control.stats()["concurrency_rejected"] == len(rejected)


def test_429_storm_for_n_requests(emulator: RunningEmulator) -> None:
    emulator.control.faults(storm_429_requests=2)
    codes = [emulator.http.get("/api/v1/groups").status_code for _ in range(3)]
    assert codes == [429, 429, 200]


def test_targeted_fault_fails_the_nth_request_mid_list(emulator: RunningEmulator) -> None:
    emulator.control.faults(targeted=[{"path_pattern": "/users$", "method": "GET", "nth": 2, "status": 500}])
    codes = [emulator.http.get("/api/v1/users", params={"limit": 2}).status_code for _ in range(3)]
    assert codes == [200, 500, 200]
    emulator.control.clear_faults()


def test_random_errors_and_dropped_connections(
    emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.control.faults(error_rate=1.0, error_status=503)
    resp = emulator.http.get("/api/v1/groups")
    assert resp.status_code == 503 and resp.json()["errorCode"]
    assert "X-Rate-Limit-Reset" in resp.headers and "Date" in resp.headers  # the SDK needs both to retry
    emulator.control.faults(drop_connection_rate=1.0)
    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"), pytest.raises(httpx.TransportError):
        emulator.http.get("/api/v1/groups")
    # An injected drop is not an emulator error: no "Error handling request" traceback in the logs.
    assert not [r for r in caplog.records if r.name == "aiohttp.server"]
    emulator.control.clear_faults()
    assert emulator.http.get("/api/v1/groups").status_code == 200
    assert emulator.control.stats()["faults_injected"] == 2


def test_control_api_is_never_rate_limited_or_faulted(emulator: RunningEmulator) -> None:
    emulator.control.faults(error_rate=1.0)
    emulator.control.exhaust_bucket(GROUPS)
    assert emulator.control.stats()["total"] == 0
    assert emulator.control.state()["users"]  # control calls still answer
    emulator.control.clear_faults()
    assert emulator.http.get("/api/v1/groups").status_code == 429  # the API bucket is exhausted
