"""Every real Okta answer body, fed through the gateway's parsers (``oktasync/okta_gateway/parse.py``) and
its error reader (``transport.error_details``): real shapes must parse, and what is read is what Okta sent."""

from __future__ import annotations

from typing import Any

import httpx
from replay import source_name

from oktasync.okta_gateway import parse
from oktasync.okta_gateway.transport import error_details, parse_links


def _response(item: dict[str, Any]) -> httpx.Response:
    # The body is re-encoded here: drop the headers that described the recorded encoding.
    dropped = {"content-length", "content-encoding", "transfer-encoding"}
    headers = [(k, v) for k, v in item["response_headers"] if k.lower() not in dropped]
    body = item["response_body"]
    if body is None:
        return httpx.Response(item["status"], headers=headers)
    return httpx.Response(item["status"], headers=headers, json=body)


def test_parsers_read_real_answer(interaction: dict[str, Any]) -> None:
    body, endpoint, status = interaction["response_body"], interaction["endpoint"], interaction["status"]
    where = source_name(interaction)
    response = _response(interaction)
    if status >= 400:
        details = error_details(response, interaction["method"], "https://example.okta.com/x")
        assert details.status == status
        if isinstance(body, dict) and "errorCode" in body:
            assert details.error_code == body["errorCode"], where
            assert details.summary == body["errorSummary"], where
            assert details.causes == [c["errorSummary"] for c in body["errorCauses"]], where
        else:
            assert details.error_code == body["error"], where
        return
    items = body if isinstance(body, list) else [body]
    if endpoint in ("apps.list", "apps.get"):
        for raw, app in ((x, parse.app(x)) for x in items):
            assert (app.id, app.label, app.status) == (raw["id"], raw["label"], raw["status"]), where
            assert list(app.features) == raw["features"], where
    elif endpoint in ("conn.get", "conn.post"):
        connection = parse.connection(body)
        assert connection.status == body["status"], where
        assert connection.auth_scheme == (body.get("authScheme") or body["profile"]["authScheme"]), where
    elif endpoint in ("feature.get", "feature.put"):
        settings = parse.to_app_settings(body)
        create = body["capabilities"]["create"]["lifecycleCreate"]["status"] == "ENABLED"
        assert settings.create_users is create, where
    elif endpoint in ("appgroups.list", "appgroup.get", "appgroup.put"):
        for raw in items:
            assignment = parse.group_assignment(raw)
            assert (assignment.group_id, assignment.priority) == (raw["id"], raw["priority"]), where
    elif endpoint in ("appusers.list", "appuser.get", "appuser.post"):
        for raw in items:
            app_user = parse.app_user(raw)
            assert (app_user.id, app_user.status, app_user.sync_state) == (
                raw["id"],
                raw["status"],
                raw["syncState"],
            ), where
            assert app_user.user_name == (raw.get("credentials") or {}).get("userName"), where
    elif endpoint in ("groupusers.list", "usergroups.list"):
        assert all(isinstance(x["id"], str) for x in items), where
    elif endpoint == "logs.list":
        for raw in items:
            event = parse.log_event(raw)
            assert (event.uuid, event.event_type) == (raw["uuid"], raw["eventType"]), where
            assert event.reason == raw["outcome"].get("reason"), where
            assert len(event.targets) == len(raw["target"] or []), where
    elif endpoint == "oauth.token":
        assert isinstance(body["access_token"], str) and body["token_type"] in ("Bearer", "DPoP"), where
    else:
        assert status in (204, 200), where
    if isinstance(body, list):
        assert "self" in parse_links(response.headers) or not interaction["response_headers"], where
