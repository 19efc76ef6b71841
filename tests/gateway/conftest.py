"""Gateway tests need no SCIM target: ``emulator_seed`` is the standard org with a placeholder SCIM URL, so
no scim2-server is started. Helpers are in ``gateway_helpers``."""

from __future__ import annotations

from typing import Any

import pytest

from oktasync.emulator.testing import standard_seed


@pytest.fixture
def emulator_seed() -> dict[str, Any]:
    return standard_seed(scim_base_url="https://scim.example.test/scim/v2")
