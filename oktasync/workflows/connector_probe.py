"""``test-connector --write-probe``: one throwaway user created as Okta creates it, created again (must be
409), deactivated by a whole-resource PUT as Okta does for a custom app, then deleted; whatever the target
keeps is reported as left behind.

Apart from the read-only checks (``connector_test.py``) because it is the only part that writes to the
target, and it runs only when asked.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from oktasync.errors import ScimError
from oktasync.scim_gateway import ScimGateway, TargetUser, eq_filter, parse_user
from oktasync.workflows.connector_report import (
    CheckStatus,
    ConnectorCheck,
    Leftover,
    request_line,
    status_text,
)

PROBE_DOMAIN = "example.com"  # RFC 2606: nobody receives mail there, and email validators accept it


class WriteProbe:
    """The write probe of one tenant's run: it adds its checks and leftovers to the run's."""

    def __init__(
        self,
        scim: ScimGateway,
        checks: list[ConnectorCheck],
        leftovers: dict[str, Leftover],
        add: Callable[[ConnectorCheck], None],
        lookup: Callable[[TargetUser], Awaitable[None]],
    ) -> None:
        self.scim = scim
        self.checks = checks
        self.leftovers = leftovers
        self.add = add
        self.lookup = lookup  # the unique-identifier lookup check, run again on the probe user

    async def run(self) -> None:
        """Create a throwaway user as Okta does, create it again (must be 409), deactivate it by PUT, then
        delete it; what cannot be removed is reported as left behind."""
        user_name = f"oktasync-probe-{uuid.uuid4().hex[:12]}@{PROBE_DOMAIN}"
        body = okta_create_body(user_name)
        user = await self._probe_create(user_name, body)
        if user is None:
            return
        skipped = [c for c in self.checks if c.key == "unique_identifier" and c.status is CheckStatus.SKIP]
        if skipped:
            # An empty target had nobody to look up; the probe user (userName = email) stands in.
            self.checks.remove(skipped[0])
            await self.lookup(user)
        await self._probe_duplicate(user, user_name, body)
        for probe_id in list(self.leftovers):
            await self._deactivate(probe_id, user_name, report=probe_id == user.id)
        for probe_id in list(self.leftovers):
            await self._delete(probe_id, report=probe_id == user.id)

    async def _probe_create(self, user_name: str, body: Mapping[str, Any]) -> TargetUser | None:
        """POST the probe user; the user when the target answered 201 with it, else None (with a failed check,
        after removing any user the target made anyway)."""
        title = "Write probe: create a user as Okta does"
        created = await self.scim.create_user(body)
        request = request_line(created)
        user = parse_user(created.json)[0] if created.ok and isinstance(created.json, dict) else None
        if user is not None:
            self.leftovers[user.id] = Leftover(user.id, user_name, "active")
        if created.status == 201 and user is not None:
            self.add(
                ConnectorCheck(
                    "probe_create", title, CheckStatus.PASS, f"HTTP 201, id {user.id}", None, request
                )
            )
            return user
        detail = status_text(created) + ("" if created.status == 201 else " (expected 201 with the user)")
        fix = "POST /Users must answer 201 with the user (else Okta: 'Create new user returned empty user')"
        self.add(ConnectorCheck("probe_create", title, CheckStatus.FAIL, detail, fix, request))
        await self._find_and_clean(user_name)
        return None

    async def _probe_duplicate(self, user: TargetUser, user_name: str, body: Mapping[str, Any]) -> None:
        """POST the same user again: Okta relies on a 409 to link instead of creating a second account."""
        title = "Write probe: duplicate create is 409"
        duplicate = await self.scim.create_user(body)
        if duplicate.status == 409:
            detail = status_text(duplicate).split(" (")[0]
            self.add(
                ConnectorCheck(
                    "probe_duplicate", title, CheckStatus.PASS, detail, None, request_line(duplicate)
                )
            )
            return
        dup = parse_user(duplicate.json)[0] if duplicate.ok and isinstance(duplicate.json, dict) else None
        if dup is not None and dup.id != user.id:
            self.leftovers[dup.id] = Leftover(dup.id, user_name, "active")
        fix = "refuse a second user with the same userName with 409 uniqueness (Okta relies on it)"
        detail = status_text(duplicate) + " (expected 409)"
        self.add(
            ConnectorCheck("probe_duplicate", title, CheckStatus.FAIL, detail, fix, request_line(duplicate))
        )

    async def _deactivate(self, user_id: str, user_name: str, *, report: bool) -> None:
        title = "Write probe: deactivate by PUT (active: false), as a custom app does"
        current = await self.scim.request("GET", f"/Users/{user_id}")
        if not current.ok or not isinstance(current.json, dict):
            if report:
                self.add(
                    ConnectorCheck(
                        "probe_deactivate",
                        title,
                        CheckStatus.FAIL,
                        f"GET before PUT: {status_text(current)}",
                        "GET /Users/{id} must return the user",
                        request_line(current),
                    )
                )
            return
        # The whole resource, as Okta sends it for AIW apps (docs/okta-behaviour.md, What Okta sends to a SCIM
        # target): never a partial body.
        resource = {k: v for k, v in current.json.items() if k != "meta"}
        resource["active"] = False
        put = await self.scim.replace_user(user_id, resource)
        after = parse_user(put.json)[0] if put.ok and isinstance(put.json, dict) else None
        verify = await self.scim.get_user(user_id) if put.ok else None
        if (
            put.status == 200
            and after is not None
            and not after.active
            and verify is not None
            and not verify.active
        ):
            self.leftovers[user_id] = Leftover(user_id, user_name, "deactivated")
            if report:
                self.add(
                    ConnectorCheck(
                        "probe_deactivate",
                        title,
                        CheckStatus.PASS,
                        "HTTP 200, active false, confirmed by GET",
                        None,
                        request_line(put),
                    )
                )
            return
        if report:
            if not put.ok:
                detail = status_text(put)
            elif after is None:
                detail = f"HTTP {put.status} without the user in the body (Okta expects 200 with the user)"
            else:
                detail = f"HTTP {put.status} but active is still true"
            fix = "PUT /Users/{id} must replace the user, honour active: false and answer 200 with it"
            self.add(
                ConnectorCheck("probe_deactivate", title, CheckStatus.FAIL, detail, fix, request_line(put))
            )

    async def _delete(self, user_id: str, *, report: bool) -> None:
        title = "Write probe: clean up (DELETE; Okta itself never deletes)"
        deleted = await self.scim.delete_user(user_id)
        gone = deleted.ok or deleted.status == 404
        if gone:
            check = await self.scim.request("GET", f"/Users/{user_id}")
            gone = check.status == 404
        if gone:
            self.leftovers.pop(user_id, None)
            if report:
                self.add(
                    ConnectorCheck(
                        "probe_cleanup",
                        title,
                        CheckStatus.PASS,
                        f"HTTP {deleted.status}; GET is 404",
                        None,
                        request_line(deleted),
                    )
                )
            return
        left = self.leftovers[user_id]
        fix = f"delete the probe user {left.user_name} (id {user_id}) in the target's admin UI"
        self.add(
            ConnectorCheck(
                "probe_cleanup",
                title,
                CheckStatus.WARN,
                f"{status_text(deleted)}; user left {left.state}",
                fix,
                request_line(deleted),
            )
        )

    async def _find_and_clean(self, user_name: str) -> None:
        """After a failed create, look for a user the target made anyway, and remove it."""
        try:
            _, page = await self.scim.list_users(filter_expr=eq_filter("userName", user_name))
        except ScimError:
            return
        for found in page.users:
            if (found.user_name or "").lower() == user_name.lower():
                self.leftovers.setdefault(found.id, Leftover(found.id, user_name, "active"))
                await self._delete(found.id, report=False)


def okta_create_body(user_name: str) -> dict[str, Any]:
    """The body Okta POSTs on Push New Users (docs/okta-behaviour.md, What Okta sends to a SCIM target), for a
    throwaway probe user."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Oktasync", "familyName": "Probe"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": "Oktasync Probe",
        "locale": "en-US",
        "externalId": f"oktasync-probe-{uuid.uuid4().hex[:12]}",
        "groups": [],
        "active": True,
    }
