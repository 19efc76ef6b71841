"""`oktasync demo` as a user runs it: a subprocess that must succeed, tell the story of the runbook, leave
the emulator in the state the runbook promises, and leave no process or port behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from oktasync.demo import GROUPS


def _port_is_free(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parts.hostname or "127.0.0.1", parts.port or 80)) != 0


@pytest.mark.slow
def test_demo_runs_the_runbook_end_to_end(tmp_path: Path) -> None:
    state_out = tmp_path / "demo.json"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OKTA_", "CHRONOSPHERE_"))}
    began = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "oktasync", "demo", "--state-out", str(state_out)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    elapsed = time.monotonic() - began
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert elapsed < 60, elapsed
    out = proc.stdout

    # The story: every runbook step, what oktasync did and what it proved, then the summary.
    for title in (
        "Check the tenant config",
        "Probe the org",
        "Test the SCIM connector",
        "Apply the provisioning settings",
        "Resync every group assignment",
        "Wait for the pushes, retry the failed ones",
        "List the target users Okta does not manage",
    ):
        assert title in out
    assert out.count("proved") >= 8
    # The Admin Console page is the evidence-only one: apply writes what it offers and stops for a person;
    # the demo plays the admin, confirms with --confirm-manual and resumes the run.
    assert "A person's turn" in out and "Unique identifier field for users: enter email" in out
    assert "apply --confirm-manual` (exit 0)" in out and "Resuming playbook" in out
    assert "Final state, read from the emulator and the SCIM server" in out
    assert "The runbook ran end to end" in out

    doc = json.loads(state_out.read_text())
    assert doc["ok"] is True
    run = doc["playbook"]["runs"][0]
    assert run["status"] == "completed"
    statuses = {s["id"]: s["status"] for s in run["steps"]}
    assert statuses.pop("settle") == "failed"  # the rejected users: expected, and allowed to fail
    assert set(statuses.values()) == {"ok"}

    person = doc["person"]
    assert person["confirm_exit_code"] == 0
    assert set(person["settings"]) == {
        "scim.unique_identifier", "scim.push_new_users", "scim.push_profile_updates", "scim.auth.mode",
        "scim.auth.bearer_token",
    }  # fmt: skip
    facts = doc["facts"]
    # The runbook's settings (steps 7 and 12), written and verified.
    settings = facts["settings"]
    assert settings["unique_identifier"] == "email"
    assert settings["push_new_users"] and settings["push_profile_updates"]
    assert settings["create_users"] and settings["update_user_attributes"] and settings["deactivate_users"]
    assert settings["scim_base_url"].endswith("/v2") and facts["bearer_token_set"]
    # The resync: Deactivate Users off during the cycle, back on after; every group back with its priority;
    # nobody deprovisioned.
    assert [h["value"] for h in facts["deactivate_users_history"]][-2:] == [False, True]
    assert [h["source"] for h in facts["deactivate_users_history"]][1:] == ["admin"] * 3  # all by the form
    assert facts["group_assignments"] == [{"group": name, "priority": p} for p, name in enumerate(GROUPS)]
    assert facts["scim_deactivations"] == 0
    # Every app user pushed; the target's rejections are the only failures, and tasks listed exactly them.
    assert facts["app_users"] == 200
    assert facts["sync_states"] == {"SYNCHRONIZED": 197, "ERROR": 3}
    assert sorted(facts["push_errors"]) == sorted(facts["expected_rejections"])
    settle = next(s for s in run["steps"] if s["id"] == "settle")
    assert sorted(f["user"]["login"] for f in settle["result"]["failures"]) == sorted(facts["push_errors"])
    # The retry is an attempt read back: the emulator's default Okta does not re-push a failed user on a
    # profile update, so the story says "not taken" with the console path, never "retried".
    assert settle["result"]["retry_summary"] == {"not_taken": 3}
    assert all("Dashboard > Tasks" in r["console_steps"] for r in settle["result"]["retry"])
    assert "3 not taken" in out and "Admin Console > Dashboard > Tasks" in out
    assert "retried" not in out
    # The report: former employees to deactivate, people whose email changed.
    report = next(s for s in run["steps"] if s["id"] == "unmanaged")["result"]["summary"]
    assert report["action_deactivate"] == 4 and report["action_change_email"] == 3 and report["inactive"] == 1

    # Nothing left behind: the demo's ports are closed (its servers ran in the finished process).
    config_text = next(iter(json.loads(state_out.read_text())["playbook"]["runs"]))["config"]
    assert config_text.endswith("chronosphere-demo.yaml")
    assert _port_is_free(settings["scim_base_url"])
    api_url = next(s for s in run["steps"] if s["id"] == "validate")["result"]["org_url"]
    assert _port_is_free(api_url)
    # No secret in the output: the throwaway tokens have recognisable prefixes.
    for prefix in ("demo-okta-", "demo-scim-", "demo-sid-"):
        assert prefix not in out and prefix not in proc.stderr and prefix not in state_out.read_text()
