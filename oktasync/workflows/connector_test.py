"""`test-connector`: Okta's *Test Connector Configuration*, exactly, then the checks Okta's pushes rely on.

What Okta does (docs/okta-behaviour.md, What Okta sends to a SCIM target): one ``GET
{base}/Users?startIndex=1&count=2`` with
``Authorization: Bearer …``, ``Accept: application/scim+json`` and ``User-Agent: Okta SCIM Client 1.0.0``;
a 200 with a ListResponse passes. That single request is check ``okta_test`` and decides ``okta_verdict``.

Everything else (same ledger section) is stricter than Okta's button but is what Okta's pushes and imports do
later, so a
target that passes Okta's test can still fail every push. Each check has a status:

* ``pass``;
* ``warn`` — works with Okta, but is outside the spec or advisory (``text/json``, discovery endpoints,
  a case-sensitive ``userName`` filter, a 403 for a bad token, a probe user left behind);
* ``fail`` — Okta's test fails, or a flow Okta runs on push/import will break (string paging fields,
  filters ignored, lookup by the unique identifier broken, a wrong token accepted, an unknown id not 404,
  write-probe create/duplicate/deactivate misbehaving);
* ``skip`` — could not be run (e.g. no user to look up, or Okta's test already failed).

Exit code (documented in docs/scim.md): 1 when Okta's own test would fail **or** any other check fails —
a target that passes the button but breaks every push is exactly what this command exists to catch; 0
otherwise (warnings never fail). Several tenants: the worst exit code wins.

Read-only unless ``write_probe``: then one throwaway user ``oktasync-probe-<uuid>@example.com`` is created,
POSTed again (must be 409), deactivated by a whole-resource PUT with ``active: false`` as Okta does for a
custom (AIW) app, then DELETEd. Okta itself never DELETEs; if the target refuses, the user is
reported as left behind (deactivated), with its id.

The write probe is ``connector_probe.py``; the checks' and the report's records are ``connector_report.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from oktasync.config.schema import TenantConfig
from oktasync.errors import ScimError
from oktasync.progress import NullProgress, Progress
from oktasync.scim_gateway import (
    ScimGateway,
    ScimResponse,
    TargetUser,
    UserPage,
    eq_filter,
    filter_query,
    parse_list_response,
    raw_int_fields,
)
from oktasync.workflows.connector_probe import PROBE_DOMAIN, WriteProbe, okta_create_body
from oktasync.workflows.connector_report import (
    CheckStatus,
    ConnectorCheck,
    ConnectorReport,
    Leftover,
    request_line,
    status_text,
)

OKTA_TEST_PATH = "/Users?startIndex=1&count=2"
_ACCEPTED_MEDIA_TYPES = ("application/scim+json", "application/json")


class _ConnectorRun:
    """One tenant's checks; collects results in order."""

    def __init__(self, config: TenantConfig, scim: ScimGateway, progress: Progress) -> None:
        self.config = config
        self.scim = scim
        self.progress = progress
        self.checks: list[ConnectorCheck] = []
        self.leftovers: dict[str, Leftover] = {}

    def add(self, check: ConnectorCheck) -> None:
        self.checks.append(check)
        self.progress.advance("test-connector")

    # --- 1. Okta's own test ---------------------------------------------------------------------------

    async def okta_test(self) -> tuple[CheckStatus, str, ScimResponse | None]:
        title = "Okta's Test Connector Configuration"
        try:
            # Okta sends it once; a retry here would hide what Okta's button would show.
            response = await self.scim.request("GET", OKTA_TEST_PATH, retry=False)
        except ScimError as error:
            message = f"Okta cannot reach the connector: {error.message}"
            self.add(
                ConnectorCheck(
                    "okta_test", title, CheckStatus.FAIL, message, error.hint, f"GET {OKTA_TEST_PATH}"
                )
            )
            return CheckStatus.FAIL, message, None
        request = request_line(response)
        if response.status in (401, 403):
            message = f"Okta would report an authentication failure: {status_text(response)}"
            fix = (
                "put the target's current service-account token in scim.auth.bearer_token (HTTP Header mode)"
            )
            self.add(ConnectorCheck("okta_test", title, CheckStatus.FAIL, message, fix, request))
            return CheckStatus.FAIL, message, response
        if not response.ok:
            message = f"Okta would report the connector test failed: {status_text(response)}"
            fix = (
                "the target is failing: retry later or contact the vendor"
                if response.status >= 500
                else "scim.base_url must be the SCIM 2.0 root, e.g. https://ADDRESS.chronosphere.io/api/scim/v2"
            )
            self.add(ConnectorCheck("okta_test", title, CheckStatus.FAIL, message, fix, request))
            return CheckStatus.FAIL, message, response
        try:
            page = parse_list_response(response)
        except ScimError as error:
            message = f"Okta would reject the answer: {error.message.split(': ', 1)[-1]}"
            fix = "scim.base_url must be the SCIM 2.0 root that serves /Users as a SCIM ListResponse"
            self.add(ConnectorCheck("okta_test", title, CheckStatus.FAIL, message, fix, request))
            return CheckStatus.FAIL, message, response
        if (page.total_results or 0) > 0 and "Resources" not in response.json:
            message = "Okta would reject the answer: totalResults > 0 but no Resources array"
            fix = "return the users in a Resources array (RFC 7644 §3.4.2)"
            self.add(ConnectorCheck("okta_test", title, CheckStatus.FAIL, message, fix, request))
            return CheckStatus.FAIL, message, response
        message = f"HTTP 200, SCIM ListResponse, totalResults {page.total_results}, {len(page.users)} user(s)"
        self.add(ConnectorCheck("okta_test", title, CheckStatus.PASS, message, None, request))
        return CheckStatus.PASS, message, response

    # --- 2. read-only checks ------------------------------------------------------------------------

    def paging_integers(self, response: ScimResponse) -> None:
        title = "Paging fields are JSON integers"
        bad = raw_int_fields(response.json)
        if not bad:
            self.add(
                ConnectorCheck(
                    "paging_integers",
                    title,
                    CheckStatus.PASS,
                    "totalResults, startIndex, itemsPerPage are integers",
                    None,
                    request_line(response),
                )
            )
            return
        detail = ", ".join(f"{name} is {kind}" for name, kind in bad.items())
        fix = 'send totalResults, startIndex and itemsPerPage as JSON numbers (1, not "1"), as Okta requires'
        if set(bad) == {"startIndex", "itemsPerPage"} and all(v == "absent" for v in bad.values()):
            # RFC 7644 makes only totalResults REQUIRED; Okta's docs ask for all three. Absent is a warning.
            self.add(
                ConnectorCheck(
                    "paging_integers", title, CheckStatus.WARN, detail, fix, request_line(response)
                )
            )
            return
        self.add(
            ConnectorCheck("paging_integers", title, CheckStatus.FAIL, detail, fix, request_line(response))
        )

    def content_type(self, response: ScimResponse) -> None:
        title = "Content-Type of SCIM answers"
        media = response.media_type
        seen = response.content_type or "(none)"
        if media in _ACCEPTED_MEDIA_TYPES:
            self.add(
                ConnectorCheck("content_type", title, CheckStatus.PASS, seen, None, request_line(response))
            )
        else:
            # Okta's own doc examples show text/json, so Okta tolerates it; RFC 7644 §8.1 wants scim+json.
            fix = "answer with Content-Type: application/scim+json (RFC 7644 §8.1)"
            self.add(
                ConnectorCheck(
                    "content_type",
                    title,
                    CheckStatus.WARN,
                    f"{seen} is not application/scim+json",
                    fix,
                    request_line(response),
                )
            )

    async def filter_miss(self) -> None:
        title = "Lookup of a user that does not exist"
        missing = f"oktasync-probe-{uuid.uuid4().hex[:12]}@{PROBE_DOMAIN}"
        path = "/Users?" + filter_query(eq_filter("userName", missing))
        response = await self.scim.request("GET", path)
        request = request_line(response)
        if response.status == 404:
            # Okta treats a 404 SCIM Error as "not found" too (docs/okta-behaviour.md, What Okta sends to a
            # SCIM target).
            self.add(
                ConnectorCheck(
                    "filter_miss",
                    title,
                    CheckStatus.PASS,
                    "HTTP 404 (Okta treats it as not found)",
                    None,
                    request,
                )
            )
            return
        if not response.ok:
            fix = 'serve GET /Users?filter=userName eq "…": Okta sends it before creating every user'
            self.add(
                ConnectorCheck("filter_miss", title, CheckStatus.FAIL, status_text(response), fix, request)
            )
            return
        try:
            page = parse_list_response(response)
        except ScimError as error:
            self.add(
                ConnectorCheck(
                    "filter_miss",
                    title,
                    CheckStatus.FAIL,
                    error.message,
                    "answer filters with a SCIM ListResponse",
                    request,
                )
            )
            return
        if (page.total_results or 0) == 0 and not page.users:
            self.add(ConnectorCheck("filter_miss", title, CheckStatus.PASS, "0 results", None, request))
            return
        fix = 'honour filter=userName eq "…"; otherwise Okta links new users to unrelated existing accounts'
        detail = f"{page.total_results} result(s) for a userName that does not exist: the filter is ignored"
        self.add(ConnectorCheck("filter_miss", title, CheckStatus.FAIL, detail, fix, request))

    async def unique_identifier_lookup(self, known: TargetUser | None) -> None:
        """Okta's lookup of an existing user by its unique identifier, then the same lookup upper-cased."""
        title = self._lookup_title()
        if known is None:
            self.add(
                ConnectorCheck(
                    "unique_identifier", title, CheckStatus.SKIP, "the target has no user to look up"
                )
            )
            return
        value = self._lookup_value(known)
        if not value:
            self.add(
                ConnectorCheck(
                    "unique_identifier",
                    title,
                    CheckStatus.SKIP,
                    f"user {known.id} has no {self.config.scim.unique_identifier}",
                )
            )
            return
        found = await self._user_name_lookup(value)
        if found is not None and self._found_exactly(known, value, *found):
            await self._case_insensitive_lookup(known, value)

    def _lookup_title(self) -> str:
        return f"Lookup by the unique identifier ({self.config.scim.unique_identifier})"

    def _lookup_value(self, known: TargetUser) -> str | None:
        """What Okta puts in its lookup of ``known``.

        Okta substitutes the app user's userName into `userName eq "<value>"`; with unique identifier `email`
        that value is the user's email (docs/okta-behaviour.md, What Okta sends to a SCIM target; the
        emulator does the same)."""
        if self.config.scim.unique_identifier == "email":
            return known.email or known.user_name
        return known.user_name

    async def _user_name_lookup(self, value: str) -> tuple[ScimResponse, UserPage] | None:
        """``userName eq "<value>"`` as Okta sends it, and the page it found; None (with a failed check) when
        the answer is not a SCIM ListResponse."""
        title = self._lookup_title()
        response = await self.scim.request("GET", "/Users?" + filter_query(eq_filter("userName", value)))
        request = request_line(response)
        if not response.ok:
            fix = 'serve GET /Users?filter=userName eq "<value>" with a ListResponse'
            self.add(
                ConnectorCheck(
                    "unique_identifier", title, CheckStatus.FAIL, status_text(response), fix, request
                )
            )
            return None
        try:
            return response, parse_list_response(response)
        except ScimError as error:
            fix = "answer filters with a SCIM ListResponse"
            self.add(
                ConnectorCheck("unique_identifier", title, CheckStatus.FAIL, error.message, fix, request)
            )
            return None

    def _found_exactly(self, known: TargetUser, value: str, response: ScimResponse, page: UserPage) -> bool:
        """Check that the lookup found ``known`` and nobody else; True when it did."""
        attr = self.config.scim.unique_identifier
        title = self._lookup_title()
        ids = [u.id for u in page.users]
        if ids == [known.id]:
            detail = f'userName eq "{value}" found exactly user {known.id}'
            self.add(
                ConnectorCheck(
                    "unique_identifier", title, CheckStatus.PASS, detail, None, request_line(response)
                )
            )
            return True
        if not ids:
            fix = (
                f"Okta looks users up by userName = their {attr}; make the target's userName equal the {attr}"
                if attr == "email"
                else "the target must find users by userName eq"
            )
            detail = f'userName eq "{value}" found nobody, though user {known.id} has it as its {attr}'
        else:
            fix = 'honour filter=userName eq "…" (exact, one user); otherwise Okta links to the wrong account'
            detail = f'userName eq "{value}" returned {len(ids)} users (totalResults {page.total_results})'
        self.add(
            ConnectorCheck("unique_identifier", title, CheckStatus.FAIL, detail, fix, request_line(response))
        )
        return False

    async def _case_insensitive_lookup(self, known: TargetUser, value: str) -> None:
        """The lookup again, upper-cased: Okta's usernames are case-insensitive (and RFC 7643 §4.1.1 makes
        userName caseExact false), so a case-sensitive target makes duplicates."""
        upper = await self.scim.request("GET", "/Users?" + filter_query(eq_filter("userName", value.upper())))
        found = []
        if upper.ok:
            try:
                found = [u.id for u in parse_list_response(upper).users]
            except ScimError:
                found = []
        title = "userName filter is case-insensitive"
        if found == [known.id]:
            detail = f'"{value.upper()}" found the same user'
            self.add(
                ConnectorCheck("case_insensitive", title, CheckStatus.PASS, detail, None, request_line(upper))
            )
        else:
            fix = "compare userName case-insensitively (RFC 7643 §4.1.1 caseExact false), as Okta does"
            detail = f'"{value.upper()}" found {len(found)} user(s)'
            self.add(
                ConnectorCheck("case_insensitive", title, CheckStatus.WARN, detail, fix, request_line(upper))
            )

    async def wrong_token(self) -> None:
        title = "A wrong token is refused"
        response = await self.scim.request(
            "GET", OKTA_TEST_PATH, token=f"oktasync-invalid-{uuid.uuid4().hex}", retry=False
        )
        request = request_line(response) + " (Bearer <invalid>)"
        if response.status == 401:
            status = CheckStatus.PASS
            detail = "HTTP 401" + (
                "" if response.is_scim_error() else " (body is not a SCIM Error; fine for Okta)"
            )
            self.add(ConnectorCheck("wrong_token", title, status, detail, None, request))
        elif response.status == 403:
            self.add(
                ConnectorCheck(
                    "wrong_token",
                    title,
                    CheckStatus.WARN,
                    "HTTP 403 (expected 401)",
                    "answer 401 to an invalid token (RFC 6750 §3.1)",
                    request,
                )
            )
        elif response.ok:
            fix = "the target must authenticate the Bearer token: anyone can read and write its users"
            self.add(
                ConnectorCheck(
                    "wrong_token", title, CheckStatus.FAIL, "HTTP 200 with an invalid token", fix, request
                )
            )
        else:
            self.add(
                ConnectorCheck(
                    "wrong_token",
                    title,
                    CheckStatus.FAIL,
                    status_text(response),
                    "answer 401 to an invalid token",
                    request,
                )
            )

    async def unknown_id(self) -> None:
        title = "An unknown user id is 404"
        response = await self.scim.request("GET", f"/Users/oktasync-missing-{uuid.uuid4().hex}")
        request = request_line(response)
        if response.status == 404:
            extra = "" if response.is_scim_error() else " (body is not a SCIM Error)"
            self.add(
                ConnectorCheck(
                    "unknown_id",
                    title,
                    CheckStatus.PASS if not extra else CheckStatus.WARN,
                    "HTTP 404" + extra,
                    None if not extra else "send a SCIM Error body with a 404",
                    request,
                )
            )
        else:
            fix = "answer GET /Users/<unknown id> with 404 + SCIM Error: Okta reads a user before each update"
            self.add(
                ConnectorCheck(
                    "unknown_id",
                    title,
                    CheckStatus.FAIL,
                    status_text(response) + " (expected 404)",
                    fix,
                    request,
                )
            )

    async def discovery(self) -> None:
        for key, path in (
            ("discovery_spc", "/ServiceProviderConfig"),
            ("discovery_resource_types", "/ResourceTypes"),
            ("discovery_schemas", "/Schemas"),
        ):
            title = f"Discovery: {path} (advisory; Okta never calls it)"
            response = await self.scim.request("GET", path)
            if response.ok and isinstance(response.json, dict):
                self.add(
                    ConnectorCheck(key, title, CheckStatus.PASS, "HTTP 200", None, request_line(response))
                )
            else:
                self.add(
                    ConnectorCheck(
                        key,
                        title,
                        CheckStatus.WARN,
                        status_text(response),
                        f"optional: serve {path} (RFC 7644 §4)",
                        request_line(response),
                    )
                )


