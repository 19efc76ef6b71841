"""`report unmanaged`: target users that Okta does not manage, each with a suggested action (runbook step 5).

Inputs: every user of the SCIM target (``GET /Users?startIndex=k&count=100``, as Okta's import
pages; docs/okta-behaviour.md, What Okta sends to a SCIM target) and every app user of the Okta app (``GET
/api/v1/apps/{id}/users``, through the Okta gateway).

Matching rules, applied in this order (all string comparisons are ``str.casefold()`` after trimming, except
ids, which are compared exactly: SCIM and Okta ids are opaque and case-sensitive):

1. **managed / externalId** — an Okta app user's ``externalId`` equals the target user's ``id``. This is the
   link Okta keeps after provisioning and uses for every later update (docs/okta-behaviour.md, What Okta
   sends to a SCIM target).
2. **managed / userName** — among app users *not already linked* (no ``externalId``, or one that names no
   target user), one whose ``credentials.userName`` equals the target ``userName``. Okta's next push looks
   the user up with ``userName eq "…"`` and links this account (same ledger section).
3. **managed / email** — among app users still unmatched, one whose Okta email equals one of the target
   user's emails (or its ``userName`` when that is an address). Each app user matches at most one target
   user in rules 2-3 (rule 2 is tried for every target user before rule 3).
4. **inactive** — not managed and ``active`` is false: already deactivated, nothing to do.
5. **email_changed** — not managed, active, and the *same person* exists among all app users (linked or not)
   under a different email. Same-person evidence, strongest first; the first kind that finds anyone decides:
   a. ``okta_id``: the target user's ``externalId`` equals the Okta user id (Okta sends its user id as
      ``externalId`` when it creates a user, same ledger section, so this is an account Okta created earlier);
   b. ``local_part``: the local part of the target user's email (``+tag`` removed) equals the local part of
      the app user's email, login or userName, and the family names do not contradict (when both are known
      they must be equal);
   c. ``name``: given and family name both equal, and exactly one app user has that name.
   One candidate → ``email_changed`` with both emails shown; several → ``unmanaged`` with action ``review``
   and the candidates in the note.
6. **unmanaged** — nothing above: suggested action ``deactivate``.

Precedence: managed beats inactive (a user Okta manages and deactivated needs nothing), inactive beats the
heuristics (an already deactivated account needs no decision).

Paging is checked: a user id seen twice, or fewer distinct users than ``totalResults``, or a
``totalResults`` that changes between pages means the target's ordering is unstable (Okta requires a
stable order; same ledger section). The report then says so; missing users make it incomplete (exit code 1).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from oktasync.errors import EXIT_FAILED, EXIT_OK
from oktasync.models import App, AppUser
from oktasync.okta_gateway.base import OktaGateway
from oktasync.progress import NullProgress, Progress
from oktasync.scim_gateway import ScimGateway, TargetUser

PAGE_SIZE = 100  # what Okta's import uses (docs/okta-behaviour.md, What Okta sends to a SCIM target)


class Category(enum.StrEnum):
    MANAGED = "managed"
    INACTIVE = "inactive"
    EMAIL_CHANGED = "email_changed"
    UNMANAGED = "unmanaged"


class SuggestedAction(enum.StrEnum):
    NONE = "none"
    DEACTIVATE = "deactivate"
    CHANGE_EMAIL = "change_email"
    REVIEW = "review"


# CSV / JSON row keys, in column order. Stable: spreadsheets and scripts depend on it.
COLUMNS = (
    "category",
    "suggested_action",
    "match",
    "target_id",
    "target_userName",
    "target_email",
    "target_active",
    "target_externalId",
    "target_displayName",
    "okta_user_id",
    "okta_login",
    "okta_email",
    "okta_app_user_status",
    "okta_sync_state",
    "note",
)


@dataclass(frozen=True)
class Row:
    category: Category
    action: SuggestedAction
    match: str  # externalId | userName | email | okta_id | local_part | name | ""
    target: TargetUser
    okta: AppUser | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        t, a = self.target, self.okta
        return {
            "category": self.category.value,
            "suggested_action": self.action.value,
            "match": self.match,
            "target_id": t.id,
            "target_userName": t.user_name or "",
            "target_email": t.email or "",
            "target_active": t.active,
            "target_externalId": t.external_id or "",
            "target_displayName": t.display_name or "",
            "okta_user_id": a.id if a else "",
            "okta_login": (a.login or "") if a else "",
            "okta_email": (_okta_email(a) or "") if a else "",
            "okta_app_user_status": a.status if a else "",
            "okta_sync_state": (a.sync_state or "") if a else "",
            "note": self.note,
        }


@dataclass(frozen=True)
class Inventory:
    """Every target user, as paged, with what the paging revealed."""

    users: tuple[TargetUser, ...]
    pages: int
    total_results: tuple[int | None, ...]  # as reported by each page
    duplicate_ids: tuple[str, ...]  # ids seen on more than one page (or twice on one)
    problems: tuple[str, ...]  # users that did not validate (still included, read leniently)

    @property
    def expected(self) -> int | None:
        known = [t for t in self.total_results if t is not None]
        return max(known) if known else None

    @property
    def missing(self) -> int:
        expected = self.expected
        return max(0, expected - len(self.users)) if expected is not None else 0

    @property
    def unstable(self) -> bool:
        return bool(self.duplicate_ids) or self.missing > 0 or len(set(self.total_results)) > 1

    def warnings(self) -> list[str]:
        out: list[str] = []
        if self.duplicate_ids:
            out.append(
                f"unstable ordering: {len(self.duplicate_ids)} user id(s) appeared on more than one page "
                "(Okta requires the same order for every startIndex/count)"
            )
        if self.missing:
            out.append(
                f"incomplete: totalResults says {self.expected} users but paging returned "
                f"{len(self.users)} distinct ones ({self.missing} missing)"
            )
        if len(set(self.total_results)) > 1:
            seen = sorted({t for t in self.total_results if t is not None})
            out.append(
                f"totalResults changed while paging ({seen}): the target changed or pages inconsistently"
            )
        out += [f"lenient read: {p}" for p in self.problems]
        return out


@dataclass(frozen=True)
class UnmanagedReport:
    tenant: str
    app_id: str
    app_label: str
    base_url: str
    rows: tuple[Row, ...]
    inventory: Inventory
    okta_app_users: int
    okta_without_target: tuple[str, ...] = ()  # app user ids whose externalId names no target user
    warnings: tuple[str, ...] = field(default=())

    @property
    def complete(self) -> bool:
        return self.inventory.missing == 0

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.complete else EXIT_FAILED

    def summary(self) -> dict[str, int]:
        counts = {c.value: 0 for c in Category}
        for row in self.rows:
            counts[row.category.value] += 1
        actions = {f"action_{a.value}": 0 for a in SuggestedAction}
        for row in self.rows:
            actions[f"action_{row.action.value}"] += 1
        return {
            "target_users": len(self.rows),
            **counts,
            **actions,
            "okta_app_users": self.okta_app_users,
            "okta_linked_to_missing_target_user": len(self.okta_without_target),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "app": {"id": self.app_id, "label": self.app_label},
            "base_url": self.base_url,
            "complete": self.complete,
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "paging": {
                "pages": self.inventory.pages,
                "page_size": PAGE_SIZE,
                "total_results": self.inventory.expected,
                "distinct_users": len(self.inventory.users),
                "duplicate_ids": list(self.inventory.duplicate_ids),
                "unstable_ordering": self.inventory.unstable,
            },
            "warnings": list(self.warnings),
            "columns": list(COLUMNS),
            "rows": [row.to_dict() for row in self.rows],
        }


# --- collection ---------------------------------------------------------------------------------------------


async def collect_target_users(
    scim: ScimGateway, *, page_size: int = PAGE_SIZE, progress: Progress | None = None
) -> Inventory:
    """Page ``GET /Users`` as Okta's import does, de-duplicating by id and recording paging anomalies."""
    progress = progress or NullProgress()
    seen: dict[str, TargetUser] = {}
    duplicates: list[str] = []
    totals: list[int | None] = []
    problems: list[str] = []
    start = 1
    pages = 0
    started = False
    while True:
        response, page = await scim.list_users(start, page_size)
        pages += 1
        totals.append(page.total_results)
        if not started:
            progress.start("target users", total=page.total_results)
            started = True
        raw = response.json.get("Resources") if isinstance(response.json, dict) else None
        returned = len(raw) if isinstance(raw, list) else len(page.users)
        new = 0
        for user in page.users:
            if user.id in seen:
                duplicates.append(user.id)
            else:
                seen[user.id] = user
                new += 1
        problems += page.problems
        progress.advance("target users", new)
        if returned == 0:
            break
        start += returned
        if page.total_results is not None:
            if start > page.total_results:
                break
        elif new == 0:  # no totalResults to go by: stop when a page brings nothing new
            break
    progress.finish("target users")
    return Inventory(tuple(seen.values()), pages, tuple(totals), tuple(duplicates), tuple(problems))


