"""tasks workflow against the in-memory FakeGateway: scan, incremental cursor, dismiss, retry bookkeeping,
notifications through a loopback receiver, metrics format, lock. The end-to-end tests (emulator + a real
scim2-server) are in test_tasks_e2e.py."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tasks_helpers import Receiver, parse_prometheus, real_targets

from oktasync.config import TenantConfig, load_tenant
from oktasync.errors import LockedError
from oktasync.models import App, AppUser
from oktasync.okta_gateway.fake import FakeGateway
from oktasync.timestamps import okta_time
from oktasync.workflows.tasks import (
    TasksOptions,
    admin_tasks_url,
    render_metrics,
    run_tasks,
    split_reason,
    tasks_lock,
)
from oktasync.workflows.tasks.notify import detect_kind
from oktasync.workflows.tasks.state import load_state

# Reasons shaped as Okta words them on the Tasks page (docs/okta-behaviour.md, "System Log and provisioning
# events"): "<Okta message>: <status phrase>. Errors reported by remote server: <target's message>".
LONG_TARGET = "x" * 300
OKTA_CREATE = (
    "Automatic provisioning of user Alice Example to app Chronosphere failed: Error while creating user "
    "Alice Example: Bad Request."
)
BOB_REASON = (
    "Automatic profile push of Bob Example to app Chronosphere failed: Error while trying to push profile "
    "update for bob@example.com: Conflict. Errors reported by remote server: userName is taken; pick another"
)
# An Okta-only reason with "; " inside Okta's own words (Okta help, "Troubleshoot provisioning").
DAVE_REASON = (
    "Automatic deactivation of user Dave Example in app Chronosphere failed: The credentials used to connect "
    "to the API were invalid; please check your configuration"
)


def write_config(
    tmp_path: Path, *, max_attempts: int = 2, notify: list[dict[str, str]] | None = None
) -> TenantConfig:
    notify_yaml = ""
    for index, target in enumerate(notify or []):
        notify_yaml += f'    - webhook: "{{{{ env.HOOK_{index} }}}}"\n      kind: {target["kind"]}\n'
    text = f"""tenant: acme
okta:
  org_url: https://acme.okta.com
  token: "{{{{ env.TOKEN }}}}"
app:
  label: Chronosphere
scim:
  base_url: https://acme.chronosphere.io/api/scim/v2
  auth:
    bearer_token: "{{{{ env.TOKEN }}}}"
tasks:
  retry: {{max_attempts: {max_attempts}, settle_timeout_seconds: 5}}
