"""What a resync shows: the plan (dry-run and the confirmation prompt) and the report of a finished run.

Both are frozen values with ``to_dict()`` (the ``--json`` document: stable keys, nothing secret) and an
``exit_code``; the CLI renders the text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from oktasync.errors import EXIT_FAILED, EXIT_OK
from oktasync.workflows.resync.journal import GroupRecord

GROUP_PAGE = 200  # GET /apps/{id}/groups: limit max 200 (docs/okta-behaviour.md, Rate limits and paging)
USER_PAGE = 500  # GET /apps/{id}/users: limit max 500 (docs/okta-behaviour.md, Rate limits and paging)


def pages(count: int, size: int) -> int:
    return max(1, math.ceil(count / size))


def minimum_calls(groups: int) -> int:
    """The floor of a group resync against the API (docs/resync.md "API calls"): one DELETE and one PUT per
    group, the snapshot listing, two toggles (off, restore) and one verification listing."""
    return 2 * groups + pages(groups, GROUP_PAGE) + 2 + pages(groups, GROUP_PAGE)


@dataclass(frozen=True)
class ResyncPlan:
    """What a resync would do, from a read-only snapshot."""

    tenant: str
    app_id: str
    app_label: str
    kind: str
    groups: tuple[GroupRecord, ...]  # every group assigned to the app
    targets: tuple[str, ...]  # the ones the run cycles
    deactivate_users: bool
    deactivate_channel: str
    app_users: dict[str, int]
    affected_users: int
    max_affected_users: int
    missing_named_groups: tuple[str, ...] = ()
    unfinished_run: str | None = None  # run id of an unfinished journal, if any
    rate_limit_per_minute: int = 100

    @property
    def exceeds_limit(self) -> bool:
        return self.affected_users > self.max_affected_users

    @property
    def direct_users(self) -> int:
        return self.app_users.get("USER", 0)

    @property
    def estimated_calls(self) -> int:
        """Calls in the shared /api/v1/apps bucket (docs/okta-behaviour.md, Rate limits and paging) the run
        will make, roughly."""
        n = len(self.targets)
        listings = 3 * pages(len(self.groups), GROUP_PAGE)  # snapshot, refresh, verification
        # App-user listings: the snapshot (whose listing also gives the roster when it is still fresh) and
        # one per wait for Okta's jobs (the wait for the re-created app users also gives the counts after).
        users = 3 * pages(sum(self.app_users.values()) // 2 or 1, USER_PAGE)
        rechecks = math.ceil(n / 20) + 4
        return 2 * n + listings + users + rechecks

    @property
    def estimated_seconds_at_limit(self) -> float:
        return 60.0 * self.estimated_calls / self.rate_limit_per_minute

    @property
    def exit_code(self) -> int:
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        target_set = set(self.targets)
        return {
            "dry_run": True,
            "tenant": self.tenant,
            "app": {"id": self.app_id, "label": self.app_label, "kind": self.kind},
            "groups_assigned": len(self.groups),
            "groups_to_cycle": len(self.targets),
            "groups": [{**g.to_dict(), "cycled": g.group_id in target_set} for g in self.groups],
            "missing_named_groups": list(self.missing_named_groups),
            "app_users": self.app_users,
            "affected_users": self.affected_users,
            "direct_users_not_touched": self.direct_users,
            "max_affected_users": self.max_affected_users,
            "exceeds_limit": self.exceeds_limit,
            "deactivate_users": {"current": self.deactivate_users, "channel": self.deactivate_channel},
            "unfinished_run": self.unfinished_run,
            "estimate": {
                "api_calls": self.estimated_calls,
                "api_calls_minimum": minimum_calls(len(self.targets)),
                "seconds_at_rate_limit": round(self.estimated_seconds_at_limit, 1),
                "rate_limit_per_minute": self.rate_limit_per_minute,
            },
            "steps": self.steps(),
        }

    def steps(self) -> list[str]:
        state = "on" if self.deactivate_users else "off"
        restore = (
            f"switch Deactivate Users back on through the {self.deactivate_channel} channel and confirm it"
            if self.deactivate_users
            else "leave Deactivate Users off (it was off before the run)"
        )
        return [
            f"record {len(self.groups)} group assignment(s), app-user counts and Deactivate Users ({state}) "
            "in the journal",
            f"switch Deactivate Users off through the {self.deactivate_channel} channel; confirm by reading"
            if self.deactivate_users
            else "confirm Deactivate Users is off",
            f"unassign {len(self.targets)} group(s); wait (bounded) until Okta's background jobs removed "
            "the app users only those groups entitle",
            "reassign each group with its recorded priority/profile; wait (bounded) until Okta's jobs "
            "re-created those app users and their pushes are over (syncState SYNCHRONIZED or ERROR)",
            "verify every assignment equals the snapshot, and report every group-entitled user who was not "
            "re-pushed",
            restore,
        ]


@dataclass(frozen=True)
class ResyncResult:
    """The report of a finished run (step 5)."""

    run_id: str
    tenant: str
    app_id: str
    app_label: str
    kind: str
    resumed: bool
    groups_assigned_before: int
    groups_cycled: tuple[str, ...]
    groups_not_restored: tuple[str, ...]  # deleted in Okta during the run: nothing to restore
    app_users_before: dict[str, int]
    app_users_after: dict[str, int]
    sync_states_after: dict[str, int]
    deactivate_users: dict[str, Any]
    concurrent_changes: dict[str, list[Any]]
    warnings: tuple[str, ...]
    danger: bool  # a warning that needs a person (Deactivate Users seen on during unassignment)
    api_calls: int
    duration_seconds: float
    journal: str = ""
    missing_named_groups: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    # The runbook step's purpose: group-entitled users re-created by Okta and pushed (counts, the waits)...
    repush: dict[str, Any] = field(default_factory=dict)
    # ...and the ones that were not: {user_id, user_name, reason, sync_state}; reason is "missing" (not
    # back), "stale" (never removed, so never re-created), "pending" (push not over) or "not_pushed"
    # (syncState DISABLED: provisioning does not push to the app).
    not_repushed: tuple[dict[str, Any], ...] = ()

    @staticmethod
    def from_report(report: dict[str, Any], journal: str) -> ResyncResult:
        """The result a finished run journaled (a `--resume` after a kill between report and archive)."""
        app = report.get("app") or {}
        users = report.get("app_users") or {}
        return ResyncResult(
            run_id=str(report.get("run_id") or ""),
            tenant=str(report.get("tenant") or ""),
            app_id=str(app.get("id") or ""),
            app_label=str(app.get("label") or ""),
            kind=str(app.get("kind") or ""),
            resumed=True,
            groups_assigned_before=int(report.get("groups_assigned_before") or 0),
            groups_cycled=tuple(f"#{i}" for i in range(int(report.get("groups_cycled") or 0))),
            groups_not_restored=tuple(report.get("groups_not_restored") or ()),
            app_users_before=dict(users.get("before") or {}),
            app_users_after=dict(users.get("after") or {}),
            sync_states_after=dict(report.get("sync_states_after") or {}),
            deactivate_users=dict(report.get("deactivate_users") or {}),
            concurrent_changes=dict(report.get("concurrent_changes") or {}),
            warnings=tuple(report.get("warnings") or ()),
            danger=False,
            api_calls=int(report.get("api_calls") or 0),
            duration_seconds=float(report.get("duration_seconds") or 0.0),
            journal=journal,
            missing_named_groups=tuple(report.get("missing_named_groups") or ()),
            notes=tuple(report.get("notes") or ()),
            repush=dict(report.get("repush") or {}),
            not_repushed=tuple(report.get("not_repushed") or ()),
        )

    @property
    def push_failures(self) -> int:
        return self.sync_states_after.get("ERROR", 0)

    @property
    def direct_users(self) -> int:
        return self.app_users_before.get("USER", 0)

    @property
    def api_calls_minimum(self) -> int:
        return minimum_calls(len(self.groups_cycled))

    @property
    def proven(self) -> bool:
        """Every group-entitled user re-pushed, and Deactivate Users back as it was recorded."""
        return not self.not_repushed and not self.deactivate_users.get("withheld")

    @property
    def exit_code(self) -> int:
        """1 (failed: verification) when a person must act: a danger warning, users not re-pushed, or
        Deactivate Users left off; 0 only when everything was read back."""
        return EXIT_FAILED if self.danger or not self.proven else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "tenant": self.tenant,
            "app": {"id": self.app_id, "label": self.app_label, "kind": self.kind},
            "resumed": self.resumed,
            "groups_assigned_before": self.groups_assigned_before,
            "groups_cycled": len(self.groups_cycled),
            "groups_not_restored": list(self.groups_not_restored),
            "missing_named_groups": list(self.missing_named_groups),
            "app_users": {"before": self.app_users_before, "after": self.app_users_after},
            "direct_users_not_touched": self.direct_users,
            "sync_states_after": self.sync_states_after,
            "push_failures": self.push_failures,
            "repush": self.repush,
            "not_repushed": list(self.not_repushed),
            "deactivate_users": self.deactivate_users,
            "concurrent_changes": self.concurrent_changes,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "api_calls": self.api_calls,
            "api_calls_minimum": self.api_calls_minimum,
            "duration_seconds": round(self.duration_seconds, 3),
            "journal": self.journal,
        }
