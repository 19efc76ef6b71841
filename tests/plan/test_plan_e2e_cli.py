"""End to end: the real CLI (plan / apply) against the emulator and a real scim2-server.

Three apps: (a) API-capable, (b) custom SCIM with an admin session, (c) custom SCIM without one. For each:
first plan shows changes (exit 2 with --detailed-exitcode), apply succeeds (0) or needs a person (5, steps
with the base URL), second plan is clean (0), and a second apply sends no write to the emulator. No secret
appears in any output, log or state-dir file.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from oktasync.cli import main
from oktasync.emulator.scim_target import ScimServer
from oktasync.emulator.testing import API_APP_ID, CUSTOM_APP_ID, RunningEmulator, run_emulator

API_TOKEN = "api-tok-SECRET-7f3a51"
ADMIN_SID = "sid-SECRET-91b2c7"
LAPTOP_SID = "sid-SECRET-laptop-3e"  # an admin session signed in on another network (a person's laptop)
SCIM_TOKEN = "scim-test-token"  # what the scim_server fixture accepts
SECRETS = (API_TOKEN, ADMIN_SID, LAPTOP_SID, SCIM_TOKEN)
WRITE_METHODS = ("POST", "PUT", "DELETE", "PATCH")


def _seed() -> dict[str, Any]:
    blank = {
        "unique_identifier": "userName",
        "push_new_users": False,
        "push_profile_updates": False,
        "create_users": False,
        "update_user_attributes": False,
        "deactivate_users": False,
    }
    return {
        "api_tokens": [API_TOKEN],
        "admin_sessions": [
            {"id": ADMIN_SID, "xsrf_token": "xsrf-SECRET-55"},
            {"id": LAPTOP_SID, "xsrf_token": "xsrf-SECRET-56", "network": "admin-laptop"},
        ],
        "users": [{"login": "alice@example.com", "firstName": "A", "lastName": "E"}],
        "apps": [
            {
                "id": CUSTOM_APP_ID,
                "name": "chronosphere_scim",
                "label": "Chronosphere",
                "kind": "custom_scim",
                "settings": dict(blank),
            },
            {
                "id": API_APP_ID,
                "name": "zscalerbyz",
                "label": "Zscaler",
                "kind": "api",
                "settings": dict(blank),
            },
        ],
    }


CONFIG = """\
tenant: {tenant}
okta:
  org_url: {org_url}
  token: "{{{{ env.E2E_OKTA_TOKEN }}}}"
  admin_session: "{{{{ env.E2E_ADMIN_SESSION | default('') }}}}"
app:
  label: {label}
scim:
  base_url: "{base_url}"
  unique_identifier: email
  push_new_users: true
  push_profile_updates: true
  auth:
    mode: http_header
    bearer_token: "{{{{ env.E2E_SCIM_TOKEN }}}}"
to_app:
  create_users: true
  update_user_attributes: true
  deactivate_users: true
