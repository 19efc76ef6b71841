"""The values of the `tasks` job: a failed assignment, a retry outcome, and small pure helpers.

Okta has no public Tasks API (docs/okta-behaviour.md, "Retrying failed provisioning"). A failed push shows in
two places; we read both:

* the app user, ``syncState: ERROR`` — authoritative for "is it still failing";
* the System Log events of the push, ``outcome.result: FAILURE`` — the only place that says *which* operation
  failed, *when*, and *why* (docs/okta-behaviour.md, "System Log and provisioning events"). ``outcome.reason``
  is the Tasks page's message, ``<Okta error message>: <third-party error message>`` (Okta help, "Troubleshoot
  provisioning"); it may be null (a ``.sync`` failure), may contain ``"; "`` inside Okta's own words, and may
  exceed the schema's 255 characters: the gateway keeps it whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypedDict
from urllib.parse import urlsplit, urlunsplit

# System Log event type -> the operation it pushes (docs/okta-behaviour.md, "System Log and provisioning
# events"). ``verify_exists`` is the look-up Okta runs before it creates a user ("Error while verifying if
# user … exists" is a create failure); ``sync`` ("Sync user in external application") names no operation of
# its own, and its failures may carry no reason.
OPERATIONS: dict[str, str | None] = {
    "application.provision.user.push": "create",
    "application.provision.user.verify_exists": "create",
    "application.provision.user.push_profile": "update",
    "application.provision.user.deactivate": "deactivate",
    "application.provision.user.sync": None,
}
# Written by Okta when an app user goes away (unassigned directly, or the last assigning group removed): a
# create/update failure of that user is moot from then on.
MEMBERSHIP_REMOVE = "application.user_membership.remove"
EVENT_TYPES: tuple[str, ...] = (*OPERATIONS, MEMBERSHIP_REMOVE)

CREATE, UPDATE, DEACTIVATE = "create", "update", "deactivate"


class EventSummary(TypedDict):
    """What `tasks` keeps of one provisioning event (in the state dir as ``last_events``)."""

    uuid: str
    type: str  # eventType
    operation: str | None  # OPERATIONS of the type (None: a .sync event, or a membership removal)
    result: str | None  # outcome.result
    published: str
    reason: str | None  # outcome.reason, full length
    login: str | None  # the User target's alternateId
    name: str | None  # the User target's displayName


# What Okta puts before the target's own words in a failure reason ("…: Bad Request. Errors reported by remote
# server: Request is unparsable…"; docs/okta-behaviour.md, "System Log and provisioning events").
REMOTE_MARKER = "Errors reported by remote server:"


def split_reason(reason: str | None) -> tuple[str | None, str | None]:
    """Okta's part and the target's part of a failure reason.

    The target's part is what follows ``Errors reported by remote server:`` and nothing else: Okta's own
    messages contain ``"; "`` ("…were invalid; please check your configuration") and ``": "``, so no other
    separator tells the parts apart. Without the marker the whole reason is Okta's. An empty or null reason
    is (None, None); the full reason is always kept beside the parts.
    """
    if not reason or not reason.strip():
        return None, None
    okta, marker, target = reason.partition(REMOTE_MARKER)
    if not marker:
        return reason.strip(), None
    return okta.strip() or None, target.strip() or None


# `tasks` reads the System Log from its cursor minus this overlap, because Okta says events may reach the
# log late (scan.py); events inside it are de-duplicated by uuid.
LOG_OVERLAP = timedelta(minutes=2)


def admin_tasks_url(org_url: str) -> str:
    """The Admin Console's Dashboard > Tasks page: ``https://acme-admin.okta.com/admin/tasks``.

    Okta's admin host is the org host with ``-admin`` after the first label (acme.okta.com ->
    acme-admin.okta.com). For anything else (a custom domain, the loopback emulator) we keep the host.
    """
    parts = urlsplit(org_url.rstrip("/"))
    host = parts.hostname or ""
    okta_domains = ("okta.com", "oktapreview.com", "okta-emea.com", "okta-gov.com", "okta.mil")
    if any(host.endswith("." + d) for d in okta_domains) and "-admin." not in host:
        first, _, rest = host.partition(".")
        netloc = f"{first}-admin.{rest}" + (f":{parts.port}" if parts.port else "")
    else:
        netloc = parts.netloc
    return urlunsplit((parts.scheme or "https", netloc, "/admin/tasks", "", ""))


@dataclass(frozen=True)
class Failure:
    """One failed assignment, as listed by `tasks` and kept in the state dir between runs."""

    user_id: str
    login: str | None
    email: str | None
    scope: str | None  # USER (direct) | GROUP | None (no longer assigned: a failed deactivation)
    groups: tuple[str, ...]  # names of the app's assigned groups the user is in (how a GROUP user got it)
    operation: str  # create | update | deactivate
    operation_source: str  # "log" (from the failure event) | "inferred" (no event in the window)
    failed_at: str | None
    reason: str | None
    okta_message: str | None
    target_message: str | None
    sync_state: str | None
    status: str | None
    event_id: str | None
    first_seen: str

    @property
    def assigned_via(self) -> str:
        if self.scope == "USER":
            return "direct"
        if self.groups:
            return "group: " + ", ".join(self.groups)
        if self.scope == "GROUP":
            return "group"
        return "no longer assigned"

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": {"id": self.user_id, "login": self.login, "email": self.email},
            "assigned": {
                "via": "direct" if self.scope == "USER" else "group" if self.scope == "GROUP" else None,
                "scope": self.scope,
                "groups": list(self.groups),
            },
            "operation": self.operation,
            "operation_source": self.operation_source,
            "failed_at": self.failed_at,
            "reason": {"okta": self.okta_message, "target": self.target_message, "full": self.reason},
            "sync_state": self.sync_state,
            "status": self.status,
            "event_id": self.event_id,
            "first_seen": self.first_seen,
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "login": self.login,
            "email": self.email,
            "scope": self.scope,
            "groups": list(self.groups),
            "operation": self.operation,
            "operation_source": self.operation_source,
            "failed_at": self.failed_at,
            "reason": self.reason,
            "sync_state": self.sync_state,
            "status": self.status,
            "event_id": self.event_id,
            "first_seen": self.first_seen,
        }

    @classmethod
    def from_state(cls, raw: dict[str, Any]) -> Failure:
        okta, target = split_reason(raw.get("reason"))
        return cls(
            user_id=str(raw["user_id"]),
            login=raw.get("login"),
            email=raw.get("email"),
            scope=raw.get("scope"),
            groups=tuple(raw.get("groups") or ()),
            operation=str(raw.get("operation") or UPDATE),
            operation_source=str(raw.get("operation_source") or "inferred"),
            failed_at=raw.get("failed_at"),
            reason=raw.get("reason"),
            okta_message=okta,
            target_message=target,
            sync_state=raw.get("sync_state"),
            status=raw.get("status"),
            event_id=raw.get("event_id"),
            first_seen=str(raw.get("first_seen") or ""),
        )


# Retry outcomes (what `--retry` reports per user). Only RECOVERED and STILL_FAILING say a push ran again, and
# each is read back (syncState, System Log), never taken from the update call's 2xx.
RECOVERED = "recovered"  # read back: syncState SYNCHRONIZED
STILL_FAILING = "still_failing"  # read back: a push ran again (SYNCING, or a new failure event) and failed
NOT_TAKEN = "not_taken"  # no sign of a new push within the wait: the update did not re-push the user
NOT_SETTLED = "not_settled"  # a push started (SYNCING seen) but did not finish within the wait
CANNOT_RETRY = "cannot_retry"  # no public API operation re-triggers this push
EXHAUSTED = "exhausted"  # tasks.retry.max_attempts reached; not retried again until the user recovers
ERROR = "error"  # the retry call itself failed (API error); counted as an attempt
# The outcomes after which a person must act in the Admin Console (the report gives them the steps).
NEEDS_CONSOLE = (STILL_FAILING, NOT_TAKEN, NOT_SETTLED, CANNOT_RETRY, EXHAUSTED, ERROR)


def console_steps(app_label: str, login: str | None, operation: str, console_url: str) -> str:
    """Where a person retries one failed push by hand (docs/okta-behaviour.md, "Retrying failed
    provisioning"): Dashboard > Tasks, and for a user never created, the app's Assignments tab."""
    who = login or "the user"
    steps = (
        f"Admin Console > Dashboard > Tasks ({console_url}): open the failed assignments of app "
        f"{app_label!r}, select {who} and click Retry Selected"
    )
    if operation == "create":
        steps += (
            f"; or Applications > {app_label} > Assignments: find {who} (red exclamation mark) and click "
            "Provision User"
        )
    return steps


@dataclass(frozen=True)
class RetryOutcome:
    user_id: str
    login: str | None
    operation: str
    outcome: str
    attempts: int  # attempts so far across runs, this one included
    detail: str | None = None
    console_url: str | None = None
    sync_state: str | None = None
    console_steps: str | None = None  # what a person does in the Admin Console (outcomes in NEEDS_CONSOLE)

    @classmethod
    def of(
        cls,
        failure: Failure,
        outcome: str,
        attempts: int,
        detail: str | None = None,
        console_url: str | None = None,
        sync_state: str | None = None,
        console_steps: str | None = None,
    ) -> RetryOutcome:
        """The outcome of retrying ``failure`` (its user, login and operation)."""
        return cls(
            failure.user_id,
            failure.login,
            failure.operation,
            outcome,
            attempts,
            detail,
            console_url,
            sync_state,
            console_steps,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": {"id": self.user_id, "login": self.login},
            "operation": self.operation,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "detail": self.detail,
            "console_url": self.console_url,
            "console_steps": self.console_steps,
            "sync_state": self.sync_state,
        }


@dataclass(frozen=True)
class Resolution:
    """A failure that is gone since the last run, and why (a recovery notification is sent for each)."""

    user_id: str
    login: str | None
    operation: str
    how: str  # recovered | unassigned | dismissed
    at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": {"id": self.user_id, "login": self.login},
            "operation": self.operation,
            "how": self.how,
            "at": self.at,
        }


@dataclass
class ScanStats:
    mode: str = "full"  # full | incremental
    app_users_read: int = 0
    events_read: int = 0
    since: str | None = None
    until: str | None = None
    lookups: int = 0  # single app-user reads in incremental mode
    groups_read: int = 0
    notes: list[str] = field(default_factory=list)