"""
    if notify_yaml:
        text += "  notify:\n" + notify_yaml
    path = tmp_path / "acme.yaml"
    path.write_text(text)
    return load_tenant(path)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN", "tok-123")


class Org:
    """A fake org: Chronosphere with alice (create failed, via engineering), bob (update failed, direct),
    carol (fine), and dave whose deactivation failed after he was unassigned."""

    def __init__(self) -> None:
        self.gw = FakeGateway()
        g = self.gw
        self.alice = g.add_user("alice@example.com")
        self.bob = g.add_user("bob@example.com")
        self.carol = g.add_user("carol@example.com")
        self.dave = g.add_user("dave@example.com")
        self.app: App = g.add_app("Chronosphere", create_users=True, update_user_attributes=True)
        self.eng = g.add_group("engineering", [self.alice, self.carol])
        g.state(self.app.id).groups[self.eng] = replace_priority(self.eng)
        g.add_app_user(self.app.id, self.alice, scope="GROUP", status="STAGED", sync_state="ERROR")
        g.add_app_user(self.app.id, self.bob, scope="USER", sync_state="ERROR", external_id="scim-bob")
        g.add_app_user(self.app.id, self.carol, scope="GROUP", external_id="scim-carol")
        self.base = datetime.now(UTC) - timedelta(hours=2)
        self.event(
            "application.provision.user.push",
            self.alice,
            "FAILURE",
            f"{OKTA_CREATE} Errors reported by remote server: {LONG_TARGET}",
            0,
        )
        self.event("application.provision.user.sync", self.alice, "FAILURE", None, 0)  # null reason
        self.event("application.provision.user.push_profile", self.bob, "FAILURE", BOB_REASON, 1)
        self.event("application.provision.user.push", self.carol, "SUCCESS", None, 2)
        self.event("application.user_membership.remove", self.dave, "SUCCESS", None, 3)
        self.event("application.provision.user.deactivate", self.dave, "FAILURE", DAVE_REASON, 3)

    def event(self, kind: str, user: str, result: str, reason: str | None, minutes: float) -> None:
        login = self.gw.users[user]["login"]
        self.gw.add_log_event(
            kind,
            result=result,
            reason=reason,
            published=okta_time(self.base + timedelta(minutes=minutes)),
            targets=real_targets(self.app.id, user, login),
        )

    def set_sync(self, user: str, sync_state: str) -> None:
        users = self.gw.state(self.app.id).users
        users[user] = replace(users[user], sync_state=sync_state)


def replace_priority(group_id: str) -> Any:
    from oktasync.models import GroupAssignment

    return GroupAssignment(group_id=group_id, priority=0, profile={}, group_name="engineering")


def run(org: Org, config: TenantConfig, app_dir: Path, **options: Any) -> Any:
    opts = TasksOptions(**{"poll_interval": 0.0, **options})

    async def go() -> Any:
        return await run_tasks(config, org.gw, org.app, app_dir=app_dir, options=opts, sleep=_no_sleep)

    return asyncio.run(go())


async def _no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


def test_split_reason_and_console_url() -> None:
    # Okta's own examples: the target's part is only what follows the marker; "; " is no separator.
    assert split_reason(BOB_REASON) == (
        "Automatic profile push of Bob Example to app Chronosphere failed: Error while trying to push "
        "profile update for bob@example.com: Conflict.",
        "userName is taken; pick another",
    )
    assert split_reason(DAVE_REASON) == (DAVE_REASON, None)
    unauthorized = (
        "Automatic provisioning of user Ann to app Qualified failed: Error while verifying if user Ann "
        "exists: Unauthorized. Errors reported by remote server: Unauthorized"
    )
    assert split_reason(unauthorized)[1] == "Unauthorized"
    assert split_reason("only okta") == ("only okta", None)
    assert split_reason("") == (None, None)
    assert split_reason(None) == (None, None)
    assert admin_tasks_url("https://acme.okta.com") == "https://acme-admin.okta.com/admin/tasks"
    assert (
        admin_tasks_url("https://dev-1.oktapreview.com/") == "https://dev-1-admin.oktapreview.com/admin/tasks"
    )
    assert admin_tasks_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/admin/tasks"
    assert detect_kind("https://hooks.slack.com/services/T/B/x") == "slack"
    assert detect_kind("https://acme.workflows.okta.com/api/flo/abc/invoke?clientToken=x") == "workflows"
    assert detect_kind("https://example.org/hook") == "json"


def test_full_scan_lists_every_failure_exactly(env: None, tmp_path: Path) -> None:
    org, config = Org(), write_config(tmp_path)
    result = run(org, config, tmp_path / "state")
    assert result.mode == "full"
    by_login = {f.login: f for f in result.failures}
    assert set(by_login) == {"alice@example.com", "bob@example.com", "dave@example.com"}
    alice, bob, dave = (
        by_login["alice@example.com"],
        by_login["bob@example.com"],
        by_login["dave@example.com"],
    )
    assert (alice.operation, alice.assigned_via, alice.operation_source) == (
        "create",
        "group: engineering",
        "log",
    )
    assert alice.okta_message == OKTA_CREATE
    assert alice.target_message == LONG_TARGET and len(alice.reason or "") > 255  # never truncated
    assert (bob.operation, bob.assigned_via) == ("update", "direct")
    assert bob.target_message == "userName is taken; pick another" and bob.reason == BOB_REASON
    assert alice.reason and alice.reason.endswith(LONG_TARGET)  # the .sync failure's null reason kept it
    assert dave.okta_message == DAVE_REASON and dave.target_message is None
    assert (dave.operation, dave.scope, dave.assigned_via) == ("deactivate", None, "no longer assigned")
    assert set(result.new_failures) == {org.alice, org.bob, org.dave}
    assert result.exit_code(detailed=True) == 2 and result.exit_code(detailed=False) == 0
    doc = result.to_dict()
    assert doc["failed"] == 3 and doc["console_url"] == "https://acme-admin.okta.com/admin/tasks"
    assert "tok-123" not in str(doc)


def test_incremental_run_reads_only_new_events_and_sees_recovery(env: None, tmp_path: Path) -> None:
    org, config = Org(), write_config(tmp_path)
    state_dir = tmp_path / "state"
    first = run(org, config, state_dir)
    full_calls = first.api_calls
    org.gw.calls.clear()
    # bob recovers (a success event), erin fails a create.
    erin = org.gw.add_user("erin@example.com")
    org.gw.add_app_user(org.app.id, erin, scope="USER", status="STAGED", sync_state="ERROR")
    org.set_sync(org.bob, "SYNCHRONIZED")
    org.base = datetime.now(UTC) - timedelta(seconds=30)
    org.event("application.provision.user.push_profile", org.bob, "SUCCESS", None, 0)
    org.event(
        "application.provision.user.push",
        erin,
        "FAILURE",
        "Create failed: Bad Request. Errors reported by remote server: bad email",
        0,
    )
    second = run(org, config, state_dir)
    assert second.mode == "incremental"
    assert second.scan["events_read"] == 2
    assert next(f for f in second.failures if f.login == "erin@example.com").target_message == "bad email"
    methods = [name for name, _ in org.gw.calls]
    assert "list_app_users" not in methods
    assert methods.count("get_app_user") == 1  # only the new failure is read
    assert second.api_calls < full_calls or second.api_calls <= 5
    assert {f.login for f in second.failures} == {"alice@example.com", "dave@example.com", "erin@example.com"}
    assert second.new_failures == (erin,)
    assert [(r.login, r.how) for r in second.resolutions] == [("bob@example.com", "recovered")]
    # A third run with nothing new lists the same failures and announces nothing.
    third = run(org, config, state_dir)
    assert third.new_failures == () and third.resolutions == () and len(third.failures) == 3
    assert third.scan["events_read"] == 0


def test_full_scan_interval_and_unassigned_resolution(env: None, tmp_path: Path) -> None:
    org, config = Org(), write_config(tmp_path)
    state_dir = tmp_path / "state"
    run(org, config, state_dir)
    del org.gw.state(org.app.id).users[org.bob]  # bob unassigned without a log event we read
    second = run(org, config, state_dir, full_scan_interval=timedelta(0))
    assert second.mode == "full"
    assert [(r.login, r.how) for r in second.resolutions] == [("bob@example.com", "unassigned")]


def test_dismiss_until_it_fails_again(env: None, tmp_path: Path) -> None:
    org, config = Org(), write_config(tmp_path)
    state_dir = tmp_path / "state"
    run(org, config, state_dir)
    second = run(org, config, state_dir, dismiss=("dave@example.com",), force_full=True)
    assert "dave@example.com" not in {f.login for f in second.failures}
    assert [(r.login, r.how) for r in second.resolutions] == [("dave@example.com", "dismissed")]
    assert "dave@example.com" not in {f.login for f in run(org, config, state_dir, force_full=True).failures}
    org.base = datetime.now(UTC) - timedelta(seconds=10)
    org.event("application.provision.user.deactivate", org.dave, "FAILURE", DAVE_REASON, 0)
    fourth = run(org, config, state_dir)
    assert "dave@example.com" in {f.login for f in fourth.failures} and fourth.new_failures == (org.dave,)


def test_retry_bookkeeping(env: None, tmp_path: Path) -> None:
    """alice recovers on retry; bob keeps failing and is retried max_attempts times, then no more; dave's
    deactivation cannot be retried by API."""
    org, config = Org(), write_config(tmp_path, max_attempts=2)
    state_dir, clock = tmp_path / "state", FakeClock()  # the read-back waits in fake time
    pushes: list[str] = []

    async def update_app_user(app_id: str, user_id: str, profile: dict[str, Any]) -> AppUser:
        pushes.append(user_id)
        org.gw._count += 1
        ok = user_id == org.alice
        org.set_sync(user_id, "SYNCHRONIZED" if ok else "ERROR")
        if not ok:
            org.base = clock.wall()  # the retry reads events from the moment it started
            again = "still: Conflict. Errors reported by remote server: 409 again"
            org.event("application.provision.user.push_profile", user_id, "FAILURE", again, 0)
            org.event("application.provision.user.sync", user_id, "FAILURE", None, 0)
        return org.gw.state(app_id).users[user_id]

    org.gw.update_app_user = update_app_user  # type: ignore[method-assign]
    first = run_paced(org, config, state_dir, clock, retry=True)
    outcomes = {r.login: r.outcome for r in first.retries}
    assert outcomes == {
        "alice@example.com": "recovered",
        "bob@example.com": "still_failing",
        "dave@example.com": "cannot_retry",
    }
    dave = next(r for r in first.retries if r.login == "dave@example.com")
    assert dave.console_url == "https://acme-admin.okta.com/admin/tasks" and "Admin Console" in (
        dave.detail or ""
    )
    bob = next(f for f in first.failures if f.login == "bob@example.com")
    assert bob.target_message == "409 again"  # the fresh reason from the retry's failure event
    assert {f.login for f in first.failures} == {"bob@example.com", "dave@example.com"}
    assert first.exit_code(detailed=True) == 2
    second = run_paced(org, config, state_dir, clock, retry=True)
    assert {r.login: r.outcome for r in second.retries}["bob@example.com"] == "still_failing"
    assert second.exhausted == (org.bob,) and second.exit_code(detailed=True) == 1
    third = run_paced(org, config, state_dir, clock, retry=True)
    assert {r.login: r.outcome for r in third.retries}["bob@example.com"] == "exhausted"
    assert pushes.count(org.bob) == 2 and pushes.count(org.alice) == 1
    assert load_state(state_dir).attempts[org.bob].count == 2
    # bob recovers by other means: his attempts are cleared.
    org.set_sync(org.bob, "SYNCHRONIZED")
    run(org, config, state_dir, force_full=True)
    assert org.bob not in load_state(state_dir).attempts


def test_notifications_exactly_once_and_survive_a_failing_webhook(
    env: None, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_0", receiver.url)
    org, config = Org(), write_config(tmp_path, notify=[{"kind": "json"}])
    state_dir = tmp_path / "state"
    receiver.status = 503
    first = run(org, config, state_dir)
    assert receiver.bodies() == [] and len(first.notification_failures) == 1
    assert first.notifications_pending == 3 and first.exit_code() == 0
    assert "secret-token-xyz" not in str(first.to_dict())
    assert "secret-token-xyz" not in (state_dir / "tasks-state.json").read_text()
    receiver.status = 200
    second = run(org, config, state_dir)
    assert second.notifications_delivered == 3 and second.notifications_pending == 0
    assert sorted(b["user"]["login"] for b in receiver.bodies("failure")) == [
        "alice@example.com",
        "bob@example.com",
        "dave@example.com",
    ]
    run(org, config, state_dir)
    assert len(receiver.bodies()) == 3  # nothing new, nothing sent
    org.set_sync(org.bob, "SYNCHRONIZED")
    run(org, config, state_dir, force_full=True)
    recoveries = receiver.bodies("recovery")
    assert [(b["user"]["login"], b["how"]) for b in recoveries] == [("bob@example.com", "recovered")]
    ids = [h.get("X-Oktasync-Message-Id") for h in receiver.headers]
    assert len(set(ids)) == len(ids) == 4
    body = receiver.bodies("failure")[0]
    assert set(body) >= {"tenant", "app", "user", "operation", "assigned_via", "reason", "console_url"}
    assert "tok-123" not in str(receiver.received)


def test_slack_and_workflows_payloads(
    env: None, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_0", receiver.url + "?kind=slack")
    monkeypatch.setenv("HOOK_1", receiver.url + "?kind=workflows")
    org, config = Org(), write_config(tmp_path, notify=[{"kind": "slack"}, {"kind": "workflows"}])
    run(org, config, tmp_path / "state")
    slack = [b for b in receiver.received if "text" in b]
    flows = [b for b in receiver.received if "messageId" in b]
    assert len(slack) == 3 and len(flows) == 3
    alice_text = next(b["text"] for b in slack if "alice@example.com" in b["text"])
    assert "create" in alice_text and "group: engineering" in alice_text and OKTA_CREATE in alice_text
    alice_flow = next(b for b in flows if b["login"] == "alice@example.com")
    assert alice_flow["operation"] == "create" and alice_flow["targetMessage"] == LONG_TARGET
    assert all(isinstance(v, (str, type(None))) for v in alice_flow.values())  # flat for Workflows cards


def test_metrics_render_parses(env: None, tmp_path: Path) -> None:
    org, config = Org(), write_config(tmp_path)
    result = run(org, config, tmp_path / "state")
    weird = replace(result.metrics, tenant='we"ird\\te\nnant')
    samples = parse_prometheus(render_metrics([result.metrics, weird]))
    failed = {
        (labels["tenant"], labels["operation"]): value
        for labels, value in samples["oktasync_tasks_failed_assignments"]
    }
    assert failed[("acme", "create")] == 1 and failed[("acme", "deactivate")] == 1
    assert samples["oktasync_tasks_last_success_timestamp_seconds"][0][1] > 1.7e9
    assert {
        "oktasync_tasks_retried_total",
        "oktasync_tasks_recovered_total",
        "oktasync_tasks_retry_exhausted",
    } <= set(samples)
    with pytest.raises(AssertionError):
        parse_prometheus('oktasync_x{tenant="a} 1\n')


def test_one_poller_per_app(tmp_path: Path) -> None:
    with tasks_lock(tmp_path, "acme", "Chronosphere"):
        with pytest.raises(LockedError), tasks_lock(tmp_path, "acme", "Chronosphere"):
            pass
    with tasks_lock(tmp_path, "acme", "Chronosphere"):
        pass  # released


class FakeClock:
    """Time that only moves when the retry sleeps (no real waiting): monotonic (``clock()``) and wall clock
    (``wall()``, from the real time at creation)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self.start = datetime.now(UTC)

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return self.start + timedelta(seconds=self.now)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run_paced(org: Org, config: TenantConfig, app_dir: Path, clock: FakeClock, **options: Any) -> Any:
    opts = TasksOptions(**{"poll_interval": 1.0, **options})

    async def go() -> Any:
        return await run_tasks(
            config,
            org.gw,
            org.app,
            app_dir=app_dir,
            options=opts,
            sleep=clock.sleep,
            clock=clock,
            now=clock.wall,
        )

    return asyncio.run(go())