async def report_unmanaged(
    tenant: str,
    base_url: str,
    app: App,
    okta: OktaGateway,
    scim: ScimGateway,
    *,
    progress: Progress | None = None,
) -> UnmanagedReport:
    """Collect both sides and classify every target user (see the module docstring for the rules)."""
    progress = progress or NullProgress()
    inventory = await collect_target_users(scim, progress=progress)
    progress.note(f"{len(inventory.users)} target users; reading the app's Okta users")
    app_users = await okta.list_app_users(app.id)
    rows = classify(inventory.users, app_users)
    target_ids = {u.id for u in inventory.users}
    orphans = tuple(a.id for a in app_users if a.external_id and a.external_id not in target_ids)
    return UnmanagedReport(
        tenant=tenant,
        app_id=app.id,
        app_label=app.label,
        base_url=base_url,
        rows=tuple(rows),
        inventory=inventory,
        okta_app_users=len(app_users),
        okta_without_target=orphans,
        warnings=tuple(inventory.warnings()),
    )


# --- classification -----------------------------------------------------------------------------------------


def _norm(value: str | None) -> str:
    return value.strip().casefold() if value else ""


def _local(address: str | None) -> str:
    text = _norm(address)
    if "@" not in text:
        return ""
    local = text.rsplit("@", 1)[0]
    return local.split("+", 1)[0]


