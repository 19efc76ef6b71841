"""Conformance with real recorded Okta traffic.

The recordings live beside the checkout, in ``../shared/okta-recordings/fixtures`` (``RECORDINGS``): JSON
files of real Okta answers that okta-sdk-python, terraform-provider-okta, JupiterOne/graph-okta and
Shopify/oktakit recorded against live orgs. They are read at run time and never copied into the repository.
Without them every test here skips, and the skip reason names the path that was looked at.

* ``okta_recordings``: every recorded interaction (a list of dicts); skips when the folder is absent.
* ``recorded``: one interaction, parametrised per interaction (``pytest_generate_tests``) so that the count
  shows; known differences from the emulator (``replay.KNOWN_DIFFERENCES``) are marked ``xfail(strict)``.
* ``replayer``: one emulator for the module, re-seeded from each interaction's context.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from replay import RECORDINGS, Replayer, interaction_id, known_difference, load_recordings

from oktasync.emulator.testing import API_TOKEN, run_emulator


def _require_recordings() -> None:
    if not RECORDINGS.is_dir():
        pytest.skip(
            f"real Okta recordings not found at {RECORDINGS} (../shared/okta-recordings beside the checkout)"
        )


@pytest.fixture
def okta_recordings() -> list[dict[str, Any]]:
    """Every recorded interaction (real Okta answers); skips when ../shared/okta-recordings is absent."""
    _require_recordings()
    return load_recordings()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "recorded" not in metafunc.fixturenames:
        return
    if not RECORDINGS.is_dir():
        metafunc.parametrize("recorded", [None], ids=["recordings-absent"])
        return
    params = []
    for item in load_recordings():
        reason = known_difference(item, metafunc.function.__name__)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(item, id=interaction_id(item), marks=marks))
    metafunc.parametrize("recorded", params)


@pytest.fixture
def interaction(recorded: dict[str, Any] | None, okta_recordings: list[dict[str, Any]]) -> dict[str, Any]:
    """The interaction under test (``okta_recordings`` makes it skip when the recordings are absent)."""
    assert recorded is not None
    return recorded


@pytest.fixture(scope="module")
def replayer() -> Iterator[Replayer]:
    with run_emulator({}, api_token=API_TOKEN) as running:
        yield Replayer(running)
