"""`-vv` traces every Okta request (API, OAuth token, Admin Console) as one DEBUG line: method, path (secret
query values masked), status, rate-limit headers, time, attempt; `--log-format json` gives the same fields
as a structured `http` object; no token, cookie, assertion or DPoP proof ever shows.

Runs the real CLI (`oktasync -vv doctor`) against the emulator: with an API token and an Admin Console
session, and with an OAuth service app that requires DPoP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from oktasync.cli import main
from oktasync.emulator.testing import ADMIN_SESSION, API_TOKEN, RunningEmulator, run_emulator, standard_seed
from oktasync.httptrace import masked_path

DPOP_APP = "0oatraceservice00001"
SCOPES = ["okta.apps.read", "okta.apps.manage", "okta.groups.read", "okta.users.read", "okta.logs.read"]
SCIM_TOKEN = "scim-target-token-for-trace-tests"
LINE = re.compile(
    r"^DEBUG oktasync\.okta(?:\.admin)?: (?P<channel>Okta|Admin Console) (?P<method>[A-Z]+) (?P<path>\S+) -> "
    r"(?P<status>\d{3}) in \d+ ms \(attempt (?P<attempt>\d+)"
    r"(?:; rate limit (?P<rate>\d+/\d+ reset [\d.]+))?\)$"
)


@pytest.fixture
def emulator(key_file: tuple[Path, dict[str, Any]]) -> Iterator[RunningEmulator]:
    seed = standard_seed(scim_base_url="https://scim.example.test/scim/v2")
    seed["service_apps"] = [
        {"client_id": DPOP_APP, "scopes": SCOPES, "public_jwk": key_file[1], "dpop_bound_access_tokens": True}
    ]
    with run_emulator(seed, api_token=API_TOKEN) as running:
        yield running


def _config(tmp_path: Path, url: str, auth: str) -> Path:
    path = tmp_path / "acme.yaml"
    path.write_text(
        f"tenant: acme\nokta:\n  org_url: {url}\n{auth}"
        "app:\n  label: Chronosphere\n"
        "scim:\n  base_url: https://acme.chronosphere.io/api/scim/v2\n"
        '  auth:\n    bearer_token: "{{ env.SCIM_TOKEN }}"\n'
    )
    return path


def _cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("SCIM_TOKEN", SCIM_TOKEN)
    monkeypatch.setenv("OKTA_TOKEN", API_TOKEN)
    monkeypatch.setenv("SID", ADMIN_SESSION)
    with CliRunner().isolation() as (_, err, _):
        code = main(list(args))
    return code, err.getvalue().decode()


def _no_secret(text: str, emulator: RunningEmulator) -> None:
    secrets = [API_TOKEN, ADMIN_SESSION, SCIM_TOKEN, *emulator.emulator.bearer_tokens]
    assert not [s for s in secrets if s in text]
    assert "eyJ" not in text  # no JWT: client assertion, DPoP proof
    assert "Authorization" not in text and "Cookie" not in text


def test_vv_traces_every_api_and_admin_console_request_with_rate_limits(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = '  token: "{{ env.OKTA_TOKEN }}"\n  admin_session: "{{ env.SID }}"\n'
    config = _config(tmp_path, emulator.url, auth)
    emulator.control.reset_stats()
    code, err = _cli(monkeypatch, "-vv", "doctor", str(config))
    assert code == 0, err
    traced = [m for m in map(LINE.match, err.splitlines()) if m]
    stats = emulator.control.stats()
    assert len(traced) == stats["total"]  # one line per request the emulator served
    channels = {m["channel"] for m in traced}
    assert channels == {"Okta", "Admin Console"}
    api = [m for m in traced if m["path"].startswith("/api/")]
    assert all(m["rate"] for m in api)  # every API answer carries X-Rate-Limit-*
    assert any(m["path"].startswith("/api/v1/apps?q=Chronosphere") for m in api)  # query strings shown
    assert all(m["attempt"] == "1" for m in traced)
    _no_secret(err, emulator)


def test_vv_retries_show_their_attempt_numbers(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.control.faults(
        targeted=[{"path_pattern": "^/api/v1/apps$", "method": "GET", "nth": 1, "status": 503, "times": 2}]
    )
    config = _config(tmp_path, emulator.url, '  token: "{{ env.OKTA_TOKEN }}"\n')
    code, err = _cli(monkeypatch, "-vv", "doctor", str(config))
    assert code == 0, err
    finds = [m for m in map(LINE.match, err.splitlines()) if m and m["path"].startswith("/api/v1/apps?")]
    assert [(m["status"], m["attempt"]) for m in finds[:3]] == [("503", "1"), ("503", "2"), ("200", "3")]


def test_json_logs_give_structured_trace_records_and_no_dpop_secret(
    emulator: RunningEmulator, key_file: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = (
        f"  oauth:\n    client_id: {DPOP_APP}\n    private_key_file: {key_file[0]}\n"
        "    key_id: k1\n    dpop: true\n"
    )
    config = _config(tmp_path, emulator.url, auth)
    emulator.control.reset_stats()
    code, err = _cli(monkeypatch, "-vv", "--log-format", "json", "doctor", str(config))
    assert code == 0, err
    records = [json.loads(line) for line in err.splitlines() if line.strip()]
    traces = [r["http"] for r in records if "http" in r]
    assert len(traces) == emulator.control.stats()["total"]
    token = [t for t in traces if t["path"] == "/oauth2/v1/token"]
    assert [t["status"] for t in token] == [400, 200]  # use_dpop_nonce, then the token
    for trace in traces:
        assert trace["channel"] == "Okta" and trace["method"] in {"GET", "POST"}
        assert isinstance(trace["elapsed_ms"], float) and trace["attempt"] == 1
        if trace["path"].startswith("/api/"):
            assert set(trace["rate_limit"]) == {"limit", "remaining", "reset"}
    _no_secret(err, emulator)
    assert key_file[0].read_text().splitlines()[1] not in err  # nor the service app's private key


def test_secret_looking_query_values_are_masked() -> None:
    assert masked_path("https://x.example/a/b?q=x&token=abc&limit=2") == "/a/b?q=x&token=***&limit=2"
    assert masked_path("/cb?code=123&state=s&sessionToken=t&filter=a%20eq%20%22b%22") == (
        "/cb?code=***&state=***&sessionToken=***&filter=a%20eq%20%22b%22"
    )
    assert masked_path("/Users?startIndex=1&count=2") == "/Users?startIndex=1&count=2"
