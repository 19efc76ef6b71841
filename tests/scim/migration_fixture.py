"""A migration: 555 target users and 411 Okta app users, each with the row `report unmanaged` must produce.

Groups (target users): A managed by externalId (300, 10 of them inactive: managed wins), B managed by userName
(20, case differs, Okta not linked yet), C managed by email (10, target userName is a handle), D inactive
(40; 5 have a same-local-part Okta user: inactive wins), E email changed, same local part (40 old accounts;
20 of the Okta users are linked to a new account, 20 unlinked), F email changed, externalId = Okta user id
(15 old + 15 new accounts), G email changed, same full name (10), H ambiguous → review (5), I unmanaged →
deactivate (80; 5 named like several Okta users, so the name rule must not fire). Plus one Okta app user
whose externalId names no target user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TargetSpec:
    user_name: str
    given: str
    family: str
    email: str | None
    active: bool = True
    external_okta: str | None = None  # Okta user id to put in externalId
    expected: tuple[str, str, str, str] = ("", "", "", "")  # category, action, match, okta login


@dataclass
class OktaSpec:
    id: str
    login: str
    given: str
    family: str
    linked_to: str | None = None  # target userName whose SCIM id becomes the app user's externalId
    external_id: str | None = None  # literal externalId (the orphan)
    status: str = "PROVISIONED"
    sync_state: str = "SYNCHRONIZED"


@dataclass
class Migration:
    targets: list[TargetSpec] = field(default_factory=list)
    okta: list[OktaSpec] = field(default_factory=list)

    def okta_user(self, login: str, given: str, family: str, **kw: Any) -> OktaSpec:
        spec = OktaSpec(f"00u{len(self.okta) + 1:017d}", login, given, family, **kw)
        self.okta.append(spec)
        return spec

    def target(self, user_name: str, given: str, family: str, email: str | None, **kw: Any) -> TargetSpec:
        spec = TargetSpec(user_name, given, family, email, **kw)
        self.targets.append(spec)
        return spec

    def seed(
        self, scim_ids: dict[str, str], *, api_token: str, base_url: str, scim_token: str
    ) -> dict[str, Any]:
        app_users = []
        for o in self.okta:
            linked = scim_ids[o.linked_to] if o.linked_to else o.external_id
            app_users.append(
                {
                    "user": o.id,
                    "scope": "USER",
                    "status": o.status if linked else "ACTIVE",
                    "sync_state": o.sync_state if linked else "DISABLED",
                    "external_id": linked,
                    "user_name": o.login,
                }
            )
        return {
            "api_tokens": [api_token],
            "users": [
                {"id": o.id, "login": o.login, "email": o.login, "firstName": o.given, "lastName": o.family}
                for o in self.okta
            ],
            "apps": [
                {
                    "id": "0oamigration000000001",
                    "name": "chronosphere_scim",
                    "label": "Chronosphere",
                    "kind": "custom_scim",
                    "settings": {
                        "scim_base_url": base_url,
                        "unique_identifier": "email",
                        "push_new_users": True,
                        "push_profile_updates": True,
                        "bearer_token": scim_token,
                        "create_users": True,
                        "update_user_attributes": True,
                        "deactivate_users": True,
                    },
                    "app_users": app_users,
                }
            ],
        }

    def expected_rows(self) -> dict[str, tuple[str, str, str, str]]:
        return {t.user_name: t.expected for t in self.targets}


def build() -> Migration:
    m = Migration()
    # A: provisioned by Okta, linked by externalId. 10 are inactive in the target: managed still wins.
    for i in range(300):
        email = f"m{i}@acme.example"
        o = m.okta_user(email, "Managed", f"M{i}", linked_to=email)
        m.target(
            email,
            "Managed",
            f"M{i}",
            email,
            active=i % 30 != 0,
            external_okta=o.id,
            expected=("managed", "none", "externalId", email),
        )
    # B: pre-existing accounts Okta will link on its next push (userName lookup, case-insensitive).
    for i in range(20):
        login = f"p{i}@acme.example"
        m.okta_user(login, "Pending", f"P{i}")
        m.target(
            f"P{i}@Acme.Example",
            "Pending",
            f"P{i}",
            f"P{i}@Acme.Example",
            expected=("managed", "none", "userName", login),
        )
    # C: target userName is a handle; the email matches Okta's.
    for i in range(10):
        login = f"h{i}@acme.example"
        m.okta_user(login, "Handle", f"H{i}")
        m.target(f"handle{i}", "Handle", f"H{i}", login, expected=("managed", "none", "email", login))
    # D: inactive, unmanaged. The first 5 have an Okta user with the same local part: inactive wins.
    for i in range(40):
        if i < 5:
            m.okta_user(f"gone{i}@newco.example", "Gone", f"G{i}")
        m.target(
            f"gone{i}@acme.example",
            "Gone",
            f"G{i}",
            f"gone{i}@acme.example",
            active=False,
            expected=("inactive", "none", "", ""),
        )
    # E: moved domain (same local part); even: Okta re-provisioned a new account, odd: Okta not linked.
    for i in range(40):
        new = f"first{i}.last{i}@acme.example"
        old = f"first{i}.last{i}@oldcorp.example"
        o = m.okta_user(new, f"First{i}", f"Last{i}", linked_to=new if i % 2 == 0 else None)
        if i % 2 == 0:
            m.target(
                new,
                f"First{i}",
                f"Last{i}",
                new,
                external_okta=o.id,
                expected=("managed", "none", "externalId", new),
            )
        m.target(
            old, f"First{i}", f"Last{i}", old, expected=("email_changed", "change_email", "local_part", new)
        )
    # F: changed name and email; the old account carries the Okta user id as externalId.
    for i in range(15):
        new = f"married{i}@acme.example"
        o = m.okta_user(new, "Mary", f"Newname{i}", linked_to=new)
        m.target(
            new,
            "Mary",
            f"Newname{i}",
            new,
            external_okta=o.id,
            expected=("managed", "none", "externalId", new),
        )
        m.target(
            f"maiden{i}@acme.example",
            "Mary",
            f"Oldname{i}",
            f"maiden{i}@acme.example",
            external_okta=o.id,
            expected=("email_changed", "change_email", "okta_id", new),
        )
    # G: contractor address, same full name as exactly one Okta user.
    for i in range(10):
        new = f"z.unique{i}@acme.example"
        m.okta_user(new, "Zed", f"Unique{i}")
        m.target(
            f"zed{i}@contractor.example",
            "Zed",
            f"Unique{i}",
            f"zed{i}@contractor.example",
            expected=("email_changed", "change_email", "name", new),
        )
    # H: two Okta users share the local part: a person must decide.
    for i in range(5):
        m.okta_user(f"sam.lee{i}@acme.example", "Sam", "Lee")
        m.okta_user(f"sam.lee{i}@eu.acme.example", "Sam", "Lee")
        m.target(
            f"sam.lee{i}@old.example",
            "Sam",
            "Lee",
            f"sam.lee{i}@old.example",
            expected=("unmanaged", "review", "local_part", ""),
        )
    # I: nobody in Okta. The first 5 are called Sam Lee, like 10 Okta users: the name rule needs exactly one.
    for i in range(80):
        given, family = ("Sam", "Lee") if i < 5 else ("Ghost", f"Nobody{i}")
        m.target(
            f"ghost{i}@acme.example",
            given,
            family,
            f"ghost{i}@acme.example",
            expected=("unmanaged", "deactivate", "", ""),
        )
    # An Okta app user linked to a target account that no longer exists.
    m.okta_user("orphan@acme.example", "Or", "Phan", external_id="deleted-scim-id")
    return m


def target_body(spec: TargetSpec) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": {"givenName": spec.given, "familyName": spec.family},
        "displayName": f"{spec.given} {spec.family}",
        "active": spec.active,
    }
    if spec.email:
        body["emails"] = [{"value": spec.email, "primary": True, "type": "work"}]
    if spec.external_okta:
        body["externalId"] = spec.external_okta
    return body
