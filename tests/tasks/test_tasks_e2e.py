"""`oktasync tasks` end to end: the real CLI against the emulator, whose provisioning engine pushes to a real
scim2-server that rejects chosen users (oktasync.emulator.scim_target.ScimServer.reject).

The emulator writes System Log events as Okta does (an AppUser target with its own 0ua id, the AppInstance,
the User; a reason in the Tasks page's words; a null-reason ``.sync`` failure beside each push failure). The
retry tests run under both values of the ``retry_repushes_failed`` switch: nothing public says whether a
profile update re-pushes a failed user, and `tasks` must never report a retry it did not read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tasks_helpers import Receiver, parse_prometheus

from oktasync.cli import main
from oktasync.emulator.scim_target import ScimServer
from oktasync.emulator.testing import API_TOKEN, CUSTOM_APP_ID, RunningEmulator, standard_config

REJECT_DETAIL = "userName {userName!r} is not allowed in this tenant"

pytestmark = pytest.mark.usefixtures("okta_sdk_env")


SETTLE_SECONDS = 6  # how long a retry is read back; a push that ran settles in milliseconds here


def write_config(
    tmp_path: Path, emulator: RunningEmulator, *, max_attempts: int = 3, notify: bool = False
) -> Path:
    path = tmp_path / "acme.yaml"
    notify_block = '  notify:\n    - webhook: "{{ env.HOOK_URL }}"\n      kind: json\n' if notify else ""
    retry = f"tasks:\n  retry: {{max_attempts: {max_attempts}, settle_timeout_seconds: {SETTLE_SECONDS}}}\n"
    path.write_text(standard_config(emulator.url, retry + notify_block))
    return path


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("OKTA_API_TOKEN", API_TOKEN)
    monkeypatch.setenv("SCIM_TOKEN", "unused-here")
    state = tmp_path / "state"
    monkeypatch.setenv("OKTASYNC_STATE_DIR", str(state))
    return state


def tasks(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["tasks", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def assign(emulator: RunningEmulator, *, groups: list[str] = (), users: list[str] = ()) -> None:  # type: ignore[assignment]
    emulator.assign(CUSTOM_APP_ID, groups=groups, users=users)
    assert emulator.control.wait_idle(20)


def failures_by_login(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["user"]["login"]: f for f in doc["tenants"][0]["failures"]}


@pytest.fixture(params=[False, True], ids=["update-does-not-repush", "update-repushes"])
def repushes(request: pytest.FixtureRequest, emulator: RunningEmulator) -> bool:
    """Run the test under both answers to "does a profile update re-push a failed app user?"."""
    value = bool(request.param)
    emulator.control.behaviour(retry_repushes_failed=value)
    return value


def app_users(emulator: RunningEmulator) -> list[dict[str, Any]]:
    """The Chronosphere app users as the emulator holds them, with each user's login."""
    state = emulator.control.state()
    logins = {u["id"]: u["login"] for u in state["users"]}
    app = next(a for a in state["apps"] if a["id"] == CUSTOM_APP_ID)
    return [{**au, "login": logins[au["user"]]} for au in app["app_users"]]