"""


@pytest.fixture
def org(scim_server: ScimServer, okta_sdk_env: None) -> Iterator[RunningEmulator]:
    with run_emulator(_seed(), api_token=API_TOKEN) as running:
        yield running


class Harness:
    def __init__(
        self, tmp_path: Path, org: RunningEmulator, scim: ScimServer, monkeypatch: pytest.MonkeyPatch
    ):
        self.tmp_path, self.org, self.scim = tmp_path, org, scim
        self.state_dir = tmp_path / "state"
        self.outputs: list[str] = []
        monkeypatch.setenv("E2E_OKTA_TOKEN", API_TOKEN)
        monkeypatch.setenv("E2E_SCIM_TOKEN", SCIM_TOKEN)

    def config(
        self, tenant: str, label: str, *, admin: bool, monkeypatch: pytest.MonkeyPatch, sid: str = ADMIN_SID
    ) -> str:
        if admin:
            monkeypatch.setenv("E2E_ADMIN_SESSION", sid)
        path = self.tmp_path / f"{tenant}.yaml"
        path.write_text(
            CONFIG.format(tenant=tenant, org_url=self.org.url, label=label, base_url=self.scim.base_url)
        )
        return str(path)

    def run(self, *args: str) -> tuple[int, str, str]:
        # main() maps errors to exit codes exactly as the console script does.
        with CliRunner().isolation() as (stdout, stderr, _):
            code = main(["--state-dir", str(self.state_dir), "-vv", *args])
            out, err = stdout.getvalue().decode(), stderr.getvalue().decode()
        self.outputs += [out, err]
        return code, out, err

    def writes(self) -> dict[str, int]:
        routes = self.org.control.stats()["by_route"]
        return {r: n for r, n in routes.items() if r.split(" ", 1)[0] in WRITE_METHODS and n}

    def assert_no_secrets(self) -> None:
        files = [p for p in self.state_dir.rglob("*") if p.is_file()]
        texts = self.outputs + [p.read_text(errors="replace") for p in files]
        for secret in SECRETS:
            for text in texts:
                assert secret not in text


@pytest.fixture
def h(
    tmp_path: Path, org: RunningEmulator, scim_server: ScimServer, monkeypatch: pytest.MonkeyPatch
) -> Harness:
    return Harness(tmp_path, org, scim_server, monkeypatch)


def _settings(org: RunningEmulator, app_id: str) -> dict[str, Any]:
    app = next(a for a in org.control.state()["apps"] if a["id"] == app_id)
    settings: dict[str, Any] = app["settings"]
    return {**settings, "connection_status": app.get("connection_status")}


def _twice_clean(h: Harness, config: str) -> None:
    code, out, _ = h.run("plan", "--detailed-exitcode", config)
    assert code == 0, out
    h.org.control.reset_stats()
    code, out, _ = h.run("apply", "--yes", config)
    assert code == 0, out
    assert "No changes." in out
    assert h.writes() == {}


def test_api_capable_app(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    code, out, err = h.run("plan", "--detailed-exitcode", config)
    assert code == 2, out + err
    assert "API-capable app" in out and "[api]" in out and "not applicable" in out

    code, out, err = h.run("apply", "--yes", "--json", config)
    assert code == 0, out + err
    doc = json.loads(out)
    assert doc["format_version"] == 1 and doc["tenants"][0]["outcome"] == "applied"
    settings = _settings(h.org, API_APP_ID)
    assert settings["scim_base_url"] == h.scim.base_url and settings["connection_status"] == "ENABLED"
    assert settings["bearer_token"] == "(sensitive)" and settings["deactivate_users"] is True
    _twice_clean(h, config)
    h.assert_no_secrets()


def test_custom_app_with_admin_session(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page with a field for every setting (``full``): everything but the token's check is automatic.
    tests/plan/test_admin_console_e2e.py runs every page variant."""
    h.org.control.behaviour(admin_form="full")
    config = h.config("cs", "Chronosphere", admin=True, monkeypatch=monkeypatch)
    code, out, err = h.run("plan", "--detailed-exitcode", "--json", config)
    assert code == 2, out + err
    plan = json.loads(out)["tenants"][0]
    assert plan["kind"] == "custom_scim" and plan["admin_session"] is True
    channels = {s["key"]: s["channel"] for s in plan["settings"]}
    assert channels.pop("general.provisioning") == "manual" and set(channels.values()) == {"admin"}
    statuses = {s["key"]: s["status"] for s in plan["settings"]}
    assert statuses.pop("scim.auth.mode") == "in_sync"  # the seed already has HTTP Header
    assert statuses.pop("general.provisioning") == "in_sync"
    assert set(statuses.values()) == {"change"}

    code, out, err = h.run("apply", "--yes", config)
    assert code == 5, out + err  # the token was sent, but nothing reads it back: a person checks it
    assert "Test Connector Configuration" in out
    settings = _settings(h.org, CUSTOM_APP_ID)
    assert settings["scim_base_url"] == h.scim.base_url and settings["unique_identifier"] == "email"
    assert settings["push_new_users"] and settings["create_users"] and settings["deactivate_users"]
    assert h.run("apply", "--yes", "--confirm-manual", config)[0] == 0
    _twice_clean(h, config)
    # the token is not rewritten on re-apply, but a rotation writes it (and a person checks it again)
    h.org.control.reset_stats()
    assert h.run("apply", "--yes", "--rotate-token", config)[0] == 5
    assert h.writes()
    assert h.run("plan", "--detailed-exitcode", config)[0] == 0  # unverifiable is not drift
    h.assert_no_secrets()


APP_READ = "GET /api/v1/apps/{app_id}"


