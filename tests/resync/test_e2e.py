"""End to end: the real CLI (`oktasync resync`) against the emulator and a real scim2-server.

Two apps: an API-capable app (Deactivate Users through the features API) and a custom SCIM app (through the
Admin Console channel). 45 groups with varied priorities and profiles, 300 users provisioned by the
emulator's engine into scim2-server. Afterwards: every assignment equals the snapshot, Deactivate Users is
back on, the settings history shows it off during every unassignment, and no SCIM call ever set
``active: false``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from resync_helpers import (
    E2E_ADMIN_SID,
    E2E_API_TOKEN,
    E2E_SCIM_TOKEN,
    NO_LIMITS,
    EmulatorOrg,
    assign_all,
    emulator_org,
)

from oktasync.emulator.scim_target import ScimServer
from oktasync.emulator.testing import run_emulator

GROUPS, USERS = 45, 300
# How late Okta's group jobs run (emulator behaviour switches, emulated seconds): at once, the emulator's
# default delay, and a queue where every third job runs seconds late.
JOB_VARIANTS: dict[str, dict[str, float]] = {
    "instant": {"group_assign_delay_seconds": 0, "group_unassign_delay_seconds": 0},
    "delayed": {},
    "late-job": {
        "group_assign_delay_seconds": 0.5,
        "group_unassign_delay_seconds": 0.5,
        "group_job_late_seconds": 2.0,
    },
}


class Org(EmulatorOrg):
    """The org of one test; the CLI runs in this process with the environment the fixture set."""

    def config(self, *, admin: bool, limit: int = 10_000, tenant: str = "acme") -> str:
        return str(self.write_config(tenant, limit=limit))

    def run(self, *args: str) -> tuple[int, str, str]:
        return self.cli(*args, env={})


def _org(
    scim: ScimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    admin: bool,
    groups: int = GROUPS,
    users: int = USERS,
    jobs: dict[str, float] | None = None,
) -> Iterator[Org]:
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    monkeypatch.setenv("E2E_OKTA_TOKEN", E2E_API_TOKEN)
    monkeypatch.setenv("E2E_SCIM_TOKEN", E2E_SCIM_TOKEN)
    if admin:
        monkeypatch.setenv("E2E_ADMIN_SESSION", E2E_ADMIN_SID)
    seed = emulator_org(scim.base_url, users=users, groups=groups, kind=kind)
    with run_emulator(seed, api_token=E2E_API_TOKEN, rate_limits=NO_LIMITS, workers=8) as running:
        assign_all(running.http, running.control.app_id("Chronosphere"), groups)
        assert running.control.wait_idle(60)
        running.control.behaviour(**(jobs or {}))
        yield Org(running, scim, tmp_path)


@pytest.fixture(
    params=[
        ("api", False, "delayed"),
        ("custom_scim", True, "delayed"),
        ("custom_scim", True, "instant"),
        ("api", False, "late-job"),
    ],
    ids=lambda p: f"{'api-capable' if p[0] == 'api' else 'custom-admin-channel'}-{p[2]}",
)
def org(
    request: pytest.FixtureRequest, scim_server: ScimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Org]:
    kind, admin, jobs = request.param
    yield from _org(scim_server, tmp_path, monkeypatch, kind, admin, jobs=JOB_VARIANTS[jobs])


@pytest.mark.slow
def test_resync_end_to_end(org: Org) -> None:
    em, control = org.em, org.em.control
    before = org.assignments()
    assert len(before) == GROUPS and len({p for p, _ in before.values()}) == GROUPS
    scim_users = org.scim.users()
    assert len(scim_users) == USERS and all(u.get("active", True) for u in scim_users)
    calls_before = len(control.scim_calls(app_id=org.app_id))
    kind = "custom_scim" if "chronosphere" in next(a["name"] for a in control.state()["apps"]) else "api"
    config = org.config(admin=kind == "custom_scim")

    code, out, err = org.run("resync", "--dry-run", "--json", config)
    assert code == 0, out + err
    plan = json.loads(out)
    assert plan["groups_to_cycle"] == GROUPS and plan["affected_users"] == USERS
    assert plan["deactivate_users"] == {"current": True, "channel": "api" if kind == "api" else "admin"}
    assert org.assignments() == before and not list(org.state_dir.rglob("*.jsonl"))

    control.reset_stats()
    code, out, err = org.run("resync", "--yes", "--json", config)
    assert code == 0, out + err
    report = json.loads(out)
    assert report["groups_cycled"] == GROUPS
    assert report["app_users"]["before"] == {"total": USERS, "USER": 0, "GROUP": USERS}
    assert report["app_users"]["after"]["total"] == USERS
    assert report["deactivate_users"]["recorded"] is True and report["deactivate_users"]["final"] is True
    assert report["warnings"] == []
    # The runbook step's purpose, proven: every group-entitled user was removed by Okta's job, re-created
    # and pushed (a fresh app user, syncState SYNCHRONIZED).
    repush = report["repush"]
    assert repush["expected"] == repush["repushed"] == USERS and report["not_repushed"] == []
    assert repush["removal_wait"]["outcome"] == "complete" and repush["removal_wait"]["still_present"] == 0
    assert repush["return_wait"]["outcome"] == "complete"
    assert report["sync_states_after"] == {"SYNCHRONIZED": USERS}
    assert control.wait_idle(60)

    # Every assignment is back exactly (group, priority, profile).
    assert org.assignments() == before
    settings = next(a for a in control.state()["apps"] if a["id"] == org.app_id)["settings"]
    assert settings["deactivate_users"] is True

    # Deactivate Users was off during every unassignment: each membership removal lies inside the off window.
    history = [h for h in control.settings_history(org.app_id) if h["source"] != "seed"]
    assert [h["value"] for h in history] == [False, True]
    off_at, on_at = history[0]["at"], history[1]["at"]
    removals = control.events("application.user_membership.remove")
    assert len(removals) == USERS  # every user lost the app once (all groups out) ...
    assert all(off_at <= e["published"] <= on_at for e in removals)
    assert all(e["transaction"]["type"] == "JOB" for e in removals)  # Okta's background job
    assert len(control.events("application.user_membership.add")) == 2 * USERS  # ... and came back
    deletes = em.control.stats()["by_route"]
    assert sum(n for r, n in deletes.items() if r.startswith("DELETE") and "/groups/" in r) == GROUPS

    # No SCIM user was ever set active: false; every user is still there and active.
    calls = control.scim_calls(app_id=org.app_id)
    assert len(calls) > calls_before  # the reassignment really re-pushed users
    assert not [c for c in calls if c.get("active") is False]
    after_users = org.scim.users()
    assert len(after_users) == USERS and all(u.get("active", True) for u in after_users)

    # API calls: measured against the floor (2 x groups + list pages + toggles + verification).
    assert report["api_calls_minimum"] == 2 * GROUPS + 1 + 2 + 1
    # Each wait lists the app users (one page of 300) until the jobs are done; those polls come on top.
    polls = repush["removal_wait"]["polls"] + repush["return_wait"]["polls"]
    assert polls >= 2
    assert report["api_calls"] <= report["api_calls_minimum"] + 20 + polls, report["api_calls"]

    # The journal was archived; a second run starts cleanly and ends the same.
    assert len(list(org.state_dir.rglob("resync.*.completed.jsonl"))) == 1
    code, out, err = org.run("resync", "--yes", config)
    assert code == 0, out + err
    assert "groups cycled: 45 of 45" in out and "directly assigned users: 0" in out
    assert f"re-pushed: {USERS} of {USERS} group-entitled users" in out and "NOT re-pushed" not in out
    assert org.assignments() == before
    org.assert_no_secrets()


@pytest.fixture
def small_org(scim_server: ScimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Org]:
    yield from _org(scim_server, tmp_path, monkeypatch, "custom_scim", True, groups=6, users=24)


def test_limit_refuses_and_flag_raises_it(small_org: Org) -> None:
    config = small_org.config(admin=True, limit=10)
    before = small_org.assignments()
    code, out, err = small_org.run("resync", "--yes", config)
    assert code == 4, out + err
    assert "--max-affected-users 24" in err
    assert small_org.assignments() == before
    assert [h["source"] for h in small_org.em.control.settings_history(small_org.app_id)] == ["seed"]
    code, out, err = small_org.run("resync", "--yes", "--max-affected-users", "24", config)
    assert code == 0, out + err


def test_usage_errors(small_org: Org) -> None:
    config = small_org.config(admin=True)
    assert small_org.run("resync", "--dry-run", "--resume", config)[0] == 64
    # Not on a terminal and no --yes: refused by the safety guard (as apply does), before any call.
    code, _, err = small_org.run("resync", config)
    assert code == 4 and "--yes" in err
    code, _, err = small_org.run("resync", "--resume", config)
    assert code == 4 and "no unfinished resync" in err


@pytest.fixture
def slow_removal_org(
    scim_server: ScimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Org]:
    """Okta's unassignment jobs run 3 s after each DELETE: longer than the run will wait (--job-timeout)."""
    jobs = {"group_unassign_delay_seconds": 3.0, "group_assign_delay_seconds": 0.0}
    yield from _org(scim_server, tmp_path, monkeypatch, "custom_scim", True, groups=6, users=24, jobs=jobs)


