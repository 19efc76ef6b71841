"""`oktasync hooks` end to end: the real CLI (the receiver as a real process) against the emulator, which
delivers event hooks like Okta and pushes to a real scim2-server that rejects chosen users."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hooks_helpers import SECRET, assign, free_port, hook_state, serve_hooks, wait_for, write_config
from tasks_helpers import Receiver, parse_prometheus

from oktasync.cli import main
from oktasync.emulator.scim_target import ScimServer
from oktasync.emulator.testing import API_TOKEN, CUSTOM_APP_ID, RunningEmulator
from oktasync.state import StateDir, exclusive_lock
from oktasync.workflows.hooks.inbox import Inbox

pytestmark = pytest.mark.usefixtures("okta_sdk_env")
REJECT = "userName {userName!r} is not allowed in this tenant"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, receiver: Receiver) -> Path:
    monkeypatch.setenv("OKTA_API_TOKEN", API_TOKEN)
    monkeypatch.setenv("SCIM_TOKEN", "unused-here")
    monkeypatch.setenv("OKTA_EVENT_HOOK_SECRET", SECRET)
    monkeypatch.setenv("HOOK_URL", receiver.url)
    state = tmp_path / "state"
    monkeypatch.setenv("OKTASYNC_STATE_DIR", str(state))
    return state


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def failure_logins(receiver: Receiver) -> list[str]:
    return sorted(b["user"]["login"] for b in receiver.bodies("failure"))


@pytest.mark.parametrize("batch_max", [1, 50])
def test_failures_are_notified_within_seconds_and_tasks_does_not_repeat_them(
    batch_max: int,
    emulator: RunningEmulator,
    scim_server: ScimServer,
    tmp_path: Path,
    env: Path,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.control.behaviour(event_hook_batch_max=batch_max)
    config = str(write_config(tmp_path, emulator))
    with serve_hooks(Path(config), free_port()) as hooks:
        code, doc = run_cli(capsys, "hooks", "register", config, "--url", hooks.url)
        assert code == 0, doc
        assert doc["actions"] == ["created", "verified"] and doc["verified"] is True
        assert doc["hook"]["uri"] == f"{hooks.url}/okta/event-hooks/acme"
        [verification] = hook_state(emulator)["verifications"]
        assert verification["ok"] is True

        # Registering again changes nothing and calls no verification.
        code, doc = run_cli(capsys, "hooks", "register", config, "--url", hooks.url)
        assert code == 0 and doc["changes"] == [] and doc["actions"] == []
        assert len(hook_state(emulator)["verifications"]) == 1
        code, doc = run_cli(capsys, "hooks", "status", config)
        assert code == 0 and doc["tenants"][0]["verified"] and doc["tenants"][0]["missing_events"] == []
        code, doc = run_cli(capsys, "doctor", config)
        [check] = [c for c in doc["checks"] if c["name"] == "event hook"]
        assert check["ok"] is True and "VERIFIED" in check["detail"]

        scim_server.reject(["bob@example.com", "frank@example.com"], detail=REJECT)
        assign(emulator, groups=("engineering",), users=("frank@example.com", "erin@example.com"))
        seen_at: dict[str, float] = {}

        def both_notified() -> bool:
            for body in receiver.bodies("failure"):
                seen_at.setdefault(body["user"]["login"], datetime.now().timestamp())
            return len(seen_at) == 2

        wait_for(both_notified, 15, "two failure notifications")
        assert emulator.control.wait_idle(20)
        pushed = {e["uuid"] for e in emulator.control.events("application.provision.user.push")}
        assert len(pushed) == 5  # alice, bob, carol (engineering), frank and erin (direct)

        def all_delivered() -> bool:
            sent = [d for d in hook_state(emulator)["deliveries"] if "events" in d]
            return pushed <= {u for d in sent for u in d["events"]}

        wait_for(all_delivered, 10, "every push event to be delivered")

    bodies = {b["user"]["login"]: b for b in receiver.bodies("failure")}
    assert sorted(bodies) == ["bob@example.com", "frank@example.com"]
    for login, body in bodies.items():
        assert body["failed_at"], body
        latency = seen_at[login] - epoch(body["failed_at"])
        assert 0 <= latency < 5, f"{login}: notified {latency:.2f}s after the failure"
        assert body["operation"] == "create" and "not allowed in this tenant" in body["reason"]["target"]
    deliveries = [d for d in hook_state(emulator)["deliveries"] if "events" in d]
    assert deliveries and all(d["delivered"] for d in deliveries)
    assert max(len(d["events"]) for d in deliveries) <= batch_max

    # The poller afterwards: the same two failures, none new, no second notification.
    code, doc = run_cli(capsys, "tasks", config, "--detailed-exitcode")
    assert code == 2
    listed = {f["user"]["login"]: f for f in doc["tenants"][0]["failures"]}
    assert set(listed) == {"bob@example.com", "frank@example.com"}
    assert not any(f["new"] for f in listed.values())
    assert failure_logins(receiver) == ["bob@example.com", "frank@example.com"]
    state_text = "".join(p.read_text() for p in env.rglob("*.json"))
    assert SECRET not in state_text and receiver.url not in state_text


def test_a_delivery_without_the_secret_is_refused(
    emulator: RunningEmulator,
    tmp_path: Path,
    env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, emulator)
    # A second tenant on the same receiver, with its own secret.
    beta = tmp_path / "beta.yaml"
    beta.write_text(
        config.read_text()
        .replace("tenant: acme", "tenant: beta")
        .replace("OKTA_EVENT_HOOK_SECRET", "BETA_HOOK_SECRET")
    )
    monkeypatch.setenv("BETA_HOOK_SECRET", "beta-secret-7d2e")
    event = {
        "uuid": "5b0c1f4e-0000-4000-8000-000000000001",
        "published": "2026-01-01T00:00:00.000Z",
        "eventType": "application.provision.user.push",
        "outcome": {"result": "FAILURE", "reason": None},
        "target": [{"id": CUSTOM_APP_ID, "type": "AppInstance"}],
    }
    body = {"eventType": "com.okta.event_hook", "data": {"events": [event]}}
    with serve_hooks(config, free_port(), beta) as hooks:
        endpoint = f"{hooks.url}/okta/event-hooks/acme"
        beta_endpoint = f"{hooks.url}/okta/event-hooks/beta"
        assert httpx.post(beta_endpoint, json=body, headers={"Authorization": SECRET}).status_code == 401
        assert (
            httpx.post(beta_endpoint, json=body, headers={"Authorization": "beta-secret-7d2e"}).status_code
            == 200
        )
        for headers in ({}, {"Authorization": "wrong"}, {"Authorization": SECRET + "x"}):
            assert httpx.post(endpoint, json=body, headers=headers).status_code == 401
        assert httpx.post(endpoint, content=b"not json", headers={"Authorization": SECRET}).status_code == 400
        challenge = httpx.get(endpoint, headers={"X-Okta-Verification-Challenge": "abc123"})
        assert challenge.status_code == 200 and challenge.json() == {"verification": "abc123"}
        assert httpx.post(f"{hooks.url}/okta/event-hooks/other", json=body).status_code == 404
        samples = parse_prometheus(httpx.get(f"{hooks.url}/metrics").text)
        deliveries = {
            (labels["tenant"], labels["result"]): value
            for labels, value in samples["oktasync_hooks_deliveries_total"]
        }
        assert deliveries[("acme", "unauthorized")] == 3 and deliveries[("acme", "invalid")] == 1
        assert deliveries[("beta", "unauthorized")] == 1 and deliveries[("beta", "accepted")] == 1
        assert {labels["tenant"] for labels, _ in samples["oktasync_tasks_failed_assignments"]} == {
            "acme",
            "beta",
        }
        health = httpx.get(f"{hooks.url}/healthz")
        assert health.status_code == 200 and health.json()["tenants"]["acme"]["inbox"] == 0
        # beta's event (a FAILURE of a user the app does not have) is applied: nothing left in the inbox
        # (beta names the same Okta app as acme: they share the app's state directory).
        beta_dir = StateDir(env).app_dir(emulator.url, CUSTOM_APP_ID)
        wait_for(lambda: Inbox(beta_dir).pending() == 0, 10, "beta's delivery to be applied")
    app_dir = StateDir(env).app_dir(emulator.url, CUSTOM_APP_ID)
    assert Inbox(app_dir).pending() == 0
    log = "\n".join(hooks.lines)
    assert log.count("refused a delivery") == 4 and SECRET not in log and "beta-secret-7d2e" not in log


def test_a_killed_receiver_loses_no_accepted_delivery(
    emulator: RunningEmulator,
    scim_server: ScimServer,
    tmp_path: Path,
    env: Path,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, emulator)
    port = free_port()
    app_dir = StateDir(env).app_dir(emulator.url, CUSTOM_APP_ID)
    with serve_hooks(config, port) as hooks:
        code, doc = run_cli(capsys, "hooks", "register", str(config), "--url", hooks.url)
        assert code == 0, doc
        scim_server.reject(["bob@example.com"], detail=REJECT)
        # A `tasks` pass holds the app's lock: the receiver accepts deliveries but cannot apply them yet.
        with exclusive_lock(app_dir / "tasks.lock", "a tasks pass"):
            assign(emulator, groups=("engineering",))
            assert emulator.control.wait_idle(20)
            bob = emulator.control.user_id("bob@example.com")
            [failure] = [
                e
                for e in emulator.control.events("application.provision.user.push")
                if e["outcome"]["result"] == "FAILURE"
            ]

            def accepted() -> bool:
                return any(
                    failure["uuid"] in d.get("events", []) and d["delivered"]
                    for d in hook_state(emulator)["deliveries"]
                )

            wait_for(accepted, 10, "Okta's delivery of the failure to be accepted")
            assert Inbox(app_dir).pending() >= 1
            hooks.kill()
        assert receiver.bodies() == []

    with serve_hooks(config, port) as hooks:
        wait_for(lambda: receiver.bodies("failure"), 15, "the failure notification after the restart")
        assert any("deliveries from before to apply" in line for line in hooks.lines)
    [body] = receiver.bodies("failure")
    assert body["user"]["id"] == bob and body["user"]["login"] == "bob@example.com"
    assert Inbox(app_dir).pending() == 0

    code, doc = run_cli(capsys, "tasks", str(config))
    assert code == 0 and [f["user"]["login"] for f in doc["tenants"][0]["failures"]] == ["bob@example.com"]
    assert len(receiver.bodies()) == 1