def test_custom_app_without_admin_session(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("cm", "Chronosphere", admin=False, monkeypatch=monkeypatch)
    code, out, err = h.run("plan", "--detailed-exitcode", config)
    assert code == 2, out + err
    assert "cannot be verified" in out and h.scim.base_url in out

    h.org.control.reset_stats()
    code, out, err = h.run("apply", "--yes", config)
    assert code == 5, out + err
    assert f"SCIM connector base URL: enter {h.scim.base_url}" in out
    assert "E2E_SCIM_TOKEN" in out  # where to paste the token from, never the token
    assert h.writes() == {}

    # A person does the steps while apply --wait polls; --confirm-manual records the unreadable ones.
    def person() -> None:
        h.org.control.set_app_settings(
            CUSTOM_APP_ID,
            scim_base_url=h.scim.base_url,
            unique_identifier="email",
            push_new_users=True,
            push_profile_updates=True,
            bearer_token=SCIM_TOKEN,
            create_users=True,
            update_user_attributes=True,
            deactivate_users=True,
        )

    # The person acts only once apply is polling (an app read beyond the ones a plan makes), so the test
    # does not depend on how fast apply starts on a loaded machine.
    h.org.control.reset_stats()
    assert h.run("plan", config)[0] == 0
    plan_reads = h.org.control.stats()["by_route"].get(APP_READ, 0)
    assert plan_reads > 0
    h.org.control.reset_stats()

    def person_once_apply_polls() -> None:
        deadline = time.monotonic() + 30
        while h.org.control.stats()["by_route"].get(APP_READ, 0) <= plan_reads:
            if time.monotonic() > deadline:
                return  # apply never polled: the assertions below fail and say so
            time.sleep(0.02)  # polling the emulator's counters, not waiting for a race to pass
        person()

    timer = threading.Thread(target=person_once_apply_polls)
    timer.start()
    try:
        code, out, err = h.run(
            "apply",
            "--yes",
            "--wait",
            "--confirm-manual",
            "--wait-timeout",
            "30",
            "--wait-interval",
            "0.1",
            config,
        )
    finally:
        timer.join()
    assert code == 0, out + err
    assert "waited" in out and "confirmed" in out
    code, out, _ = h.run("plan", "--json", "--detailed-exitcode", config)
    assert code == 0
    statuses = {s["key"]: s["status"] for s in json.loads(out)["tenants"][0]["settings"]}
    assert statuses["scim.base_url"] == "confirmed_manually" and statuses["to_app.create_users"] == "in_sync"
    _twice_clean(h, config)
    h.assert_no_secrets()


def test_many_tenants_aggregate_exit_code(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    api = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    manual = h.config("cm", "Chronosphere", admin=False, monkeypatch=monkeypatch)
    code, out, _ = h.run("apply", "--yes", "--json", api, manual)
    doc = json.loads(out)
    assert [t["exit_code"] for t in doc["tenants"]] == [0, 5] and code == 5
    h.assert_no_secrets()


def test_apply_without_terminal_or_yes_refuses(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    h.org.control.reset_stats()
    code, _, err = h.run("apply", config)
    assert code == 4 and "--yes" in err
    assert h.writes() == {}


def test_doctor_channel_tables(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    api = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    code, out, err = h.run("doctor", "--json", api)
    assert code == 0, out + err
    doc = json.loads(out)
    assert doc["kind"] == "api_capable"
    rows = {r["key"]: r for r in doc["channels"]}
    assert rows["scim.base_url"]["write"] == "api" and rows["scim.unique_identifier"]["write"] is None
    assert any(r["bucket"] for r in doc["rate_limits"])

    manual = h.config("cm", "Chronosphere", admin=False, monkeypatch=monkeypatch)
    code, out, _ = h.run("doctor", manual)
    assert code == 0 and "custom SCIM app" in out and "cannot be verified" in out

    h.org.control.behaviour(admin_form="full")
    admin = h.config("cs", "Chronosphere", admin=True, monkeypatch=monkeypatch)
    code, out, _ = h.run("doctor", "--json", admin)
    doc = json.loads(out)
    writers = {r["key"]: r["write"] for r in doc["channels"]}
    assert writers.pop("general.provisioning") == "manual"
    assert code == 0 and set(writers.values()) == {"admin"}
    assert next(c for c in doc["checks"] if c["name"] == "admin session")["ok"] is True

    h.org.control.expire_admin_session(ADMIN_SID)
    code, out, _ = h.run("doctor", "--json", admin)
    assert code == 1
    assert next(c for c in json.loads(out)["checks"] if c["name"] == "admin session")["ok"] is False
    h.assert_no_secrets()


@pytest.mark.parametrize(("answer", "code"), [("n\n", 4), ("y\n", 0)])
def test_apply_asks_on_a_terminal(
    h: Harness, monkeypatch: pytest.MonkeyPatch, answer: str, code: int
) -> None:
    import oktasync.cli.apply as apply_cli

    monkeypatch.setattr(apply_cli, "_interactive", lambda: True)
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    h.org.control.reset_stats()
    with CliRunner().isolation(input=answer) as (stdout, stderr, _):
        got = main(["--state-dir", str(h.state_dir), "apply", config])
        out, err = stdout.getvalue().decode(), stderr.getvalue().decode()
    assert got == code, out + err
    assert "Apply these changes?" in err and "Bearer token" in out
    assert bool(h.writes()) is (code == 0)
