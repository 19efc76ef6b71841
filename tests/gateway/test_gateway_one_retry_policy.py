"""One retry policy for the three channels: the Okta API, the Admin Console and the SCIM target decide the
same answers retryable, with the same bounds, and the gateway hands its one policy to its admin channel.

Each channel is driven over ``httpx.MockTransport`` with a fake clock (no real sleeping), with the same
scripted answers, and must make the same number of attempts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict

import httpx
import pytest
from gateway_helpers import FakeClock, run

from oktasync.config import Secret
from oktasync.errors import OktaApiError, ScimError
from oktasync.okta_gateway.admin import AdminChannel, ConsolePacer
from oktasync.okta_gateway.auth import SswsAuth
from oktasync.okta_gateway.pacing import Pacer
from oktasync.okta_gateway.sdk import SdkGateway
from oktasync.okta_gateway.transport import OktaTransport
from oktasync.retrying import RETRYABLE_STATUSES, RetryPolicy, request_never_sent
from oktasync.scim_gateway import ScimGateway

ORG = "http://127.0.0.1:9"
ADMIN_PATH = "/admin/app/x/instance/0oa1/settings/user-mgmt"
Handler = Callable[[httpx.Request], httpx.Response]
# A channel: (policy, clock, handler, method) -> the final status (or the exception's name)
Channel = Callable[[RetryPolicy, FakeClock, Handler, str], Awaitable[str]]


async def _okta(policy: RetryPolicy, clock: FakeClock, handler: Handler, method: str) -> str:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    transport = OktaTransport(ORG, SswsAuth("t0k"), Pacer(clock=clock), retry=policy, client=client)
    try:
        return str((await transport.request(method, "/api/v1/apps/0oa1")).status_code)
    except OktaApiError as exc:
        return str(exc.details.status) if exc.details and exc.details.status else type(exc).__name__
    finally:
        await transport.aclose()


async def _admin(policy: RetryPolicy, clock: FakeClock, handler: Handler, method: str) -> str:
    client = httpx.AsyncClient(base_url=ORG, transport=httpx.MockTransport(handler))
    console = ConsolePacer(clock=clock.time, sleep=clock.sleep)
    channel = AdminChannel(
        ORG, "sid=abc", Pacer(clock=clock), retry=policy, client=client, console_pacer=console
    )
    try:
        return str((await channel._send(method, ADMIN_PATH)).status_code)
    except OktaApiError as exc:
        return str(exc.details.status) if exc.details and exc.details.status else type(exc).__name__
    finally:
        await channel.aclose()


async def _scim(policy: RetryPolicy, clock: FakeClock, handler: Handler, method: str) -> str:
    scim = ScimGateway(
        ORG + "/scim/v2",
        Secret("scim-token-0123456789"),
        retry=policy,
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock.time,
    )
    try:
        return str((await scim.request(method, "/Users/u1")).status)
    except ScimError as exc:
        return type(exc).__name__
    finally:
        await scim.close()


CHANNELS: dict[str, Channel] = {"okta": _okta, "admin": _admin, "scim": _scim}


class Answers:
    """Answers ``status`` (with ``headers``) ``times`` times, then 200; counts the requests."""

    def __init__(self, status: int, times: int, headers: dict[str, str] | None = None) -> None:
        self.status, self.times, self.headers, self.seen = status, times, headers or {}, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if self.seen <= self.times:
            if self.status == 0:
                raise httpx.ReadError("connection dropped")
            return httpx.Response(self.status, headers=self.headers, json={})
        return httpx.Response(200, json={})


def test_the_gateway_gives_its_admin_channel_its_own_policy_and_scim_has_the_same_defaults() -> None:
    gateway = SdkGateway(ORG, SswsAuth("t0k"), admin_session="sid=abc")
    assert gateway.admin is not None and gateway.admin.retry is gateway.transport.retry
    scim = ScimGateway(ORG + "/scim/v2", Secret("scim-token-0123456789"))
    defaults = {k: v for k, v in asdict(RetryPolicy()).items() if k != "rng"}
    for policy in (gateway.transport.retry, scim.retry):
        assert {k: v for k, v in asdict(policy).items() if k != "rng"} == defaults
        assert all(policy.retryable(s) for s in RETRYABLE_STATUSES)
        assert not any(policy.retryable(s) for s in (400, 401, 403, 404, 409, 501, 505))
    run(gateway.close())
    run(scim.close())


@pytest.mark.parametrize("channel", sorted(CHANNELS))
@pytest.mark.parametrize("status", [500, 502, 503, 504, 0])
def test_5xx_and_dropped_connections_take_the_same_attempts_on_every_channel(
    channel: str, status: int
) -> None:
    policy = RetryPolicy(max_attempts=4, base=0.5, cap=2.0)
    clock, answers = FakeClock(), Answers(status, times=100)
    outcome = run(CHANNELS[channel](policy, clock, answers, "GET"))
    assert answers.seen == 4, "max_attempts bounds every channel alike"
    assert outcome != "200"
    assert len(clock.sleeps) == 3 and all(0.25 <= s <= 2.0 for s in clock.sleeps)


@pytest.mark.parametrize("channel", sorted(CHANNELS))
@pytest.mark.parametrize("status", [400, 404, 409, 501])
def test_other_errors_are_never_retried_on_any_channel(channel: str, status: int) -> None:
    clock, answers = FakeClock(), Answers(status, times=100)
    run(CHANNELS[channel](RetryPolicy(), clock, answers, "GET"))
    assert answers.seen == 1 and clock.sleeps == []


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_429_honours_retry_after_and_the_time_budget_on_every_channel(channel: str) -> None:
    clock, answers = FakeClock(), Answers(429, times=2, headers={"Retry-After": "7"})
    assert run(CHANNELS[channel](RetryPolicy(), clock, answers, "GET")) == "200"
    assert answers.seen == 3 and len(clock.sleeps) == 2 and all(s >= 7.0 for s in clock.sleeps)
    # A wait past the budget is not started: the request gives up after the first answer.
    clock, answers = FakeClock(), Answers(429, times=100, headers={"Retry-After": "120"})
    outcome = run(CHANNELS[channel](RetryPolicy(max_429_wait=100.0), clock, answers, "GET"))
    assert answers.seen == 1 and outcome != "200"


@pytest.mark.parametrize("channel", ["okta", "scim"])
def test_a_post_is_not_repeated_after_a_5xx_but_is_after_a_429(channel: str) -> None:
    clock, answers = FakeClock(), Answers(503, times=1)
    run(CHANNELS[channel](RetryPolicy(), clock, answers, "POST"))
    assert answers.seen == 1
    clock, answers = FakeClock(), Answers(429, times=1, headers={"Retry-After": "1"})
    assert run(CHANNELS[channel](RetryPolicy(), clock, answers, "POST")) in {"200"}
    assert answers.seen == 2


@pytest.mark.parametrize(
    ("error", "never_sent"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ConnectTimeout("no connection in time"), True),
        (httpx.PoolTimeout("no free pooled connection"), True),
        (httpx.ReadError("connection dropped"), False),
        (httpx.ReadTimeout("no answer in time"), False),
        (httpx.WriteError("broken pipe"), False),
        (httpx.WriteTimeout("send stalled"), False),
        (httpx.RemoteProtocolError("server disconnected"), False),
    ],
)
def test_only_errors_before_the_request_left_count_as_never_sent(
    error: httpx.TransportError, never_sent: bool
) -> None:
    assert request_never_sent(error) is never_sent


class Refused:
    """Raises ``error`` on the first ``times`` requests (the connection could not be used), then 200."""

    def __init__(self, error: httpx.TransportError, times: int = 1) -> None:
        self.error, self.times, self.seen = error, times, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if self.seen <= self.times:
            raise self.error
        return httpx.Response(200, json={})


@pytest.mark.parametrize("channel", sorted(CHANNELS))
@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.PoolTimeout("pool full")])
def test_a_post_that_never_left_is_sent_again_on_every_channel(
    channel: str, error: httpx.TransportError
) -> None:
    clock, answers = FakeClock(), Refused(error)
    assert run(CHANNELS[channel](RetryPolicy(), clock, answers, "POST")) == "200"
    assert answers.seen == 2 and len(clock.sleeps) == 1


@pytest.mark.parametrize("channel", ["okta", "scim"])
def test_a_post_whose_answer_was_lost_is_not_sent_again(channel: str) -> None:
    clock, answers = FakeClock(), Refused(httpx.ReadError("connection dropped"))
    assert run(CHANNELS[channel](RetryPolicy(), clock, answers, "POST")) != "200"
    assert answers.seen == 1 and clock.sleeps == []
