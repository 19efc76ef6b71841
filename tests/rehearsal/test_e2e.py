"""The issue's end-to-end check: snapshot an emulated org of 300 groups and 5,000 users (users the target
refuses, a changed email, a direct assignment), rehearse the shipped onboarding playbook from it, then run
the playbook for real on the original and compare: predicted calls within 5 %, every predicted failure and
every predicted new (unlinked) target user happens for real, and the snapshot holds no login, email or
secret of the org."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from oktasync.cli import main
from oktasync.rehearsal import snapshot as snapshot_module
from oktasync.rehearsal.pseudonym import Pseudonymiser
from tests.rehearsal import org as test_org

USERS = 5000
GROUPS = 300
TIME_SCALE = 0.02
# The snapshot's HMAC key is random and never stored; the test fixes it (as it would fix a clock) so that
# it can name the real users behind the rehearsal's pseudonyms.
KEY = b"rehearsal-e2e-test-key-0123456789"


@pytest.mark.slow
def test_rehearsal_predicts_the_real_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    org = test_org.build(USERS, GROUPS)
    monkeypatch.setattr(snapshot_module, "Pseudonymiser", functools.partial(Pseudonymiser, key=KEY))
    pseudonym = Pseudonymiser(key=KEY)
    with test_org.running(org, time_scale=TIME_SCALE) as (emulator, scim):
        test_org.provision_new_hires(emulator, org)
        config = test_org.write_config(tmp_path / "acme.yaml", emulator.url, scim.base_url)
        for name, value in test_org.client_env(tmp_path / "state").items():
            monkeypatch.setenv(name, value)
        snap = tmp_path / "snap.json"
        assert main(["snapshot", str(config), "--target", "--out", str(snap)]) == 0

        # Nothing of the org in the snapshot: no login, email, name or secret.
        text = snap.read_text(encoding="utf-8")
        assert "example.com" not in text
        assert not re.search(r"person\d{5}|\b(Given|Family)\d+\b", text)
        assert not any(s in text for s in (test_org.API_TOKEN, test_org.SCIM_TOKEN, test_org.ADMIN_SESSION))
        doc = json.loads(text)
        assert len(doc["groups"]) == GROUPS and len(doc["app_users"]) == USERS

        # The rehearsal as an admin runs it: its own process, holding only the copy of the org.
        rehearsal = subprocess.run(
            [sys.executable, "-m", "oktasync", "rehearse", "--time-scale", str(TIME_SCALE), "--json"]
            + [str(snap), "chronosphere-onboarding"],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, **test_org.client_env(tmp_path / "rehearsal-state")},
        )
        assert rehearsal.returncode == 0, rehearsal.stderr[-3000:]
        report = json.loads(rehearsal.stdout)

        # The real run, on the original org, as an admin runs it.
        emulator.control.reset_stats()
        code = main(["playbook", "run", "chronosphere-onboarding", "--config", str(config), "--yes"])
        if code == 5:
            # Console steps for a person (settings the console page has no field for): the person does
            # them, records them with apply --confirm-manual, and resumes the run, as the rehearsal did.
            app_id = emulator.control.app_id(test_org.LABEL)
            emulator.control.set_app_settings(
                app_id,
                scim_base_url=scim.base_url,
                unique_identifier="email",
                push_new_users=True,
                push_profile_updates=True,
                bearer_token=test_org.SCIM_TOKEN,
                create_users=True,
                update_user_attributes=True,
                deactivate_users=True,
            )
            assert main(["apply", "--yes", "--confirm-manual", str(config)]) == 0
            code = main(
                ["playbook", "run", "chronosphere-onboarding", "--config", str(config), "--resume", "--yes"]
            )
        assert code in (
            0,
            2,
        )
        assert emulator.control.wait_idle(120)
        real_calls = emulator.control.stats()["total"]
        state = emulator.control.state()

    # Two steps wait for Okta's background work: the resync lists the app users until Okta's group jobs
    # have removed and re-created them (and pushed), the settle step polls until no push is pending. How
    # many times depends on how fast the pushes go on this (shared) machine at that moment, in the
    # rehearsal and in the real run alike. So the prediction is compared at the real run's numbers of
    # polls (from its run record): every step's calls as rehearsed, with the rehearsed cost of each poll
    # times the real run's polls (a settle attempt: its calls / attempts; a resync job poll: one listing
    # of the app users, 10 pages of 500).
    record = json.loads(
        next((tmp_path / "state").rglob("playbooks/chronosphere-onboarding.json")).read_text()
    )
    real = record["steps"]
    predicted = 0.0
    for step in report["steps"]:
        entry = real.get(step["id"], {})  # "console": the person's apply --confirm-manual, as rehearsed
        if step["id"] == "settle":
            predicted += step["calls"] / step["attempts"] * int(entry.get("attempts") or 1)
        elif step["id"] == "resync":
            repush = entry["result"]["repush"]
            real_job_polls = repush["removal_wait"]["polls"] + repush["return_wait"]["polls"]
            predicted += step["calls"] + (real_job_polls - step["job_polls"]) * math.ceil(USERS / 500)
        else:
            predicted += step["calls"]
    detail = (
        predicted,
        real_calls,
        report["calls"],
        [(s["id"], s["attempts"], s["job_polls"]) for s in report["steps"]],
    )
    print("predicted, real calls, report calls, rehearsed polls:", detail)  # shown with -rP
    print(
        "timings:",
        report["timings"],
        "longest without the app (predicted s):",
        max(g["longest_predicted_seconds"] for g in report["unassigned"]),
    )
    assert abs(predicted - real_calls) <= 0.05 * real_calls, detail

    logins = {u["id"]: u["login"] for u in state["users"]}
    app = next(a for a in state["apps"] if a["label"] == test_org.LABEL)
    real_failures = {
        pseudonym.address(logins[au["user"]]) for au in app["app_users"] if au["sync_state"] == "ERROR"
    }
    predicted_failures = {row["user"] for row in report["failures"]}
    assert predicted_failures == {pseudonym.address(login) for login in org.rejected}
    assert predicted_failures <= real_failures

    created = {
        pseudonym.address(logins[c["user_id"]])
        for c in state["scim_calls"]
        if c.get("method") == "POST" and c.get("status") == 201 and c["at"] >= report["snapshot"]["taken"]
    }
    predicted_created = {row["user"] for row in report["not_linked"] if row["created"]}
    assert predicted_created == {pseudonym.address(org.changed[1])}
    assert predicted_created <= created

    # The rest of the report, as the org is: the direct assignment survives, nobody is left out.
    final = report["final_vs_snapshot"]
    assert final["group_assignments"]["lost"] == [] and final["group_assignments"]["changed"] == []
    assert final["app_users"]["after"] == USERS
    assert all(g["still_without_app"] == 0 for g in report["unassigned"])
    assert sum(g["users_without_app"] for g in report["unassigned"]) == USERS - 1  # not the direct user
    assert report["timings"]["predicted_seconds"] > report["timings"]["rehearsal_seconds"]
