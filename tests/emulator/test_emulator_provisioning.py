"""The provisioning engine against a real scim2-server: create, link, update, fail, deactivate."""

from __future__ import annotations

from typing import Any

from oktasync.emulator.scim_target import ScimServer
from oktasync.emulator.testing import API_APP_ID, CUSTOM_APP_ID, RunningEmulator

APP = f"/api/v1/apps/{CUSTOM_APP_ID}"


def _app_users(em: RunningEmulator, app_path: str = APP) -> dict[str, dict[str, Any]]:
    resp = em.http.get(f"{app_path}/users", params={"limit": 500, "expand": "user"})
    assert resp.status_code == 200
    return {u["_embedded"]["user"]["profile"]["login"]: u for u in resp.json()}


def _assign(em: RunningEmulator, group: str, app_path: str = APP) -> None:
    resp = em.http.put(f"{app_path}/groups/{em.control.group_id(group)}")
    assert resp.status_code == 200


def _logs(em: RunningEmulator, filter_: str) -> list[dict[str, Any]]:
    resp = em.http.get(
        "/api/v1/logs",
        params={
            "since": "2000-01-01T00:00:00Z",
            "until": "2100-01-01T00:00:00Z",
            "filter": filter_,
            "limit": 1000,
        },
    )
    assert resp.status_code == 200
    events: list[dict[str, Any]] = resp.json()
    return events


def test_group_assignment_provisions_every_member(emulator: RunningEmulator, scim_server: ScimServer) -> None:
    emulator.control.behaviour(group_assign_delay_seconds=0)  # the app users exist as the PUT answers
    _assign(emulator, "engineering")
    staged = _app_users(emulator)
    assert set(staged) == {"alice@example.com", "bob@example.com", "carol@example.com"}
    assert emulator.control.wait_idle(10)
    users = _app_users(emulator)
    for login, app_user in users.items():
        assert app_user["status"] == "PROVISIONED"
        assert app_user["syncState"] == "SYNCHRONIZED"
        assert app_user["scope"] == "GROUP"
        assert app_user["lastSync"]
        target = scim_server.user_by_name(login)
        assert target is not None and target["id"] == app_user["externalId"]
        assert target["active"] is True
        assert target["externalId"] == app_user["id"]  # Okta sends its user id as externalId
        assert target["emails"][0]["value"] == login
    calls = emulator.control.scim_calls()
    assert {c["method"] for c in calls} == {"GET", "POST"}
    assert all(c["path"].startswith('/Users?filter=userName eq "') for c in calls if c["method"] == "GET")
    events = _logs(emulator, 'eventType eq "application.provision.user.push" and outcome.result eq "SUCCESS"')
    assert len(events) == 3
    # As Okta writes them: the app user's own 0ua id, the app, and the Okta user (docs/okta-behaviour.md).
    targets = {t["type"]: t for t in events[0]["target"]}
    assert set(targets) == {"AppUser", "AppInstance", "User"}
    assert targets["AppUser"]["id"].startswith("0ua") and targets["User"]["id"] in {
        u["id"] for u in users.values()
    }
    membership = _logs(
        emulator, f'eventType eq "application.user_membership.add" and target.id eq "{CUSTOM_APP_ID}"'
    )
    assert len(membership) == 3


def test_user_in_two_groups_is_one_app_user(emulator: RunningEmulator, scim_server: ScimServer) -> None:
    _assign(emulator, "engineering")
    _assign(emulator, "sales")  # carol is in both
    assert emulator.control.wait_idle(10)
    users = _app_users(emulator)
    assert sorted(users) == ["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"]
    assert len(scim_server.users()) == 4
    carol_posts = [
        c
        for c in emulator.control.scim_calls()
        if c["method"] == "POST" and c["userName"] == "carol@example.com"
    ]
    assert len(carol_posts) == 1


def test_existing_target_user_is_linked_with_put(emulator: RunningEmulator, scim_server: ScimServer) -> None:
    existing = scim_server.create_user("alice@example.com", active=False)
    _assign(emulator, "engineering")
    assert emulator.control.wait_idle(10)
    alice = _app_users(emulator)["alice@example.com"]
    assert alice["externalId"] == existing["id"]
    alice_calls = [c for c in emulator.control.scim_calls() if c["userName"] == "alice@example.com"]
    assert [c["method"] for c in alice_calls] == ["PUT"]
    assert scim_server.user_by_name("alice@example.com")["active"] is True  # type: ignore[index]


