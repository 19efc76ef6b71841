"""`oktasync snapshot` and `oktasync rehearse` through the real CLI, on a small org (tests/rehearsal/org.py):
what a snapshot holds and hides, resuming an interrupted one, reproducible reports, and the command form."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oktasync.cli import main
from oktasync.emulator.scim_target import ScimServer
from oktasync.emulator.testing import RunningEmulator
from tests.rehearsal import org as test_org

TIME_SCALE = 0.02


@pytest.fixture
def small_org() -> test_org.Org:
    return test_org.build(60, 6)


@pytest.fixture
def world(
    small_org: test_org.Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[RunningEmulator, ScimServer, Path]]:
    with test_org.running(small_org, time_scale=TIME_SCALE) as (emulator, scim):
        test_org.provision_new_hires(emulator, small_org)
        config = test_org.write_config(tmp_path / "acme.yaml", emulator.url, scim.base_url)
        for name, value in test_org.client_env(tmp_path / "state").items():
            monkeypatch.setenv(name, value)
        yield emulator, scim, config


def _snapshot(config: Path, out: Path, *extra: str) -> int:
    return main(["snapshot", str(config), "--target", "--out", str(out), *extra])


def _secrets() -> list[str]:
    return [test_org.API_TOKEN, test_org.SCIM_TOKEN, test_org.ADMIN_SESSION]


def test_snapshot_is_pseudonymised_and_holds_no_secret(
    world: tuple[RunningEmulator, ScimServer, Path],
    small_org: test_org.Org,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator, scim, config = world
    out = tmp_path / "snap.json"
    emulator.control.reset_stats()
    assert _snapshot(config, out) == 0
    # The estimate, before the bulk of the reads: one request per group and the System Log query...
    assert "about 7 more Okta requests: the members of 6 group(s)" in capsys.readouterr().err
    # ...after the app, its kind and settings (admin form), its assignments and its app users.
    assert emulator.control.stats()["total"] == json.loads(out.read_text(encoding="utf-8"))["calls"]
    text = out.read_text(encoding="utf-8")
    doc = json.loads(text)
    state = emulator.control.state()
    assert doc["format_version"] == 1 and doc["pseudonymised"] is True
    assert "example.com" not in text  # no login, email or userName, in any field or failure reason
    assert not any(secret in text for secret in _secrets())
    assert not any(u["id"] in text for u in state["users"])
    assert not any(f'"{g["name"]}"' in text or g["id"] in text for g in state["groups"])
    assert not re.search(r"\b(Given|Family)\d+\b", text)  # people's names
    assert not any(t["id"] in text for t in scim.users())
    assert emulator.url not in text and scim.base_url not in text
    # What the rehearsal needs is there: every entitled user, the groups, the refusals, the limits.
    assert len(doc["app_users"]) == 60
    assert len(doc["groups"]) == 6
    assert len(doc["push_failures"]) == len(small_org.rejected)
    assert len(doc["target"]["users"]) == len(scim.users())  # preloaded, plus the new hires it accepted
    # The limit Okta announces to this client (its share of the bucket), as a request of its own sees it.
    announced = emulator.http.get("/api/v1/apps", params={"limit": 1}).headers["X-Rate-Limit-Limit"]
    assert doc["rate_limits"]["/api/v1/apps"] == int(announced)
    assert doc["latency"]["samples"] > 0
    # Read from the Admin Console form (what its page shows; the token itself never).
    assert doc["app"]["settings_source"] == "admin" and "bearer_token" not in doc["app"]["settings"]
    # Matching survives: the Okta email of a linked user is the userName of a target user.
    target_names = {t["user_name"] for t in doc["target"]["users"]}
    linked = [au for au in doc["app_users"] if au["external_id_present"]]
    assert sum(1 for au in linked if au["user_name"] in target_names) == len(linked) - 1  # the changed email
    # The groups' members are the users each group entitles, by their pseudonymous ids.
    user_ids = {u["id"] for u in doc["users"]}
    assert all(set(g["members"]) <= user_ids for g in doc["groups"])
    assert sum(len(g["members"]) for g in doc["groups"]) == 59  # all but the directly assigned user


def test_no_pseudonymise_keeps_real_values_but_never_a_secret(
    world: tuple[RunningEmulator, ScimServer, Path], small_org: test_org.Org, tmp_path: Path
) -> None:
    _, _, config = world
    out = tmp_path / "real.json"
    assert _snapshot(config, out, "--no-pseudonymise") == 0
    text = out.read_text(encoding="utf-8")
    assert json.loads(text)["pseudonymised"] is False
    assert all(login in text for login in small_org.logins)
    assert small_org.changed[0] in text  # the target's old address
    assert not any(secret in text for secret in _secrets())


def test_an_interrupted_snapshot_continues_where_it_stopped(
    world: tuple[RunningEmulator, ScimServer, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator, _, config = world
    out = tmp_path / "snap.json"
    # The third group's member list fails (a 404: the gateway does not retry it), as a crash would.
    emulator.control.faults(
        targeted=[{"path_pattern": r"/api/v1/groups/[^/]+/users$", "method": "GET", "nth": 3, "status": 404}]
    )
    assert _snapshot(config, out) == 1
    assert not out.exists()
    checkpoint = next((tmp_path / "state").rglob("snapshot.partial.json"))
    partial = json.loads(checkpoint.read_text(encoding="utf-8"))
    assert len(partial["members"]) == 2 and len(partial["app_users"]) == 60
    assert not any(secret in checkpoint.read_text(encoding="utf-8") for secret in _secrets())
    emulator.control.clear_faults()
    emulator.control.reset_stats()
    capsys.readouterr()
    assert _snapshot(config, out, "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["resumed"] is True and summary["groups"] == 6
    stats = emulator.control.stats()["by_bucket"]
    # Nothing already read is read again: no app or app-user request, only the 4 groups left + the log.
    assert "/api/v1/apps" not in stats and "/api/v1/apps/{id}" not in stats
    assert stats["/api/v1/groups"] == 4
    assert not checkpoint.exists()
    assert len(json.loads(out.read_text(encoding="utf-8"))["groups"]) == 6


def _deterministic(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its timings (the calls of polling steps are one: see report.py)."""
    doc = json.loads(json.dumps(report))
    doc.pop("timings")
    doc["snapshot"].pop("taken")
    calls = doc.pop("calls")
    doc["reproducible_calls"] = calls["total"] - calls["polling"]
    for step in doc["steps"]:
        step.pop("predicted_seconds")
        step.pop("rehearsal_seconds")
        if step["polls"]:  # a timing figure: how often it polled while the pushes went on
            step.pop("calls")
            step.pop("calls_by_bucket")
            step.pop("attempts")
            step.pop("job_polls")
    for group in doc["unassigned"]:
        group.pop("longest_rehearsal_seconds")
        group.pop("longest_predicted_seconds")
        group.pop("longest_predicted_upper_seconds")
    return doc


