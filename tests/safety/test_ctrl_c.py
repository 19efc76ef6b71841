"""Ctrl-C anywhere, typed on a real pseudo-terminal against the real CLI and the emulator: at every prompt it
cancels (exit 130, nothing changed); during the unassignments it stops unassigning at once and reassigns what
was unassigned, then restores Deactivate Users; a second Ctrl-C stops at once and keeps the journal."""

from __future__ import annotations

from pathlib import Path

from safety_helpers import Org, wait_for


def _unchanged(org: Org, before: dict[str, object]) -> None:
    assert org.assignments() == before
    assert org.deactivate_users() is True
    assert org.em.control.wait_idle(30)
    assert org.deactivations() == []


def test_ctrl_c_at_the_resync_prompt_cancels(org: Org) -> None:
    before = org.assignments()
    term = org.pty("resync", str(org.config))
    term.expect("Proceed with the resync? [y/N]")
    term.ctrl_c()
    assert term.wait() == 130, term.output
    assert "Aborted." in term.output
    assert org.journal() is None  # nothing was started
    history = org.em.control.settings_history(org.app_id)
    assert not [h for h in history if h.get("deactivate_users") is False]
    _unchanged(org, before)


def test_y_after_a_ctrl_c_starts_nothing(org: Org) -> None:
    """The Ctrl-C ends the process: a "y" typed afterwards reaches no prompt."""
    before = org.assignments()
    term = org.pty("resync", str(org.config))
    term.expect("[y/N]")
    term.ctrl_c()
    term.send("y\n")
    assert term.wait() == 130, term.output
    _unchanged(org, before)


def test_ctrl_c_at_the_apply_prompt_cancels(org: Org) -> None:
    org.em.control.set_app_settings(org.app_id, push_profile_updates=False)  # something for apply to write
    term = org.pty("apply", str(org.config))
    term.expect("Apply these changes? [y/N]")
    term.ctrl_c()
    assert term.wait() == 130, term.output
    app = next(a for a in org.em.control.state()["apps"] if a["id"] == org.app_id)
    assert app["settings"]["push_profile_updates"] is False  # nothing written


def test_ctrl_c_at_a_playbook_confirm_step_cancels(org: Org) -> None:
    before = org.assignments()
    term = org.pty("playbook", "run", "resync", "--config", str(org.config))
    term.expect("[y/N]")
    term.ctrl_c()
    assert term.wait() == 130, term.output
    assert org.journal() is None
    _unchanged(org, before)


def test_ctrl_c_mid_unassignment_reassigns_and_restores(org: Org) -> None:
    before = org.assignments()
    org.em.control.faults(latency_ms=400, path_pattern="/groups/")  # the Ctrl-C lands mid-phase
    term = org.pty("resync", "--yes", "--batch-size", "1", str(org.config))
    wait_for(lambda: org.journal_text().count('"step": "unassign"') >= 4, what="two unassignments")
    term.ctrl_c()
    code = term.wait()
    org.em.control.clear_faults()
    assert code == 130, term.output
    assert "no further group was unassigned" in term.output
    archived = list(org.state_dir.rglob("resync.*.rolled_back.jsonl"))
    assert len(archived) == 1 and org.journal() is None  # rolled back: nothing to resume
    routes = org.em.control.stats()["by_route"]
    deletes = sum(n for route, n in routes.items() if route.startswith("DELETE") and "/groups/" in route)
    assert 0 < deletes < 6  # stopped unassigning at once, not at the last group
    _unchanged(org, before)


def test_second_ctrl_c_stops_at_once_and_resume_finishes(org: Org, tmp_path: Path) -> None:
    before = org.assignments()
    org.em.control.faults(latency_ms=400, path_pattern="/groups/")
    term = org.pty("resync", "--yes", "--batch-size", "1", str(org.config))
    wait_for(lambda: org.journal_text().count('"step": "unassign"') >= 4, what="two unassignments")
    term.ctrl_c()
    term.expect("Ctrl-C again to stop at once")
    term.ctrl_c()
    code = term.wait()
    assert code == 130, term.output
    assert "--resume" in term.output and org.journal() is not None  # the journal is kept
    org.em.control.clear_faults()
    code, out, err = org.cli("resync", "--resume", str(org.config))
    # --resume finishes the roll back when the first Ctrl-C had been journaled as one (130), else the run
    # itself (0); either way every group is back and Deactivate Users restored.
    rolled_back = "no further group was unassigned" in err
    assert (code, rolled_back) in ((130, True), (0, False)), out + err
    assert org.journal() is None
    _unchanged(org, before)


def test_ctrl_c_while_waiting_for_removals_rolls_back(org: Org) -> None:
    """Every group is unassigned and the run waits for Okta's removal jobs: Ctrl-C reassigns them all and
    restores Deactivate Users; the late removal jobs then find everyone entitled and deactivate nobody."""
    before = org.assignments()
    org.em.control.behaviour(group_unassign_delay_seconds=5.0)  # the removal jobs run late
    term = org.pty("resync", "--yes", str(org.config))
    wait_for(lambda: '"step": "unassign_phase"' in org.journal_text(), what="the removal wait")
    term.ctrl_c()
    code = term.wait()
    assert code == 130, term.output
    assert "no further group was unassigned" in term.output and org.journal() is None
    _unchanged(org, before)


def test_ctrl_c_while_waiting_for_the_return_stops_with_the_journal_kept(org: Org) -> None:
    """Every group is assigned again and the run waits for Okta to re-create the app users: Ctrl-C stops
    waiting (journal kept, Deactivate Users still off); --resume waits again and restores it."""
    before = org.assignments()
    org.em.control.behaviour(group_assign_delay_seconds=5.0)  # the re-creation runs late
    term = org.pty("resync", "--yes", str(org.config))
    wait_for(lambda: org.journal_text().count('"step": "assign"') >= 12, what="every group reassigned")
    term.ctrl_c()
    code = term.wait()
    assert code == 130 and "--resume" in term.output, term.output
    assert org.journal() is not None and org.deactivate_users() is False
    code, out, err = org.cli("resync", "--resume", str(org.config))
    assert code == 0, out + err
    _unchanged(org, before)


def test_a_roll_back_killed_half_way_is_finished_by_resume(org: Org) -> None:
    """SIGKILL during the roll back (after its first reassignment): the journal says "rollback", so
    --resume carries on rolling back instead of unassigning the rest."""
    before = org.assignments()
    org.em.control.faults(latency_ms=400, path_pattern="/groups/")
    term = org.pty(
        "resync",
        "--yes",
        "--batch-size",
        "1",
        str(org.config),
        extra_env={"OKTASYNC_TEST_CRASH_AT": "assign.after:1"},
    )
    wait_for(lambda: org.journal_text().count('"step": "unassign"') >= 4, what="two unassignments")
    term.ctrl_c()
    assert term.wait() == -9, term.output  # killed inside the roll back
    org.em.control.clear_faults()
    journal = org.journal()
    assert journal is not None and '"rec": "rollback"' in journal.read_text()
    unassigned_before_resume = org.em.control.stats()["by_route"]
    code, out, err = org.cli("resync", "--resume", str(org.config))
    assert code == 130 and "no further group was unassigned" in err, out + err
    deletes = [r for r in org.em.control.stats()["by_route"] if r.startswith("DELETE") and "/groups/" in r]
    assert all(
        org.em.control.stats()["by_route"][r] == unassigned_before_resume.get(r) for r in deletes
    )  # the resumed run unassigned nothing more
    _unchanged(org, before)
