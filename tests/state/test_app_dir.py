"""The one state directory of an app, and the adoption of state a config kept under its tenant's name."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import oktasync.state.layout as layout
from oktasync.errors import LockedError
from oktasync.state import StateDir, StateFileError, exclusive_lock

ORG = "https://acme.okta.com/"
APP = "0oa1chrono"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _tree(root: Path) -> dict[str, str]:
    """Every regular file under ``root`` → its text."""
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def _old_layout(root: Path, tenant: str = "prod") -> dict[str, str]:
    """What a config of ``tenant`` kept: tasks/hooks/plan state by app id, playbooks by label."""
    by_id = root / tenant / APP
    _write(by_id / "tasks-state.json", '{"cursor": "c1"}')
    _write(by_id / "bearer-token.json", '{"fingerprint": "f"}')
    _write(by_id / "hooks-inbox" / "d1.json", '{"delivery": 1}')
    _write(by_id / "tasks.lock", "pid 1")
    by_label = root / tenant / "Chronosphere"
    _write(by_label / "playbooks" / "onboard.json", '{"run_id": "r1"}')
    _write(by_label / "playbooks" / "history.jsonl", '{"seq": 1}\n')
    _write(by_label / "snapshot.partial.json", '{"pages": 3}')
    return {**_tree(by_id), **_tree(by_label)}


def test_the_app_dir_is_keyed_by_org_host_and_app_id(tmp_path: Path) -> None:
    path = StateDir(tmp_path).app_dir("https://ACME.okta.com:443/", APP, tenant="anything")
    assert path == tmp_path / "apps" / "acme.okta.com" / APP
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    assert StateDir(tmp_path).app_dir(ORG, APP, tenant="other name", label="Other label") == path


def test_state_kept_under_the_tenant_name_is_moved_into_the_app_dir(tmp_path: Path) -> None:
    before = _old_layout(tmp_path)
    target = StateDir(tmp_path).app_dir(ORG, APP, tenant="prod", label="Chronosphere")
    assert _tree(target) == before
    assert not (tmp_path / "prod").exists()  # nothing left behind: the emptied tenant dir goes too


def test_adoption_is_idempotent_and_leaves_other_tenants_alone(tmp_path: Path) -> None:
    _old_layout(tmp_path, "prod")
    other = _write(tmp_path / "preview" / APP / "tasks-state.json", '{"cursor": "preview"}')
    state = StateDir(tmp_path)
    first = _tree(state.app_dir(ORG, APP, tenant="prod", label="Chronosphere"))
    second = _tree(state.app_dir(ORG, APP, tenant="prod", label="Chronosphere"))
    assert first == second
    assert other.read_text() == '{"cursor": "preview"}'  # another tenant's config may name another org


def test_without_a_tenant_nothing_is_adopted(tmp_path: Path) -> None:
    _old_layout(tmp_path)
    target = StateDir(tmp_path).app_dir(ORG, APP)
    assert _tree(target) == {}
    assert (tmp_path / "prod" / APP / "tasks-state.json").is_file()


def test_two_different_copies_are_refused_naming_both(tmp_path: Path) -> None:
    old = _write(tmp_path / "prod" / APP / "tasks-state.json", '{"cursor": "old"}')
    new = _write(tmp_path / "apps" / "acme.okta.com" / APP / "tasks-state.json", '{"cursor": "new"}')
    with pytest.raises(StateFileError) as refused:
        StateDir(tmp_path).app_dir(ORG, APP, tenant="prod")
    assert str(old) in str(refused.value) and str(new) in str(refused.value)
    assert refused.value.hint and f"remove {old}" in refused.value.hint
    assert old.read_text() == '{"cursor": "old"}' and new.read_text() == '{"cursor": "new"}'


def test_an_identical_copy_and_a_stale_lock_file_are_dropped(tmp_path: Path) -> None:
    _write(tmp_path / "prod" / APP / "bearer-token.json", '{"fingerprint": "same"}')
    _write(tmp_path / "prod" / APP / "tasks.lock", "pid 1")
    target = tmp_path / "apps" / "acme.okta.com" / APP
    _write(target / "bearer-token.json", '{"fingerprint": "same"}')
    _write(target / "tasks.lock", "pid 2")
    StateDir(tmp_path).app_dir(ORG, APP, tenant="prod")
    assert _tree(target) == {"bearer-token.json": '{"fingerprint": "same"}', "tasks.lock": "pid 2"}
    assert not (tmp_path / "prod").exists()


def test_a_lock_held_under_the_old_path_still_excludes_after_the_move(tmp_path: Path) -> None:
    old_lock = tmp_path / "prod" / APP / "tasks.lock"
    old_lock.parent.mkdir(parents=True)
    with exclusive_lock(old_lock, "tasks"):
        target = StateDir(tmp_path).app_dir(ORG, APP, tenant="prod")
        with pytest.raises(LockedError):  # the rename keeps the locked file: the holder still holds it
            with exclusive_lock(target / "tasks.lock", "tasks"):
                pass


def test_a_planted_link_is_refused_and_nothing_is_written_through_it(tmp_path: Path) -> None:
    elsewhere = _write(tmp_path / "elsewhere" / "secret.txt", "keep")
    (tmp_path / "prod" / APP).mkdir(parents=True)
    (tmp_path / "prod" / APP / "tasks-state.json").symlink_to(elsewhere)
    with pytest.raises(StateFileError, match="symbolic link"):
        StateDir(tmp_path).app_dir(ORG, APP, tenant="prod")
    assert elsewhere.read_text() == "keep"
    assert not (tmp_path / "apps" / "acme.okta.com" / APP / "tasks-state.json").exists()


def test_a_tenant_dir_that_is_a_link_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    _write(real / APP / "tasks-state.json", "{}")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "prod").symlink_to(real)
    with pytest.raises(StateFileError, match="symbolic link"):
        StateDir(tmp_path / "state").app_dir(ORG, APP, tenant="prod")
    assert (real / APP / "tasks-state.json").is_file()


def test_a_move_killed_half_way_is_finished_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _old_layout(tmp_path)
    real_replace = os.replace
    moves = 0

    def crash_on_the_third(source: os.PathLike[str], destination: os.PathLike[str]) -> None:
        nonlocal moves
        moves += 1
        if moves == 3:
            raise KeyboardInterrupt  # the process is stopped between two renames
        real_replace(source, destination)

    monkeypatch.setattr(layout.os, "replace", crash_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        StateDir(tmp_path).app_dir(ORG, APP, tenant="prod", label="Chronosphere")
    monkeypatch.setattr(layout.os, "replace", real_replace)
    target = StateDir(tmp_path).app_dir(ORG, APP, tenant="prod", label="Chronosphere")
    assert _tree(target) == before


def test_a_tenant_called_apps_never_adopts_the_per_app_tree(tmp_path: Path) -> None:
    kept = _write(tmp_path / "apps" / APP / "notes.txt", "an older tenant called apps")
    StateDir(tmp_path).app_dir(ORG, APP, tenant="apps")
    assert kept.read_text() == "an older tenant called apps"


def test_an_orgs_app_dirs_are_found_without_creating_any(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    assert state.org_app_dirs(ORG) == []
    assert not (tmp_path / "apps").exists()
    first = state.app_dir(ORG, APP)
    second = state.app_dir("https://acme.okta.com", "0oa2other")
    state.app_dir("https://beta.okta.com", APP)  # another org's app is not one of acme's
    (first.parent / "planted").symlink_to(second)
    assert state.org_app_dirs("https://ACME.okta.com/") == [first, second]


def test_an_ipv6_org_host_is_keyed_and_found_the_same_way(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    path = state.app_dir("http://[::1]:8080/", APP)
    assert state.org_app_dirs("http://[::1]:8080") == [path]


def test_two_processes_adopting_at_once_lose_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process adopts everything while this one is between its listing and its first move."""
    before = _old_layout(tmp_path)
    real_replace = os.replace
    interleaved = False

    def other_process_first(source: os.PathLike[str], destination: os.PathLike[str]) -> None:
        nonlocal interleaved
        if not interleaved:
            interleaved = True
            monkeypatch.setattr(layout.os, "replace", real_replace)
            StateDir(tmp_path).app_dir(ORG, APP, tenant="prod", label="Chronosphere")
        real_replace(source, destination)

    monkeypatch.setattr(layout.os, "replace", other_process_first)
    target = StateDir(tmp_path).app_dir(ORG, APP, tenant="prod", label="Chronosphere")
    assert interleaved
    assert _tree(target) == before
    assert not (tmp_path / "prod").exists()