def test_rehearsal_is_reproducible_and_predicts_this_org(
    world: tuple[RunningEmulator, ScimServer, Path],
    small_org: test_org.Org,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, _, config = world
    snap = tmp_path / "snap.json"
    assert _snapshot(config, snap) == 0
    reports = []
    for _ in range(2):
        capsys.readouterr()
        code = main(
            ["rehearse", "--time-scale", str(TIME_SCALE), "--json", str(snap), "chronosphere-onboarding"]
        )
        assert code == 0
        reports.append(json.loads(capsys.readouterr().out))
    first, second = reports
    assert _deterministic(first) == _deterministic(second)
    assert first["run"]["status"] == "completed"
    assert len(first["failures"]) == len(small_org.rejected)
    assert all(f["failed_before"] and "Bad Request" in f["reason"] for f in first["failures"])
    changed = [row for row in first["not_linked"] if row["created"]]
    assert len(changed) == 1 and "email changed?" in changed[0]["why"]
    waits = first["waits_for_person"]
    assert [w["step"] for w in waits if w["kind"] == "confirm"] == ["approve_apply", "approve_resync"]
    # Settings the console page has no field for are console steps for a person (in the real run too):
    # the rehearsal did them and went on.
    assert {w["step"] for w in waits if w["kind"] != "confirm"} <= {"apply"}
    if any(w["kind"] == "console steps" for w in waits):
        assert any(s["id"] == "console" and s["status"] == "ok" for s in first["steps"])
    assert all(g["users_without_app"] == g["users"] for g in first["unassigned"])
    assert all(g["still_without_app"] == 0 for g in first["unassigned"])
    final = first["final_vs_snapshot"]
    assert final["group_assignments"]["lost"] == [] and final["group_assignments"]["changed"] == []
    assert final["target_users"]["after"] == final["target_users"]["before"] + 1  # the changed email


def test_rehearse_a_command_and_write_a_markdown_report(
    world: tuple[RunningEmulator, ScimServer, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, config = world
    snap = tmp_path / "snap.json"
    assert _snapshot(config, snap) == 0
    capsys.readouterr()
    ticket = tmp_path / "rehearsal.md"
    code = main(
        ["rehearse", "--time-scale", str(TIME_SCALE), "--format", "markdown", "--out", str(ticket), str(snap)]
        + ["resync", "--yes"]
    )
    assert code == 0
    text = ticket.read_text(encoding="utf-8")
    assert text.strip() == capsys.readouterr().out.strip()
    assert text.startswith("# Rehearsal: resync --yes on Chronosphere")
    assert "Outcome: **ok** (exit code 0)" in text
    assert "| `/api/v1/apps` |" in text
    assert "## Users without the assignment" in text and "example.com" not in text


def test_console_steps_wait_for_a_person_and_the_rehearsal_goes_on(
    world: tuple[RunningEmulator, ScimServer, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without an admin session a custom SCIM app's settings are console steps for a person (exit 5): the
    report lists them, the rehearsal does them in the emulator and resumes the run, and the resync then
    stops for a person too (it cannot switch Deactivate Users off without an admin session)."""
    _, _, config = world
    text = config.read_text(encoding="utf-8")
    no_admin = tmp_path / "no-admin.yaml"
    no_admin.write_text("\n".join(line for line in text.splitlines() if "admin_session" not in line) + "\n")
    snap = tmp_path / "snap.json"
    assert _snapshot(no_admin, snap) == 0
    doc = json.loads(snap.read_text(encoding="utf-8"))
    assert doc["app"]["settings_source"] == "unreadable" and doc["config"]["okta"]["admin_session"] is False
    capsys.readouterr()
    code = main(["rehearse", "--time-scale", str(TIME_SCALE), "--json", str(snap), "chronosphere-onboarding"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    waits = {(w["step"], w["kind"]): w["detail"] for w in report["waits_for_person"]}
    assert "SCIM connector base URL: enter (SCIM target)" in waits["apply", "console steps"]
    # After the person's console steps (and apply --confirm-manual) the settings pass...
    statuses = {s["id"]: s["status"] for s in report["steps"]}
    assert statuses["apply"] == "ok" and statuses["console"] == "ok"
    # ...and the resync stops, as it would for real: only a person can switch Deactivate Users off.
    assert report["run"]["status"] == "stopped" and statuses["resync"] == "failed"
    assert "Deactivate Users could not be confirmed off" in waits["resync", "stopped"]
    assert "admin session" in waits["resync", "stopped"]


def test_an_api_capable_app_is_snapshot_and_rehearsed_through_the_api_channel(
    emulator: RunningEmulator,
    scim_server: ScimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The standard org's Zscaler app (API-capable): settings come from the connection and the
    USER_PROVISIONING feature, and the rehearsal's emulator app is API-capable too."""
    from oktasync.emulator.testing import API_APP_ID, API_TOKEN, SCIM_TOKEN

    emulator.control.assign_group(API_APP_ID, emulator.control.group_id("engineering"), 0)
    assert emulator.control.wait_idle(30)
    config = tmp_path / "zscaler.yaml"
    config.write_text(
        f"""tenant: acme
okta: {{org_url: "{emulator.url}", token: "{{{{ env.OKTA_API_TOKEN }}}}"}}
app: {{label: Zscaler}}
scim:
  base_url: {scim_server.base_url}
  unique_identifier: userName
  auth: {{mode: http_header, bearer_token: "{{{{ env.SCIM_TOKEN }}}}"}}
to_app: {{create_users: true, update_user_attributes: true, deactivate_users: false}}
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("OKTA_API_TOKEN", API_TOKEN)
    monkeypatch.setenv("SCIM_TOKEN", SCIM_TOKEN)
    monkeypatch.setenv("OKTASYNC_STATE_DIR", str(tmp_path / "state"))
    snap = tmp_path / "snap.json"
    assert main(["snapshot", str(config), "--out", str(snap)]) == 0
    doc = json.loads(snap.read_text(encoding="utf-8"))
    assert doc["app"]["kind"] == "api_capable" and doc["app"]["settings_source"] == "api"
    assert (
        doc["app"]["settings"]["create_users"] is True and doc["app"]["settings"]["deactivate_users"] is False
    )
    assert len(doc["app_users"]) == 3 and doc["target"] is None
    assert SCIM_TOKEN not in snap.read_text(encoding="utf-8")
    capsys.readouterr()
    code = main(["rehearse", "--time-scale", str(TIME_SCALE), "--json", str(snap), "resync", "--yes"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["run"] == {"kind": "command", "name": "resync --yes", "status": "ok", "exit_code": 0}
    assert report["final_vs_snapshot"]["group_assignments"]["lost"] == []
    assert report["calls"]["by_bucket"]["/api/v1/apps"] > 0
    assert [g["users_without_app"] for g in report["unassigned"]] == [3]
