"""`okta.max_rate_limit_wait_seconds` is the gateway's 429 budget (``RetryPolicy.max_429_wait``), end to end:
the CLI against the emulator with a 429 storm (every API request answered 429 E0000047 until the storm's
count is spent; each 429 carries the bucket window's X-Rate-Limit-Reset, about 60 s away).

Time is a ``FakeClock`` (the pacer's default ``SystemClock`` is swapped for it), so waiting out four resets
takes milliseconds; the emulator's clock is real, which the pacer reconciles through the Date header."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from gateway_helpers import FakeClock

import oktasync.okta_gateway.pacing as pacing
from oktasync.cli import cli
from oktasync.config import load_tenant
from oktasync.emulator.testing import API_TOKEN, RunningEmulator
from oktasync.errors import EXIT_FAILED, EXIT_OK
from oktasync.okta_gateway.sdk import SdkGateway

STORM = 4  # 429s before the emulator answers again: about 4 x 61 s = 245 s of resets to wait out


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock(now=time.time())  # starts at the emulator's time: its resets are real epoch seconds
    monkeypatch.setattr(pacing, "SystemClock", lambda: fake)
    return fake


def _config(tmp_path: Path, org_url: str, budget: float | None) -> Path:
    tuning = "" if budget is None else f"  max_rate_limit_wait_seconds: {budget}\n"
    path = tmp_path / "zscaler.yaml"
    path.write_text(
        f'tenant: acme\nokta:\n  org_url: {org_url}\n  token: "{{{{ env.OKTA_TOKEN }}}}"\n{tuning}'
        "app:\n  label: Zscaler\n"
        "scim:\n  base_url: https://scim.example.test/scim/v2\n  unique_identifier: userName\n"
        '  auth:\n    bearer_token: "{{ env.SCIM_TOKEN }}"\n'
    )
    return path


def _plan(config: Path, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli,
        ["plan", *extra, str(config)],
        env={"OKTA_TOKEN": API_TOKEN, "SCIM_TOKEN": "scim-test-token"},
        standalone_mode=False,
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return int(result.return_value), result.stdout, result.stderr


def _statuses(emulator: RunningEmulator) -> dict[str, int]:
    by_status: dict[str, int] = emulator.control.stats()["by_status"]
    return by_status


def test_the_default_budget_waits_the_storm_out(
    emulator: RunningEmulator, clock: FakeClock, tmp_path: Path
) -> None:
    emulator.control.faults(storm_429_requests=STORM)
    code, out, err = _plan(_config(tmp_path, emulator.url, None))
    assert code == EXIT_OK, out + err
    assert 'app "Zscaler"' in out and "kept answering 429" not in out and "rate limited" not in out
    assert len(clock.sleeps) == STORM and all(55 < s < 65 for s in clock.sleeps)  # one reset per 429
    assert 200 < sum(clock.sleeps) <= 300  # within the default budget of 300 s
    assert _statuses(emulator)["429"] == STORM


@pytest.mark.parametrize(("budget", "waits"), [(0, 0), (100, 1), (200, 3)])
def test_a_small_budget_fails_with_a_rate_limit_error(
    emulator: RunningEmulator, clock: FakeClock, tmp_path: Path, budget: int, waits: int
) -> None:
    """The same storm: a request waits for resets while its total stays within the budget, then fails
    (exit 1: the operation failed, retries exhausted); 0 fails on the first 429 without waiting."""
    emulator.control.faults(storm_429_requests=STORM)
    code, out, err = _plan(_config(tmp_path, emulator.url, budget))
    assert code == EXIT_FAILED
    assert "kept answering 429 (rate limited)" in out and f"over the {budget}s this request may wait" in out
    assert "hint: another client may be using up this rate-limit bucket" in out
    assert "Traceback" not in out + err and API_TOKEN not in out + err
    assert len(clock.sleeps) == waits and sum(clock.sleeps) <= budget
    statuses = _statuses(emulator)
    assert statuses["429"] == waits + 1 and "200" not in statuses  # the first request never got through


def test_the_budget_error_is_in_the_json_document(
    emulator: RunningEmulator, clock: FakeClock, tmp_path: Path
) -> None:
    emulator.control.faults(storm_429_requests=STORM)
    code, out, _ = _plan(_config(tmp_path, emulator.url, 100), "--json")
    document: dict[str, Any] = json.loads(out)
    assert code == EXIT_FAILED and document["exit_code"] == EXIT_FAILED
    (tenant,) = document["tenants"]
    assert tenant["status"] == "error" and "over the 100s this request may wait" in tenant["error"]


def _policy_budgets(config_path: Path, environ: dict[str, str]) -> tuple[float, float | None]:
    """(the API transport's 429 budget, the Admin Console channel's) for a config, as built for a run."""

    async def build() -> tuple[float, float | None]:
        gateway = SdkGateway.from_config(load_tenant(config_path, environ=environ).okta)
        try:
            admin = gateway.admin.retry.max_429_wait if gateway.admin is not None else None
            return gateway.transport.retry.max_429_wait, admin
        finally:
            await gateway.close()

    return asyncio.run(build())


def test_the_key_reaches_every_channel_of_the_gateway(tmp_path: Path) -> None:
    environ = {"OKTA_TOKEN": "o", "SCIM_TOKEN": "s", "SID": "sid"}
    path = _config(tmp_path, "https://acme.okta.com", 42.5)
    path.write_text(path.read_text().replace("  max_rate", '  admin_session: "{{ env.SID }}"\n  max_rate'))
    assert _policy_budgets(path, environ) == (42.5, 42.5)  # API, token and Admin Console: one policy
    assert _policy_budgets(_config(tmp_path, "https://acme.okta.com", None), environ) == (300.0, None)