def test_target_rejection_is_error_and_failure_event(
    emulator: RunningEmulator, scim_server: ScimServer
) -> None:
    scim_server.reject(["bob@example.com"], detail="userName {userName!r} is blocked by policy")
    _assign(emulator, "engineering")
    assert emulator.control.wait_idle(10)
    users = _app_users(emulator)
    bob = users["bob@example.com"]
    assert bob["syncState"] == "ERROR"
    assert bob["status"] == "STAGED" and bob["externalId"] is None
    assert users["alice@example.com"]["syncState"] == "SYNCHRONIZED"
    failures = _logs(
        emulator, 'eventType eq "application.provision.user.push" and outcome.result eq "FAILURE"'
    )
    assert len(failures) == 1
    reason = failures[0]["outcome"]["reason"]
    okta_part, marker, remote_part = reason.partition("Errors reported by remote server: ")
    assert marker and okta_part == (
        "Automatic provisioning of user Bob Example to app Chronosphere failed: "
        "Error while creating user Bob Example: Bad Request. "
    )
    assert remote_part == "userName 'bob@example.com' is blocked by policy"
    targets = {t["type"]: t for t in failures[0]["target"]}
    assert targets["User"]["id"] == bob["id"] and targets["User"]["alternateId"] == "bob@example.com"
    assert targets["AppUser"]["id"].startswith("0ua") and targets["AppUser"]["id"] != bob["id"]
    assert targets["AppUser"]["alternateId"] == "bob@example.com"  # the app username
    assert (
        targets["AppInstance"]["id"] == CUSTOM_APP_ID
        and targets["AppInstance"]["displayName"] == "Chronosphere"
    )
    syncs = _logs(emulator, 'eventType eq "application.provision.user.sync" and outcome.result eq "FAILURE"')
    assert [e["outcome"]["reason"] for e in syncs] == [None]  # logged beside the push, without a reason

    # A profile update of the failed app user, under each answer to "does it re-push?" (behaviour switch).
    scim_server.clear_rejections()
    resp = emulator.http.post(f"{APP}/users/{bob['id']}", json={"profile": {"displayName": "Bob E."}})
    assert resp.status_code == 200 and resp.json()["syncState"] == "ERROR"  # default: saved, not re-pushed
    assert emulator.control.wait_idle(10)
    assert _app_users(emulator)["bob@example.com"]["profile"]["displayName"] == "Bob E."
    assert _app_users(emulator)["bob@example.com"]["syncState"] == "ERROR"
    assert scim_server.user_by_name("bob@example.com") is None
    emulator.control.behaviour(retry_repushes_failed=True)
    resp = emulator.http.post(f"{APP}/users/{bob['id']}", json={"profile": {"displayName": "Bob E."}})
    assert resp.status_code == 200 and resp.json()["syncState"] == "SYNCING"
    assert emulator.control.wait_idle(10)
    bob = _app_users(emulator)["bob@example.com"]
    assert bob["syncState"] == "SYNCHRONIZED" and bob["status"] == "PROVISIONED"
    assert scim_server.user_by_name("bob@example.com")["displayName"] == "Bob E."  # type: ignore[index]


def test_failure_reason_is_not_truncated(emulator: RunningEmulator, scim_server: ScimServer) -> None:
    scim_server.reject(["dave@example.com"], detail="x" * 400)
    _assign(emulator, "sales")
    assert emulator.control.wait_idle(10)
    failure = _logs(emulator, 'outcome.result eq "FAILURE"')[0]
    assert len(failure["outcome"]["reason"]) > 400


def test_profile_update_pushes_put_of_whole_user(emulator: RunningEmulator, scim_server: ScimServer) -> None:
    _assign(emulator, "engineering")
    assert emulator.control.wait_idle(10)
    alice_id = emulator.control.user_id("alice@example.com")
    resp = emulator.http.post(f"{APP}/users/{alice_id}", json={"profile": {"familyName": "Liddell"}})
    assert resp.status_code == 200
    assert emulator.control.wait_idle(10)
    target = scim_server.user_by_name("alice@example.com")
    assert target is not None and target["name"]["familyName"] == "Liddell"
    assert target["externalId"] == alice_id and target["displayName"]  # whole user, nothing dropped
    calls = emulator.control.scim_calls(user_id=alice_id)
    assert [c["method"] for c in calls][-2:] == ["GET", "PUT"]
    assert len(_logs(emulator, 'eventType eq "application.provision.user.push_profile"')) == 1


def test_unassign_with_deactivate_users_sends_put_active_false(
    emulator: RunningEmulator, scim_server: ScimServer
) -> None:
    _assign(emulator, "engineering")
    _assign(emulator, "sales")
    assert emulator.control.wait_idle(10)
    resp = emulator.http.delete(f"{APP}/groups/{emulator.control.group_id('engineering')}")
    assert resp.status_code == 204
    assert emulator.control.wait_idle(10)
    # alice and bob lose the app; carol keeps it through sales.
    assert sorted(_app_users(emulator)) == ["carol@example.com", "dave@example.com"]
    deactivations = [c for c in emulator.control.scim_calls() if c["active"] is False]
    assert sorted(c["userName"] for c in deactivations) == ["alice@example.com", "bob@example.com"]
    assert all(c["method"] == "PUT" for c in deactivations)  # AIW apps PUT; never PATCH or DELETE
    assert not [c for c in emulator.control.scim_calls() if c["method"] in ("PATCH", "DELETE")]
    assert scim_server.user_by_name("alice@example.com")["active"] is False  # type: ignore[index]
    assert scim_server.user_by_name("carol@example.com")["active"] is True  # type: ignore[index]
    assert len(_logs(emulator, 'eventType eq "application.provision.user.deactivate"')) == 2
    assert len(_logs(emulator, 'eventType eq "application.user_membership.remove"')) == 2