def _okta_email(app_user: AppUser | None) -> str | None:
    if app_user is None:
        return None
    profile_email = app_user.profile.get("email") if app_user.profile else None
    return app_user.email or (str(profile_email) if profile_email else None) or app_user.user_name


def _target_emails(user: TargetUser) -> set[str]:
    out = {_norm(e) for e in user.emails if e}
    if user.user_name and "@" in user.user_name:
        out.add(_norm(user.user_name))
    return out


def _okta_names(app_user: AppUser) -> tuple[str, str]:
    profile = app_user.profile or {}
    given = profile.get("givenName") or profile.get("firstName") or ""
    family = profile.get("familyName") or profile.get("lastName") or ""
    return _norm(str(given)), _norm(str(family))


def classify(targets: Sequence[TargetUser], app_users: Iterable[AppUser]) -> list[Row]:
    """One row per target user, in target order. Pure: the rules are in the module docstring."""
    app_users = list(app_users)
    result: dict[str, Row] = {}
    unlinked = _link_by_external_id(targets, app_users, result)  # rule 1
    used: set[str] = set()  # each unlinked app user matches one target user at most
    _link_by_user_name(targets, unlinked, result, used)  # rule 2
    _link_by_email(targets, unlinked, result, used)  # rule 3
    # Rule 4: inactive.
    for t in targets:
        if t.id not in result and not t.active:
            result[t.id] = Row(
                Category.INACTIVE, SuggestedAction.NONE, "", t, None, "already deactivated in the target"
            )
    # Rules 5 and 6: same person under a different email, else unmanaged.
    name_index: dict[tuple[str, str], list[AppUser]] = {}
    for a in app_users:
        given, family = _okta_names(a)
        if given and family:
            name_index.setdefault((given, family), []).append(a)
    by_okta_id = {a.id: a for a in app_users}
    for t in targets:
        if t.id in result:
            continue
        result[t.id] = _same_person(t, app_users, by_okta_id, name_index)
    return [result[t.id] for t in targets]


def _link_by_external_id(
    targets: Sequence[TargetUser], app_users: list[AppUser], result: dict[str, Row]
) -> list[AppUser]:
    """Rule 1: a target user an app user's externalId names is managed. The app users not linked to any
    target user this way are returned, for the other rules."""
    target_ids = {t.id for t in targets}
    by_external: dict[str, AppUser] = {}
    for a in app_users:
        if a.external_id and a.external_id in target_ids:
            by_external.setdefault(a.external_id, a)
    for t in targets:
        linked = by_external.get(t.id)
        if linked is not None:
            result[t.id] = Row(Category.MANAGED, SuggestedAction.NONE, "externalId", t, linked)
    return [a for a in app_users if not (a.external_id and a.external_id in target_ids)]


