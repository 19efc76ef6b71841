"""`doctor` says a credential was accepted only after Okta answered an authenticated request: with no
network or a failed TLS handshake nothing was authenticated, and the auth check says "not checked"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from oktasync.cli import main
from oktasync.emulator.scim_target import ScimServer
from oktasync.emulator.testing import API_TOKEN, SCIM_TOKEN, RunningEmulator

CONFIG = """\
tenant: doctor
okta:
  org_url: {org_url}
  token: "{{{{ env.DOCTOR_OKTA_TOKEN }}}}"
app:
  label: Chronosphere
scim:
  base_url: {scim_url}
  auth:
    bearer_token: "{{{{ env.DOCTOR_SCIM_TOKEN }}}}"
"""


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreachable org is retried with backoff; only the sleeps are shortened (the retries still run)."""
    from oktasync.okta_gateway.pacing import RetryPolicy

    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt: 0.0)


def _auth_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, org_url: str, scim_url: str
) -> dict[str, Any]:
    monkeypatch.setenv("DOCTOR_OKTA_TOKEN", API_TOKEN)
    monkeypatch.setenv("DOCTOR_SCIM_TOKEN", SCIM_TOKEN)
    config = tmp_path / "doctor.yaml"
    config.write_text(CONFIG.format(org_url=org_url, scim_url=scim_url))
    with CliRunner().isolation() as (stdout, _, _):
        main(["--state-dir", str(tmp_path / "state"), "doctor", str(config), "--json"])
        document = json.loads(stdout.getvalue().decode())
    [auth] = [check for check in document["checks"] if check["name"] == "auth"]
    return dict(auth)


def test_an_unreachable_org_is_not_an_accepted_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_retries: None
) -> None:
    auth = _auth_check(tmp_path, monkeypatch, "http://127.0.0.1:9", "http://127.0.0.1:9/v2")
    assert auth["ok"] is False and auth["detail"].startswith("not checked: no request reached Okta")


def test_a_failed_tls_handshake_is_not_an_accepted_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_retries: None, emulator: RunningEmulator
) -> None:
    tls_to_plain_http = emulator.url.replace("http://", "https://")  # the emulator speaks plain http
    auth = _auth_check(tmp_path, monkeypatch, tls_to_plain_http, "http://127.0.0.1:9/v2")
    assert auth["ok"] is False and "not checked" in auth["detail"] and "accepted" not in auth["detail"]


def test_an_answered_request_is_an_accepted_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: RunningEmulator, scim_server: ScimServer
) -> None:
    auth = _auth_check(tmp_path, monkeypatch, emulator.url, scim_server.base_url)
    assert auth["ok"] is True and "accepted" in auth["detail"]