def test_list_retry_recover_notify_and_metrics(
    emulator: RunningEmulator,
    scim_server: ScimServer,
    repushes: bool,
    tmp_path: Path,
    cli_env: Path,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOOK_URL", receiver.url)
    config = str(write_config(tmp_path, emulator, notify=True))
    metrics = tmp_path / "textfile" / "oktasync.prom"
    scim_server.reject(["bob@example.com", "frank@example.com"], detail=REJECT_DETAIL)
    assign(emulator, groups=["engineering"], users=["frank@example.com", "erin@example.com"])

    code, doc = tasks(capsys, config, "--detailed-exitcode", "--metrics-file", str(metrics))
    assert code == 2
    listed = failures_by_login(doc)
    assert set(listed) == {"bob@example.com", "frank@example.com"}  # exactly the rejected users
    bob, frank = listed["bob@example.com"], listed["frank@example.com"]
    assert bob["operation"] == "create" and bob["operation_source"] == "log"
    assert bob["assigned"] == {"via": "group", "scope": "GROUP", "groups": ["engineering"]}
    assert frank["assigned"]["via"] == "direct"
    assert bob["user"]["email"] == "bob@example.com" and bob["user"]["id"].startswith("00u")
    assert bob["reason"]["okta"].startswith("Automatic provisioning of user Bob Example to app Chronosphere")
    assert "'bob@example.com' is not allowed in this tenant" in bob["reason"]["target"]
    assert bob["failed_at"] and bob["sync_state"] == "ERROR"
    assert len(receiver.bodies("failure")) == 2
    samples = parse_prometheus(metrics.read_text())
    failed = {s[0]["operation"]: s[1] for s in samples["oktasync_tasks_failed_assignments"]}
    assert failed == {"create": 2, "update": 0, "deactivate": 0}

    # Same failures, second run: incremental, nothing announced again.
    code, doc = tasks(capsys, config, "--detailed-exitcode")
    assert code == 2 and doc["tenants"][0]["scan"]["mode"] == "incremental"
    assert len(receiver.bodies()) == 2

    # The cause is fixed. --retry attempts both and reads each attempt back.
    scim_server.clear_rejections()
    code, doc = tasks(capsys, config, "--retry", "--detailed-exitcode", "--metrics-file", str(metrics))
    tenant = doc["tenants"][0]
    outcomes = {r["user"]["login"]: r for r in tenant["retry"]}
    samples = parse_prometheus(metrics.read_text())
    assert samples["oktasync_tasks_retried_total"][0][1] == 2  # attempts made
    if repushes:
        assert code == 0, doc
        assert {login: r["outcome"] for login, r in outcomes.items()} == {
            "bob@example.com": "recovered",
            "frank@example.com": "recovered",
        }
        assert tenant["failures"] == [] and tenant["retry_summary"] == {"recovered": 2}
        assert scim_server.user_by_name("bob@example.com") is not None
        recoveries = receiver.bodies("recovery")
        assert sorted(b["user"]["login"] for b in recoveries) == ["bob@example.com", "frank@example.com"]
        assert samples["oktasync_tasks_recovered_total"][0][1] == 2
        assert samples["oktasync_tasks_retry_not_taken_total"][0][1] == 0
        expected_messages = 4  # one per failure and per recovery
    else:
        # Okta did not act on the update: said plainly, counted, with the console steps; nothing "retried".
        assert code == 2, doc
        assert {login: r["outcome"] for login, r in outcomes.items()} == {
            "bob@example.com": "not_taken",
            "frank@example.com": "not_taken",
        }
        assert tenant["retry_summary"] == {"not_taken": 2}
        assert set(failures_by_login(doc)) == {"bob@example.com", "frank@example.com"}
        for login, outcome in outcomes.items():
            assert "Dashboard > Tasks" in outcome["console_steps"] and login in outcome["console_steps"]
            assert "'Chronosphere'" in outcome["console_steps"] and outcome["sync_state"] == "ERROR"
        assert scim_server.user_by_name("bob@example.com") is None  # really not pushed
        states = {u["login"]: u["sync_state"] for u in app_users(emulator)}
        assert states["bob@example.com"] == states["frank@example.com"] == "ERROR"
        assert samples["oktasync_tasks_retry_not_taken_total"][0][1] == 2
        assert samples["oktasync_tasks_recovered_total"][0][1] == 0
        assert receiver.bodies("recovery") == []
        assert len(receiver.bodies("retry_not_taken")) == 2
        capsys.readouterr()
        main(["tasks", config, "--retry"])
        text = capsys.readouterr().out
        assert "NOT TAKEN" in text and "By hand: Admin Console > Dashboard > Tasks" in text
        assert "recovered" not in text
        expected_messages = 4  # one per failure and one per retry Okta did not act on

    code, doc = tasks(capsys, config, "--retry", "--detailed-exitcode")
    assert len(receiver.bodies()) == expected_messages  # nothing announced twice
    state_text = "".join(p.read_text() for p in cli_env.rglob("*.json"))
    assert (
        receiver.url not in state_text
        and "secret-token-xyz" not in state_text
        and API_TOKEN not in state_text
    )


def test_user_who_keeps_failing_stops_being_retried(
    emulator: RunningEmulator,
    scim_server: ScimServer,
    repushes: bool,
    tmp_path: Path,
    cli_env: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = str(write_config(tmp_path, emulator, max_attempts=2))
    scim_server.reject(["dave@example.com"], detail=REJECT_DETAIL)
    assign(emulator, groups=["sales"])
    dave = emulator.control.user_id("dave@example.com")

    def pushes() -> int:
        return sum(1 for c in emulator.control.scim_calls(user_id=dave) if c["method"] in ("POST", "PUT"))

    assert pushes() == 1
    outcomes = []
    for _ in range(3):
        code, doc = tasks(capsys, config, "--retry", "--detailed-exitcode")
        outcomes.append((code, [r["outcome"] for r in doc["tenants"][0]["retry"]]))
    attempt = "still_failing" if repushes else "not_taken"  # each read back, never assumed
    assert outcomes[0] == (2, [attempt])
    assert outcomes[1] == (1, [attempt])  # the second attempt: max_attempts reached
    assert outcomes[2] == (1, ["exhausted"])
    assert pushes() == (3 if repushes else 1)  # the original push (+ 2 re-pushes when Okta makes them)
    failure = failures_by_login(doc)["dave@example.com"]
    assert failure["retry_exhausted"] is True and failure["assigned"]["groups"] == ["sales"]
    assert "dave@example.com" in doc["tenants"][0]["retry"][0]["console_steps"]


def test_failed_deactivation_cannot_be_retried_by_api(
    emulator: RunningEmulator,
    scim_server: ScimServer,
    tmp_path: Path,
    cli_env: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = str(write_config(tmp_path, emulator))
    assign(emulator, groups=["sales"])
    scim_server.reject(["dave@example.com"], detail="deactivation refused")
    emulator.control.unassign_group(CUSTOM_APP_ID, "sales")
    assert emulator.control.wait_idle(20)
    code, doc = tasks(capsys, config, "--retry", "--detailed-exitcode")
    assert code == 2
    listed = failures_by_login(doc)
    assert set(listed) == {"dave@example.com"}
    assert listed["dave@example.com"]["operation"] == "deactivate"
    [outcome] = doc["tenants"][0]["retry"]
    assert outcome["outcome"] == "cannot_retry" and outcome["console_url"].endswith("/admin/tasks")
    capsys.readouterr()
    assert main(["tasks", config]) == 0
    text = capsys.readouterr().out
    assert "dave@example.com" in text and "deactivate" in text and "deactivation refused" in text


def test_second_poller_on_the_same_app_is_refused(
    emulator: RunningEmulator, tmp_path: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from oktasync.workflows.tasks import tasks_lock

    config = str(write_config(tmp_path, emulator))
    with tasks_lock(cli_env / "acme" / CUSTOM_APP_ID, "acme", "Chronosphere"):
        assert main(["tasks", config]) == 4
    assert "already running" in capsys.readouterr().err
    assert main(["tasks", config, "--watch", "--interval", "1", "--max-passes", "2"]) == 0


def test_watch_ctrl_c_exits_130(
    emulator: RunningEmulator,
    tmp_path: Path,
    cli_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import oktasync.cli.tasks as cli_tasks

    async def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_tasks, "_pause", interrupted)
    config = str(write_config(tmp_path, emulator))
    assert main(["tasks", config, "--watch", "--interval", "5"]) == 130
    captured = capsys.readouterr()
    assert "Interrupted after 1 pass(es)" in captured.err and "0 failed assignments" in captured.out
    assert main(["tasks", config]) == 0  # the lock went with the interrupted run


def provisioning_events(emulator: RunningEmulator, user_id: str) -> list[dict[str, Any]]:
    """The emulator's provisioning events about one Okta user, oldest first."""
    return [
        e
        for e in emulator.control.events()
        if e["eventType"].startswith("application.provision.user.")
        and any(t["type"] == "User" and t["id"] == user_id for t in e["target"])
    ]


def test_incremental_scan_keys_real_shaped_events_by_the_user_target(
    emulator: RunningEmulator,
    scim_server: ScimServer,
    tmp_path: Path,
    cli_env: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Events name the app user by its own 0ua id and the person by the User target: an incremental run finds
    the new failure by the User target, and takes the reason from the push event although the latest event
    about the user is a ``.sync`` failure with a null reason."""
    config = str(write_config(tmp_path, emulator))
    assign(emulator, groups=["engineering"])
    code, doc = tasks(capsys, config, "--detailed-exitcode")
    assert code == 0 and doc["tenants"][0]["scan"]["mode"] == "full" and doc["tenants"][0]["failed"] == 0

    scim_server.reject(["erin@example.com"], detail=REJECT_DETAIL)
    assign(emulator, users=["erin@example.com"])
    erin = emulator.control.user_id("erin@example.com")
    push, sync = provisioning_events(emulator, erin)[-2:]
    assert (push["eventType"], sync["eventType"]) == (
        "application.provision.user.push",
        "application.provision.user.sync",
    )
    assert sync["outcome"] == {"result": "FAILURE", "reason": None}
    app_user = next(t for t in push["target"] if t["type"] == "AppUser")
    assert app_user["id"].startswith("0ua") and app_user["id"] != erin  # the app user's own id
    assert {t["type"] for t in push["target"]} == {"AppUser", "AppInstance", "User"}
    assert "Errors reported by remote server: " in push["outcome"]["reason"]
    assert "; " not in push["outcome"]["reason"].split("Errors reported by remote server:")[0]

    code, doc = tasks(capsys, config, "--detailed-exitcode")
    tenant = doc["tenants"][0]
    assert code == 2 and tenant["scan"]["mode"] == "incremental" and tenant["scan"]["single_reads"] == 1
    [failure] = tenant["failures"]
    assert failure["user"] == {"id": erin, "login": "erin@example.com", "email": "erin@example.com"}
    assert (failure["operation"], failure["operation_source"]) == ("create", "log")
    assert failure["reason"]["full"] == push["outcome"]["reason"]
    assert failure["reason"]["target"] == "userName 'erin@example.com' is not allowed in this tenant"
    assert failure["reason"]["okta"].startswith("Automatic provisioning of user Erin Example to app")

    # Okta's create carries its password placeholder (a create POST); a link or update PUT does not.
    writes = [c for c in emulator.control.scim_calls() if c["method"] in ("POST", "PUT")]
    assert writes and all(c["password_sent"] == (c["method"] == "POST") for c in writes)


def test_events_without_user_targets_and_sync_only_failures_from_a_rewritten_log(
    emulator: RunningEmulator,
    scim_server: ScimServer,
    tmp_path: Path,
    cli_env: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The emulator's log rewritten into shapes a real org may send: no User target on any provisioning event,
    and for bob only the ``.sync`` failure with its null reason. `tasks` matches events by the app username,
    infers the operation, keeps the null reason, and reports an event that matches nobody."""
    config = str(write_config(tmp_path, emulator))
    scim_server.reject(["bob@example.com", "carol@example.com"], detail=REJECT_DETAIL)
    assign(emulator, groups=["engineering"])
    bob, carol = emulator.control.user_id("bob@example.com"), emulator.control.user_id("carol@example.com")
    state = emulator.control.state(secrets=True)
    events = []
    for event in state["events"]:
        if not event["eventType"].startswith("application.provision.user."):
            events.append(event)
            continue
        about = next(t["id"] for t in event["target"] if t["type"] == "User")
        if about == bob and event["eventType"] != "application.provision.user.sync":
            continue  # bob: only the null-reason .sync failure remains
        event["target"] = [t for t in event["target"] if t["type"] != "User"]
        events.append(event)
    ghost = json.loads(json.dumps(events[-1]))
    ghost["uuid"] = "00000000-0000-4000-8000-000000000001"
    ghost["target"][0] = {**ghost["target"][0], "id": "0uaghost000000000001", "alternateId": "ghost@example"}
    events.append(ghost)
    emulator.control.seed({**state, "events": events})

    code, doc = tasks(capsys, config, "--detailed-exitcode")
    tenant = doc["tenants"][0]
    assert code == 2 and tenant["scan"]["mode"] == "full"
    listed = failures_by_login(doc)
    assert set(listed) == {"bob@example.com", "carol@example.com"}
    assert listed["bob@example.com"]["user"]["id"] == bob
    assert (listed["bob@example.com"]["operation"], listed["bob@example.com"]["operation_source"]) == (
        "create",
        "inferred",
    )
    assert listed["bob@example.com"]["reason"] == {"okta": None, "target": None, "full": None}
    assert listed["carol@example.com"]["user"]["id"] == carol
    assert listed["carol@example.com"]["reason"]["target"].startswith("userName 'carol@example.com'")
    [note] = [n for n in tenant["notes"] if "ghost@example" in n]
    assert "no User target" in note


def test_retry_failed_assignments_playbook_reports_what_each_retry_did(
    emulator: RunningEmulator,
    scim_server: ScimServer,
    repushes: bool,
    tmp_path: Path,
    cli_env: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The scheduled-job playbook under both answers to "does a profile update re-push a failed user?": it
    says what was read back (recovered, or not taken with the console path) and never "retried"."""
    config = str(write_config(tmp_path, emulator))
    scim_server.reject(["bob@example.com"], detail=REJECT_DETAIL)
    assign(emulator, groups=["engineering"])
    scim_server.clear_rejections()
    capsys.readouterr()
    code = main(
        ["playbook", "run", "retry-failed-assignments", "--config", config, "--detailed-exitcode", "--json"]
    )
    out = capsys.readouterr().out
    doc = json.loads(out)
    step = next(s for s in doc["runs"][0]["steps"] if s["id"] == "retry")
    assert "retried" not in out
    if repushes:
        assert code == 0, out
        assert step["result"]["retry_summary"] == {"recovered": 1} and step["result"]["failed"] == 0
        assert "1 recovered" in step["summary"]
    else:
        assert code == 2, out
        assert step["result"]["retry_summary"] == {"not_taken": 1} and step["result"]["failed"] == 1
        assert "1 not taken" in step["summary"] and "Dashboard > Tasks" in step["summary"]