def test_users_not_re_pushed_are_reported_and_deactivate_users_stays_off(slow_removal_org: Org) -> None:
    """The removal jobs have not run when the wait ends: nobody was removed, so reassigning re-creates
    nobody and nothing is re-pushed. The run reassigns anyway (nobody stays without access), reports every
    user as not re-pushed, exits 1, and leaves Deactivate Users off: a removal job that ran with it on would
    deactivate its users in the target."""
    org = slow_removal_org
    control = org.em.control
    before = org.assignments()
    config = org.config(admin=True)
    code, out, err = org.run("resync", "--yes", "--json", "--job-timeout", "0.5", config)
    assert code == 1, out + err
    report = json.loads(out)
    assert report["repush"]["expected"] == 24 and report["repush"]["repushed"] == 0
    assert report["repush"]["removal_wait"] == {
        "outcome": "timeout",
        "seconds": report["repush"]["removal_wait"]["seconds"],
        "polls": report["repush"]["removal_wait"]["polls"],
        "still_present": 24,
    }
    assert len(report["not_repushed"]) == 24
    assert {u["reason"] for u in report["not_repushed"]} == {"stale"}
    assert all(u["user_name"] and u["sync_state"] == "SYNCHRONIZED" for u in report["not_repushed"])
    assert report["deactivate_users"]["withheld"] is True and report["deactivate_users"]["final"] is False
    assert any("were NOT re-pushed" in w for w in report["warnings"])
    assert any("Deactivate Users is left OFF" in w for w in report["warnings"])
    assert "were NOT re-pushed" in err  # the warnings also go to stderr
    assert org.assignments() == before  # every group is back all the same

    # The late jobs run now, find every user entitled again, and remove nobody; nothing was deactivated.
    assert control.wait_idle(30)
    assert not control.events("application.user_membership.remove")
    assert not [c for c in control.scim_calls(app_id=org.app_id) if c.get("active") is False]
    app = next(a for a in control.state()["apps"] if a["id"] == org.app_id)
    assert app["settings"]["deactivate_users"] is False
    assert [h["value"] for h in control.settings_history(org.app_id) if h["source"] != "seed"] == [False]

    # The text report names them (Deactivate Users was off before this run: nothing to withhold).
    code, out, err = org.run("resync", "--yes", "--job-timeout", "0.5", config)
    assert code == 1, out + err
    assert "finished, NOT proven" in out and "re-pushed: 0 of 24" in out
    assert "NOT re-pushed: 24 user(s):" in out and "never removed, so never re-created" in out
    assert control.wait_idle(30)

    # Once the jobs keep up again, a run proves every user re-pushed.
    control.behaviour(group_unassign_delay_seconds=0.0)
    control.set_app_settings(org.app_id, deactivate_users=True)
    code, out, err = org.run("resync", "--yes", config)
    assert code == 0, out + err
    assert "re-pushed: 24 of 24" in out and "Resync of Chronosphere (tenant acme) done" in out
    assert not [c for c in control.scim_calls(app_id=org.app_id) if c.get("active") is False]
    org.assert_no_secrets()


