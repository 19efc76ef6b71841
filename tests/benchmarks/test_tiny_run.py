"""The benchmark harness end to end at a tiny scale (seconds): both sides of each scenario really run against
the emulator, and their results are checked, so a broken harness or baseline fails CI."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import pytest

from benchmarks import orgs, scenarios
from benchmarks.__main__ import main
from benchmarks.harness import SCALES
from benchmarks.scim_stub import ScimStub

TINY = SCALES["tiny"]


@pytest.fixture(autouse=True)
def _sdk_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")


def test_resync_both_sides_lose_nothing(tmp_path: Path) -> None:
    runs = scenarios.resync(TINY, tmp_path)
    assert [(r.side, r.status) for r in runs] == [("oktasync", "measured"), ("baseline", "measured")]
    for run in runs:
        assert run.ok, run.result
        assert run.http_429 == 0
        # every group is deleted and put back: at least two /apps calls per group
        assert run.calls_by_bucket.get("/api/v1/apps", 0) >= 2 * TINY.resync_groups
    assert runs[0].min_calls == {"/api/v1/apps": 2 * TINY.resync_groups + 2, "/admin": 4}


def test_tasks_both_sides_find_every_failure(tmp_path: Path) -> None:
    runs = scenarios.tasks(TINY, tmp_path)
    assert [r.scenario for r in runs] == ["tasks (first run)"] * 2 + ["tasks (incremental run)"] * 2
    for run in runs:
        assert run.ok, run.result
    # the incremental run sees the failures that happened after the first one
    assert runs[2].result.startswith(f"{TINY.tasks_failures + TINY.tasks_new_failures}/")


def test_cli_writes_json_and_prints_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "latest.json"
    assert main(["--scale", "tiny", "--only", "plan", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| plan (2 tenant configs) | oktasync |" in printed
    assert "| plan (2 tenant configs) | baseline | – |" in printed  # reported, not silently dropped
    import json

    doc = json.loads(out.read_text())
    assert doc["scale"] == "tiny" and doc["runs"][0]["status"] == "measured"
    assert doc["runs"][0]["calls"] > 0


def test_unknown_scenario_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["--scale", "tiny", "--only", "nope", "--out", str(tmp_path / "x.json")]) == 64


def test_baseline_needs_the_documented_ssws_workaround(tmp_path: Path) -> None:
    """The SDK sends ``SSWS<token>`` (no space): 401 E0000011 unless the baseline applies the fix."""
    from okta.client import Client

    from oktasync.emulator.testing import run_emulator

    seed = orgs.org_seed(users=3, groups=1, scim_url="http://127.0.0.1:9/v2")
    with run_emulator(seed, api_token=orgs.API_TOKEN) as em:
        app_id = em.control.app_id(orgs.LABEL)
        plain = Client({"orgUrl": em.url, "token": orgs.API_TOKEN})
        _, _, err = asyncio.run(plain.list_application_users(app_id))
        assert err is not None and "E0000011" in str(err)
        from benchmarks import baseline_tasks
        from benchmarks.baseline_common import make_client

        result = asyncio.run(
            baseline_tasks.run(make_client(em.url, orgs.API_TOKEN), argparse.Namespace(app_id=app_id))
        )
        assert result["app_users"] == 3 and result["failed"] == []


def test_scim_stub_links_creates_and_records_deactivations() -> None:
    import httpx

    stub = ScimStub("t")
    stub.preload([("a@example.com", "id-a")])
    stub.start()
    try:
        auth = {"Authorization": "Bearer t"}
        with httpx.Client(base_url=stub.base_url, headers=auth) as http:
            found = http.get("/Users", params={"filter": 'userName eq "A@example.com"'}).json()
            assert [r["id"] for r in found["Resources"]] == ["id-a"]
            created = http.post("/Users", json={"userName": "b@example.com", "active": True})
            assert created.status_code == 201
            assert (
                http.put("/Users/id-a", json={"userName": "a@example.com", "active": False}).status_code
                == 200
            )
            assert http.get("/Users/nope").status_code == 404
            assert httpx.get(stub.base_url + "/Users").status_code == 401
        assert stub.deactivated == {"a@example.com"}
    finally:
        stub.stop()


@pytest.mark.skipif(sys.platform == "win32", reason="subprocess env")
def test_baseline_script_runs_as_a_command(tmp_path: Path) -> None:
    """What the full benchmark runs: ``python -m benchmarks.baseline_resync`` prints one JSON result."""
    from benchmarks.harness import parse_json, run_subprocess
    from oktasync.emulator.testing import run_emulator

    seed = orgs.org_seed(users=6, groups=3, scim_url="http://127.0.0.1:9/v2")
    with run_emulator(seed, api_token=orgs.API_TOKEN) as em:
        app_id = em.control.app_id(orgs.LABEL)
        argv = [sys.executable, "-m", "benchmarks.baseline_resync", "--org-url", em.url]
        argv += ["--token", orgs.API_TOKEN, "--app-id", app_id]
        env = {**os.environ, "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK": "true"}
        done = run_subprocess(argv, env, 120, cwd=str(scenarios.ROOT))
        assert done.exit_code == 0, done.stderr
        doc = parse_json(done.stdout)
        assert doc["groups"] == 3 and doc["errors"] == []
        priorities = sorted(g["priority"] for g in em.control.state()["apps"][0]["groups"])
        assert priorities == [0, 1, 2]
