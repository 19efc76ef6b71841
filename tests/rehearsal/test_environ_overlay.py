"""The environment overlay the demo and the rehearsal run their configs under."""

from __future__ import annotations

import os

import pytest

from oktasync.config.environ import environ_overlay


def test_the_overlay_sets_values_and_restores_set_and_unset_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKTASYNC_T_SET", "before")
    monkeypatch.delenv("OKTASYNC_T_UNSET", raising=False)
    with pytest.raises(RuntimeError), environ_overlay({"OKTASYNC_T_SET": "a", "OKTASYNC_T_UNSET": "b"}):
        assert os.environ["OKTASYNC_T_SET"] == "a" and os.environ["OKTASYNC_T_UNSET"] == "b"
        raise RuntimeError("the block fails: the environment is restored all the same")
    assert os.environ["OKTASYNC_T_SET"] == "before"
    assert "OKTASYNC_T_UNSET" not in os.environ
