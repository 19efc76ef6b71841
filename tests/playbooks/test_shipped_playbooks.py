"""The shipped playbooks are package data, found by name from any directory and any install layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from oktasync.playbooks import load_playbook
from oktasync.playbooks.catalog import shipped_playbook, shipped_playbook_dir, shipped_playbook_names

REPO = Path(__file__).resolve().parents[2]


def test_shipped_playbooks_live_inside_the_package() -> None:
    """Inside the package a wheel carries them to every layout (venv, --user, pipx, editable, image)."""
    assert shipped_playbook_dir() == REPO / "oktasync" / "data" / "playbooks"
    assert shipped_playbook_names() == [
        "chronosphere-onboarding",
        "resync",
        "retry-failed-assignments",
        "verify",
    ]
    assert not (REPO / "playbooks").exists(), "a second copy at the top of the repository would drift"


def test_shipped_playbook_found_by_name_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in shipped_playbook_names():
        path = shipped_playbook(name)
        assert path == shipped_playbook_dir() / f"{name}.yaml"
        assert load_playbook(path).name == name
    assert shipped_playbook("no-such-playbook") is None


def test_playbook_in_current_directory_wins_over_shipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "playbooks").mkdir()
    own = tmp_path / "playbooks" / "verify.yaml"
    own.write_text("name: verify\nsteps:\n  - action: validate\n")
    monkeypatch.chdir(tmp_path)
    assert shipped_playbook("verify") == own
    assert shipped_playbook("resync") == shipped_playbook_dir() / "resync.yaml"
