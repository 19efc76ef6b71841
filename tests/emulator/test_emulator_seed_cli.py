"""Seed format round trips, big-org load time, and ``oktasync emulator serve``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from oktasync.cli import main
from oktasync.emulator.seed import SeedError, build_org, dump_state, load_file, load_state, save_file
from oktasync.emulator.testing import RunningEmulator, standard_seed


def test_dump_loads_back_identically(emulator: RunningEmulator) -> None:
    emulator.http.put(f"/api/v1/apps/0oachronosphere00001/groups/{emulator.control.group_id('sales')}")
    assert emulator.control.wait_idle(10)
    dumped = emulator.control.state(secrets=True)
    again = dump_state(load_state(dumped), secrets=True)
    for key in ("users", "groups", "apps", "events", "api_tokens", "admin_sessions"):
        assert again[key] == dumped[key], key


def test_state_dump_masks_secrets(emulator: RunningEmulator) -> None:
    text = json.dumps(emulator.control.state())
    assert "scim-test-token" not in text and emulator.api_token not in text and "(sensitive)" in text


def test_control_seed_replaces_the_org(emulator: RunningEmulator) -> None:
    counts = emulator.control.seed(build_org(users=3, groups=1, api_tokens=()))
    assert counts == {"users": 3, "groups": 1, "apps": 1}
    assert emulator.http.get("/api/v1/users").status_code == 200  # the API token was kept


def test_bad_seeds_name_the_problem() -> None:
    with pytest.raises(SeedError, match="unknown settings"):
        load_state({"apps": [{"name": "x", "settings": {"deactivate": True}}]})
    with pytest.raises(SeedError, match="login is required"):
        load_state({"users": [{"firstName": "x"}]})
    with pytest.raises(SeedError):
        load_state({"groups": [{"name": "g", "members": ["nobody@example.com"]}]})


def test_yaml_and_json_files(tmp_path: Path) -> None:
    for name in ("org.yaml", "org.json"):
        save_file(tmp_path / name, standard_seed())
        assert load_file(tmp_path / name) == standard_seed()


@pytest.mark.slow
def test_big_org_loads_quickly() -> None:
    seed = build_org(users=50_000, groups=2_000, memberships_per_user=2, preprovisioned=True)
    started = time.perf_counter()
    store = load_state(seed)
    elapsed = time.perf_counter() - started
    assert len(store.users) == 50_000 and len(store.groups) == 2_000
    assert sum(len(app.users) for app in store.apps.values()) == 50_000
    assert elapsed < 10, f"loading took {elapsed:.1f} s (target < 5 s on an idle machine)"


def test_serve_refuses_non_loopback_hosts() -> None:
    assert main(["emulator", "serve", "--host", "0.0.0.0"]) == 64


def test_serve_runs_and_saves_state_on_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "org.json"
    saved = tmp_path / "saved.json"
    save_file(state, standard_seed())
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oktasync",
            "emulator",
            "serve",
            "--state",
            str(state),
            "--save-state",
            str(saved),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Okta emulator listening on http://127.0.0.1:")
        url = first.split()[-1]
        token_line = proc.stdout.readline()
        assert token_line.strip() == "API token: SSWS emulator-token"
        resp = httpx.get(f"{url}/api/v1/groups", headers={"Authorization": "SSWS emulator-token"})
        assert resp.status_code == 200 and len(resp.json()) == 3
        proc.stdout.readline()  # control API: URL
        control_token = proc.stdout.readline().split()[2]
        refused = httpx.post(f"{url}/__emulator/users", json={"login": "eve@example.com"})
        assert refused.status_code == 401  # changes need the per-run control token
        created = httpx.post(
            f"{url}/__emulator/users",
            json={"login": "zoe@example.com"},
            headers={"X-Emulator-Control-Token": control_token},
        )
        assert created.status_code < 300
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert proc.returncode == 0
    logins = [u["login"] for u in json.loads(saved.read_text())["users"]]
    assert "zoe@example.com" in logins and "eve@example.com" not in logins
    assert saved.stat().st_mode & 0o777 == 0o600  # it holds the org's tokens


def test_context_managers_leave_no_thread_or_port_behind() -> None:
    import socket
    import threading

    from oktasync.emulator.scim_target import run_scim_server
    from oktasync.emulator.testing import run_emulator

    before = {t.name for t in threading.enumerate()}
    with run_scim_server() as scim, run_emulator(standard_seed()) as em:
        ports = [scim.port, em.thread.port]
        assert em.http.get("/api/v1/groups").status_code == 200
    assert {t.name for t in threading.enumerate() if t.is_alive()} <= before
    for port in ports:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))  # free again