# --- the Admin Console page variants (docs/admin-console-channel.md) ---------------------------------------


@pytest.mark.parametrize("variant", ["evidence", "full", "relabelled"])
def test_resync_through_every_admin_page_variant(small_org: Org, variant: str) -> None:
    """Deactivate Users is switched off and back on through the form, whatever the page calls its field."""
    small_org.em.control.behaviour(admin_form=variant)
    before = small_org.assignments()
    code, out, err = small_org.run("resync", "--yes", "--json", small_org.config(admin=True))
    assert code == 0, out + err
    assert json.loads(out)["deactivate_users"]["final"] is True
    assert small_org.assignments() == before
    switches = [(h["source"], h["value"]) for h in small_org.em.control.settings_history(small_org.app_id)]
    assert switches[1:] == [("admin", False), ("admin", True)]
    small_org.assert_no_secrets()


@pytest.mark.slow
def test_resync_asks_a_person_when_the_page_has_no_deactivate_users(small_org: Org) -> None:
    """The page lacks Deactivate Users: the resync shows the console steps and waits for a person (who
    switches it in the emulator) instead of failing; it goes on once features[] shows the change."""
    small_org.em.control.behaviour(admin_form="without_deactivate")
    before = small_org.assignments()
    args = ["--state-dir", str(small_org.state_dir), "resync", "--yes", small_org.config(admin=True)]
    stdout = small_org.tmp_path / "resync.out"
    with stdout.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "oktasync", *args], stdout=sink, stderr=subprocess.PIPE, text=True
        )
    asked: list[str] = []

    def person() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            asked.append(line)
            if "Only a person can change Deactivate Users" in line:
                wanted = sum("Only a person" in seen for seen in asked) == 2  # off first, then back on
                small_org.em.control.set_app_settings(small_org.app_id, deactivate_users=wanted)

    reader = threading.Thread(target=person)
    reader.start()
    try:
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=10)
        if proc.stderr is not None and not reader.is_alive():
            proc.stderr.close()
    assert proc.returncode == 0, stdout.read_text() + "".join(asked)
    assert sum("Only a person can change Deactivate Users" in line for line in asked) == 2
    assert any("Deactivate Users: clear (untick)" in line for line in asked)
    assert small_org.assignments() == before
    switches = [(h["source"], h["value"]) for h in small_org.em.control.settings_history(small_org.app_id)]
    assert switches[1:] == [("control", False), ("control", True)]
