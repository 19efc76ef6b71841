"""The resync state machine against the in-memory FakeGateway: ordering, guards, journal and resume."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from resync_helpers import WatchedGateway, assignments, seed_org, tenant_config

from oktasync.errors import (
    OktasyncError,
    ResumeRequiredError,
    SafetyError,
    VerificationError,
)
from oktasync.models import AppKind, GroupAssignment
from oktasync.state import StateFileError
from oktasync.workflows.resync import ResyncJournal, ResyncOptions, plan_resync, run_resync
from oktasync.workflows.resync.journal import app_dir


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.mark.parametrize(
    ("kind", "admin", "channel"),
    [(AppKind.CUSTOM_SCIM, True, "admin"), (AppKind.API_CAPABLE, False, "api")],
)
def test_full_run_restores_everything_and_never_unassigns_with_deactivate_on(
    state_dir: Path, kind: AppKind, admin: bool, channel: str
) -> None:
    gw = WatchedGateway(admin_session=admin)
    app = seed_org(gw, kind=kind, groups=6)
    before = assignments(gw, app.id)
    config = tenant_config()
    result = run(run_resync(config, gw, app, state_dir=state_dir, options=ResyncOptions(batch_size=2)))

    assert assignments(gw, app.id) == before
    assert gw.state(app.id).deactivate_users is True
    assert len(gw.unassigned_while) == 6 and not any(on for _, on in gw.unassigned_while)
    # Every unassignment happened before the first reassignment (users in two groups get re-linked).
    methods = [m for m, _ in gw.calls if m in ("unassign_group", "assign_group")]
    assert methods == ["unassign_group"] * 6 + ["assign_group"] * 6
    # Priorities and profiles were re-sent, not left to Okta's defaults.
    sent = {args[1]: (args[2], args[3]) for m, args in gw.calls if m == "assign_group"}
    assert sent == before
    assert result.exit_code == 0
    assert len(result.groups_cycled) == 6
    assert result.deactivate_users == {
        "recorded": True,
        "off_channel": channel,
        "restored_channel": channel,
        "final": True,
        "withheld": False,
    }
    # Every group-entitled user was seen removed, then re-created and pushed.
    assert result.repush["expected"] == result.repush["repushed"] == 30 and not result.not_repushed
    assert result.repush["removal_wait"]["outcome"] == "complete"
    assert result.app_users_before["USER"] == 1 and result.app_users_after["USER"] == 1
    assert result.app_users_before["GROUP"] == result.app_users_after["GROUP"] == 30
    # The journal is archived (kept, renamed), and a new run may start at once.
    journal = ResyncJournal(app_dir(config, app, state_dir))
    assert not journal.exists()
    assert [p.name for p in journal.archives()] == [f"resync.{result.run_id}.completed.jsonl"]
    run(run_resync(config, gw, app, state_dir=state_dir))


def test_journal_brackets_every_action_and_holds_no_secret(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw, groups=3)
    config = tenant_config()
    result = run(run_resync(config, gw, app, state_dir=state_dir))
    text = Path(result.journal).read_text()
    assert "t0k3n-unit" not in text and "scim-secret" not in text
    records = [json.loads(line) for line in text.splitlines()]
    kinds = [(r["rec"], r.get("step")) for r in records]
    assert kinds[:2] == [("begin", None), ("snapshot", None)]
    assert kinds[2:4] == [("intent", "deactivate_off"), ("done", "deactivate_off")]
    for gid in {r["group_id"] for r in records if r.get("step") == "unassign"}:
        steps = [(r["rec"], r["step"]) for r in records if r.get("group_id") == gid]
        assert steps == [
            ("intent", "unassign"),
            ("done", "unassign"),
            ("intent", "assign"),
            ("done", "assign"),
        ]
    assert kinds[-1] == ("finish", None)


def test_refuses_while_unfinished_journal_exists_and_resume_finishes(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw, groups=6)
    before = assignments(gw, app.id)
    config = tenant_config()

    def network_down() -> None:
        raise OktasyncError("network down")

    gw.on_call("unassign_group", 3, network_down)  # the run dies after the first unassignment batch
    with pytest.raises(OktasyncError) as stopped:
        run(run_resync(config, gw, app, state_dir=state_dir, options=ResyncOptions(batch_size=2)))
    assert "unassigned right now" in (stopped.value.hint or "")
    assert 0 < len(gw.state(app.id).groups) < 6
    with pytest.raises(ResumeRequiredError) as refused:
        run(run_resync(config, gw, app, state_dir=state_dir))
    assert refused.value.exit_code == 4 and "--resume" in (refused.value.hint or "")
    result = run(run_resync(config, gw, app, state_dir=state_dir, options=ResyncOptions(resume=True)))
    assert result.resumed
    assert assignments(gw, app.id) == before
    assert gw.state(app.id).deactivate_users is True
    assert not any(on for _, on in gw.unassigned_while)
    # No group was unassigned twice: the resumed run skipped the journaled ones (only the call that failed
    # is sent again).
    unassigned = [g for g, _ in gw.unassigned_while]
    assert len(unassigned) == len(set(unassigned)) + 1


def test_a_journal_kept_under_another_tenants_name_blocks_and_resumes_from_the_app_dir(
    state_dir: Path,
) -> None:
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw, groups=6)
    before = assignments(gw, app.id)
    config = tenant_config()

    def network_down() -> None:
        raise OktasyncError("network down")

    gw.on_call("unassign_group", 3, network_down)
    with pytest.raises(OktasyncError):
        run(run_resync(config, gw, app, state_dir=state_dir, options=ResyncOptions(batch_size=2)))
    journal = app_dir(config, app, state_dir) / "resync.journal.jsonl"
    kept = state_dir / "old-name" / app.id / journal.name  # where a config naming the tenant old-name kept it
    kept.parent.mkdir(parents=True)
    journal.replace(kept)
    with pytest.raises(ResumeRequiredError):
        run(run_resync(config, gw, app, state_dir=state_dir))
    assert journal.is_file() and not kept.exists()
    result = run(run_resync(config, gw, app, state_dir=state_dir, options=ResyncOptions(resume=True)))
    assert result.resumed and assignments(gw, app.id) == before


def test_two_journals_for_one_app_are_refused_naming_both(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw, groups=2)
    config = tenant_config()
    journal = app_dir(config, app, state_dir) / "resync.journal.jsonl"
    journal.write_text("")
    kept = state_dir / "old-name" / app.id / journal.name
    kept.parent.mkdir(parents=True)
    kept.write_text("")
    with pytest.raises(StateFileError) as refused:
        app_dir(config, app, state_dir)
    assert str(kept) in refused.value.message and str(journal) in refused.value.message
    assert kept.is_file() and journal.is_file()


def test_resume_without_journal_is_refused(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw, groups=2)
    with pytest.raises(SafetyError, match="no unfinished resync"):
        run(run_resync(tenant_config(), gw, app, state_dir=state_dir, options=ResyncOptions(resume=True)))


def test_deactivate_switched_on_mid_run_stops_before_next_unassign(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw, groups=6)
    before = assignments(gw, app.id)
    config = tenant_config()

    def other_admin() -> None:
        gw.state(app.id).deactivate_users = True

    gw.on_call("unassign_group", 3, other_admin)  # during the second batch of two
    with pytest.raises(SafetyError, match="switched on during the resync") as stopped:
        run(run_resync(config, gw, app, state_dir=state_dir, options=ResyncOptions(batch_size=2)))
    assert "--resume" in (stopped.value.hint or "")
    # The batch in flight finished; no unassignment was *started* after the re-read saw it on.
    assert len(gw.unassigned_while) == 4
    assert ResyncJournal(app_dir(config, app, state_dir)).exists()
    result = run(run_resync(config, gw, app, state_dir=state_dir, options=ResyncOptions(resume=True)))
    assert assignments(gw, app.id) == before
    assert gw.state(app.id).deactivate_users is True
    assert [on for _, on in gw.unassigned_while[4:]] == [False, False]
    assert any("batch" in w for w in result.warnings)


def test_switched_on_during_last_batch_is_reported_as_danger(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw, groups=2)
    gw.on_call("unassign_group", 2, lambda: setattr(gw.state(app.id), "deactivate_users", True))
    result = run(
        run_resync(tenant_config(), gw, app, state_dir=state_dir, options=ResyncOptions(batch_size=5))
    )
    assert result.danger and result.exit_code == 1
    assert any("may have been deactivated" in w for w in result.warnings)


def test_max_affected_users_refuses_before_any_change(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw, groups=3, users=12)
    config = tenant_config(max_affected_users=5)
    with pytest.raises(SafetyError, match="more than resync.max_affected_users") as refused:
        run(run_resync(config, gw, app, state_dir=state_dir))
    assert "--max-affected-users 12" in (refused.value.hint or "")
    assert not any(m in ("unassign_group", "write_admin_form") for m, _ in gw.calls)
    assert not ResyncJournal(app_dir(config, app, state_dir)).exists()
    # Raised explicitly, it runs.
    run(run_resync(config, gw, app, state_dir=state_dir, options=ResyncOptions(max_affected_users=12)))


def test_manual_channel_without_a_person_refuses_and_changes_nothing(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=False)  # custom SCIM app, no admin session: only a person can switch
    app = seed_org(gw, groups=3)
    before = assignments(gw, app.id)
    config = tenant_config()
    with pytest.raises(SafetyError, match="nothing changed") as refused:
        run(run_resync(config, gw, app, state_dir=state_dir))
    assert refused.value.exit_code == 4
    assert "Deactivate Users" in refused.value.message and "1." in refused.value.message  # the console steps
    assert assignments(gw, app.id) == before and gw.state(app.id).deactivate_users is True
    journal = ResyncJournal(app_dir(config, app, state_dir))
    assert not journal.exists() and journal.archives()[0].name.endswith(".aborted.jsonl")


def test_manual_channel_with_a_person_polls_until_confirmed(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=False)
    app = seed_org(gw, groups=2)
    shown: list[list[str]] = []

    def person(steps: list[str]) -> None:
        shown.append(steps)
        state = gw.state(app.id)
        state.deactivate_users = not state.deactivate_users  # the person ticks the box as told

    options = ResyncOptions(wait_for_person=person, poll_interval=0.0)
    result = run(run_resync(tenant_config(), gw, app, state_dir=state_dir, options=options))
    assert len(shown) == 2  # off, then back on
    assert result.deactivate_users["off_channel"] == "manual" and gw.state(app.id).deactivate_users


def test_concurrent_changes_are_reported_not_overwritten(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw, groups=4)
    state = gw.state(app.id)
    gids = list(state.groups)
    extra = gw.add_group("late-team", ["user1@example.com"])
    changed_profile = {"role": "changed"}

    def other_admin() -> None:  # between the snapshot and the first unassignment
        del state.groups[gids[0]]
        state.groups[gids[1]] = GroupAssignment(group_id=gids[1], priority=42, profile=changed_profile)
        state.groups[extra] = GroupAssignment(group_id=extra, priority=99, profile={})

    gw.on_call("write_admin_form", 1, other_admin)
    result = run(run_resync(tenant_config(), gw, app, state_dir=state_dir))
    assert gids[0] not in state.groups  # removed by someone else: not re-added
    assert state.groups[gids[1]].priority == 42 and state.groups[gids[1]].profile == changed_profile
    assert state.groups[extra].priority == 99  # added by someone else: left alone
    assert extra not in [args[1] for m, args in gw.calls if m == "unassign_group"]
    cc = result.concurrent_changes
    assert [r["group_id"] for r in cc["removed_before_cycle"]] == [gids[0]]
    assert [r["after"]["group_id"] for r in cc["changed_before_cycle"]] == [gids[1]]
    assert [r["group_id"] for r in cc["added"]] == [extra]
    assert len(result.groups_cycled) == 3 and len(result.warnings) == 3


def test_verification_failure_keeps_deactivate_off_and_the_journal(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw, groups=3)
    config = tenant_config()
    original = gw.assign_group

    async def sloppy(app_id: str, group_id: str, priority: int | None, profile: dict[str, Any]) -> Any:
        return await original(app_id, group_id, (priority or 0) + 100, profile)  # ignores what we sent

    gw.assign_group = sloppy  # type: ignore[method-assign]
    with pytest.raises(VerificationError, match="do not match the snapshot") as failed:
        run(run_resync(config, gw, app, state_dir=state_dir))
    assert failed.value.exit_code == 1 and "--resume" in (failed.value.hint or "")
    assert gw.state(app.id).deactivate_users is False  # never restored before every group is verified
    gw.assign_group = original  # type: ignore[method-assign]
    run(run_resync(config, gw, app, state_dir=state_dir, options=ResyncOptions(resume=True)))
    assert gw.state(app.id).deactivate_users is True


def test_one_repair_round_fixes_a_write_that_did_not_stick(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw, groups=3)
    before = assignments(gw, app.id)
    original = gw.assign_group
    fumbled: list[str] = []

    async def once_sloppy(app_id: str, group_id: str, priority: int | None, profile: dict[str, Any]) -> Any:
        if not fumbled:
            fumbled.append(group_id)
            return await original(app_id, group_id, 77, profile)
        return await original(app_id, group_id, priority, profile)

    gw.assign_group = once_sloppy  # type: ignore[method-assign]
    result = run(run_resync(tenant_config(), gw, app, state_dir=state_dir))
    assert assignments(gw, app.id) == before
    assert result.concurrent_changes["repaired"] == fumbled


def test_deleted_group_is_reported_not_fatal(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw, groups=3)
    gid = next(iter(gw.state(app.id).groups))
    gw.on_call("assign_group", 1, lambda: gw.groups.pop(gid))
    result = run(
        run_resync(tenant_config(), gw, app, state_dir=state_dir, options=ResyncOptions(concurrency=1))
    )
    assert result.groups_not_restored and len(result.groups_cycled) == 2
    assert gw.state(app.id).deactivate_users is True


def test_named_groups_restrict_the_cycle(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw, groups=4)
    before = assignments(gw, app.id)
    config = tenant_config(groups=["team-1", "team-2", "no-such-team"])
    plan = run(plan_resync(config, gw, app, state_dir=state_dir))
    assert len(plan.targets) == 2 and plan.missing_named_groups == ("no-such-team",)
    result = run(run_resync(config, gw, app, state_dir=state_dir))
    touched = {args[1] for m, args in gw.calls if m == "unassign_group"}
    names = {gw.groups[g][0] for g in touched}
    assert names == {"team-1", "team-2"}
    assert assignments(gw, app.id) == before
    assert result.missing_named_groups == ("no-such-team",)


def test_dry_run_plan_changes_nothing(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw, groups=5, users=20)
    config = tenant_config(max_affected_users=10)
    plan = run(plan_resync(config, gw, app, state_dir=state_dir))
    writes = {"unassign_group", "assign_group", "write_admin_form", "update_to_app_settings"}
    assert not any(m in writes for m, _ in gw.calls)
    doc = plan.to_dict()
    assert doc["groups_to_cycle"] == 5 and doc["affected_users"] == 20 and doc["exceeds_limit"] is True
    assert doc["direct_users_not_touched"] == 1
    assert doc["deactivate_users"] == {"current": True, "channel": "admin"}
    assert doc["estimate"]["api_calls_minimum"] == 2 * 5 + 1 + 2 + 1
    assert not ResyncJournal(app_dir(config, app, state_dir)).exists()


def test_resume_repeats_a_step_whose_done_record_is_missing(state_dir: Path) -> None:
    """An intent without done (killed between the call and the record) is repeated; it is idempotent."""
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw, groups=3)
    before = assignments(gw, app.id)
    config = tenant_config()

    def network_down() -> None:
        raise OktasyncError("network down")

    gw.on_call("unassign_group", 3, network_down)
    with pytest.raises(OktasyncError):
        run(run_resync(config, gw, app, state_dir=state_dir, options=ResyncOptions(batch_size=1)))
    journal = ResyncJournal(app_dir(config, app, state_dir))
    records = journal.records()
    # Cut the journal before the last "done unassign", as if the process died right after Okta answered.
    last_done = max(
        i for i, r in enumerate(records) if r.get("rec") == "done" and r.get("step") == "unassign"
    )
    redo = records[last_done]["group_id"]
    journal.path.write_text("".join(json.dumps(r) + "\n" for r in records[:last_done]))
    run(run_resync(config, gw, app, state_dir=state_dir, options=ResyncOptions(resume=True)))
    assert [g for g, _ in gw.unassigned_while].count(redo) == 2  # repeated: a 404 is fine
    assert assignments(gw, app.id) == before


class LaggingJobs(WatchedGateway):
    """Okta's group jobs that have not finished when the run stops waiting: unassigning leaves the app users
    in place (``removes=False``), or reassigning does not re-create the users in ``not_recreated``."""

    def __init__(self, *, removes: bool = True, not_recreated: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.removes, self.not_recreated = removes, not_recreated

    async def unassign_group(self, app_id: str, group_id: str) -> None:
        users = dict(self.state(app_id).users)
        await super().unassign_group(app_id, group_id)
        if not self.removes:
            self.state(app_id).users.update(users)

    async def assign_group(
        self, app_id: str, group_id: str, priority: int | None, profile: dict[str, Any]
    ) -> GroupAssignment:
        assignment = await super().assign_group(app_id, group_id, priority, profile)
        for login in self.not_recreated:
            self.state(app_id).users.pop(self._user_ref(login), None)
        return assignment


def test_users_never_removed_are_reported_and_deactivate_users_stays_off(state_dir: Path) -> None:
    gw = LaggingJobs(removes=False, admin_session=True)
    app = seed_org(gw)
    before = assignments(gw, app.id)
    options = ResyncOptions(job_timeout=0.0)
    result = run(run_resync(tenant_config(), gw, app, state_dir=state_dir, options=options))
    assert result.exit_code == 1 and not result.proven
    assert assignments(gw, app.id) == before
    assert len(result.not_repushed) == 30 and {u["reason"] for u in result.not_repushed} == {"stale"}
    assert result.repush["removal_wait"]["outcome"] == "timeout"
    assert result.repush["removal_wait"]["still_present"] == 30
    # A removal job still to come would deactivate its users with Deactivate Users on: left off.
    assert gw.state(app.id).deactivate_users is False
    assert result.deactivate_users["withheld"] is True and result.deactivate_users["final"] is False
    assert any("left OFF" in w for w in result.warnings)
    assert not any(on for _, on in gw.unassigned_while)
    assert result.to_dict()["not_repushed"][0]["reason"] == "stale"


def test_users_not_re_created_are_reported_missing(state_dir: Path) -> None:
    gw = LaggingJobs(not_recreated=("user0@example.com", "user7@example.com"), admin_session=True)
    app = seed_org(gw)
    options = ResyncOptions(job_timeout=0.0)
    result = run(run_resync(tenant_config(), gw, app, state_dir=state_dir, options=options))
    assert result.exit_code == 1
    missing = {(u["user_id"], u["reason"]) for u in result.not_repushed}
    assert missing == {
        (gw._user_ref("user0@example.com"), "missing"),
        (gw._user_ref("user7@example.com"), "missing"),
    }
    assert result.repush["repushed"] == 28 and result.repush["expected"] == 30
    # Every removal was seen, so no job is pending that could deactivate anyone: restored.
    assert gw.state(app.id).deactivate_users is True and not result.deactivate_users["withheld"]
    # The report of a run killed after journaling it keeps the verdict.
    archived = ResyncJournal(app_dir(tenant_config(), app, state_dir)).archives()[0]
    finish = [json.loads(line) for line in archived.read_text().splitlines()][-1]
    assert finish["report"]["not_repushed"] == result.to_dict()["not_repushed"]


def test_a_failed_push_is_re_pushed_but_counted(state_dir: Path) -> None:
    """syncState ERROR: Okta re-created the user and tried; the failure is a task for `oktasync tasks`."""

    class OneFails(WatchedGateway):
        async def assign_group(
            self, app_id: str, group_id: str, priority: int | None, profile: dict[str, Any]
        ) -> GroupAssignment:
            assignment = await super().assign_group(app_id, group_id, priority, profile)
            uid = self._user_ref("user3@example.com")
            users = self.state(app_id).users
            if uid in users:
                users[uid] = replace(users[uid], sync_state="ERROR", status="STAGED")
            return assignment

    gw = OneFails(admin_session=True)
    app = seed_org(gw)
    result = run(run_resync(tenant_config(), gw, app, state_dir=state_dir))
    assert result.exit_code == 0 and result.proven
    assert result.repush["push_failed"] == 1 and result.repush["repushed"] == 30
    assert result.push_failures == 1


def _roster_record(config: Any, app: Any, state_dir: Path) -> dict[str, Any]:
    archived = ResyncJournal(app_dir(config, app, state_dir)).archives()[0]
    records = [json.loads(line) for line in archived.read_text().splitlines()]
    return next(r for r in records if r.get("rec") == "done" and r.get("step") == "roster")


def test_the_roster_comes_from_the_fresh_snapshot_listing(state_dir: Path) -> None:
    """App users are listed three times: the snapshot (which also gives the roster), and once per wait
    for Okta's jobs (the second also gives the report's counts after)."""
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw)
    config = tenant_config()
    result = run(run_resync(config, gw, app, state_dir=state_dir))
    assert result.exit_code == 0 and result.repush["repushed"] == 30
    assert gw.counts["list_app_users"] == 3
    roster = _roster_record(config, app, state_dir)
    assert roster["source"] == "snapshot" and len(roster["users"]) == 30
    assert result.app_users_after == {"total": 31, "USER": 1, "GROUP": 30}


def test_a_stale_snapshot_listing_is_not_the_roster(state_dir: Path) -> None:
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw)
    config = tenant_config()
    result = run(run_resync(config, gw, app, state_dir=state_dir, options=ResyncOptions(roster_max_age=-1)))
    assert result.exit_code == 0 and result.repush["repushed"] == 30
    assert gw.counts["list_app_users"] == 4
    assert _roster_record(config, app, state_dir)["source"] == "listing"


class LateJob(WatchedGateway):
    """Okta's assignment job re-creates the users in ``late`` only when ``finish_late_job()`` runs."""

    def __init__(self, *, late: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.late, self.held = late, {}

    async def assign_group(
        self, app_id: str, group_id: str, priority: int | None, profile: dict[str, Any]
    ) -> GroupAssignment:
        assignment = await super().assign_group(app_id, group_id, priority, profile)
        users = self.state(app_id).users
        for login in self.late:
            uid = self._user_ref(login)
            if uid in users:
                self.held[uid] = (app_id, users.pop(uid))
        return assignment

    def finish_late_job(self) -> None:
        for uid, (app_id, user) in self.held.items():
            self.state(app_id).users[uid] = user


def test_a_wait_re_reads_only_the_app_users_still_waited_for(state_dir: Path) -> None:
    """The first poll after reassigning lists every app user; two are not back yet, so the next poll reads
    those two (one request each) instead of the listing's 3 pages of 500."""
    gw = LateJob(late=("user0@example.com", "user7@example.com"), admin_session=True)
    app = seed_org(gw, users=1200)
    gw.on_call("get_app_user", 1, gw.finish_late_job)
    options = ResyncOptions(job_poll_first=0.0, max_affected_users=2000)
    result = run(run_resync(tenant_config(), gw, app, state_dir=state_dir, options=options))
    assert result.exit_code == 0 and result.proven
    assert result.repush["expected"] == result.repush["repushed"] == 1200
    assert result.repush["return_wait"]["polls"] == 2
    assert gw.counts["list_app_users"] == 3 and gw.counts["get_app_user"] == 2
    assert result.app_users_after == {"total": 1201, "USER": 1, "GROUP": 1200}


MAIN_FORMAT_JOURNAL = Path(__file__).parent / "fixtures" / "main-format.resync.journal.jsonl"


def test_a_journal_in_the_released_format_loads_and_resumes(state_dir: Path) -> None:
    """A journal written by the released code (its records as they are on disk: a run stopped by an Okta
    error during the reassignments, after the roster, the unassignments and the removal wait) is read into
    the typed run state and finished by --resume."""
    gw = WatchedGateway(admin_session=True)
    app = seed_org(gw)
    before = assignments(gw, app.id)
    records = [json.loads(line) for line in MAIN_FORMAT_JOURNAL.read_text().splitlines()]
    assert records[0]["app_id"] == app.id
    # Bring the org to where that run stopped: Deactivate Users off, every group unassigned, then the
    # groups the journal says were reassigned.
    gw.state(app.id).deactivate_users = False
    for gid in before:
        run(gw.unassign_group(app.id, gid))
    for record in records:
        if record["rec"] == "done" and record.get("step") == "assign":
            priority, profile = before[record["group_id"]]
            run(gw.assign_group(app.id, record["group_id"], priority, profile))
    config = tenant_config()
    journal = ResyncJournal(app_dir(config, app, state_dir))
    journal.app_dir.mkdir(parents=True, exist_ok=True)
    journal.path.write_bytes(MAIN_FORMAT_JOURNAL.read_bytes())

    state = journal.state()
    assert state.roster is not None and len(state.roster.users) == 30
    assert state.removal_wait is not None and state.removal_wait.outcome == "complete"
    assert len(state.assigned) == 3 and len(state.unassigned_now()) == 3 and state.unassign_phase_done

    result = run(run_resync(config, gw, app, state_dir=state_dir, options=ResyncOptions(resume=True)))
    assert result.exit_code == 0 and result.resumed and result.proven
    assert assignments(gw, app.id) == before
    assert gw.state(app.id).deactivate_users is True
    assert result.repush["expected"] == result.repush["repushed"] == 30
    assert not any(on for _, on in gw.unassigned_while)
