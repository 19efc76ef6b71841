"""ScimGateway: retries on 429/5xx under the shared policy honouring Retry-After (bounded), raw JSON kept,
token never logged."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

from oktasync.config import Secret
from oktasync.errors import ScimError
from oktasync.retrying import RetryPolicy
from oktasync.scim_gateway import (
    ScimGateway,
    ScimHttpError,
    ScimTransportError,
    filter_query,
    parse_list_response,
    raw_int_fields,
)

TOKEN = "gateway-secret-token-123"


def list_body(total: Any = 1, users: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    users = users if users is not None else [{"id": "u1", "userName": "a@acme.example", "active": True}]
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "startIndex": 1,
        "itemsPerPage": len(users),
        "Resources": users,
    }


class Script:
    """A MockTransport answering from a list of (status, headers, body) in order; records the requests."""

    def __init__(self, answers: list[tuple[int, dict[str, str], Any]]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, headers, body = self.answers[min(len(self.requests) - 1, len(self.answers) - 1)]
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(
            status, headers={"Content-Type": "application/scim+json", **headers}, content=content
        )


def gateway(script: Script, sleeps: list[float], **kwargs: Any) -> ScimGateway:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return ScimGateway(
        "https://acme.example/scim/v2/",
        Secret(TOKEN),
        transport=httpx.MockTransport(script),
        sleep=sleep,
        clock=lambda: 1_000_000.0,
        **kwargs,
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_retries_429_and_5xx_honouring_retry_after_then_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="oktasync")
    script = Script([(429, {"Retry-After": "7"}, {}), (503, {}, {}), (200, {}, list_body())])
    sleeps: list[float] = []

    async def go() -> Any:
        async with gateway(script, sleeps) as scim:
            return await scim.list_users(1, 100)

    response, page = run(go())
    assert [u.id for u in page.users] == ["u1"]
    assert response.attempts == 3 and response.retried_statuses == (429, 503)
    # Retry-After, then the shared policy's first jittered backoff: between base/2 and base.
    policy = RetryPolicy()
    assert sleeps[0] == 7.0 and policy.base / 2 <= sleeps[1] <= policy.base
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in script.requests)
    assert TOKEN not in caplog.text and "retry" in caplog.text


def test_retry_after_http_dates_are_understood() -> None:
    date = "Mon, 12 Jan 1970 13:46:50 GMT"  # 1_000_010 s after the epoch: 10 s after the injected clock
    script = Script(
        [(503, {"Retry-After": date}, {}), (429, {"Retry-After": "4"}, {}), (200, {}, list_body())]
    )
    sleeps: list[float] = []

    async def go() -> Any:
        async with gateway(script, sleeps) as scim:
            return await scim.request("GET", "/Users?startIndex=1&count=2")

    assert run(go()).status == 200
    assert sleeps == [10.0, 4.0]


def test_a_retry_after_beyond_the_wait_budget_is_not_waited_and_the_answer_is_returned() -> None:
    # The policy never retries before the server said; a wait past the request's budget gives up at once.
    script = Script([(503, {"Retry-After": "3600"}, {}), (200, {}, list_body())])
    sleeps: list[float] = []

    async def go() -> Any:
        async with gateway(script, sleeps, retry=RetryPolicy(max_429_wait=30)) as scim:
            return await scim.request("GET", "/Users?startIndex=1&count=2")

    response = run(go())
    assert response.status == 503 and sleeps == [] and len(script.requests) == 1


def test_a_post_is_not_repeated_after_a_5xx_but_is_after_a_429() -> None:
    script = Script([(429, {"Retry-After": "1"}, {}), (503, {}, {}), (201, {}, {"id": "u9"})])
    sleeps: list[float] = []

    async def go() -> Any:
        async with gateway(script, sleeps) as scim:
            return await scim.request("POST", "/Users", body={"userName": "x@acme.example"})

    response = run(go())
    # 429: not processed, retried; 503: the user may exist now, so the answer is the caller's.
    assert response.status == 503 and sleeps == [1.0] and len(script.requests) == 2


def test_retries_are_bounded_and_the_last_error_is_raised() -> None:
    script = Script(
        [(500, {}, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "detail": "boom"})]
    )
    sleeps: list[float] = []

    async def go() -> Any:
        async with gateway(script, sleeps, max_retries=2) as scim:
            return await scim.list_users()

    with pytest.raises(ScimHttpError) as caught:
        run(go())
    assert caught.value.status == 500 and "boom" in caught.value.message
    assert len(script.requests) == 3 and len(sleeps) == 2


def test_no_retry_when_asked_and_wrong_token_override() -> None:
    script = Script([(401, {}, {"detail": "nope"})])

    async def go() -> Any:
        async with gateway(script, []) as scim:
            return await scim.request("GET", "/Users", token="other", retry=False)

    response = run(go())
    assert response.status == 401 and len(script.requests) == 1
    assert script.requests[0].headers["Authorization"] == "Bearer other"


def test_transport_errors_are_retried_then_reported() -> None:
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("refused")

    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def go() -> Any:
        async with ScimGateway(
            "https://x.example/v2",
            Secret(TOKEN),
            transport=httpx.MockTransport(refuse),
            sleep=sleep,
            max_retries=1,
        ) as scim:
            return await scim.request("GET", "/Users")

    with pytest.raises(ScimTransportError) as caught:
        run(go())
    policy = RetryPolicy()
    assert len(calls) == 2 and len(sleeps) == 1 and policy.base / 2 <= sleeps[0] <= policy.base
    assert TOKEN not in str(caught.value)


def test_query_string_goes_out_exactly_as_okta_spells_it() -> None:
    script = Script([(200, {}, list_body(0, []))])

    async def go() -> Any:
        async with gateway(script, []) as scim:
            await scim.request("GET", "/Users?" + filter_query('userName eq "a.b+c@acme.example"'))

    run(go())
    url = script.requests[0].url
    assert url.path == "/scim/v2/Users"
    assert url.query == b"filter=userName%20eq%20%22a.b%2Bc%40acme.example%22&startIndex=1&count=100"
    assert script.requests[0].headers["User-Agent"] == "Okta SCIM Client 1.0.0"


def test_raw_types_are_kept_although_scim2_models_coerces() -> None:
    script = Script([(200, {}, list_body("1"))])

    async def go() -> Any:
        async with gateway(script, []) as scim:
            return await scim.list_users()

    response, page = run(go())
    assert page.total_results == 1  # scim2-models coerced it …
    assert raw_int_fields(response.json) == {"totalResults": "string"}  # … the raw JSON did not


def test_one_bad_user_does_not_hide_the_others() -> None:
    users = [
        {
            "id": "u1",
            "userName": "ok@acme.example",
            "emails": [{"value": "ok@acme.example", "primary": True}],
        },
        {"id": "u2", "userName": "odd", "emails": [{"value": "not-an-address"}], "urn:vendor:x": {"a": 1}},
    ]
    script = Script([(200, {}, list_body(2, users))])

    async def go() -> Any:
        async with gateway(script, []) as scim:
            return await scim.list_users()

    _, page = run(go())
    assert [(u.id, u.email) for u in page.users] == [("u1", "ok@acme.example"), ("u2", "not-an-address")]
    assert len(page.problems) == 1 and "u2" in page.problems[0]


def test_non_list_answer_is_a_scim_error() -> None:
    script = Script([(200, {"Content-Type": "text/html"}, b"<html>login</html>")])

    async def go() -> Any:
        async with gateway(script, []) as scim:
            response = await scim.request("GET", "/Users")
            return parse_list_response(response)

    with pytest.raises(ScimError, match="did not return a JSON object"):
        run(go())
