"""`oktasync report unmanaged` end to end: real CLI, the Okta emulator (through the SDK gateway) and a real
scim2-server holding a 555-user migration; every row is compared."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from migration_fixture import Migration, build, target_body
from scim_targets import OKTA_TOKEN, TARGET_TOKEN, ConfigWriter, ScimTarget, run_target

from oktasync.cli import main
from oktasync.emulator.testing import RunningEmulator, run_emulator
from oktasync.workflows.report import COLUMNS


def run_cli(*args: str) -> tuple[int, str, str]:
    # main() maps errors to exit codes exactly as the console script does.
    with CliRunner().isolation() as (out, err, _):
        code = main(list(args))
    stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    assert TARGET_TOKEN not in stdout + stderr
    assert OKTA_TOKEN not in stdout + stderr
    return code, stdout, stderr


@pytest.fixture(scope="module")
def migration() -> Iterator[tuple[Migration, ScimTarget, RunningEmulator]]:
    plan = build()
    with run_target(TARGET_TOKEN) as target:
        ids = {s.user_name: target.create(s.user_name, **target_body(s))["id"] for s in plan.targets}
        seed = plan.seed(ids, api_token=OKTA_TOKEN, base_url=target.base_url, scim_token=TARGET_TOKEN)
        with run_emulator(seed, api_token=OKTA_TOKEN) as emulator:
            yield plan, target, emulator


@pytest.fixture
def config(
    migration: tuple[Migration, ScimTarget, RunningEmulator], write_config: ConfigWriter, okta_sdk_env: None
) -> str:
    _, target, emulator = migration
    return str(write_config(target.base_url, org_url=emulator.url))


def observed(rows: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    keys = ("category", "suggested_action", "match", "okta_login")
    return {r["target_userName"]: tuple(r[k] for k in keys) for r in rows}


def test_every_target_user_is_classified_exactly(
    migration: tuple[Migration, ScimTarget, RunningEmulator], config: str
) -> None:
    plan, target, _ = migration
    target.requests.clear()
    code, out, _ = run_cli("report", "unmanaged", config, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["complete"] is True
    assert len(plan.targets) >= 500 and len(doc["rows"]) == len(plan.targets)
    got = observed(doc["rows"])
    expected = plan.expected_rows()
    wrong = {name: (got.get(name), want) for name, want in expected.items() if got.get(name) != want}
    assert not wrong, f"{len(wrong)} misclassified, e.g. {list(wrong.items())[:5]}"
    summary = doc["summary"]
    assert summary == {
        "target_users": 555,
        "managed": 300 + 20 + 10 + 20 + 15,
        "inactive": 40,
        "email_changed": 40 + 15 + 10,
        "unmanaged": 5 + 80,
        "action_none": 365 + 40,
        "action_deactivate": 80,
        "action_change_email": 65,
        "action_review": 5,
        "okta_app_users": len(plan.okta),
        "okta_linked_to_missing_target_user": 1,
    }
    # Both emails are shown for an email change.
    row = next(r for r in doc["rows"] if r["target_userName"] == "maiden3@acme.example")
    assert (row["target_email"], row["okta_email"]) == ("maiden3@acme.example", "married3@acme.example")
    # Paged as Okta's import does: count=100, startIndex advancing, no duplicates.
    pages = [r.query for r in target.requests if r.path == "/v2/Users"]
    assert pages == [f"startIndex={1 + 100 * k}&count=100" for k in range(6)]
    assert doc["paging"]["unstable_ordering"] is False and doc["paging"]["pages"] == 6


def test_csv_is_one_row_per_target_user_in_stable_columns(
    migration: tuple[Migration, ScimTarget, RunningEmulator], config: str
) -> None:
    plan, _, _ = migration
    code, out, _ = run_cli("report", "unmanaged", config, "--format", "csv")
    assert code == 0
    reader = csv.DictReader(io.StringIO(out))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    rows = list(reader)
    assert observed(rows) == plan.expected_rows()
    assert {r["target_active"] for r in rows} == {"true", "false"}
    assert all(r["target_id"] for r in rows)


def test_table_lists_only_what_needs_a_decision(config: str) -> None:
    code, out, _ = run_cli("report", "unmanaged", config)
    assert code == 0
    assert "555 target users: 365 managed, 40 inactive, 65 email changed, 85 unmanaged" in out
    lines = out.splitlines()
    assert sum(1 for line in lines if line.startswith("deactivate ")) == 80
    assert sum(1 for line in lines if line.startswith("change_email ")) == 65
    assert sum(1 for line in lines if line.startswith("review ")) == 5
    assert not any("m17@acme.example" in line for line in lines)  # managed users are not listed


def test_unstable_paging_is_reported_and_fails(
    write_config: ConfigWriter, okta_sdk_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with run_target(TARGET_TOKEN) as target:
        for i in range(250):
            target.create(f"u{i}@acme.example", emails=[{"value": f"u{i}@acme.example", "primary": True}])
        seed = {
            "api_tokens": [OKTA_TOKEN],
            "apps": [{"id": "0oaunstable0000000001", "name": "chronosphere_scim", "label": "Chronosphere"}],
        }
        with run_emulator(seed, api_token=OKTA_TOKEN) as emulator:
            target.fault(shuffle_pages=True)
            path = write_config(target.base_url, org_url=emulator.url)
            code, out, err = run_cli("report", "unmanaged", str(path), "--format", "json")
    doc = json.loads(out)
    assert doc["paging"]["unstable_ordering"] is True
    assert doc["paging"]["duplicate_ids"]
    assert doc["complete"] is False and code == 1
    assert "unstable ordering" in err and "incomplete" in err
    assert len(doc["rows"]) == doc["paging"]["distinct_users"] < 250


def test_target_refusing_the_token_is_a_clear_error(
    migration: tuple[Migration, ScimTarget, RunningEmulator],
    write_config: ConfigWriter,
    okta_sdk_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, target, emulator = migration
    monkeypatch.setenv("WRONG_TOKEN", "wrong-scim-token")
    path = write_config(target.base_url, org_url=emulator.url, token_env="WRONG_TOKEN")
    code, out, err = run_cli("report", "unmanaged", str(path), "--format", "csv")
    assert code == 1 and out == ""
    assert "HTTP 401" in err and "scim.auth.bearer_token" in err and "Traceback" not in err
    assert "wrong-scim-token" not in err
