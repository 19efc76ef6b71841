"""Recorded HTTP contracts (vcrpy): the gateway replays sanitised cassettes, with no server at all.

Replay (default, CI): ``record_mode="none"``; every request must match a recorded one (method, path, query).

Recording (docs/gateway.md "Recording cassettes"):

* ``OKTASYNC_RECORD=1 pytest tests/gateway/test_gateway_cassettes.py`` re-records ``tests/cassettes/gateway/``
  against a fresh in-process emulator;
* add ``OKTASYNC_RECORD_ORG_URL=https://acme.okta.com OKTASYNC_RECORD_TOKEN=… OKTASYNC_RECORD_APP_LABEL=…``
  to record the read-only scenarios against a real org into ``tests/cassettes/gateway-real/`` (then replayed
  like the others). Emulator-specific assertions are skipped for real-org cassettes.

Sanitising, always: the org URL becomes ``https://example.okta.com``; ``Authorization``, cookies and the XSRF
header are dropped; token requests and Admin Console posts lose their bodies; access tokens, the XSRF token
and (real orgs) personal data in responses are masked. ``test_cassettes_hold_no_secrets`` checks the files.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import vcr
from gateway_helpers import gateway, run

from oktasync.emulator.seed import build_org
from oktasync.emulator.testing import (
    ADMIN_SESSION,
    ADMIN_XSRF,
    API_TOKEN,
    CUSTOM_APP_ID,
    SCIM_TOKEN,
    run_emulator,
    standard_seed,
)
from oktasync.errors import NotFoundError
from oktasync.okta_gateway.sdk import SdkGateway

ROOT = Path(__file__).resolve().parents[1] / "cassettes"
CANONICAL = "https://example.okta.com"
RECORD = os.environ.get("OKTASYNC_RECORD") == "1"
REAL_ORG = os.environ.get("OKTASYNC_RECORD_ORG_URL", "").rstrip("/")
REAL = RECORD and bool(REAL_ORG)
DIR = ROOT / ("gateway-real" if REAL else "gateway")
PII_KEYS = {"login", "email", "secondEmail", "firstName", "lastName", "displayName", "userName", "givenName",
            "familyName", "mobilePhone", "alternateId", "ipAddress"}  # fmt: skip
SINCE, UNTIL = "2024-05-01T00:00:00.000Z", "2024-05-02T00:00:00.000Z"


class Sanitiser:
    def __init__(self, origin: str) -> None:
        self.origins = {origin.rstrip("/")}
        if "://" in origin and not REAL:
            self.origins.add(origin.replace("127.0.0.1", "localhost"))

    def text(self, value: str) -> str:
        for origin in self.origins:
            value = value.replace(origin, CANONICAL)
        value = re.sub(r'<span id="_xsrfToken">[^<]*</span>', '<span id="_xsrfToken">FILTERED</span>', value)
        value = re.sub(r'(name="_xsrfToken" value=")[^"]*"', r'\1FILTERED"', value)
        value = re.sub(r'"access_token"\s*:\s*"[^"]*"', '"access_token": "FILTERED"', value)
        return value

    def request(self, request: Any) -> Any:
        request.uri = self.text(request.uri)
        if request.method == "POST" and ("/oauth2/" in request.uri or "/admin/" in request.uri):
            request.body = b"FILTERED"  # client assertions, form posts with a Bearer token
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        headers = response["headers"]
        for name in list(headers):
            if name.lower() in ("set-cookie", "x-okta-xsrftoken"):
                del headers[name]
            else:
                headers[name] = [self.text(v) for v in headers[name]]
        body = response["body"]["string"]
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        text = self.text(text)
        if REAL:
            text = _mask_pii(text)
        response["body"]["string"] = text.encode()
        return response


def _mask_pii(text: str) -> str:
    try:
        doc = json.loads(text)
    except ValueError:
        return text

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: ("REDACTED" if k in PII_KEYS and isinstance(v, str) else walk(v)) for k, v in node.items()
            }
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return json.dumps(walk(doc))


@contextmanager
def cassette(name: str, origin: str) -> Iterator[None]:
    sanitiser = Sanitiser(origin)
    recorder = vcr.VCR(
        cassette_library_dir=str(DIR),
        record_mode="all" if RECORD else "none",
        match_on=["method", "path", "query"],
        filter_headers=["authorization", "cookie", "x-okta-xsrftoken", "host"],
        before_record_request=sanitiser.request,
        before_record_response=sanitiser.response,
        decode_compressed_response=True,
    )
    with recorder.use_cassette(f"{name}.yaml"):
        yield


Scenario = Callable[[SdkGateway, dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]


def replay(name: str, seed: dict[str, Any], scenario: Scenario, **context: Any) -> dict[str, Any] | None:
    """Run ``scenario`` recording (emulator or real org) or replaying; None when recording a real org."""
    if REAL:
        context["app_label"] = os.environ.get("OKTASYNC_RECORD_APP_LABEL", "Chronosphere")
        with cassette(name, REAL_ORG):
            from oktasync.okta_gateway.auth import SswsAuth

            real = SdkGateway(REAL_ORG, SswsAuth(os.environ["OKTASYNC_RECORD_TOKEN"]))
            run(_closing(real, scenario, context))
        return None
    if RECORD:
        with run_emulator(seed, api_token=API_TOKEN) as em, cassette(name, em.url):
            return run(_closing(gateway(em.url, admin_session=ADMIN_SESSION), scenario, context))
    with cassette(name, CANONICAL):
        return run(_closing(gateway(CANONICAL, admin_session=ADMIN_SESSION), scenario, context))


async def _closing(gw: SdkGateway, scenario: Scenario, context: dict[str, Any]) -> dict[str, Any]:
    try:
        return await scenario(gw, context)
    finally:
        await gw.close()


async def _apps_and_channels(gw: SdkGateway, ctx: dict[str, Any]) -> dict[str, Any]:
    apps = await gw.find_apps(ctx["app_label"])
    app = await gw.get_app(apps[0].id)
    out: dict[str, Any] = {
        "apps": [a.id for a in apps],
        "features": app.features,
        "connection": await gw.get_connection(app.id),
        "to_app": await gw.get_to_app_settings(app.id),
    }
    try:
        await gw.get_app("0oadoesnotexist00001")
    except NotFoundError as exc:
        out["missing"] = (exc.status, exc.error_code)
    if not REAL:
        out["form"] = await gw.read_admin_form(app)
    return out


def test_contract_apps_connection_features_admin_form() -> None:
    got = replay("apps_and_channels", standard_seed(scim_base_url="https://scim.example.test/v2"),
                 _apps_and_channels, app_label="Chronosphere")  # fmt: skip
    if got is None:
        pytest.skip("recorded against a real org")
    assert got["apps"] == [CUSTOM_APP_ID]
    assert "AUTO_CONFIRM_IMPORTS" in got["features"]
    assert got["connection"].status == "UNKNOWN" and got["to_app"] is None
    assert got["missing"] == (404, "E0000007")
    assert got["form"].scim_base_url == "https://scim.example.test/v2" and got["form"].has("bearer_token")


async def _groups_and_logs(gw: SdkGateway, ctx: dict[str, Any]) -> dict[str, Any]:
    app = (await gw.find_apps(ctx["app_label"]))[0]
    push = 'eventType eq "application.provision.user.push"'
    return {
        "groups": await gw.list_group_assignments(app.id),
        "logs": await gw.list_log_events(since=SINCE, until=UNTIL, filter=push),
    }


def test_contract_paged_groups_and_system_log() -> None:
    seed = build_org(users=0, groups=210, api_tokens=(API_TOKEN,))
    seed["apps"][0]["id"] = CUSTOM_APP_ID
    seed["admin_sessions"] = [{"id": ADMIN_SESSION, "xsrf_token": ADMIN_XSRF}]
    seed["events"] = [
        {
            "uuid": f"00000000-0000-0000-0000-00000000000{i}",
            "published": f"2024-05-01T10:00:0{i}.000Z",
            "eventType": "application.provision.user.push",
            "displayMessage": "Push new user to external application",
            "actor": {"id": "0oa1system00000000001", "type": "PublicClientApp"},
            "outcome": {"result": "FAILURE", "reason": reason},
            "target": [{"id": CUSTOM_APP_ID, "type": "AppInstance"}],
        }
        for i, reason in enumerate(["", "Error while creating user: " + "r" * 280])
    ]
    got = replay("groups_and_logs", seed, _groups_and_logs, app_label="Chronosphere")
    if got is None:
        pytest.skip("recorded against a real org")
    assert len(got["groups"]) == 210 and len({g.group_id for g in got["groups"]}) == 210
    assert [len(e.reason) for e in got["logs"]] == [0, 307]


def test_replay_refuses_an_unrecorded_request() -> None:
    if RECORD:
        pytest.skip("recording")
    from vcr.errors import CannotOverwriteExistingCassetteException

    async def unrecorded(gw: SdkGateway, ctx: dict[str, Any]) -> dict[str, Any]:
        await gw.get_app("0oanotrecorded000001")
        return {}

    with pytest.raises(CannotOverwriteExistingCassetteException):
        replay("apps_and_channels", {}, unrecorded)


def test_cassettes_hold_no_secrets() -> None:
    files = sorted(ROOT.rglob("*.yaml"))
    assert files, "no cassettes recorded"
    patterns = [
        re.escape(API_TOKEN),
        re.escape(SCIM_TOKEN),
        re.escape(ADMIN_SESSION),
        re.escape(ADMIN_XSRF),
        r"SSWS\s*\w",
        r"Bearer\s+\w",
        r"client_assertion",
        r"emu\.[\w-]{16,}",
        r"(?i)\bsid=",
        r"127\.0\.0\.1",
    ]
    for path in files:
        text = path.read_text()
        for pattern in patterns:
            assert not re.search(pattern, text), f"{path.name} contains {pattern}"
        assert "example.okta.com" in text
