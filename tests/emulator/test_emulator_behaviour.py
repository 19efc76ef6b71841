"""The behaviour switches: typed, validated, changeable at run time and from the command line."""

from __future__ import annotations

import pytest

from oktasync.emulator.behaviour import Behaviour, parse_assignments
from oktasync.emulator.testing import ControlError, run_emulator


def test_updated_types_values_like_their_defaults() -> None:
    b = Behaviour().updated({"retry_repushes_failed": "yes", "group_unassign_delay_seconds": "2.5"})
    assert b.retry_repushes_failed is True
    assert b.group_unassign_delay_seconds == 2.5
    assert Behaviour().retry_repushes_failed is False


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"no_such_switch": True}, "unknown behaviour 'no_such_switch'"),
        ({"retry_repushes_failed": "maybe"}, "takes true or false"),
        ({"group_assign_delay_seconds": "soon"}, "takes a number"),
        ({"group_assign_delay_seconds": -1}, "must not be negative"),
    ],
)
def test_bad_changes_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Behaviour().updated(changes)


def test_parse_assignments_needs_name_and_equals() -> None:
    assert parse_assignments(["a=1", " b = x "]) == {"a": "1", "b": "x"}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_assignments(["novalue"])


def test_control_api_reads_and_changes_switches() -> None:
    with run_emulator(behaviour={"retry_repushes_failed": True}) as em:
        assert em.control.behaviour()["retry_repushes_failed"] is True
        after = em.control.behaviour(retry_repushes_failed=False)
        assert after["retry_repushes_failed"] is False
        assert em.emulator.behaviour.retry_repushes_failed is False
        with pytest.raises(ControlError, match="unknown behaviour"):
            em.control.behaviour(nope=1)