def test_a_retry_that_okta_does_not_act_on_is_not_taken_counted_and_announced_once(
    env: None, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The FakeGateway saves the profile and pushes nothing (retry_repushes_failed off): every attempt is
    read back for settle_timeout_seconds, paced, then reported not_taken with the console steps — never as
    retried or recovered."""
    monkeypatch.setenv("HOOK_0", receiver.url)
    org, config = Org(), write_config(tmp_path, max_attempts=3, notify=[{"kind": "json"}])
    state_dir, clock = tmp_path / "state", FakeClock()
    first = run_paced(org, config, state_dir, clock, retry=True)
    outcomes = {r.login: r for r in first.retries}
    assert {login: r.outcome for login, r in outcomes.items()} == {
        "alice@example.com": "not_taken",
        "bob@example.com": "not_taken",
        "dave@example.com": "cannot_retry",
    }
    assert first.retry_summary() == {"not_taken": 2, "cannot_retry": 1}
    assert [name for name, _ in org.gw.calls].count("update_app_user") == 2
    assert clock.now == pytest.approx(5.0) and max(clock.slept) <= 1.0  # bounded and paced
    # The log is read by the scan (2 queries), then while reading back only at the start and once more
    # before "not taken" (LOG_POLL_SECONDS apart at most): never once per poll.
    assert [name for name, _ in org.gw.calls].count("list_log_events") == 2 + 2 * 2
    alice, bob = outcomes["alice@example.com"], outcomes["bob@example.com"]
    for outcome, login in ((alice, "alice@example.com"), (bob, "bob@example.com")):
        steps = outcome.console_steps or ""
        assert "Dashboard > Tasks" in steps and "'Chronosphere'" in steps and login in steps
        assert "Retry Selected" in steps and outcome.sync_state == "ERROR"
        assert "did not re-push" in (outcome.detail or "")
    assert "Provision User" in (alice.console_steps or "")  # never created: the Assignments tab works too
    assert "Provision User" not in (bob.console_steps or "")
    assert {f.login for f in first.failures} == {"alice@example.com", "bob@example.com", "dave@example.com"}
    assert first.resolutions == () and first.exit_code(detailed=True) == 2
    doc = first.to_dict()
    assert doc["retry_summary"] == {"not_taken": 2, "cannot_retry": 1}
    assert "recovered" not in str(doc["retry"])
    samples = parse_prometheus(render_metrics([first.metrics]))
    assert samples["oktasync_tasks_retry_not_taken_total"][0][1] == 2
    assert samples["oktasync_tasks_retried_total"][0][1] == 2  # attempts made, whatever came of them
    announced = receiver.bodies("retry_not_taken")
    assert sorted(b["user"]["login"] for b in announced) == ["alice@example.com", "bob@example.com"]
    assert all("Dashboard > Tasks" in b["console_steps"] for b in announced)

    # A second run attempts again: counted again, not announced again.
    second = run_paced(org, config, state_dir, clock, retry=True)
    assert second.retry_summary() == {"not_taken": 2, "cannot_retry": 1}
    counters = parse_prometheus(render_metrics([second.metrics]))
    assert counters["oktasync_tasks_retry_not_taken_total"][0][1] == 4
    assert len(receiver.bodies("retry_not_taken")) == 2


def test_events_without_a_user_target_are_matched_by_app_username_or_reported(
    env: None, tmp_path: Path
) -> None:
    """An event naming only the AppUser (its 0ua id) is matched to an app user by the app username on a full
    scan; one that matches nobody is reported in the notes, never dropped silently and never a crash."""
    org, config = Org(), write_config(tmp_path)
    state_dir = tmp_path / "state"
    run(org, config, state_dir)
    erin = org.gw.add_user("erin@example.com")
    org.gw.add_app_user(org.app.id, erin, scope="USER", status="STAGED", sync_state="ERROR")
    org.base = datetime.now(UTC) - timedelta(seconds=30)
    reason = "Automatic provisioning failed: Bad Request. Errors reported by remote server: no erin"
    for user_id, login, text in ((erin, "erin@example.com", reason), ("00ughost", "ghost@example.com", None)):
        app_user_only = [t for t in real_targets(org.app.id, user_id, login) if t["type"] != "User"]
        org.gw.add_log_event(
            "application.provision.user.push",
            result="FAILURE",
            reason=text,
            published=okta_time(org.base),
            targets=app_user_only,
        )
    second = run(org, config, state_dir)
    assert second.mode == "full"  # matching by app username needs every app user
    erin_failure = next(f for f in second.failures if f.user_id == erin)
    assert erin_failure.target_message == "no erin" and erin_failure.operation == "create"
    [note] = [n for n in second.notes if "ghost@example.com" in n]
    assert "no User target" in note and "Dashboard > Tasks" in note


def test_a_sync_failure_alone_with_a_null_reason_is_listed_with_an_inferred_operation(
    env: None, tmp_path: Path
) -> None:
    org, config = Org(), write_config(tmp_path)
    state_dir = tmp_path / "state"
    run(org, config, state_dir)
    erin = org.gw.add_user("erin@example.com")
    org.gw.add_app_user(org.app.id, erin, scope="USER", status="STAGED", sync_state="ERROR")
    org.base = datetime.now(UTC) - timedelta(seconds=30)
    org.event("application.provision.user.sync", erin, "FAILURE", None, 0)
    second = run(org, config, state_dir)
    assert second.mode == "incremental"
    failure = next(f for f in second.failures if f.user_id == erin)
    assert (failure.operation, failure.operation_source) == ("create", "inferred")  # no externalId yet
    assert failure.reason is None and failure.okta_message is None and failure.target_message is None
    assert failure.failed_at is not None and failure.event_id is not None
