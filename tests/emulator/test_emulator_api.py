"""Management API routes driven with raw httpx: auth, pagination, limits, errors, assignments."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from oktasync.emulator.seed import build_org
from oktasync.emulator.testing import API_APP_ID, CUSTOM_APP_ID, RunningEmulator, run_emulator


def _get(em: RunningEmulator, path: str, **params: Any) -> httpx.Response:
    return em.http.get(path, params=params)


def _next_link(resp: httpx.Response) -> str | None:
    for value in resp.headers.get_list("link"):
        if value.endswith('rel="next"'):
            return value[1 : value.index(">")]
    return None


# --- auth --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "header",
    [
        None,
        "SSWS{token}",  # the okta SDK 3.4.x bug: no space (docs/okta-behaviour.md, Okta's Python SDK)
        "SSWS  {token}",
        "ssws {token}",
        "Bearer{token}",
        "SSWS wrong-token",
        "Bearer not-issued",
    ],
)
def test_bad_authorization_is_401_e0000011(emulator: RunningEmulator, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header.format(token=emulator.api_token)}
    with httpx.Client() as bare:  # no default Authorization header
        resp = bare.get(f"{emulator.url}/api/v1/apps", headers=headers)
    assert resp.status_code == 401
    body = resp.json()
    assert body["errorCode"] == "E0000011"
    assert body["errorSummary"] == "Invalid token provided"
    assert body["errorLink"] == "E0000011"
    assert body["errorId"].startswith("oae")
    assert body["errorCauses"] == []
    for name in (
        "X-Okta-Request-Id",
        "Date",
        "X-Rate-Limit-Limit",
        "X-Rate-Limit-Remaining",
        "X-Rate-Limit-Reset",
    ):
        assert name in resp.headers


def test_ssws_with_one_space_is_accepted(emulator: RunningEmulator) -> None:
    resp = emulator.http.get("/api/v1/apps", headers={"Authorization": f"SSWS {emulator.api_token}"})
    assert resp.status_code == 200
    assert {a["label"] for a in resp.json()} == {"Chronosphere", "Zscaler"}


def test_unknown_route_and_unknown_ids(emulator: RunningEmulator) -> None:
    # No route, or a route without that method: 405 E0000022, as Okta answers GET /api/v1/sessions/.
    resp = _get(emulator, "/api/v1/nothing-here")
    assert resp.status_code == 405 and resp.json()["errorCode"] == "E0000022"
    resp = emulator.http.post("/api/v1/groups/00gnope", headers=emulator.headers, json={})
    assert resp.status_code == 405 and resp.json()["errorCode"] == "E0000022"
    for path, kind in (
        ("/api/v1/apps/0oanope", "AppInstance"),
        ("/api/v1/groups/00gnope", "UserGroup"),
        ("/api/v1/users/00unope", "User"),
    ):
        resp = _get(emulator, path)
        assert resp.status_code == 404 and resp.json()["errorCode"] == "E0000007", path
        nope = path.rsplit("/", 1)[1]
        assert resp.json()["errorSummary"] == f"Not found: Resource not found: {nope} ({kind})"


def test_paging_refuses_a_cursor_it_did_not_mint_and_a_malformed_expand(emulator: RunningEmulator) -> None:
    resp = _get(emulator, "/api/v1/apps", after="00u1testcursorvalue", limit=1)
    assert resp.status_code == 400 and resp.json()["errorCode"] == "E0000029"
    assert resp.json()["errorCauses"] == [{"errorSummary": "Invalid cursor."}]
    first = _get(emulator, "/api/v1/apps", limit=1)
    after = re.search(r"after=([^&>]+)", first.headers.get_list("link")[1])
    assert after is not None
    assert _get(emulator, "/api/v1/apps", after=after.group(1), limit=1).status_code == 200
    for path, expand in (
        ("/api/v1/apps", "user/id,group/id"),
        (f"/api/v1/apps/{API_APP_ID}/groups", "users"),
        (f"/api/v1/apps/{API_APP_ID}/users", "group"),
    ):
        resp = _get(emulator, path, expand=expand)
        assert resp.status_code == 400 and resp.json()["errorCode"] == "E0000001", path
        assert resp.json()["errorCauses"] == [{"errorSummary": "Expand query is malformed."}]
    assert _get(emulator, "/api/v1/apps", expand="user/00uabc").status_code == 200
    assert _get(emulator, f"/api/v1/apps/{API_APP_ID}/groups", expand="group").status_code == 200


# --- apps, connection, features ----------------------------------------------------------------------------
def test_apps_q_is_a_prefix_match_on_label_or_name(emulator: RunningEmulator) -> None:
    assert [a["id"] for a in _get(emulator, "/api/v1/apps", q="chrono").json()] == [CUSTOM_APP_ID]
    assert [a["id"] for a in _get(emulator, "/api/v1/apps", q="zscalerb").json()] == [API_APP_ID]
    assert _get(emulator, "/api/v1/apps", q="sphere").json() == []


def test_custom_app_features_and_connection(emulator: RunningEmulator) -> None:
    app = _get(emulator, f"/api/v1/apps/{CUSTOM_APP_ID}").json()
    assert app["name"] == "chronosphere_scim" and app["signOnMode"] == "SAML_2_0"
    assert set(app["features"]) == {
        "SCIM_PROVISIONING",
        "IMPORT_NEW_USERS",
        "AUTO_CONFIRM_IMPORTS",
        "PUSH_NEW_USERS",
        "PUSH_PROFILE_UPDATES",
        "PUSH_USER_DEACTIVATION",
    }
    conn = _get(emulator, f"/api/v1/apps/{CUSTOM_APP_ID}/connections/default")
    assert conn.status_code == 200
    assert conn.json()["status"] == "UNKNOWN" and conn.json()["profile"] == {"authScheme": "UNKNOWN"}
    # POST is accepted and changes nothing; lifecycle calls are 204 with no body and no content type.
    post = emulator.http.post(
        f"{emulator.url}/api/v1/apps/{CUSTOM_APP_ID}/connections/default",
        headers=emulator.headers,
        json={"baseUrl": "https://x.invalid", "profile": {"authScheme": "TOKEN", "token": "t"}},
    )
    assert post.status_code == 200 and post.json()["status"] == "UNKNOWN"
    act = emulator.http.post(
        f"{emulator.url}/api/v1/apps/{CUSTOM_APP_ID}/connections/default/lifecycle/activate",
        headers=emulator.headers,
    )
    assert act.status_code == 204 and act.content == b"" and "content-type" not in act.headers
    for path in ("features", "features/USER_PROVISIONING"):
        resp = _get(emulator, f"/api/v1/apps/{CUSTOM_APP_ID}/{path}")
        assert resp.status_code == 400
        assert resp.json()["errorCode"] == "E0000001"
        assert resp.json()["errorSummary"] == "Api validation failed: feature"
        assert resp.json()["errorCauses"] == [{"errorSummary": "Provisioning is not supported."}]
    state = emulator.control.state()
    custom = next(a for a in state["apps"] if a["id"] == CUSTOM_APP_ID)
    assert custom["settings"]["scim_base_url"].endswith("/v2")  # untouched by the POST


def test_api_app_connection_and_partial_feature_update(emulator: RunningEmulator) -> None:
    base = f"{emulator.url}/api/v1/apps/{API_APP_ID}"
    conn = emulator.http.get(base + "/connections/default", headers=emulator.headers).json()
    assert conn["authScheme"] == "TOKEN" and conn["status"] == "ENABLED" and "token" not in conn["profile"]
    emulator.http.post(base + "/connections/default/lifecycle/deactivate", headers=emulator.headers)
    resp = emulator.http.post(
        base + "/connections/default",
        headers=emulator.headers,
        json={"baseUrl": "https://scim.example/v2", "profile": {"authScheme": "TOKEN", "token": "secret-1"}},
    )
    assert resp.status_code == 200 and resp.json()["status"] == "DISABLED"
    assert resp.json()["baseUrl"] == "https://scim.example/v2" and "secret-1" not in resp.text
    # Features need an enabled connection.
    assert emulator.http.get(base + "/features", headers=emulator.headers).status_code == 400
    assert (
        emulator.http.post(
            base + "/connections/default/lifecycle/activate", headers=emulator.headers
        ).status_code
        == 204
    )
    feature = emulator.http.get(base + "/features/USER_PROVISIONING", headers=emulator.headers).json()
    assert feature["capabilities"]["update"]["lifecycleDeactivate"] == {"status": "DISABLED"}
    empty = emulator.http.put(base + "/features/USER_PROVISIONING", headers=emulator.headers, content=b"")
    assert empty.status_code == 400 and empty.json()["errorCode"] == "E0000003"
    put = emulator.http.put(
        base + "/features/USER_PROVISIONING",
        headers=emulator.headers,
        json={"update": {"lifecycleDeactivate": {"status": "ENABLED"}}},
    )
    caps = put.json()["capabilities"]
    assert caps["update"]["lifecycleDeactivate"]["status"] == "ENABLED"
    assert caps["create"]["lifecycleCreate"]["status"] == "ENABLED"  # partial update kept the rest
    assert "PUSH_USER_DEACTIVATION" in emulator.http.get(base, headers=emulator.headers).json()["features"]
    history = emulator.control.settings_history(API_APP_ID)
    assert history[-1]["value"] is True and history[-1]["source"] == "api"
    dump = emulator.control.state()
    assert "secret-1" not in str(dump)


# --- pagination and limits ---------------------------------------------------------------------------------
@pytest.fixture
def big_emulator() -> Any:
    seed = build_org(users=120, groups=45, preprovisioned=True)
    with run_emulator(seed) as running:
        yield running


def test_app_groups_paginate_with_separate_link_headers(big_emulator: RunningEmulator) -> None:
    em = big_emulator
    app_id = em.control.app_id("Chronosphere")
    url: str | None = f"{em.url}/api/v1/apps/{app_id}/groups?expand=group"
    seen: list[str] = []
    pages = 0
    while url:
        resp = em.http.get(url, headers=em.headers)
        assert resp.status_code == 200
        links = resp.headers.get_list("link")
        assert links[0].endswith('rel="self"')  # self first, then next, as two header lines
        if len(links) > 1:
            assert len(links) == 2 and links[1].endswith('rel="next"')
        page = resp.json()
        assert all(item["_embedded"]["group"]["profile"]["name"].startswith("group-") for item in page)
        seen += [item["id"] for item in page]
        pages += 1
        url = _next_link(resp)
    assert pages == 3  # default limit 20: 20 + 20 + 5
    assert len(seen) == len(set(seen)) == 45


def test_app_users_paginate_with_limit_and_expand(big_emulator: RunningEmulator) -> None:
    em = big_emulator
    app_id = em.control.app_id("Chronosphere")
    url: str | None = f"{em.url}/api/v1/apps/{app_id}/users?limit=50&expand=user"
    ids: list[str] = []
    while url:
        resp = em.http.get(url, headers=em.headers)
        page = resp.json()
        assert all(u["_embedded"]["user"]["profile"]["login"] for u in page)
        assert all(u["status"] == "PROVISIONED" and u["externalId"] for u in page)
        ids += [u["id"] for u in page]
        url = _next_link(resp)
    assert len(ids) == len(set(ids)) == 120


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/api/v1/apps/{app}/groups", 19),
        ("/api/v1/apps/{app}/groups", 201),
        ("/api/v1/apps/{app}/users", 0),
        ("/api/v1/apps/{app}/users", 501),
        ("/api/v1/logs", 1001),
        ("/api/v1/logs", -1),
        ("/api/v1/apps/{app}/users", "ten"),
    ],
)
def test_out_of_range_limits_are_400_e0000001(emulator: RunningEmulator, path: str, limit: Any) -> None:
    resp = _get(emulator, path.format(app=CUSTOM_APP_ID), limit=limit)
    assert resp.status_code == 400
    assert resp.json()["errorCode"] == "E0000001"


def test_limits_at_the_bounds_are_accepted(emulator: RunningEmulator) -> None:
    assert _get(emulator, f"/api/v1/apps/{CUSTOM_APP_ID}/groups", limit=20).status_code == 200
    assert _get(emulator, f"/api/v1/apps/{CUSTOM_APP_ID}/groups", limit=200).status_code == 200
    assert _get(emulator, f"/api/v1/apps/{CUSTOM_APP_ID}/users", limit=1).status_code == 200
    assert _get(emulator, f"/api/v1/apps/{CUSTOM_APP_ID}/users", limit=500).status_code == 200
    assert _get(emulator, "/api/v1/logs", limit=1000).status_code == 200


# --- assignments ----------------------------------------------------------------------------------
def test_group_priority_defaults_to_next_highest_and_is_kept(emulator: RunningEmulator) -> None:
    c = emulator.control
    eng, sales, everyone = c.group_id("engineering"), c.group_id("sales"), c.group_id("everyone")
    base = f"{emulator.url}/api/v1/apps/{API_APP_ID}/groups"
    first = emulator.http.put(f"{base}/{eng}", headers=emulator.headers)  # no body at all
    assert first.status_code == 200 and first.json()["priority"] == 0
    second = emulator.http.put(f"{base}/{sales}", headers=emulator.headers, json={"profile": {"role": "x"}})
    assert second.json()["priority"] == 1 and second.json()["profile"] == {"role": "x"}
    third = emulator.http.put(
        f"{base}/{everyone}", headers=emulator.headers, json={"id": everyone, "priority": 7}
    )
    assert third.json()["priority"] == 7
    got = emulator.http.get(f"{base}/{sales}", headers=emulator.headers).json()
    assert got["priority"] == 1 and got["profile"] == {"role": "x"}
    bad = emulator.http.put(f"{base}/{sales}", headers=emulator.headers, content=b"{not json")
    assert bad.status_code == 400 and bad.json()["errorCode"] == "E0000003"


def test_group_scoped_user_cannot_be_unassigned_directly(emulator: RunningEmulator) -> None:
    c = emulator.control
    eng = c.group_id("engineering")
    alice = c.user_id("alice@example.com")
    emulator.http.put(f"/api/v1/apps/{API_APP_ID}/groups/{eng}", headers=emulator.headers)
    assert c.wait_idle(10)  # Okta's assignment job creates the app users
    app_user = _get(emulator, f"/api/v1/apps/{API_APP_ID}/users/{alice}").json()
    assert app_user["scope"] == "GROUP"
    resp = emulator.http.delete(f"/api/v1/apps/{API_APP_ID}/users/{alice}", headers=emulator.headers)
    assert resp.status_code == 403 and resp.json()["errorCode"] == "E0000046"
    # A direct assignment on top makes scope USER, and the group still entitles her: still 403 E0000046.
    direct = emulator.http.post(
        f"{emulator.url}/api/v1/apps/{API_APP_ID}/users", headers=emulator.headers, json={"id": alice}
    )
    assert direct.status_code == 200 and direct.json()["scope"] == "USER"
    resp = emulator.http.delete(f"/api/v1/apps/{API_APP_ID}/users/{alice}", headers=emulator.headers)
    assert resp.status_code == 403 and resp.json()["errorCode"] == "E0000046"
    assert _get(emulator, f"/api/v1/apps/{API_APP_ID}/users/{alice}").status_code == 200
    # A directly assigned user no group entitles is unassigned.
    dave = c.user_id("dave@example.com")
    emulator.http.post(f"/api/v1/apps/{API_APP_ID}/users", headers=emulator.headers, json={"id": dave})
    resp = emulator.http.delete(f"/api/v1/apps/{API_APP_ID}/users/{dave}", headers=emulator.headers)
    assert resp.status_code == 204


def test_groups_users_and_members(emulator: RunningEmulator) -> None:
    groups = _get(emulator, "/api/v1/groups", q="eng").json()
    assert [g["profile"]["name"] for g in groups] == ["engineering"]
    members = _get(emulator, f"/api/v1/groups/{groups[0]['id']}/users").json()
    assert sorted(m["profile"]["login"] for m in members) == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
    ]
    users = _get(emulator, "/api/v1/users", limit=4)
    assert len(users.json()) == 4 and _next_link(users) is not None
    assert _get(emulator, "/api/v1/users/alice@example.com").json()["profile"]["firstName"] == "Alice"


def test_groups_of_a_user(emulator: RunningEmulator) -> None:
    """Users API "List all groups of a user": id or login in the path, a JSON array of Group objects,
    ``limit`` 1..200 (default 200) with ``after`` paging in separate Link lines, the /api/v1/users bucket
    (600/min on Workforce orgs, of which one API token may use half)."""
    c = emulator.control
    carol = c.user_id("carol@example.com")
    expected = {c.group_id(g) for g in ("engineering", "sales", "everyone")}
    c.reset_stats()
    resp = _get(emulator, f"/api/v1/users/{carol}/groups")
    assert resp.status_code == 200 and resp.headers["X-Rate-Limit-Limit"] == "300"  # the token's share
    assert {g["id"] for g in resp.json()} == expected and _next_link(resp) is None
    assert {g["profile"]["name"] for g in resp.json()} == {"engineering", "sales", "everyone"}
    assert {g["id"] for g in _get(emulator, "/api/v1/users/carol@example.com/groups").json()} == expected
    stats = c.stats()
    assert stats["by_bucket"] == {"/api/v1/users": 2}
    assert stats["by_route"] == {"GET /api/v1/users/{user_id}/groups": 2}

    first = _get(emulator, f"/api/v1/users/{carol}/groups", limit=2)
    links = first.headers.get_list("link")
    assert len(first.json()) == 2 and links[0].endswith('rel="self"') and len(links) == 2
    nxt = _next_link(first)
    assert nxt is not None and "after=" in nxt
    second = emulator.http.get(nxt, headers=emulator.headers)
    assert len(second.json()) == 1 and _next_link(second) is None
    assert {g["id"] for g in first.json() + second.json()} == expected

    assert _get(emulator, f"/api/v1/users/{carol}/groups", limit=200).status_code == 200
    too_big = _get(emulator, f"/api/v1/users/{carol}/groups", limit=201)
    assert too_big.status_code == 400 and too_big.json()["errorCode"] == "E0000001"
    missing = _get(emulator, "/api/v1/users/00unosuchuser0000000/groups")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "E0000007"

    c.remove_member("sales", "carol@example.com")  # membership changes show at once
    after = {g["id"] for g in _get(emulator, f"/api/v1/users/{carol}/groups").json()}
    assert after == expected - {c.group_id("sales")}
