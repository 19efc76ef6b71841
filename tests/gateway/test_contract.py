"""One gateway contract, two fakes: the same scenarios against ``FakeGateway`` and against ``SdkGateway`` on
the emulator, so the in-memory fake the unit tests use and the emulator the end-to-end tests use cannot drift.

Each side is seeded with the same org (``ORG``): users, groups, a custom SCIM app with SCIM provisioning on
and no push (app users stay ``ACTIVE``/``DISABLED``, nothing leaves the emulator), a second app with
provisioning off, and a handful of System Log events. The Okta behaviour each scenario pins is in
docs/okta-behaviour.md (the section named in the test's docstring).

Unassigning a single app user (403 ``E0000046`` for a user a group entitles) is not part of the contract: the
gateway offers no such operation on purpose (docs/okta-behaviour.md, "Retrying failed provisioning"); the
emulator's answer is tested in tests/emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from gateway_helpers import gateway

from oktasync.emulator.testing import API_TOKEN, run_emulator
from oktasync.errors import NotFoundError
from oktasync.models import AppKind
from oktasync.okta_gateway.base import OktaGateway
from oktasync.okta_gateway.fake import FakeGateway

T = TypeVar("T")

APP_ID = "0oacontract000000001"
OFF_APP_ID = "0oacontractoff000001"  # a custom app whose General tab Provisioning is not SCIM
OTHER_APP_ID = "0oacontractother0001"
LABEL = "Contract App"
USERS = ("alice", "bob", "carol", "dave", "erin")
# eng and ops both hold alice; bob is also assigned directly; erin starts in ERROR (a failed push).
GROUPS = {"eng": ("alice", "bob"), "ops": ("alice", "carol")}
DIRECT = ("bob",)
FAILED = "erin"
MANY = 520  # app users of the paging app: more than one page of 500 (the gateway's page size)
PAGING_APP_ID = "0oacontractpaging001"


def login(name: str) -> str:
    return f"{name}@example.com"


def user_id(name: str) -> str:
    return f"00u{name:0<17}"[:20]


def group_id(name: str) -> str:
    return f"00g{name:0<17}"[:20]


BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


def at(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _targets(app_id: str, name: str) -> list[dict[str, Any]]:
    return [
        {"id": f"0ua{name:0<17}"[:20], "type": "AppUser", "alternateId": login(name), "displayName": name},
        {"id": app_id, "type": "AppInstance", "alternateId": LABEL, "displayName": LABEL},
        {"id": user_id(name), "type": "User", "alternateId": login(name), "displayName": name},
    ]


# (key, eventType, result, reason, app, user, minutes after BASE)
EVENTS: tuple[tuple[str, str, str, str | None, str, str, int], ...] = (
    ("push_failed", "application.provision.user.push", "FAILURE", "Bad Request", APP_ID, "erin", 1),
    ("sync_failed", "application.provision.user.sync", "FAILURE", None, APP_ID, "erin", 1),
    ("profile_pushed", "application.provision.user.push_profile", "SUCCESS", None, APP_ID, "carol", 2),
    ("removed", "application.user_membership.remove", "SUCCESS", None, APP_ID, "dave", 3),
    ("added", "application.user_membership.add", "SUCCESS", None, APP_ID, "dave", 4),
    ("other_app_push", "application.provision.user.push", "FAILURE", "Bad Request", OTHER_APP_ID, "alice", 5),
    ("late_push", "application.provision.user.push", "SUCCESS", None, APP_ID, "alice", 20),
)
PROVISIONING = f'target.id eq "{APP_ID}" and eventType sw "application.provision.user."'
REMOVALS = f'target.id eq "{APP_ID}" and eventType eq "application.user_membership.remove"'
# The other filters the product sends: the snapshot's push failures (rehearsal/snapshot.py), doctor's
# events of the app (workflows/doctor.py).
PUSH_FAILURES = 'eventType eq "application.provision.user.push" and outcome.result eq "FAILURE"'
OF_THE_APP = f'target.id eq "{APP_ID}"'


@dataclass
class Side:
    """One implementation of the contract, seeded with ``ORG``."""

    name: str
    gateway: OktaGateway
    settle: Callable[[], Awaitable[None]]  # until Okta's background jobs (group assignments) have run


# --- the two sides -----------------------------------------------------------------------------------------
def _fake() -> Side:
    fake = FakeGateway()
    for name in USERS:
        fake.add_user(login(name), user_id=user_id(name), firstName=name.title(), lastName="Contract")
    for name, members in GROUPS.items():
        fake.add_group(name, [user_id(m) for m in members], group_id=group_id(name))
    fake.add_app(LABEL, app_id=APP_ID, kind=AppKind.CUSTOM_SCIM, provisioning_enabled=True)
    fake.add_app("Contract Off", app_id=OFF_APP_ID, kind=AppKind.CUSTOM_SCIM, provisioning_enabled=False)
    for name in DIRECT:
        fake.add_app_user(APP_ID, user_id(name), scope="USER", status="ACTIVE", sync_state="DISABLED")
    fake.add_app_user(APP_ID, user_id(FAILED), scope="USER", status="PROVISIONED", sync_state="ERROR")
    fake.add_app("Contract Paging", app_id=PAGING_APP_ID, kind=AppKind.CUSTOM_SCIM)
    for i in range(MANY):
        uid = fake.add_user(f"many{i:04d}@example.com")
        fake.add_app_user(PAGING_APP_ID, uid, scope="USER", status="ACTIVE", sync_state="DISABLED")
    for _key, event_type, result, reason, app_id, name, minutes in EVENTS:
        fake.add_log_event(
            event_type, result=result, reason=reason, targets=_targets(app_id, name), published=at(minutes)
        )

    async def settle() -> None:
        return None  # the fake applies group assignments at once

    return Side("fake", fake, settle)


def _seed() -> dict[str, Any]:
    many = [f"many{i:04d}@example.com" for i in range(MANY)]
    return {
        "api_tokens": [API_TOKEN],
        "users": [
            {
                "id": user_id(n),
                "login": login(n),
                "email": login(n),
                "firstName": n.title(),
                "lastName": "Contract",
            }
            for n in USERS
        ]
        + [{"login": m, "email": m, "firstName": "Many", "lastName": "User"} for m in many],
        "groups": [
            {"id": group_id(name), "name": name, "members": [user_id(m) for m in members]}
            for name, members in GROUPS.items()
        ],
        "apps": [
            {
                "id": APP_ID,
                "name": "contract_scim",
                "label": LABEL,
                "kind": "custom_scim",
                "settings": {"provisioning_enabled": True},
                "users": [user_id(n) for n in DIRECT],
                "app_users": [
                    {"user": user_id(FAILED), "scope": "USER", "status": "PROVISIONED", "sync_state": "ERROR"}
                ],
            },
            {
                "id": OFF_APP_ID,
                "name": "contract_off",
                "label": "Contract Off",
                "kind": "custom_scim",
                "settings": {"provisioning_enabled": False},
            },
            {
                "id": PAGING_APP_ID,
                "name": "contract_paging",
                "label": "Contract Paging",
                "kind": "custom_scim",
                "users": many,
            },
        ],
        "events": [
            {
                "uuid": f"contract-{key}",
                "published": at(minutes),
                "eventType": event_type,
                "displayMessage": event_type,
                "outcome": {"result": result, "reason": reason},
                "target": _targets(app_id, name),
                "actor": {"id": "0oa1system00000000001", "type": "PublicClientApp"},
            }
            for key, event_type, result, reason, app_id, name, minutes in EVENTS
        ],
    }


@pytest.fixture(params=["fake", "emulator"])
def side(request: pytest.FixtureRequest) -> Iterator[Side]:
    if request.param == "fake":
        yield _fake()
        return
    # A fresh org per test; Okta's group jobs run after a short delay, as they do after Okta has answered.
    with run_emulator(_seed(), behaviour={"group_assign_delay_seconds": 0.05}) as em:

        async def settle() -> None:
            assert await asyncio.to_thread(em.control.wait_idle, 20)

        yield Side("emulator", gateway(em.url), settle)


def run(side: Side, scenario: Callable[[OktaGateway], Coroutine[Any, Any, T]]) -> T:
    async def go() -> T:
        try:
            return await scenario(side.gateway)
        finally:
            await side.gateway.close()

    return asyncio.run(go())


# --- the contract ------------------------------------------------------------------------------------------
def test_group_assignment_entitles_members_and_keeps_direct_users_direct(side: Side) -> None:
    """docs/okta-behaviour.md, "Group assignments and background jobs": assigning a group entitles its
    members (as GROUP app users, after Okta's job); a user already assigned directly stays USER."""

    async def scenario(gw: OktaGateway) -> dict[str, str]:
        await gw.assign_group(APP_ID, group_id("eng"), None, {})
        await side.settle()
        return {u.id: u.scope for u in await gw.list_app_users(APP_ID)}

    scopes = run(side, scenario)
    assert scopes == {user_id("alice"): "GROUP", user_id("bob"): "USER", user_id(FAILED): "USER"}


def test_unassigning_a_group_removes_only_users_nothing_else_entitles(side: Side) -> None:
    """Unassigning eng removes nobody: alice is still in ops (assigned), bob is direct."""

    async def scenario(gw: OktaGateway) -> tuple[set[str], set[str], list[int | None]]:
        await gw.assign_group(APP_ID, group_id("eng"), None, {})
        await gw.assign_group(APP_ID, group_id("ops"), None, {})
        await side.settle()
        priorities = [a.priority for a in await gw.list_group_assignments(APP_ID)]
        await gw.unassign_group(APP_ID, group_id("eng"))
        await side.settle()
        after_eng = {u.id for u in await gw.list_app_users(APP_ID)}
        await gw.unassign_group(APP_ID, group_id("ops"))
        await gw.unassign_group(APP_ID, group_id("ops"))  # a group already gone counts as done
        await side.settle()
        after_ops = {u.id for u in await gw.list_app_users(APP_ID)}
        return after_eng, after_ops, sorted(priorities, key=lambda p: -1 if p is None else p)

    after_eng, after_ops, priorities = run(side, scenario)
    everyone = {user_id(n) for n in ("alice", "bob", "carol", FAILED)}
    assert after_eng == everyone
    assert after_ops == {user_id("bob"), user_id(FAILED)}
    assert priorities == [0, 1]  # without a priority, "the next highest" (0 for the first)


def test_group_assignment_reads_back_with_name_priority_and_profile(side: Side) -> None:
    async def scenario(gw: OktaGateway) -> tuple[Any, Any]:
        await gw.assign_group(APP_ID, group_id("ops"), 7, {"role": "viewer"})
        await side.settle()
        return await gw.get_group_assignment(APP_ID, group_id("ops")), await gw.get_group_assignment(
            APP_ID, group_id("eng")
        )

    ops, eng = run(side, scenario)
    assert (ops.group_id, ops.group_name, ops.priority, ops.profile) == (
        group_id("ops"),
        "ops",
        7,
        {"role": "viewer"},
    )
    assert eng is None


def test_scim_provisioning_shows_in_features_only_when_switched_on(side: Side) -> None:
    """docs/okta-behaviour.md, "Apps, connections and features": ``SCIM_PROVISIONING`` in ``features[]``
    once the General tab's Provisioning is SCIM; no PUSH_* feature while the To App boxes are off."""

    async def scenario(gw: OktaGateway) -> tuple[Any, Any, list[Any]]:
        return await gw.get_app(APP_ID), await gw.get_app(OFF_APP_ID), await gw.find_apps(LABEL)

    on, off, found = run(side, scenario)
    assert "SCIM_PROVISIONING" in on.features
    assert "SCIM_PROVISIONING" not in off.features
    assert not {"PUSH_NEW_USERS", "PUSH_PROFILE_UPDATES", "PUSH_USER_DEACTIVATION"} & set(on.features)
    assert [a.id for a in found] == [APP_ID] and found[0].label == LABEL


def test_an_unknown_app_is_not_found(side: Side) -> None:
    async def scenario(gw: OktaGateway) -> None:
        await gw.get_app("0oanosuchapp00000001")

    with pytest.raises(NotFoundError):
        run(side, scenario)


def test_the_product_log_filters_select_this_apps_events(side: Side) -> None:
    """docs/okta-behaviour.md, "System Log and provisioning events": the two filters `tasks` sends
    (``workflows/tasks/scan.py`` ``log_filters``), bounded by [since, until), oldest first."""

    async def scenario(gw: OktaGateway) -> tuple[list[str], list[str], list[str], list[str]]:
        until = at(10)
        provisioning = await gw.list_log_events(since=at(0), until=until, filter=PROVISIONING)
        removals = await gw.list_log_events(since=at(0), until=until, filter=REMOVALS)
        bounded = await gw.list_log_events(since=at(2), until=at(3), filter=PROVISIONING)
        later = await gw.list_log_events(since=at(10), until=at(25), filter=PROVISIONING)
        return [
            [(e.event_type, e.result, e.reason) for e in events]
            for events in (provisioning, removals, bounded, later)
        ]

    provisioning, removals, bounded, later = run(side, scenario)
    assert provisioning == [
        ("application.provision.user.push", "FAILURE", "Bad Request"),
        ("application.provision.user.sync", "FAILURE", None),
        ("application.provision.user.push_profile", "SUCCESS", None),
    ]
    assert removals == [("application.user_membership.remove", "SUCCESS", None)]
    assert bounded == [("application.provision.user.push_profile", "SUCCESS", None)]  # since ≤ t < until
    assert later == [("application.provision.user.push", "SUCCESS", None)]


def test_the_other_product_filters(side: Side) -> None:
    """``outcome.result eq`` and a lone ``target.id eq``, as the snapshot and doctor send them."""

    async def scenario(gw: OktaGateway) -> tuple[list[tuple[str, str]], list[str]]:
        failures = await gw.list_log_events(since=at(0), until=at(10), filter=PUSH_FAILURES)
        of_app = await gw.list_log_events(since=at(0), until=at(10), filter=OF_THE_APP)
        app_of = {e.uuid: next(t["id"] for t in e.targets if t["type"] == "AppInstance") for e in failures}
        return sorted((e.event_type, app_of[e.uuid]) for e in failures), [e.event_type for e in of_app]

    failures, of_app = run(side, scenario)
    assert failures == [
        ("application.provision.user.push", APP_ID),
        ("application.provision.user.push", OTHER_APP_ID),
    ]
    assert of_app == [
        "application.provision.user.push",
        "application.provision.user.sync",
        "application.provision.user.push_profile",
        "application.user_membership.remove",
        "application.user_membership.add",
    ]


def test_log_events_name_the_user_and_the_app_user(side: Side) -> None:
    async def scenario(gw: OktaGateway) -> list[Any]:
        return await gw.list_log_events(since=at(0), until=at(2), filter=PROVISIONING)

    first = run(side, scenario)[0]
    kinds = {t["type"]: t for t in first.targets}
    assert kinds["User"]["id"] == user_id(FAILED) and kinds["User"]["alternateId"] == login(FAILED)
    assert kinds["AppInstance"]["id"] == APP_ID and kinds["AppUser"]["alternateId"] == login(FAILED)


def test_every_app_user_of_a_large_app_exactly_once(side: Side) -> None:
    """More app users than one page holds (500): every one, once (docs/okta-behaviour.md, "Rate limits
    and paging")."""

    async def scenario(gw: OktaGateway) -> tuple[list[str], list[Any], list[Any]]:
        everyone = await gw.list_app_users(PAGING_APP_ID)
        bare = await gw.list_app_users(PAGING_APP_ID, with_user=False)
        first = await gw.first_app_users(PAGING_APP_ID, 5)
        return [u.login or "" for u in everyone], bare, first

    logins, bare, first = run(side, scenario)
    assert len(logins) == len(set(logins)) == MANY
    assert set(logins) == {f"many{i:04d}@example.com" for i in range(MANY)}
    # Without expand=user the Okta user's login and email are not read; the app username still is.
    assert len({u.id for u in bare}) == MANY and all(u.login is None and u.email is None for u in bare)
    assert all(u.user_name for u in bare)
    assert len(first) == 5 and all(u.login is None for u in first)


def test_app_user_sync_state_and_profile_updates(side: Side) -> None:
    """docs/okta-behaviour.md, "App users and sync state": a failed push reads as ``syncState: ERROR``; an
    unassigned user reads as absent; a profile update merges and answers the app user."""

    async def scenario(gw: OktaGateway) -> tuple[Any, Any, Any, Any]:
        failed = await gw.get_app_user(APP_ID, user_id(FAILED))
        # A profile update of a failed user is an attempt, not a retry (no push: Behaviour's default).
        await gw.update_app_user(APP_ID, user_id(FAILED), {"department": "Ops"})
        await side.settle()
        still = await gw.get_app_user(APP_ID, user_id(FAILED))
        assert still is not None and still.sync_state == "ERROR"
        absent = await gw.get_app_user(APP_ID, user_id("dave"))
        updated = await gw.update_app_user(APP_ID, user_id("bob"), {"department": "R&D"})
        reread = await gw.get_app_user(APP_ID, user_id("bob"))
        return failed, absent, updated, reread

    failed, absent, updated, reread = run(side, scenario)
    assert (failed.scope, failed.status, failed.sync_state) == ("USER", "PROVISIONED", "ERROR")
    assert absent is None
    assert updated.profile["department"] == "R&D" and reread.profile["department"] == "R&D"
    assert reread.profile.get("email") == login("bob")


def test_updating_an_unassigned_user_is_not_found(side: Side) -> None:
    async def scenario(gw: OktaGateway) -> None:
        await gw.update_app_user(APP_ID, user_id("dave"), {"department": "R&D"})

    with pytest.raises(NotFoundError):
        run(side, scenario)


def test_group_members_and_a_users_groups(side: Side) -> None:
    async def scenario(gw: OktaGateway) -> tuple[list[str], list[str]]:
        return await gw.list_group_member_ids(group_id("ops")), await gw.list_user_group_ids(user_id("alice"))

    members, groups = run(side, scenario)
    assert sorted(members) == sorted([user_id("alice"), user_id("carol")])
    assert sorted(groups) == sorted([group_id("eng"), group_id("ops")])
