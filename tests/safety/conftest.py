"""Fixtures of the safety tests: a small emulator org (6 groups, 12 users) pushing to a real scim2-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from safety_helpers import (
    E2E_API_TOKEN,
    E2E_SCIM_TOKEN,
    GROUPS,
    NO_LIMITS,
    USERS,
    Org,
    assign_all,
    emulator_org,
)

from oktasync.emulator.scim_target import run_scim_server
from oktasync.emulator.testing import run_emulator


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Org]:
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    with run_scim_server(E2E_SCIM_TOKEN) as scim:
        seed = emulator_org(scim.base_url, users=USERS, groups=GROUPS, kind="custom_scim")
        with run_emulator(seed, api_token=E2E_API_TOKEN, rate_limits=NO_LIMITS) as em:
            assign_all(em.http, em.control.app_id("Chronosphere"), GROUPS)
            assert em.control.wait_idle(30)
            em.control.reset_stats()
            yield Org(em, scim, tmp_path)
