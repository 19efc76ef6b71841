"""Playbooks against the emulator and a real scim2-server (the demo's org, smaller).

* ``--dry-run`` changes nothing: the emulator's and the target's state are the same before and after;
* a confirm step with no terminal and no --yes refuses (exit 4) before anything is written;
* a run SIGKILLed inside the resync (a real subprocess, the resync's crash hook) resumes with --resume and
  ends exactly where an uninterrupted run would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oktasync.cli import main
from oktasync.demo import APP_LABEL, GROUPS, DemoEnvironment, demo_environment

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoEnvironment]:
    with demo_environment(tmp_path / "demo", users=30) as env:
        yield env


def _okta_view(env: DemoEnvironment) -> dict[str, Any]:
    state = env.emulator.control.state()
    app = next(a for a in state["apps"] if a["label"] == APP_LABEL)
    return {
        "settings": app["settings"],
        "groups": sorted((g["group"], g["priority"]) for g in app["groups"]),
        "app_users": sorted(
            (u["user"], u["status"], u["sync_state"], u["external_id"]) for u in app["app_users"]
        ),
        "history": app["settings_history"],
        "scim_calls": len(state["scim_calls"]),
        "events": len(state["events"]),
    }


def _target_view(env: DemoEnvironment) -> list[tuple[str, bool]]:
    return sorted((u["userName"], u.get("active", True)) for u in env.scim.users())


def test_dry_run_changes_nothing(
    demo: DemoEnvironment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    okta_before, target_before = _okta_view(demo), _target_view(demo)
    state = tmp_path / "state"
    code = main(
        [
            "--state-dir",
            str(state),
            "playbook",
            "run",
            "chronosphere-onboarding",
            "--config",
            str(demo.config_path),
        ]
        + ["--dry-run", "--json"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads(out)
    steps = {s["id"]: s for s in doc["runs"][0]["steps"]}
    # Read-only steps really ran; write steps only said what they would do.
    # The emulator's default Admin Console page (the evidence-only one) has fields for 5 of the differing
    # settings; the unique identifier, auth mode and push actions are console steps (unverifiable).
    assert steps["plan"]["result"]["summary"]["change"] == 5
    assert steps["plan"]["result"]["summary"]["unverifiable"] == 4
    assert steps["apply"]["summary"].startswith("dry run: would apply: 5 setting(s) to change")
    assert steps["resync"]["result"]["plan"]["groups_to_cycle"] == len(GROUPS) and steps["resync"][
        "summary"
    ].startswith("dry run")
    assert steps["approve_apply"]["result"]["confirmed"] is None
    demo.emulator.control.wait_idle(10)
    assert _okta_view(demo) == okta_before
    assert _target_view(demo) == target_before
    # Not even a run record (plan creates the app's state directory, empty).
    assert [p for p in state.rglob("*") if p.is_file()] == []


def test_confirm_without_terminal_refuses_before_writing(
    demo: DemoEnvironment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _okta_view(demo)
    code = main(
        ["--state-dir", str(tmp_path / "s"), "playbook", "run", "chronosphere-onboarding"]
        + ["--config", str(demo.config_path)]
    )
    out = capsys.readouterr().out
    assert code == 4
    assert "no terminal to ask on" in out and "stopped at step 'approve_apply'" in out
    assert _okta_view(demo)["settings"] == before["settings"]


def _subprocess(
    args: list[str], env: DemoEnvironment, extra: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **env.env, **extra}
    return subprocess.run(
        [sys.executable, "-m", "oktasync", *args], env=environ, capture_output=True, text=True, timeout=120
    )


def _settings_applied_with_a_person(demo: DemoEnvironment, state: Path) -> None:
    """What the default (evidence-only) Admin Console page cannot take, a person does; then the settings
    converge (apply, the console steps, apply --confirm-manual), so the playbook's apply has nothing to do."""
    base = ["--state-dir", str(state), "apply", "--yes", str(demo.config_path)]
    assert main(base) == 5
    demo.emulator.control.set_app_settings(
        demo.app_id,
        unique_identifier="email",
        push_new_users=True,
        push_profile_updates=True,
        auth_mode="header",
    )
    assert main([*base, "--confirm-manual"]) == 0


@pytest.mark.slow
def test_sigkill_inside_resync_then_resume(demo: DemoEnvironment, tmp_path: Path) -> None:
    state = tmp_path / "state"
    _settings_applied_with_a_person(demo, state)
    args = ["--state-dir", str(state), "playbook", "run", "chronosphere-onboarding"]
    args += ["--config", str(demo.config_path), "--yes"]
    # SIGKILL right after the 5th group was reassigned: some groups are back, others still unassigned.
    killed = _subprocess(args, demo, {"OKTASYNC_TEST_CRASH_AT": "assign.after:5"})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    record_path = next(state.rglob("chronosphere-onboarding.json"))
    record = json.loads(record_path.read_text())
    assert record["status"] == "running" and record["current"] == "resync"
    done_before = {sid: e["finished"] for sid, e in record["steps"].items() if e["status"] == "ok"}
    assert set(done_before) == {"validate", "doctor", "connector", "plan", "apply", "approve_resync"}
    assert record["steps"]["approve_apply"]["status"] == "skipped"  # the settings already converged
    # Really stopped half-way: Deactivate Users is still off (restored only after every group is back and
    # verified). Which groups the server has is timing-dependent: PUTs in flight at the kill may still land.
    assert _okta_view(demo)["settings"]["deactivate_users"] is False

    refused = _subprocess(args, demo, {})
    assert refused.returncode == 4 and "--resume" in refused.stderr

    resumed = _subprocess([*args, "--resume"], demo, {})
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming run" in resumed.stdout
    record = json.loads(record_path.read_text())
    assert record["status"] == "completed"
    for sid, finished in done_before.items():  # nothing before the resync ran twice
        assert record["steps"][sid]["finished"] == finished
    assert record["steps"]["resync"]["result"]["resumed"] is True
    assert record["steps"]["settle"]["status"] == "failed" and record["steps"]["settle"].get("continued")

    demo.emulator.control.wait_idle(20)
    view = _okta_view(demo)
    group_names = {g["id"]: g["name"] for g in demo.emulator.control.state()["groups"]}
    assert sorted((group_names[g], p) for g, p in view["groups"]) == sorted(
        (name, priority) for priority, name in enumerate(GROUPS)
    )
    assert view["settings"]["deactivate_users"] is True
    state_dump = demo.emulator.control.state()
    app = next(a for a in state_dump["apps"] if a["label"] == APP_LABEL)
    deactivations = [
        c for c in state_dump["scim_calls"] if c["app_id"] == app["id"] and c.get("active") is False
    ]
    assert deactivations == []  # nobody was deprovisioned, crash or not
    errors = sorted(u["user"] for u in app["app_users"] if u["sync_state"] == "ERROR")
    logins = {u["id"]: u["login"] for u in state_dump["users"]}
    assert sorted(logins[e] for e in errors) == sorted(demo.org.rejected)
    for output in (killed.stdout, killed.stderr, resumed.stdout, resumed.stderr, record_path.read_text()):
        for secret in demo.env.values():
            assert secret not in output
