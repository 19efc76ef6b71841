"""Each recorded real Okta interaction, replayed against the emulator seeded with the org that produced it.

One test per interaction (see ``conftest.py``): the emulator must answer with Okta's status, error code and
summary, JSON type, ``Link`` relations and every field the gateway's parsers read (``replay.differences``).
"""

from __future__ import annotations

from typing import Any

from replay import Replayer, differences, source_name


def test_replay_matches_okta(interaction: dict[str, Any], replayer: Replayer) -> None:
    response = replayer.replay(interaction)
    assert differences(interaction, response) == [], source_name(interaction)


def test_replay_405_as_recorded(okta_recordings: list[dict[str, Any]], replayer: Replayer) -> None:
    """The two recorded 405s were on routes oktasync does not use (``POST /api/v1/realms/{id}``,
    ``GET /api/v1/sessions/``); the emulator serves neither and must answer them as Okta did, too."""
    recorded_405s = [item for item in okta_recordings if item["replay"]]
    assert len(recorded_405s) == 2
    for item in recorded_405s:
        response = replayer.replay(item, as_recorded=True)
        assert differences(item, response) == [], source_name(item)
