"""Which assigned group a failed GROUP-scoped user came through (``scan.attribute_groups``), on the
FakeGateway: the cheaper of one "groups of a user" read per failed user and one member listing per assigned
group, with the same answer either way; and the call counts of whole `tasks` runs in both regimes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tasks_helpers import real_targets

from oktasync.config import TenantConfig, load_tenant
from oktasync.errors import ApiErrorDetails, AuthError, OktaApiError
from oktasync.models import App
from oktasync.okta_gateway.fake import FakeGateway
from oktasync.timestamps import okta_time
from oktasync.workflows.tasks import TasksOptions, run_tasks
from oktasync.workflows.tasks.model import Failure, ScanStats
from oktasync.workflows.tasks.scan import attribute_groups

# Assigned groups, listed here in creation order; their priorities put them in a different order.
GROUPS = {"g-viewers": 3, "g-admins": 0, "g-editors": 1, "g-ops": 4, "g-sre": 2}


class GroupOrg:
    """An app with five assigned groups (priorities out of creation order) and one unassigned group.

    user<i> (i = 0..11) is a member of the assigned groups i % 5 and (i + 2) % 5, and of `g-unassigned`."""

    def __init__(self, users: int = 12) -> None:
        self.gw = FakeGateway()
        self.app: App = self.gw.add_app("Chronosphere", create_users=True)
        self.users = [self.gw.add_user(f"user{i}@example.com") for i in range(users)]
        names = list(GROUPS)
        members: dict[str, list[str]] = {name: [] for name in names}
        for i, uid in enumerate(self.users):
            members[names[i % 5]].append(uid)
            members[names[(i + 2) % 5]].append(uid)
        self.group_ids = {name: self.gw.add_group(name, members[name]) for name in names}
        self.gw.add_group("g-unassigned", self.users)  # not assigned: never reported
        for name, priority in GROUPS.items():
            asyncio.run(self.gw.assign_group(self.app.id, self.group_ids[name], priority, {}))
        self.gw.calls.clear()

    def expected(self, index: int) -> tuple[str, ...]:
        """The assigned groups of user<index>, highest priority (lowest number) first."""
        names = list(GROUPS)
        mine = {names[index % 5], names[(index + 2) % 5]}
        return tuple(sorted(mine, key=lambda n: GROUPS[n]))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, _ in self.gw.calls:
            out[name] = out.get(name, 0) + 1
        return out


def failure(user_id: str, *, scope: str | None = "GROUP", groups: tuple[str, ...] = ()) -> Failure:
    return Failure(
        user_id=user_id,
        login=None,
        email=None,
        scope=scope,
        groups=groups,
        operation="create",
        operation_source="log",
        failed_at=None,
        reason=None,
        okta_message=None,
        target_message=None,
        sync_state="ERROR",
        status="STAGED",
        event_id=None,
        first_seen="2024-01-01T00:00:00.000Z",
    )


def attribute(org: GroupOrg, failures: dict[str, Failure]) -> tuple[dict[str, Failure], ScanStats]:
    stats = ScanStats()
    out = asyncio.run(attribute_groups(org.gw, org.app.id, failures, stats))
    return out, stats


def groups_of(result: dict[str, Failure]) -> dict[str, tuple[str, ...]]:
    return {uid: f.groups for uid, f in result.items()}


def test_few_failures_read_each_users_groups_not_every_group() -> None:
    org = GroupOrg()
    failing = [0, 3]
    result, stats = attribute(org, {org.users[i]: failure(org.users[i]) for i in failing})
    assert org.counts() == {"list_group_assignments": 1, "list_user_group_ids": 2}
    assert stats.groups_read == 2
    # Only assigned groups, in assignment-priority order (not creation or membership order).
    assert groups_of(result) == {org.users[i]: org.expected(i) for i in failing}
    assert groups_of(result)[org.users[0]] == ("g-editors", "g-viewers")


def test_many_failures_list_each_assigned_groups_members_once() -> None:
    org = GroupOrg()
    failing = range(6)  # 6 users > 5 assigned groups
    result, stats = attribute(org, {org.users[i]: failure(org.users[i]) for i in failing})
    assert org.counts() == {"list_group_assignments": 1, "list_group_member_ids": 5}
    assert stats.groups_read == 5
    assert groups_of(result) == {org.users[i]: org.expected(i) for i in failing}


def test_a_tie_reads_users_and_both_ways_give_identical_results() -> None:
    by_user, by_group = GroupOrg(), GroupOrg()
    five = {by_user.users[i]: failure(by_user.users[i]) for i in range(5)}  # 5 users == 5 groups
    six = {by_group.users[i]: failure(by_group.users[i]) for i in range(6)}
    via_users, _ = attribute(by_user, five)
    via_groups, _ = attribute(by_group, six)
    assert by_user.counts() == {"list_group_assignments": 1, "list_user_group_ids": 5}
    assert by_group.counts() == {"list_group_assignments": 1, "list_group_member_ids": 5}
    assert by_user.users == by_group.users  # same ids (the fake numbers them in order)
    assert {uid: via_groups[uid] for uid in five} == via_users


def test_nothing_to_attribute_costs_nothing_and_known_groups_are_kept() -> None:
    org = GroupOrg()
    known = failure(org.users[0], groups=("g-admins",))
    direct = failure(org.users[1], scope="USER")
    unassigned = failure(org.users[2], scope=None)
    failures = {f.user_id: f for f in (known, direct, unassigned)}
    result, stats = attribute(org, failures)
    assert org.gw.calls == [] and stats.groups_read == 0
    assert result is failures
    # With one user to attribute, only that user is read.
    fresh = failure(org.users[4])
    result, _ = attribute(org, {**failures, fresh.user_id: fresh})
    assert org.counts() == {"list_group_assignments": 1, "list_user_group_ids": 1}
    assert result[known.user_id] == known and result[fresh.user_id].groups == org.expected(4)


def test_a_user_deleted_from_okta_gets_no_groups_and_other_errors_raise() -> None:
    org = GroupOrg()
    gone = "00ugone00000000000000"
    result, _ = attribute(org, {gone: failure(gone), org.users[1]: failure(org.users[1])})
    assert result[gone].groups == () and result[org.users[1]].groups == org.expected(1)
    org.gw.fail_next("list_user_group_ids", OktaApiError("boom", ApiErrorDetails(status=500)))
    with pytest.raises(OktaApiError):
        attribute(org, {org.users[1]: failure(org.users[1])})


def test_missing_okta_users_read_falls_back_to_member_listings() -> None:
    org = GroupOrg()
    denied = AuthError("forbidden", ApiErrorDetails(status=403, error_code="E0000006"))
    org.gw.fail_next("list_user_group_ids", denied)
    failing = [0, 1]
    result, stats = attribute(org, {org.users[i]: failure(org.users[i]) for i in failing})
    assert org.counts() == {
        "list_group_assignments": 1,
        "list_user_group_ids": 1,
        "list_group_member_ids": 5,
    }
    assert groups_of(result) == {org.users[i]: org.expected(i) for i in failing}
    assert stats.groups_read == 5 and "okta.users.read" in stats.notes[0]
    # A 401 is not a missing scope: it raises.
    org.gw.fail_next("list_user_group_ids", AuthError("no", ApiErrorDetails(status=401)))
    with pytest.raises(AuthError):
        attribute(org, {org.users[0]: failure(org.users[0])})


# --- whole runs -------------------------------------------------------------------------------------------
def write_config(tmp_path: Path) -> TenantConfig:
    path = tmp_path / "acme.yaml"
    path.write_text(
        """tenant: acme
