"""Saved plans end to end: `plan --out FILE` then `apply FILE`, through the real CLI against the emulator.

The plan applies when nothing moved; it is refused (exit 4, showing what moved and how to re-plan) when the
config, the Bearer token or the org changed in between; a bad plan file is a clear exit 3 naming the file;
the file never holds a secret.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_plan_e2e_cli import SECRETS, Harness, _settings

from oktasync.emulator.testing import API_APP_ID


def _plan_file(h: Harness, config: str) -> Path:
    out = h.tmp_path / "reviewed.plan.json"
    code, stdout, err = h.run("plan", config, "--out", str(out))
    assert code == 0, stdout + err
    assert f"apply exactly it with: oktasync apply {out}" in err
    return out


def test_saved_plan_applies_exactly_and_holds_no_secret(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    out = _plan_file(h, config)
    text = out.read_text()
    for secret in SECRETS:
        assert secret not in text
    doc = json.loads(text)
    assert doc["document"] == "oktasync-saved-plan" and doc["format_version"] == 1
    tenant = doc["tenants"][0]
    assert tenant["config_sha256"] and tenant["observed"]["scim.base_url"] == {"known": True, "value": None}
    assert "E2E_SCIM_TOKEN" in tenant["bearer_token"]["source"]  # the variable's name, not its value

    h.org.control.reset_stats()
    code, stdout, err = h.run("apply", "--yes", str(out))
    assert code == 0, stdout + err
    assert h.writes()  # the saved changes were written ...
    settings = _settings(h.org, API_APP_ID)
    assert settings["scim_base_url"] == h.scim.base_url and settings["deactivate_users"] is True
    assert h.run("plan", "--detailed-exitcode", config)[0] == 0  # ... and read back: nothing left

    # The same plan again: the org moved (by that very apply), so it is stale now.
    h.org.control.reset_stats()
    code, _, err = h.run("apply", "--yes", str(out))
    assert code == 4 and h.writes() == {}
    assert "SCIM connector base URL (actual, in Okta): saved (none), now" in err
    h.assert_no_secrets()


def test_changed_config_refuses_and_shows_what_moved(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    out = _plan_file(h, config)
    path = Path(config)
    path.write_text(path.read_text().replace("deactivate_users: true", "deactivate_users: false"))

    h.org.control.reset_stats()
    code, stdout, err = h.run("apply", "--yes", str(out))
    assert code == 4, stdout + err
    assert h.writes() == {}
    assert f"config file {config}: saved " in err
    assert "To App: Deactivate Users (desired): saved true, now false" in err
    assert f"oktasync plan {config} --out {out}" in err  # the command to re-plan
    assert _settings(h.org, API_APP_ID)["deactivate_users"] is False


def test_changed_org_refuses(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    out = _plan_file(h, config)
    # Someone changed the connection in the Admin Console (To App settings of this OIN app are unreadable
    # until provisioning is on, so the connector is what the plan saw).
    h.org.control.set_app_settings(API_APP_ID, scim_base_url="https://elsewhere.example/scim/v2")

    h.org.control.reset_stats()
    code, stdout, err = h.run("apply", "--yes", "--json", str(out))
    assert code == 4, stdout + err
    assert h.writes() == {}
    doc = json.loads(stdout)
    assert doc["exit_code"] == 4 and doc["replan"].endswith(f"--out {out}")
    moved = {m["what"]: (m["saved"], m["now"]) for m in doc["moved"]}
    assert moved["SCIM connector base URL (actual, in Okta)"] == (
        "(none)",
        "'https://elsewhere.example/scim/v2'",
    )
    assert all(m["tenant"] == "zs" for m in doc["moved"])


def test_changed_bearer_token_refuses(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    out = _plan_file(h, config)
    monkeypatch.setenv("E2E_SCIM_TOKEN", "another-token-SECRET-0042")
    code, stdout, err = h.run("apply", "--yes", str(out))
    assert code == 4, stdout + err
    assert "SCIM Bearer token" in err and "another-token-SECRET-0042" not in stdout + err


HEAD = '{"document": "oktasync-saved-plan", '


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (HEAD + '"format_version": 1, "tenants": [', "not valid JSON"),  # truncated
        (HEAD + '"format_version": 99, "tenants": []}', "newer oktasync"),
        (HEAD + '"format_version": 1, "tenants": [{"tenant": "x"}]}', "malformed"),
        (HEAD + '"format_version": 1, "tenants": []}', "lists no tenants"),
        (HEAD + '"format_version": "1", "tenants": []}', "format_version"),
        (b"\xff\xfe oktasync-saved-plan", "not UTF-8"),
    ],
)
def test_bad_plan_file_is_a_clear_exit_3(h: Harness, content: str | bytes, expected: str) -> None:
    path = h.tmp_path / "bad.plan.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, stdout, err = h.run("apply", "--yes", str(path))
    assert code == 3, stdout + err
    assert str(path) in err and expected in err and "fix:" in err
    assert "Traceback" not in stdout + err


def test_plan_file_with_configs_or_rotate_token_is_a_usage_error(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    out = _plan_file(h, config)
    code, _, err = h.run("apply", "--yes", str(out), config)
    assert code == 64 and "not both" in err
    code, _, err = h.run("apply", "--yes", "--rotate-token", str(out))
    assert code == 64 and "part of the plan" in err


def test_plan_of_a_tenant_that_failed_is_not_saved(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("zs", "NoSuchApp", admin=False, monkeypatch=monkeypatch)
    out = h.tmp_path / "not-saved.json"
    code, _, err = h.run("plan", config, "--out", str(out))
    assert code == 1 and "was not saved" in err
    assert not out.exists()


def test_changed_template_value_refuses_though_the_file_is_the_same(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file's bytes are not all: a value templated from the environment that changed moves the plan."""
    config = Path(h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch))
    config.write_text(config.read_text().replace(f'"{h.scim.base_url}"', '"{{ env.E2E_BASE_URL }}"'))
    monkeypatch.setenv("E2E_BASE_URL", h.scim.base_url)
    out = _plan_file(h, str(config))
    monkeypatch.setenv("E2E_BASE_URL", h.scim.base_url + "/other")

    h.org.control.reset_stats()
    code, stdout, err = h.run("apply", "--yes", str(out))
    assert code == 4, stdout + err
    assert h.writes() == {}
    assert "config file" not in err  # the bytes did not change ...
    assert "zs: config as rendered (templated values): saved " in err  # ... what they render to did
    assert (
        f"SCIM connector base URL (desired): saved '{h.scim.base_url}', now '{h.scim.base_url}/other'" in err
    )


def test_plan_naming_a_config_that_is_gone_refuses(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    out = _plan_file(h, config)
    Path(config).unlink()
    code, stdout, err = h.run("apply", "--yes", str(out))
    assert code == 4, stdout + err
    assert f"names configs that are not there now: {config}" in err and "--out" in err


def test_plan_json_output_is_not_a_saved_plan(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """`plan --json > file` is a report, not a saved plan: apply reads it as a config and rejects it."""
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    code, stdout, _ = h.run("plan", "--json", config)
    report = h.tmp_path / "plan-report.json"
    report.write_text(stdout)
    h.org.control.reset_stats()
    code, stdout, err = h.run("apply", "--yes", str(report))
    assert code == 3, stdout + err
    assert str(report) in err and "output of plan --json" in err and "--out FILE" in err
    assert "Traceback" not in err
    assert h.writes() == {}
