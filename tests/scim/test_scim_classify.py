"""The matching rules of `report unmanaged` (workflows/report.py docstring), one edge at a time."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from oktasync.config import Secret
from oktasync.models import AppUser
from oktasync.scim_gateway import ScimGateway, TargetUser
from oktasync.workflows.report import classify, collect_target_users


def t(
    id: str, user_name: str, *, emails: tuple[str, ...] | None = None, active: bool = True, **kw: Any
) -> TargetUser:
    return TargetUser(id, user_name, kw.pop("external_id", None), emails or (user_name,), active, **kw)


def a(id: str, login: str, *, external_id: str | None = None, given: str = "", family: str = "") -> AppUser:
    profile = {"email": login, "givenName": given, "familyName": family}
    return AppUser(id, "USER", "PROVISIONED", "SYNCHRONIZED", external_id, login, login, login, profile)


def cells(rows: Any) -> list[tuple[str, str, str, str]]:
    return [(r.category.value, r.action.value, r.match, r.okta.id if r.okta else "") for r in rows]


def test_external_id_wins_over_username_and_ids_are_case_sensitive() -> None:
    targets = [t("AbC", "x@acme.example"), t("abc", "y@acme.example")]
    okta = [a("00u1", "y@acme.example", external_id="AbC")]
    # 00u1 is linked to AbC, so it is not available for a userName match on the other account.
    assert cells(classify(targets, okta)) == [
        ("managed", "none", "externalId", "00u1"),
        ("unmanaged", "deactivate", "", ""),
    ]


def test_an_unlinked_app_user_matches_one_target_user_only() -> None:
    targets = [t("1", "Dup@Acme.Example"), t("2", "other", emails=("dup@acme.example",))]
    okta = [a("00u1", "dup@acme.example")]
    assert cells(classify(targets, okta)) == [
        ("managed", "none", "userName", "00u1"),
        ("unmanaged", "deactivate", "", ""),
    ]


def test_an_app_user_linked_to_a_missing_account_can_still_match_by_username() -> None:
    targets = [t("new-id", "jo@acme.example")]
    okta = [a("00u1", "jo@acme.example", external_id="gone-id")]
    assert cells(classify(targets, okta)) == [("managed", "none", "userName", "00u1")]


def test_local_part_needs_non_contradicting_family_names_and_ignores_plus_tags() -> None:
    targets = [
        t("1", "kim+old@old.example", family_name="Park"),
        t("2", "lee@old.example", family_name="Smith"),
    ]
    okta = [a("00u1", "kim@acme.example", family="park"), a("00u2", "lee@acme.example", family="Jones")]
    assert cells(classify(targets, okta)) == [
        ("email_changed", "change_email", "local_part", "00u1"),
        ("unmanaged", "deactivate", "", ""),
    ]


def test_inactive_beats_heuristics_but_not_managed() -> None:
    targets = [t("1", "kim@old.example", active=False), t("2", "m@acme.example", active=False)]
    okta = [a("00u1", "kim@acme.example"), a("00u2", "m@acme.example", external_id="2")]
    assert cells(classify(targets, okta)) == [
        ("inactive", "none", "", ""),
        ("managed", "none", "externalId", "00u2"),
    ]


def test_name_rule_needs_exactly_one_okta_user_with_that_name() -> None:
    targets = [t("1", "a1@x.example", given_name="Ann", family_name="Bee")]
    one = [a("00u1", "ann.b@acme.example", given="ann", family="BEE")]
    two = [*one, a("00u2", "ab@acme.example", given="Ann", family="Bee")]
    assert cells(classify(targets, one)) == [("email_changed", "change_email", "name", "00u1")]
    assert cells(classify(targets, two)) == [("unmanaged", "deactivate", "", "")]


def test_paging_stops_without_total_results_when_a_page_brings_nothing_new() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url.query, "ascii"))
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "Resources": [{"id": "1", "userName": "a@x.example"}, {"id": "2", "userName": "b@x.example"}],
        }
        return httpx.Response(200, json=body)

    async def go() -> Any:
        async with ScimGateway(
            "https://x.example/v2", Secret("t"), transport=httpx.MockTransport(handler)
        ) as scim:
            return await collect_target_users(scim, page_size=2)

    inventory = asyncio.run(go())
    assert [u.id for u in inventory.users] == ["1", "2"]
    assert calls == ["startIndex=1&count=2", "startIndex=3&count=2"]
    assert inventory.duplicate_ids == ("1", "2") and inventory.unstable