def test_resync_with_deactivate_users_off_deactivates_nobody(
    emulator: RunningEmulator, scim_server: ScimServer
) -> None:
    _assign(emulator, "everyone")
    assert emulator.control.wait_idle(10)
    before = {u["userName"]: u["id"] for u in scim_server.users()}
    emulator.control.set_app_settings(CUSTOM_APP_ID, deactivate_users=False)
    everyone = emulator.control.group_id("everyone")
    assert emulator.http.delete(f"{APP}/groups/{everyone}").status_code == 204
    assert emulator.control.wait_idle(10)  # Okta's unassignment job removes the app users
    assert _app_users(emulator) == {}
    assert emulator.http.put(f"{APP}/groups/{everyone}", json={"priority": 0}).status_code == 200
    assert emulator.control.wait_idle(10)
    emulator.control.set_app_settings(CUSTOM_APP_ID, deactivate_users=True)
    assert not [c for c in emulator.control.scim_calls() if c["active"] is False]
    users = _app_users(emulator)
    assert len(users) == 6 and all(u["syncState"] == "SYNCHRONIZED" for u in users.values())
    assert {u["userName"]: u["id"] for u in scim_server.users()} == before  # relinked, not duplicated
    assert all(u["active"] for u in scim_server.users())
    history = emulator.control.settings_history(CUSTOM_APP_ID)
    assert [(h["source"], h["value"]) for h in history] == [
        ("seed", True),
        ("control", False),
        ("control", True),
    ]


def test_direct_unassign_and_reassign_repushes(emulator: RunningEmulator, scim_server: ScimServer) -> None:
    frank = emulator.control.user_id("frank@example.com")
    scim_server.reject(["frank@example.com"])
    assert emulator.http.post(f"{APP}/users", json={"id": frank, "scope": "USER"}).status_code == 200
    assert emulator.control.wait_idle(10)
    assert _app_users(emulator)["frank@example.com"]["syncState"] == "ERROR"
    scim_server.clear_rejections()
    assert emulator.http.delete(f"{APP}/users/{frank}").status_code == 204
    assert emulator.http.post(f"{APP}/users", json={"id": frank}).status_code == 200
    assert emulator.control.wait_idle(10)
    assert _app_users(emulator)["frank@example.com"]["syncState"] == "SYNCHRONIZED"


def test_no_push_when_create_users_is_off(emulator: RunningEmulator, scim_server: ScimServer) -> None:
    emulator.control.set_app_settings(CUSTOM_APP_ID, create_users=False)
    _assign(emulator, "sales")
    assert emulator.control.wait_idle(10)
    users = _app_users(emulator)
    assert all(u["syncState"] == "DISABLED" and u["externalId"] is None for u in users.values())
    assert emulator.control.scim_calls() == [] and scim_server.users() == []
    app = emulator.http.get(APP).json()
    assert "PUSH_NEW_USERS" not in app["features"]


def test_api_app_provisions_through_its_connection(
    emulator: RunningEmulator, scim_server: ScimServer
) -> None:
    _assign(emulator, "sales", app_path=f"/api/v1/apps/{API_APP_ID}")
    assert emulator.control.wait_idle(10)
    users = _app_users(emulator, f"/api/v1/apps/{API_APP_ID}")
    assert all(u["syncState"] == "SYNCHRONIZED" for u in users.values())
    assert sorted(u["userName"] for u in scim_server.users()) == ["carol@example.com", "dave@example.com"]


def test_group_membership_changes_follow_assignment(
    emulator: RunningEmulator, scim_server: ScimServer
) -> None:
    _assign(emulator, "sales")
    assert emulator.control.wait_idle(10)
    emulator.control.add_member("sales", "erin@example.com")
    emulator.control.remove_member("sales", "dave@example.com")
    assert emulator.control.wait_idle(10)
    assert sorted(_app_users(emulator)) == ["carol@example.com", "erin@example.com"]
    assert scim_server.user_by_name("dave@example.com")["active"] is False  # type: ignore[index]
    emulator.control.update_user("carol@example.com", lastName="Changed")
    assert emulator.control.wait_idle(10)
    assert scim_server.user_by_name("carol@example.com")["name"]["familyName"] == "Changed"  # type: ignore[index]


def test_unreachable_target_is_a_failure(emulator: RunningEmulator) -> None:
    emulator.control.set_app_settings(CUSTOM_APP_ID, scim_base_url="http://127.0.0.1:9/v2")
    _assign(emulator, "sales")
    assert emulator.control.wait_idle(20)
    users = _app_users(emulator)
    assert all(u["syncState"] == "ERROR" for u in users.values())
    first = _logs(emulator, 'outcome.result eq "FAILURE"')[0]
    assert first["eventType"] == "application.provision.user.verify_exists"  # the look-up failed first
    assert "Error while verifying if user" in first["outcome"]["reason"]
    assert ": Could not connect to http://127.0.0.1:9/v2" in first["outcome"]["reason"]
