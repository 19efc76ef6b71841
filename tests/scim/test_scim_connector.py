"""`oktasync test-connector` end to end: the real CLI against a real scim2-server, healthy and broken."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from scim_targets import OKTA_TOKEN, TARGET_TOKEN, ConfigWriter, ScimTarget

from oktasync.cli import main


def run_cli(*args: str) -> tuple[int, str, str]:
    # main() maps errors to exit codes exactly as the console script does.
    with CliRunner().isolation() as (out, err, _):
        code = main(list(args))
    stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    assert TARGET_TOKEN not in stdout + stderr and OKTA_TOKEN not in stdout + stderr
    return code, stdout, stderr


def connector_json(
    *configs: Path, write_probe: bool = False, verbose: bool = False
) -> tuple[int, dict[str, Any]]:
    args = ["-vv"] if verbose else []
    args += ["test-connector", *map(str, configs), "--json"]
    if write_probe:
        args.append("--write-probe")
    code, out, err = run_cli(*args)
    if verbose:
        assert "SCIM GET /Users?startIndex=1&count=2 -> 200" in err  # debug logs flow, the token does not
    return code, json.loads(out)


def checks(doc: dict[str, Any], tenant: int = 0) -> dict[str, str]:
    return {c["key"]: c["status"] for c in doc["tenants"][tenant]["checks"]}


def seed_users(target: ScimTarget, n: int = 3) -> list[dict[str, Any]]:
    return [
        target.create(
            f"user{i}@acme.example",
            name={"givenName": "User", "familyName": f"N{i}"},
            emails=[{"value": f"user{i}@acme.example", "primary": True, "type": "work"}],
            active=True,
        )
        for i in range(n)
    ]


def test_healthy_target_passes_and_sends_exactly_oktas_request(
    target: ScimTarget, write_config: ConfigWriter
) -> None:
    seed_users(target)
    code, doc = connector_json(write_config(target.base_url))
    tenant = doc["tenants"][0]
    assert code == 0 and doc["exit_code"] == 0
    assert tenant["okta_verdict"] == "pass"
    statuses = checks(doc)
    expected_pass = [
        "okta_test",
        "paging_integers",
        "content_type",
        "filter_miss",
        "unique_identifier",
        "case_insensitive",
        "wrong_token",
        "unknown_id",
    ]
    assert {k: statuses[k] for k in expected_pass} == dict.fromkeys(expected_pass, "pass")
    assert statuses["discovery_spc"] == "pass"
    # The first request on the wire is Okta's Test Connector Configuration, byte for byte.
    first = target.requests[0]
    assert (first.method, first.path, first.query) == ("GET", "/v2/Users", "startIndex=1&count=2")
    assert first.headers["Authorization"] == f"Bearer {TARGET_TOKEN}"
    assert first.headers["Accept"] == "application/scim+json"
    assert first.headers["User-Agent"] == "Okta SCIM Client 1.0.0"
    # Okta's lookup spelling for unique identifier `email`: userName eq "<email>", percent-encoded.
    lookups = [r.query for r in target.requests if r.query.startswith("filter=")]
    known = [f"filter=userName%20eq%20%22user{i}%40acme.example%22&startIndex=1&count=100" for i in range(3)]
    assert set(known) & set(lookups)
    # Read-only: nothing but GETs.
    assert {r.method for r in target.requests} == {"GET"}


def test_healthy_target_text_output(target: ScimTarget, write_config: ConfigWriter) -> None:
    seed_users(target, 1)
    code, out, _ = run_cli("test-connector", str(write_config(target.base_url)))
    assert code == 0
    assert "Okta's Test Connector Configuration would SUCCEED" in out
    assert "FAIL" not in out


def test_wrong_token_fails_oktas_test(
    target: ScimTarget, write_config: ConfigWriter, monkeypatch: Any
) -> None:
    monkeypatch.setenv("WRONG_TOKEN", "not-the-token")
    code, doc = connector_json(write_config(target.base_url, token_env="WRONG_TOKEN"))
    tenant = doc["tenants"][0]
    assert code == 1
    assert tenant["okta_verdict"] == "fail"
    okta = tenant["checks"][0]
    assert okta["key"] == "okta_test" and okta["status"] == "fail"
    assert "authentication" in okta["detail"] and "401" in okta["detail"]
    assert "bearer_token" in okta["fix"]
    assert "not-the-token" not in json.dumps(doc)


def test_http_500_fails_without_retrying_oktas_request(
    target: ScimTarget, write_config: ConfigWriter
) -> None:
    target.fault(status=500)
    code, out, _ = run_cli("test-connector", str(write_config(target.base_url)))
    assert code == 1
    assert "would FAIL" in out and "HTTP 500" in out and "fix:" in out
    # Okta sends its test once; we do too (a retry would hide what the button shows).
    assert len([r for r in target.requests if r.path == "/v2/Users"]) == 1


def test_string_total_results_fails_the_integer_check(target: ScimTarget, write_config: ConfigWriter) -> None:
    seed_users(target)
    target.fault(string_paging=True)
    code, doc = connector_json(write_config(target.base_url))
    tenant = doc["tenants"][0]
    # Okta's button only needs a 200 ListResponse; the integer rule is what import paging relies on.
    assert tenant["okta_verdict"] == "pass"
    paging = next(c for c in tenant["checks"] if c["key"] == "paging_integers")
    assert paging["status"] == "fail"
    assert "totalResults is string" in paging["detail"]
    assert paging["fix"]
    assert code == 1


def test_text_json_content_type_is_a_warning(target: ScimTarget, write_config: ConfigWriter) -> None:
    seed_users(target)
    target.fault(content_type="text/json;charset=UTF-8")
    code, doc = connector_json(write_config(target.base_url))
    statuses = checks(doc)
    assert statuses["okta_test"] == "pass"
    assert statuses["content_type"] == "warn"
    assert "fail" not in statuses.values()
    assert code == 0


def test_server_that_ignores_filters_fails(target: ScimTarget, write_config: ConfigWriter) -> None:
    seed_users(target)
    target.fault(ignore_filters=True)
    code, doc = connector_json(write_config(target.base_url))
    tenant = doc["tenants"][0]
    statuses = checks(doc)
    assert tenant["okta_verdict"] == "pass"
    assert statuses["filter_miss"] == "fail"
    assert statuses["unique_identifier"] == "fail"
    miss = next(c for c in tenant["checks"] if c["key"] == "filter_miss")
    assert "filter is ignored" in miss["detail"] and "3 result" in miss["detail"]
    assert code == 1


def test_write_probe_creates_checks_duplicate_deactivates_and_cleans_up(
    target: ScimTarget, write_config: ConfigWriter
) -> None:
    seed_users(target, 2)
    before = {u["id"] for u in target.users()}
    code, doc = connector_json(write_config(target.base_url), write_probe=True, verbose=True)
    statuses = checks(doc)
    assert code == 0, doc
    for key in ("probe_create", "probe_duplicate", "probe_deactivate", "probe_cleanup"):
        assert statuses[key] == "pass", (key, doc)
    assert doc["tenants"][0]["leftovers"] == []
    assert {u["id"] for u in target.users()} == before
    # Deactivation is a whole-resource PUT, as Okta sends it for a custom (AIW) app; never a PATCH.
    methods = [r.method for r in target.requests]
    assert "PUT" in methods and "PATCH" not in methods
    assert methods.count("POST") == 2


def test_write_probe_reports_what_it_could_not_delete(target: ScimTarget, write_config: ConfigWriter) -> None:
    seed_users(target, 1)
    target.fault(no_delete=True)
    code, doc = connector_json(write_config(target.base_url), write_probe=True)
    tenant = doc["tenants"][0]
    statuses = checks(doc)
    assert statuses["probe_cleanup"] == "warn"
    assert code == 0  # Okta never deletes; a leftover is reported, not a failure
    [left] = tenant["leftovers"]
    assert left["state"] == "deactivated" and left["userName"].startswith("oktasync-probe-")
    remaining = [u for u in target.users() if u["userName"].startswith("oktasync-probe-")]
    assert [u["id"] for u in remaining] == [left["id"]] and remaining[0]["active"] is False


def test_several_configs_one_section_each_and_worst_exit_code(
    target: ScimTarget, write_config: ConfigWriter, monkeypatch: Any
) -> None:
    seed_users(target, 1)
    good = write_config(target.base_url, tenant="good")
    monkeypatch.setenv("WRONG_TOKEN", "nope")
    bad = write_config(target.base_url, tenant="bad", token_env="WRONG_TOKEN")
    code, doc = connector_json(good, bad)
    assert code == 1
    assert [t["tenant"] for t in doc["tenants"]] == ["good", "bad"]
    assert [t["okta_verdict"] for t in doc["tenants"]] == ["pass", "fail"]
    code, out, _ = run_cli("test-connector", str(good), str(bad))
    assert code == 1 and "== good:" in out and "== bad:" in out


def test_unreachable_target_is_a_failed_okta_test(write_config: ConfigWriter) -> None:
    code, doc = connector_json(write_config("http://127.0.0.1:9/v2"))
    assert code == 1
    assert doc["tenants"][0]["okta_verdict"] == "fail"
    assert "reach" in doc["tenants"][0]["okta_message"]


def test_against_the_shared_scim2_server_fixture(
    scim_server: Any, write_config: ConfigWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator engineer's scim2-server (tests/conftest.py), the target the emulator pushes to."""
    scim_server.create_user("pre@example.com")
    monkeypatch.setenv("SHARED_SCIM_TOKEN", scim_server.token)
    code, doc = connector_json(
        write_config(scim_server.base_url, token_env="SHARED_SCIM_TOKEN"), write_probe=True
    )
    assert code == 0, doc
    assert checks(doc)["unique_identifier"] == "pass"
    assert doc["tenants"][0]["leftovers"] == []
    assert [u["userName"] for u in scim_server.users()] == ["pre@example.com"]


def test_empty_target_lookup_is_skipped_unless_the_write_probe_provides_a_user(
    target: ScimTarget, write_config: ConfigWriter
) -> None:
    config = write_config(target.base_url)
    code, doc = connector_json(config)
    assert code == 0 and checks(doc)["unique_identifier"] == "skip"
    code, doc = connector_json(config, write_probe=True)
    assert code == 0 and checks(doc)["unique_identifier"] == "pass"
    assert [c["key"] for c in doc["tenants"][0]["checks"]].count("unique_identifier") == 1
    assert target.users() == []
