"""End to end on every Admin Console page variant: the real CLI against the emulator and a real scim2-server.

What the page offers is written through the form and proven by a read-back; every other setting is exit 5
with its console steps; after a person does them, `apply --confirm-manual` converges and `plan
--detailed-exitcode` is 0. Also: provisioning never switched on, `doctor` on valid, expired and
network-bound sessions, and the resync's Deactivate Users switch on a page without that field.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from test_plan_e2e_cli import (  # tests/ is not a package: modules import by basename
    ADMIN_SID,
    API_TOKEN,
    LAPTOP_SID,
    SCIM_TOKEN,
    Harness,
    _settings,
    _twice_clean,
)

from oktasync.emulator.testing import CUSTOM_APP_ID
from oktasync.errors import ManualActionRequired
from oktasync.models import AppKind, Channel
from oktasync.okta_gateway.admin import CI_VARIABLES
from oktasync.okta_gateway.auth import SswsAuth
from oktasync.okta_gateway.sdk import SdkGateway
from oktasync.workflows.channels import set_deactivate_users

NOT_EVIDENCED = {
    "scim.unique_identifier",
    "scim.push_new_users",
    "scim.push_profile_updates",
    "scim.auth.mode",
}
# Settings a person must do, per page variant (the token is sent by the form on every variant).
PERSON = {
    "evidence": NOT_EVIDENCED,
    "full": set(),
    "relabelled": set(),
    "without_deactivate": NOT_EVIDENCED | {"to_app.deactivate_users"},
}
STEP_TEXT = {
    "scim.unique_identifier": "Unique identifier field for users: enter email",
    "scim.push_new_users": "select (tick) Push New Users",
    "scim.push_profile_updates": "select (tick) Push Profile Updates",
    "scim.auth.mode": "Authentication Mode: choose HTTP Header.",
    "to_app.deactivate_users": "Deactivate Users: select (tick) the Enable checkbox.",
}
WHAT_A_PERSON_SETS = {
    "scim.unique_identifier": {"unique_identifier": "email"},
    "scim.push_new_users": {"push_new_users": True},
    "scim.push_profile_updates": {"push_profile_updates": True},
    "scim.auth.mode": {"auth_mode": "header"},
    "to_app.deactivate_users": {"deactivate_users": True},
}


@pytest.fixture(autouse=True)
def attended(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CI variables unless a test sets them (the session messages depend on them)."""
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("variant", sorted(PERSON))
def test_apply_on_every_page_variant(h: Harness, monkeypatch: pytest.MonkeyPatch, variant: str) -> None:
    h.org.control.behaviour(admin_form=variant)
    config = h.config("cs", "Chronosphere", admin=True, monkeypatch=monkeypatch)
    code, out, err = h.run("plan", "--detailed-exitcode", "--json", config)
    assert code == 2, out + err
    settings = {s["key"]: s for s in json.loads(out)["tenants"][0]["settings"]}
    manual = {k for k, s in settings.items() if s["channel"] == "manual"} - {"general.provisioning"}
    assert manual == PERSON[variant]
    by_label = {k for k, s in settings.items() if s["assumed"] and "labelled" in s["assumed"]}
    if variant == "relabelled":
        assert by_label == set(settings) - {"general.provisioning"}  # no evidenced name on the page
    else:
        assert by_label == NOT_EVIDENCED - PERSON[variant]

    code, out, err = h.run("apply", "--yes", "--json", config)
    assert code == 5, out + err
    doc = json.loads(out)["tenants"][0]
    actions = {(a["key"], a["action"]) for a in doc["actions"]}
    assert ("scim.auth.bearer_token", "sent") in actions and ("scim.base_url", "verified") in actions
    assert {k for k, a in actions if a == "verified"} == set(settings) - PERSON[variant] - {
        "general.provisioning",
        "scim.auth.bearer_token",
        "scim.auth.mode",  # already in sync where the page shows it: nothing to write
    }
    steps = "\n".join(doc["manual_steps"])
    for key, text in STEP_TEXT.items():
        assert (text in steps) is (key in PERSON[variant]), (key, steps)
    assert "Test Connector Configuration" in steps and SCIM_TOKEN not in steps
    written = _settings(h.org, CUSTOM_APP_ID)
    assert written["scim_base_url"] == h.scim.base_url and written["bearer_token"] == "(sensitive)"
    assert written["create_users"] and written["update_user_attributes"]
    assert written["deactivate_users"] is (variant != "without_deactivate")

    # A person does the console steps, then confirms them.
    changes: dict[str, Any] = {}
    for key in PERSON[variant]:
        changes.update(WHAT_A_PERSON_SETS[key])
    if changes:
        h.org.control.set_app_settings(CUSTOM_APP_ID, **changes)
    code, out, err = h.run("apply", "--yes", "--confirm-manual", config)
    assert code == 0, out + err
    code, out, _ = h.run("plan", "--detailed-exitcode", config)
    assert code == 0, out
    _twice_clean(h, config)
    h.assert_no_secrets()


