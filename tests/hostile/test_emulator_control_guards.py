"""The emulator's control API answers only loopback Host names, and changes need the per-run token
(docs/emulator.md "Control API"): a DNS-rebinding page in a browser can neither read nor change the org."""

from __future__ import annotations

import httpx
import pytest

from oktasync.emulator.control import TOKEN_HEADER
from oktasync.emulator.testing import RunningEmulator


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("rebind.evil.example", 403),
        ("127.0.0.1.evil.example", 403),
        ("169.254.169.254", 403),
        ("127.0.0.1", 200),
        ("localhost:8080", 200),
        ("[::1]:8080", 200),
    ],
)
def test_control_api_answers_only_loopback_host_names(
    emulator: RunningEmulator, host: str, status: int
) -> None:
    for path in ("/__emulator/stats", "/__emulator/event-hooks", "/__emulator/state"):
        response = httpx.get(emulator.url + path, headers={"Host": host})
        assert response.status_code == status, path
        if status == 403:
            assert "loopback Host" in response.json()["error"] and "users" not in response.text


def test_changes_and_secrets_need_the_control_token(emulator: RunningEmulator) -> None:
    url = emulator.url + "/__emulator"
    assert httpx.post(url + "/users", json={"login": "eve@example.com"}).status_code == 401
    wrong = {TOKEN_HEADER: "not-the-token"}
    assert httpx.put(url + "/faults", json={"latency_ms": 1}, headers=wrong).status_code == 401
    secrets = httpx.get(url + "/state", params={"secrets": "true"})
    assert secrets.status_code == 401 and emulator.api_token not in secrets.text
    assert httpx.get(url + "/state").status_code == 200  # reading the masked state needs no token
    assert "eve@example.com" not in str(emulator.control.state())
    created = httpx.post(
        url + "/users",
        json={"login": "zoe@example.com"},
        headers={TOKEN_HEADER: emulator.emulator.control_token},
    )
    assert created.status_code < 300
    assert "zoe@example.com" in str(emulator.control.state())


def test_each_run_has_its_own_token() -> None:
    from oktasync.emulator.server import Emulator

    assert Emulator().control_token != Emulator().control_token
