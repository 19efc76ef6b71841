"""One writer per Okta app: apply, tasks --retry and playbooks during a running resync are refused (same
state dir: the app's lock; another state dir: the signs in Okta), nobody is deactivated; a config that calls
the tenant something else cannot start over an unfinished run; plan and doctor report it."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

from safety_helpers import Org, wait_for


def _running_resync(org: Org) -> object:
    org.em.control.faults(latency_ms=700, path_pattern="/groups/")  # a resync that takes a while
    proc = org.spawn("resync", "--yes", "--batch-size", "1", str(org.config))
    wait_for(lambda: org.journal_text().count('"step": "unassign"') >= 2, what="the first unassignment")
    return proc


def test_writers_during_a_running_resync_are_refused(org: Org, tmp_path: Path) -> None:
    before = org.assignments()
    proc = _running_resync(org)
    other_state = tmp_path / "elsewhere"  # another machine (or state dir): only Okta can tell
    refusals = {
        "apply, same state dir": org.cli("apply", "--yes", str(org.config)),
        "apply, other state dir": org.cli("apply", "--yes", str(org.config), state_dir=other_state),
        "tasks --retry": org.cli("tasks", "--retry", str(org.config)),
        "tasks --retry, other state dir": org.cli("tasks", "--retry", str(org.config), state_dir=other_state),
        "playbook": org.cli("playbook", "run", "resync", "--yes", "--config", str(org.config)),
        "playbook, other state dir": org.cli(
            "playbook", "run", "resync", "--yes", "--config", str(org.config), state_dir=other_state
        ),
    }
    assert org.journal() is not None, "the resync ended before the writers ran: the test proved nothing"
    for what, (code, out, err) in refusals.items():
        assert code == 4, f"{what}: {out}{err}"
        assert "already running" in out + err or "resync is running elsewhere" in out + err, what
    out, err = proc.communicate(timeout=120)
    org.em.control.clear_faults()
    assert proc.returncode == 0, out + err
    assert org.assignments() == before and org.deactivate_users() is True
    assert org.em.control.wait_idle(30)
    assert org.deactivations() == []  # nobody deprovisioned


def test_okta_activity_can_be_overridden_explicitly(org: Org, tmp_path: Path) -> None:
    """Deactivate Users off plus recent unassignments refuse until the person says no resync runs."""
    group = next(iter(org.assignments()))
    org.em.control.set_app_settings(org.app_id, deactivate_users=False)
    org.em.control.unassign_group(org.app_id, group)
    code, out, err = org.cli("apply", "--yes", str(org.config))
    assert code == 4 and "--ignore-okta-activity" in out + err, out + err
    assert org.deactivate_users() is False
    code, out, err = org.cli("apply", "--yes", "--ignore-okta-activity", str(org.config))
    # Not refused: apply writes what the Admin Console page offers (exit 5 lists what only a person can do).
    assert code == 5 and "--ignore-okta-activity" not in out + err, out + err
    assert org.deactivate_users() is True


def _crashed_resync(org: Org) -> None:
    killed = org.spawn(
        "resync", "--yes", str(org.config), extra_env={"OKTASYNC_TEST_CRASH_AT": "unassign.after:3"}
    )
    killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert org.journal() is not None


def test_a_renamed_config_cannot_start_over_an_unfinished_run(org: Org) -> None:
    before = org.assignments()
    _crashed_resync(org)
    renamed = org.write_config("acme-renamed")  # same org, same app, another tenant name
    code, out, err = org.cli("resync", "--yes", str(renamed))
    assert code == 4 and "--resume" in err, out + err
    code, out, err = org.cli("apply", "--yes", str(renamed))
    assert code == 4 and "unfinished resync" in out + err and "--resume" in out + err, out + err
    code, out, err = org.cli("plan", str(renamed))
    assert code == 0 and "unfinished resync" in err and "--resume" in err, out + err
    code, out, err = org.cli("doctor", str(renamed))
    assert "unfinished resync" in err, out + err
    code, out, err = org.cli("playbook", "run", "verify", "--config", str(renamed))
    assert "unfinished resync" in out + err, out + err
    code, out, err = org.cli("playbook", "run", "verify", "--fresh", "--config", str(renamed))
    assert code == 4 and "unfinished resync" in out + err, out + err
    code, out, err = org.cli("resync", "--resume", str(renamed))
    assert code == 0, out + err
    assert org.assignments() == before and org.deactivate_users() is True


def test_a_journal_kept_by_tenant_name_is_moved_to_the_app(org: Org) -> None:
    """State dirs from before journals were kept per Okta app: the journal is found (under whatever tenant
    name) and moved."""
    before = org.assignments()
    _crashed_resync(org)
    journal = org.journal()
    assert journal is not None
    legacy = org.state_dir / "old-tenant-name" / org.app_id  # kept by a config since renamed
    legacy.mkdir(parents=True, exist_ok=True)
    shutil.move(str(journal), legacy / journal.name)
    code, out, err = org.cli("apply", "--yes", str(org.config))
    assert code == 4 and "unfinished resync" in out + err, out + err
    assert not (legacy / journal.name).exists() and journal.exists()
    code, out, err = org.cli("resync", "--resume", str(org.config))
    assert code == 0, out + err
    assert org.assignments() == before
