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
