"""`oktasync tasks` end to end: the real CLI against the emulator, whose provisioning engine pushes to a real
scim2-server that rejects chosen users (oktasync.emulator.scim_target.ScimServer.reject)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from tasks_helpers import Receiver, parse_prometheus

from oktasync.cli import main
from oktasync.emulator.scim_target import ScimServer
from oktasync.emulator.testing import API_TOKEN, CUSTOM_APP_ID, RunningEmulator

REJECT_DETAIL = "userName {userName!r} is not allowed in this tenant"

pytestmark = pytest.mark.usefixtures("okta_sdk_env")


def write_config(
    tmp_path: Path, emulator: RunningEmulator, *, max_attempts: int = 3, notify: bool = False
) -> Path:
    path = tmp_path / "acme.yaml"
    notify_block = '  notify:\n    - webhook: "{{ env.HOOK_URL }}"\n      kind: json\n' if notify else ""
    path.write_text(
        f"""tenant: acme
okta:
  org_url: {emulator.url}
  token: "{{{{ env.OKTA_API_TOKEN }}}}"
app:
  label: Chronosphere
scim:
  base_url: https://acme.chronosphere.io/api/scim/v2
  auth:
    bearer_token: "{{{{ env.SCIM_TOKEN }}}}"
tasks:
  retry: {{max_attempts: {max_attempts}, settle_timeout_seconds: 20}}
{notify_block}"""
    )
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
    for group in groups:
        emulator.control.assign_group(CUSTOM_APP_ID, group)
    for login in users:
        uid = emulator.control.user_id(login)
        response = httpx.post(
            f"{emulator.url}/api/v1/apps/{CUSTOM_APP_ID}/users",
            headers=emulator.headers,
            json={"id": uid, "scope": "USER", "credentials": {"userName": login}},
        )
        assert response.status_code == 200, response.text
    assert emulator.control.wait_idle(20)


def failures_by_login(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["user"]["login"]: f for f in doc["tenants"][0]["failures"]}


def test_list_retry_recover_notify_and_metrics(
    emulator: RunningEmulator,
    scim_server: ScimServer,
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

    # The cause is fixed: --retry recovers both and the exit code turns 0.
    scim_server.clear_rejections()
    code, doc = tasks(capsys, config, "--retry", "--detailed-exitcode", "--metrics-file", str(metrics))
    assert code == 0, doc
    tenant = doc["tenants"][0]
    assert {r["user"]["login"]: r["outcome"] for r in tenant["retry"]} == {
        "bob@example.com": "recovered",
        "frank@example.com": "recovered",
    }
    assert tenant["failures"] == []
    assert scim_server.user_by_name("bob@example.com") is not None
    recoveries = receiver.bodies("recovery")
    assert sorted(b["user"]["login"] for b in recoveries) == ["bob@example.com", "frank@example.com"]
    samples = parse_prometheus(metrics.read_text())
    assert samples["oktasync_tasks_recovered_total"][0][1] == 2
    assert samples["oktasync_tasks_retried_total"][0][1] == 2

    code, doc = tasks(capsys, config, "--retry", "--detailed-exitcode")
    assert code == 0 and doc["tenants"][0]["failures"] == []
    assert len(receiver.bodies()) == 4  # one per failure and per recovery, across four runs
    state_text = "".join(p.read_text() for p in cli_env.rglob("*.json"))
    assert (
        receiver.url not in state_text
        and "secret-token-xyz" not in state_text
        and API_TOKEN not in state_text
    )


def test_user_who_keeps_failing_stops_being_retried(
    emulator: RunningEmulator,
    scim_server: ScimServer,
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
    assert outcomes[0] == (2, ["still_failing"])
    assert outcomes[1] == (1, ["still_failing"])  # second attempt failed: max_attempts reached
    assert outcomes[2] == (1, ["exhausted"])
    assert pushes() == 3  # the original push + 2 retries, none on the third run
    failure = failures_by_login(doc)["dave@example.com"]
    assert failure["retry_exhausted"] is True and failure["assigned"]["groups"] == ["sales"]


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