def _link_by_user_name(
    targets: Sequence[TargetUser], unlinked: list[AppUser], result: dict[str, Row], used: set[str]
) -> None:
    """Rule 2: an unlinked app user of the target user's userName manages it."""
    by_user_name: dict[str, list[AppUser]] = {}
    for a in unlinked:
        if a.user_name:
            by_user_name.setdefault(_norm(a.user_name), []).append(a)
    for t in targets:
        if t.id in result or not t.user_name:
            continue
        match = next((a for a in by_user_name.get(_norm(t.user_name), []) if a.id not in used), None)
        if match is not None:
            used.add(match.id)
            note = "" if match.external_id else "Okta links this account on its next push (userName lookup)"
            result[t.id] = Row(Category.MANAGED, SuggestedAction.NONE, "userName", t, match, note)


def _link_by_email(
    targets: Sequence[TargetUser], unlinked: list[AppUser], result: dict[str, Row], used: set[str]
) -> None:
    """Rule 3: an unlinked app user whose email is one of the target user's manages it."""
    by_email: dict[str, list[AppUser]] = {}
    for a in unlinked:
        email = _norm(_okta_email(a))
        if email:
            by_email.setdefault(email, []).append(a)
    for t in targets:
        if t.id in result:
            continue
        for email in sorted(_target_emails(t)):
            candidate = next((a for a in by_email.get(email, []) if a.id not in used), None)
            if candidate is not None:
                used.add(candidate.id)
                note = "same email; Okta's userName lookup finds it only if the target userName equals it"
                result[t.id] = Row(Category.MANAGED, SuggestedAction.NONE, "email", t, candidate, note)
                break


def _different_email(t: TargetUser, a: AppUser) -> bool:
    return _norm(_okta_email(a)) not in _target_emails(t)


def _same_person(
    t: TargetUser,
    app_users: list[AppUser],
    by_okta_id: dict[str, AppUser],
    name_index: dict[tuple[str, str], list[AppUser]],
) -> Row:
    target_email = t.email or t.user_name or ""

    def decide(rule: str, candidates: list[AppUser]) -> Row | None:
        candidates = [a for a in candidates if _different_email(t, a)]
        unique = list({a.id: a for a in candidates}.values())
        if not unique:
            return None
        if len(unique) == 1:
            a = unique[0]
            note = f"email changed: target {target_email} -> Okta {_okta_email(a)}"
            return Row(Category.EMAIL_CHANGED, SuggestedAction.CHANGE_EMAIL, rule, t, a, note)
        logins = ", ".join(sorted(a.login or a.user_name or a.id for a in unique))
        note = f"ambiguous ({rule}): {len(unique)} Okta users could be this person: {logins}"
        return Row(Category.UNMANAGED, SuggestedAction.REVIEW, rule, t, None, note)

    # a. the target externalId is an Okta user id.
    if t.external_id and t.external_id in by_okta_id:
        row = decide("okta_id", [by_okta_id[t.external_id]])
        if row is not None:
            return row
    # b. same email local part, family names not contradicting.
    locals_ = {_local(e) for e in t.emails} | {_local(t.user_name)}
    locals_.discard("")
    if locals_:
        family = _norm(t.family_name)
        hits = []
        for a in app_users:
            okta_locals = {_local(_okta_email(a)), _local(a.login), _local(a.user_name)}
            if not locals_ & okta_locals:
                continue
            okta_family = _okta_names(a)[1]
            if family and okta_family and family != okta_family:
                continue
            hits.append(a)
        row = decide("local_part", hits)
        if row is not None:
            return row
    # c. full name, only when exactly one Okta app user carries it.
    given, family = _norm(t.given_name), _norm(t.family_name)
    if given and family:
        named = name_index.get((given, family), [])
        if len(named) == 1:
            row = decide("name", named)
            if row is not None:
                return row
    return Row(Category.UNMANAGED, SuggestedAction.DEACTIVATE, "", t, None, "no Okta app user matches")


__all__ = [
    "COLUMNS",
    "SuggestedAction",
    "Category",
    "Inventory",
    "Row",
    "UnmanagedReport",
    "classify",
    "collect_target_users",
    "report_unmanaged",
]