def test_provisioning_never_enabled(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    h.org.control.set_app_settings(CUSTOM_APP_ID, provisioning_enabled=False)
    config = h.config("cs", "Chronosphere", admin=True, monkeypatch=monkeypatch)
    code, out, err = h.run("plan", "--detailed-exitcode", config)
    assert code == 2, out + err
    assert "General: Provisioning (SCIM)" in out and "set Provisioning to SCIM" in out
    assert "waits for General > Provisioning: SCIM" in out
    h.org.control.reset_stats()
    code, out, err = h.run("apply", "--yes", "--confirm-manual", config)
    assert code == 5, out + err
    assert "set Provisioning to SCIM" in out and h.writes() == {}
    code, out, _ = h.run("doctor", config)
    assert code == 0 and "General > Provisioning: SCIM is off" in out
    h.org.control.set_app_settings(CUSTOM_APP_ID, provisioning_enabled=True)  # a person: runbook step 4
    code, out, err = h.run("plan", "--json", config)
    assert code == 0, out + err
    provisioning = next(
        s for s in json.loads(out)["tenants"][0]["settings"] if s["key"] == "general.provisioning"
    )
    assert provisioning["status"] == "in_sync" and provisioning["read"].endswith("(SCIM_PROVISIONING)")


def _session_check(h: Harness, config: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = h.run("doctor", "--json", config)
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    return code, checks


def test_doctor_tells_valid_expired_and_network_bound_sessions_apart(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = h.config("cs", "Chronosphere", admin=True, monkeypatch=monkeypatch)
    code, checks = _session_check(h, config)
    valid = checks["admin session"]
    assert code == 0 and valid["ok"] is True
    assert "it can change: SCIM connector base URL, Bearer token" in valid["detail"]
    assert "console steps: Unique identifier field for users" in valid["detail"]  # evidence-only page
    assert checks["admin session run"]["warning"] is True  # CliRunner: no terminal on stdin
    assert "15 idle minutes" in checks["admin session run"]["detail"]

    h.org.control.expire_admin_session(ADMIN_SID)
    code, checks = _session_check(h, config)
    expired = checks["admin session"]
    assert code == 1 and expired["ok"] is False
    assert "most likely expired" in expired["detail"] and "15 minutes" in expired["detail"]

    h.org.control.behaviour(admin_network_binding=True)
    monkeypatch.setenv("CI", "true")
    laptop = h.config("cs", "Chronosphere", admin=True, monkeypatch=monkeypatch, sid=LAPTOP_SID)
    code, checks = _session_check(h, laptop)
    bound = checks["admin session"]
    assert code == 1 and bound["ok"] is False
    assert "CI job (CI set)" in bound["detail"] and "network (ASN)" in bound["detail"]
    assert len({valid["detail"], expired["detail"], bound["detail"]}) == 3
    h.assert_no_secrets()


def test_resync_asks_a_person_when_the_page_has_no_deactivate_users(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.org.control.behaviour(admin_form="without_deactivate")
    config = h.config("cs", "Chronosphere", admin=True, monkeypatch=monkeypatch)
    code, out, err = h.run("resync", "--dry-run", "--json", config)
    assert code == 0, out + err
    assert json.loads(out)["deactivate_users"]["channel"] == "manual"

    shown: list[list[str]] = []

    def person(steps: list[str]) -> None:
        shown.append(steps)
        h.org.control.set_app_settings(CUSTOM_APP_ID, deactivate_users=True)  # the person does them

    async def switch() -> tuple[Channel, Channel]:
        gw = SdkGateway(h.org.url, SswsAuth(API_TOKEN), admin_session=ADMIN_SID)
        try:
            app = await gw.get_app(CUSTOM_APP_ID)
            with pytest.raises(ManualActionRequired) as asked:
                await set_deactivate_users(gw, app, AppKind.CUSTOM_SCIM, True)
            assert "no Deactivate Users field" in asked.value.message
            waited = await set_deactivate_users(
                gw, app, AppKind.CUSTOM_SCIM, True, wait_for_person=person, poll_interval=0.05, timeout=10
            )
            h.org.control.behaviour(admin_form="evidence")  # the same switch through the form
            written = await set_deactivate_users(gw, app, AppKind.CUSTOM_SCIM, False)
            return waited, written
        finally:
            await gw.close()

    assert asyncio.run(switch()) == (Channel.MANUAL, Channel.ADMIN)
    assert shown and any("Deactivate Users: select (tick)" in step for step in shown[0])
    assert _settings(h.org, CUSTOM_APP_ID)["deactivate_users"] is False
    assert [e["source"] for e in h.org.control.settings_history(CUSTOM_APP_ID)][-2:] == ["control", "admin"]


def test_a_cookies_txt_file_is_the_session(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A browser's cookie export (Netscape cookies.txt), read with {{ file(...) }} in the config."""
    host = h.org.url.split("://", 1)[1].split(":", 1)[0]
    (h.tmp_path / "cookies.txt").write_text(
        "# Netscape HTTP Cookie File\n"
        f"{host}\tFALSE\t/\tFALSE\t0\tsid\t{ADMIN_SID}\n"
        f"{host}\tFALSE\t/\tFALSE\t1000\tsid_old\texpired-long-ago\n"
        f"other.example\tFALSE\t/\tFALSE\t0\tsid\tnot-for-this-host\n"
    )
    config = h.config("cs", "Chronosphere", admin=False, monkeypatch=monkeypatch)
    with open(config) as handle:
        text = handle.read().replace(
            "\"{{ env.E2E_ADMIN_SESSION | default('') }}\"", "\"{{ file('cookies.txt') }}\""
        )
    with open(config, "w") as handle:
        handle.write(text)
    code, checks = _session_check(h, config)
    assert code == 0 and checks["admin session"]["ok"] is True, checks
    h.assert_no_secrets()
