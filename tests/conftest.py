"""Shared fixtures for every test package (tests/emulator, tests/gateway, tests/workflows, ...).

* ``_isolated_env`` (autouse): removes every ``OKTA_*`` environment variable and runs the test in a fresh
  temporary working directory, so a stray ``okta.yaml`` or exported token can never leak in
  (docs/okta-behaviour.md, Okta's Python SDK: it reads ./okta.yaml and the environment before its arguments).
* ``scim_server``: a fresh scim2-server (``ScimServer``) on a free loopback port, Bearer token
  ``SCIM_TOKEN``. ``.base_url`` ends in ``/v2``; ``.users()``, ``.user_by_name()``, ``.reject(...)``.
* ``emulator_seed``: the seed of the standard test org (``oktasync.emulator.testing.standard_seed``), already
  pointed at ``scim_server``. Override this fixture in a test module to start from another org.
* ``emulator``: a running in-process emulator (``RunningEmulator``) loaded with ``emulator_seed``:
  ``.url``, ``.api_token``, ``.headers`` (SSWS auth for httpx), ``.control`` (seed/state/stats/faults/
  wait_idle/set_app_settings/...). Function-scoped: every test gets a fresh org, port and thread.
* ``okta_sdk_env``: sets ``OKTA_TESTING_TESTINGDISABLEHTTPSCHECK`` (the only way to let the okta SDK talk
  to ``http://127.0.0.1``) for tests that drive the emulator with the SDK.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oktasync.emulator.scim_target import ScimServer, run_scim_server
from oktasync.emulator.testing import (
    ADMIN_SESSION,
    ADMIN_XSRF,
    API_TOKEN,
    SCIM_TOKEN,
    RunningEmulator,
    run_emulator,
    standard_seed,
)

__all__ = ["ADMIN_SESSION", "ADMIN_XSRF", "API_TOKEN", "SCIM_TOKEN"]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("OKTA_"):
            monkeypatch.delenv(name)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)


@pytest.fixture
def scim_server() -> Iterator[ScimServer]:
    """A fresh scim2-server on loopback accepting ``Bearer SCIM_TOKEN``."""
    with run_scim_server(SCIM_TOKEN) as server:
        yield server


@pytest.fixture
def emulator_seed(scim_server: ScimServer) -> dict[str, Any]:
    """Seed of the standard test org, wired to ``scim_server`` (see ``standard_seed`` for its content)."""
    return standard_seed(scim_base_url=scim_server.base_url, scim_token=scim_server.token)


@pytest.fixture
def emulator(emulator_seed: dict[str, Any]) -> Iterator[RunningEmulator]:
    """A running emulator loaded with ``emulator_seed``; API token ``API_TOKEN`` (``emulator.headers``)."""
    with run_emulator(emulator_seed, api_token=API_TOKEN) as running:
        yield running


@pytest.fixture
def okta_sdk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Allow the okta SDK to use the http:// loopback emulator (env var only; docs/okta-behaviour.md, Okta's
    Python SDK)."""
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