async def test_connector(
    config: TenantConfig,
    scim: ScimGateway | None = None,
    *,
    write_probe: bool = False,
    progress: Progress | None = None,
    scim_factory: Callable[[TenantConfig], ScimGateway] | None = None,
) -> ConnectorReport:
    """Run Okta's connector test and the checks against ``config``'s SCIM target.

    ``scim`` defaults to a ``ScimGateway`` built from the config (closed at the end); tests pass their own.
    Never raises for what the target answers: every answer becomes a check.
    """
    progress = progress or NullProgress()
    own = scim is None
    gateway = scim if scim is not None else (scim_factory or _default_gateway)(config)
    run = _ConnectorRun(config, gateway, progress)
    progress.start("test-connector", total=13 if write_probe else 9)
    try:
        verdict, message, first = await run.okta_test()
        if first is not None and verdict is CheckStatus.PASS:
            run.paging_integers(first)
            run.content_type(first)
            page = parse_list_response(first)
            known = next((u for u in page.users if u.user_name), None)
            await run.filter_miss()
            await run.unique_identifier_lookup(known)
            await run.wrong_token()
            await run.unknown_id()
            await run.discovery()
            if write_probe:
                probe = WriteProbe(gateway, run.checks, run.leftovers, run.add, run.unique_identifier_lookup)
                await probe.run()
        elif first is not None:
            # The target answered but Okta's test fails: the remaining checks would only repeat it.
            run.add(
                ConnectorCheck(
                    "remaining",
                    "Other checks",
                    CheckStatus.SKIP,
                    "skipped: Okta's test fails; fix that first",
                )
            )
        return ConnectorReport(
            tenant=config.tenant,
            base_url=config.scim.base_url,
            okta_verdict=verdict,
            okta_message=message,
            checks=tuple(run.checks),
            write_probe=write_probe,
            leftovers=tuple(run.leftovers.values()),
            requests_sent=gateway.request_count,
        )
    finally:
        progress.finish("test-connector")
        if own:
            await gateway.close()


test_connector.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite the name


def _default_gateway(config: TenantConfig) -> ScimGateway:
    return ScimGateway.from_config(config.scim)


__all__ = [
    "ConnectorCheck",
    "ConnectorReport",
    "Leftover",
    "CheckStatus",
    "okta_create_body",
    "test_connector",
]
