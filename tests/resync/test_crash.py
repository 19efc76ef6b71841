"""Crash matrix: a real `oktasync resync` subprocess is SIGKILLed at every step boundary in turn
(``OKTASYNC_TEST_CRASH_AT``); a plain re-run then refuses (exit 4) and ``--resume`` ends in the same state
as an uninterrupted run, with nothing done twice in a harmful way. Small org (6 groups, 12 users): fast.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from resync_helpers import (
    E2E_API_TOKEN,
    E2E_SCIM_TOKEN,
    NO_LIMITS,
    SECRETS,
    EmulatorOrg,
    assign_all,
    emulator_org,
)

from oktasync.emulator.scim_target import ScimServer, run_scim_server
from oktasync.emulator.testing import RunningEmulator, run_emulator
from oktasync.workflows.resync.crash import BOUNDARIES

GROUPS, USERS = 6, 12
CONCURRENCY = 8  # okta.max_concurrency default: how many calls may be in flight when the process dies
# Per-group boundaries are hit once per group: crash in the middle of the phase (the 3rd/4th group).
OCCURRENCE = {"unassign.before": 3, "unassign.after": 4, "assign.before": 3, "assign.after": 4}
CASES = [f"{b}:{OCCURRENCE[b]}" if b in OCCURRENCE else b for b in BOUNDARIES]
# How late Okta's group jobs run (emulator behaviour switches, emulated seconds). The emulator's default delay
# runs every boundary; at once and a late job (every third job 1.5 s late) run the boundaries of the waits
# for the jobs and the reassignment between them.
JOB_VARIANTS: dict[str, dict[str, float]] = {
    "delayed": {},
    "instant": {"group_assign_delay_seconds": 0, "group_unassign_delay_seconds": 0},
    "late-job": {"group_job_late_seconds": 1.5},
}
AROUND_THE_JOBS = ("removal_wait.polling", "assign.after:4", "return_wait.polling")
MATRIX = [pytest.param(c, "delayed", id=f"{c}-delayed") for c in CASES] + [
    pytest.param(c, jobs, id=f"{c}-{jobs}") for jobs in ("instant", "late-job") for c in AROUND_THE_JOBS
]


class Case(EmulatorOrg):
    """The small org, its config, and the CLI with that config as its last argument."""

    def __init__(self, em: RunningEmulator, scim: ScimServer, tmp_path: Path) -> None:
        super().__init__(em, scim, tmp_path)
        self.config = self.write_config()

    def subprocess(self, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
        crash = {"OKTASYNC_TEST_CRASH_AT": crash_at} if crash_at else None
        return self.run_process(*args, str(self.config), extra_env=crash)

    def cli(
        self, *args: str, state_dir: Path | None = None, env: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        return super().cli(*args, str(self.config), state_dir=state_dir, env=env)

    def route_count(self, method: str) -> int:
        routes = self.em.control.stats()["by_route"]
        return sum(n for r, n in routes.items() if r.startswith(method) and "/groups/{group_id}" in r)


@pytest.fixture
def jobs() -> str:
    """The job-delay variant (JOB_VARIANTS); tests parametrise it."""
    return "delayed"


@pytest.fixture
def case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str) -> Iterator[Case]:
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    with run_scim_server(E2E_SCIM_TOKEN) as scim:
        seed = emulator_org(scim.base_url, users=USERS, groups=GROUPS, kind="custom_scim")
        with run_emulator(seed, api_token=E2E_API_TOKEN, rate_limits=NO_LIMITS) as em:
            assign_all(em.http, em.control.app_id("Chronosphere"), GROUPS)
            assert em.control.wait_idle(30)
            em.control.behaviour(**JOB_VARIANTS[jobs])
            em.control.reset_stats()
            yield Case(em, scim, tmp_path)


def _check_final_state(case: Case, before: dict[str, Any]) -> None:
    control = case.em.control
    assert control.wait_idle(30)
    assert case.assignments() == before
    app = next(a for a in control.state()["apps"] if a["id"] == case.app_id)
    assert app["settings"]["deactivate_users"] is True
    # Exactly one off/on cycle, however many processes it took: no toggle was repeated harmfully.
    history = [h for h in control.settings_history(case.app_id) if h["source"] != "seed"]
    assert [h["value"] for h in history] == [False, True]
    removals = control.events("application.user_membership.remove")
    assert removals and all(history[0]["at"] <= e["published"] <= history[1]["at"] for e in removals)
    assert not [c for c in control.scim_calls(app_id=case.app_id) if c.get("active") is False]
    assert len(case.scim.users()) == USERS and all(u.get("active", True) for u in case.scim.users())
    # Exactly one effective unassignment per group (DELETE 204); a call in flight when the process died has
    # no "done" record and is repeated by --resume, which Okta answers 404 (DELETE) or applies idempotently
    # (PUT of the same priority and profile).
    assert case.em.control.stats()["by_status"].get("204") == GROUPS
    assert GROUPS <= case.route_count("DELETE") <= GROUPS + min(GROUPS, CONCURRENCY)
    assert GROUPS <= case.route_count("PUT") <= GROUPS + min(GROUPS, CONCURRENCY)
    archives = list(case.state_dir.rglob("resync.*.completed.jsonl"))
    assert len(archives) == 1 and not list(case.state_dir.rglob("resync.journal.jsonl"))
    for secret in SECRETS:
        assert not any(secret in t for t in case.outputs + [archives[0].read_text()])


@pytest.mark.slow
@pytest.mark.parametrize(("crash_at", "jobs"), MATRIX)
def test_killed_at_every_boundary_then_resumed(case: Case, crash_at: str) -> None:
    before = case.assignments()
    killed = case.subprocess("resync", "--yes", "--json", crash_at=crash_at)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert killed.stdout == ""  # died before any report
    if crash_at != "finish":
        code, _, err = case.cli("resync", "--yes")
        assert code == 4, err
        assert "--resume" in err
    code, out, err = case.cli("resync", "--resume", "--json")
    assert code == 0, out + err
    report = json.loads(out)
    assert report["groups_cycled"] == GROUPS and report["deactivate_users"]["final"] is True
    _check_repushed(report)
    _check_final_state(case, before)


def _check_repushed(report: dict[str, Any]) -> None:
    """Every group-entitled user was removed by Okta's job, re-created and pushed, however many processes it
    took (a resumed wait re-reads the app users; the roster journaled before the first unassignment)."""
    assert report["repush"]["expected"] == report["repush"]["repushed"] == USERS
    assert report["not_repushed"] == [] and report["sync_states_after"] == {"SYNCHRONIZED": USERS}


@pytest.mark.parametrize("jobs", list(JOB_VARIANTS))
def test_uninterrupted_baseline(case: Case) -> None:
    """The state the crash cases must end in, reached without a crash (and by a real subprocess)."""
    before = case.assignments()
    done = case.subprocess("resync", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["resumed"] is False
    _check_repushed(report)
    _check_final_state(case, before)


def test_sigint_during_unassignment_rolls_back(case: Case) -> None:
    """Ctrl-C (SIGINT) mid-unassignment: no further group is unassigned, those already unassigned are
    reassigned and verified, Deactivate Users is restored, exit 130 and nothing left to resume."""
    before = case.assignments()
    env = case.env()
    # Slow every group call down a little so the signal lands mid-run.
    case.em.control.faults(latency_ms=150, path_pattern="/groups/")
    proc = subprocess.Popen(
        [sys.executable, "-m", "oktasync", "--state-dir", str(case.state_dir), "resync", "--yes",
         "--batch-size", "2", str(case.config)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    journal = None
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the first unassignment is journaled
        found = list(case.state_dir.rglob("resync.journal.jsonl"))
        if found and '"step": "unassign"' in found[0].read_text():
            journal = found[0]
            break
        time.sleep(0.02)
    assert journal is not None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "no further group was unassigned" in err and not journal.exists()
    assert list(case.state_dir.rglob("resync.*.rolled_back.jsonl"))
    case.em.control.clear_faults()
    assert case.assignments() == before
    code, out, err = case.cli("resync", "--resume")
    assert code == 4 and "no unfinished resync" in err, out + err