okta:
  org_url: https://acme.okta.com
  token: "{{ env.TOKEN }}"
app:
  label: Chronosphere
scim:
  base_url: https://acme.chronosphere.io/api/scim/v2
  auth:
    bearer_token: "{{ env.TOKEN }}"
"""
    )
    return load_tenant(path)


def fail_push(org: GroupOrg, index: int, at: datetime) -> None:
    """user<index> is an app user through its groups whose create failed, with the log event."""
    uid = org.users[index]
    org.gw.add_app_user(org.app.id, uid, scope="GROUP", status="STAGED", sync_state="ERROR")
    login = org.gw.users[uid]["login"]
    org.gw.add_log_event(
        "application.provision.user.push",
        result="FAILURE",
        reason="Automatic provisioning failed: Bad Request. Errors reported by remote server: bad request",
        published=okta_time(at),
        targets=real_targets(org.app.id, uid, login),
    )


def run(org: GroupOrg, config: TenantConfig, app_dir: Path) -> Any:
    async def go() -> Any:
        return await run_tasks(config, org.gw, org.app, app_dir=app_dir, options=TasksOptions())

    return asyncio.run(go())


def test_first_run_lists_groups_and_an_incremental_run_reads_only_the_new_users(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TOKEN", "tok-123")
    org, config = GroupOrg(), write_config(tmp_path)
    state_dir = tmp_path / "state"
    base = datetime.now(UTC) - timedelta(hours=1)
    for i in range(8):  # 8 failures > 5 assigned groups
        fail_push(org, i, base + timedelta(seconds=i))
    first = run(org, config, state_dir)
    assert first.mode == "full"
    assert org.counts() == {
        "list_log_events": 2,  # one bounded query for provisioning, one for removals
        "list_app_users": 1,
        "list_group_assignments": 1,
        "list_group_member_ids": 5,
    }
    assert {f.user_id: f.groups for f in first.failures} == {org.users[i]: org.expected(i) for i in range(8)}

    org.gw.calls.clear()
    later = datetime.now(UTC) - timedelta(seconds=20)
    for i in (8, 9):  # two new failures: two user reads instead of five member listings
        fail_push(org, i, later + timedelta(seconds=i - 8))
    second = run(org, config, state_dir)
    assert second.mode == "incremental"
    assert org.counts() == {
        "list_log_events": 2,
        "get_app_user": 2,
        "list_group_assignments": 1,
        "list_user_group_ids": 2,
    }
    assert second.scan["groups_read"] == 2
    assert {f.user_id: f.groups for f in second.failures} == {
        org.users[i]: org.expected(i) for i in range(10)
    }

    org.gw.calls.clear()
    third = run(org, config, state_dir)  # nothing new: the groups are known, nothing is read
    assert third.mode == "incremental" and org.counts() == {"list_log_events": 2}


class _InFlight:
    """Wraps the fake's membership reads so each waits until ``width`` of them are in flight at once: a
    scan that reads one group (or user) at a time never gets there and times out. With ``solo_first`` the
    first read goes through on its own (the by-user probe for okta.users.read)."""

    def __init__(self, gw: FakeGateway, width: int, *, solo_first: bool = False) -> None:
        self.peak = 0
        self._now = 0
        self._width = width
        self._solo_first = solo_first
        self._wide = asyncio.Event()
        for name in ("list_group_member_ids", "list_user_group_ids"):
            setattr(gw, name, self._wrap(getattr(gw, name)))

    def _wrap(self, read: Any) -> Any:
        async def wrapped(key: str) -> list[str]:
            if self._solo_first:
                self._solo_first = False
                return list(await read(key))
            self._now += 1
            self.peak = max(self.peak, self._now)
            if self._now >= self._width:
                self._wide.set()
            try:
                await asyncio.wait_for(self._wide.wait(), timeout=5)
                return list(await read(key))
            finally:
                self._now -= 1

        return wrapped


@pytest.mark.parametrize(
    ("failing", "width", "solo_first"),
    [(range(6), 5, False), (range(4), 3, True)],
    ids=["by-group", "by-user"],
)
def test_membership_reads_go_concurrently(failing: range, width: int, solo_first: bool) -> None:
    # Apart from the by-user probe, the reads are independent; one at a time, 1,000 assigned groups would
    # cost 1,000 round trips end to end.
    org = GroupOrg()
    watch = _InFlight(org.gw, width, solo_first=solo_first)
    result, _ = attribute(org, {org.users[i]: failure(org.users[i]) for i in failing})
    assert groups_of(result) == {org.users[i]: org.expected(i) for i in failing}
    assert watch.peak == width
