"""`oktasync resync CONFIG`: the safe unassign/reassign of every group (docs/resync.md)."""

from __future__ import annotations

import asyncio
import shlex
import signal
import sys
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from oktasync.cli.context import (
    CONFIG_PATH,
    confirm_err,
    echo_err,
    echo_warning,
    emit_json,
    global_options,
    json_option,
    numbered,
    terminal_console,
)
from oktasync.cli.progress import make_progress
from oktasync.config import load_tenant
from oktasync.errors import EXIT_OK, Interrupted, SafetyError
from oktasync.textsafe import for_terminal
from oktasync.workflows.app_guard import ignoring_okta_activity
from oktasync.workflows.resync import ResyncOptions, ResyncPlan, ResyncResult
from oktasync.workflows.resync.options import DEFAULT_JOB_TIMEOUT

if TYPE_CHECKING:
    from oktasync.config.schema import TenantConfig
    from oktasync.models import App
    from oktasync.okta_gateway.base import OktaGateway
    from oktasync.progress import Progress


@click.command("resync")
@click.argument("config_path", metavar="CONFIG", type=CONFIG_PATH)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required when not on a terminal).")
@click.option("--dry-run", is_flag=True, help="Show the plan (groups, users affected) and change nothing.")
@click.option("--resume", is_flag=True, help="Finish the interrupted run recorded in the journal.")
@json_option("Print one JSON document.")
@click.option(
    "--max-affected-users",
    type=click.IntRange(min=0),
    help="Raise (or lower) resync.max_affected_users for this run.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=500),
    default=20,
    show_default=True,
    help="Groups per batch; Deactivate Users is re-read before each batch of unassignments.",
)
@click.option(
    "--manual-timeout",
    type=click.FloatRange(min=1),
    default=900,
    show_default=True,
    help="Seconds to wait for a person to flip Deactivate Users (custom app without an admin session).",
)
@click.option(
    "--job-timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_JOB_TIMEOUT,
    show_default=True,
    help="Longest wait, in seconds, for Okta's background jobs to remove the app users of the unassigned "
    "groups, and again to re-create them after reassigning.",
)
@click.option(
    "--ignore-okta-activity",
    is_flag=True,
    help="Write even though Okta shows signs of a resync running elsewhere (Deactivate Users off and recent "
    "group unassignments in the System Log). Only when you know none runs.",
)
@click.pass_context
def command(
    ctx: click.Context,
    config_path: str,
    yes: bool,
    dry_run: bool,
    resume: bool,
    as_json: bool,
    max_affected_users: int | None,
    batch_size: int,
    manual_timeout: float,
    job_timeout: float,
    ignore_okta_activity: bool,
) -> int:
    """Resync every group assignment of the app safely: snapshot the assignments and Deactivate Users,
    switch Deactivate Users off (confirmed by reading it back), unassign every group, reassign each with
    its recorded priority and profile, verify, and restore Deactivate Users.

    Journaled in the state dir: a killed run is finished with --resume, and a new run refuses to start
    while one is unfinished. Directly assigned users are not touched.

    After unassigning, it waits (--job-timeout) until Okta's background jobs removed the app users those
    groups entitled; after reassigning, until they are back and pushed. Users who were not re-pushed are
    listed.

    Exit codes: 0 done, verified, and every group-entitled user re-pushed; 1 failed (API error,
    verification failed, users not re-pushed, Deactivate Users left off because a removal was never seen,
    or Deactivate Users found on after an unassignment); 4 refused (unfinished run, lock held, limit
    exceeded, Deactivate Users not confirmed off, no terminal and no --yes); 64 usage; 130 interrupted (the
    resume command is printed).
    """
    _refuse_bad_invocation(dry_run=dry_run, resume=resume, yes=yes)
    config = load_tenant(config_path)
    state_dir = global_options(ctx).resolved_state_dir()
    resume_command = _resume_command(ctx, config_path)
    progress, live = make_progress(as_json)
    options = ResyncOptions(
        resume=resume,
        max_affected_users=max_affected_users,
        batch_size=batch_size,
        resume_command=resume_command,
        wait_for_person=_manual_steps_shower(manual_timeout),
        manual_timeout=manual_timeout,
        job_timeout=job_timeout,
    )
    request = _Request(config, state_dir, options, progress, dry_run=dry_run, confirm=_confirmer(yes))
    with ignoring_okta_activity(ignore_okta_activity), live if live is not None else nullcontext():
        outcome = asyncio.run(request.run())
    return _render(outcome, as_json=as_json, config_path=config_path)


def _refuse_bad_invocation(*, dry_run: bool, resume: bool, yes: bool) -> None:
    if dry_run and resume:
        raise click.UsageError("--dry-run and --resume cannot be combined")
    if not (dry_run or resume or yes) and not sys.stdin.isatty():
        # The same answer as apply's: a safety refusal (4), not a malformed command line.
        raise SafetyError(
            "resync changes every group assignment and there is no terminal to ask on",
            hint="re-run with --yes, or --dry-run to see what it would do",
        )


def _resume_command(ctx: click.Context, config_path: str) -> str:
    """The command that finishes this run, with the same state dir."""
    state_dir = global_options(ctx).state_dir
    command = "oktasync"
    if state_dir:
        command += f" --state-dir {shlex.quote(state_dir)}"
    return command + f" resync {shlex.quote(config_path)} --resume"


def _confirmer(yes: bool) -> Callable[[ResyncPlan], bool]:
    """Show the plan and ask before any change (not asked with --yes)."""

    def confirm(plan: ResyncPlan) -> bool:
        if yes:
            return True
        first, *rest = _plan_lines(plan, brief=True)
        echo_err(first, details=rest)
        return confirm_err("Proceed with the resync?")

    return confirm


def _manual_steps_shower(manual_timeout: float) -> Callable[[list[str]], None]:
    def show_steps(steps: list[str]) -> None:
        echo_err(
            "Only a person can change Deactivate Users on this app. In the Admin Console:",
            level="warning",
            details=numbered(steps),
        )
        echo_err(f"Waiting for the change to show (up to {manual_timeout:g}s)...")

    return show_steps


@dataclass(frozen=True)
class _Request:
    """One invocation: the plan (--dry-run), or the run, with its Ctrl-C handling."""

    config: TenantConfig
    state_dir: Path
    options: ResyncOptions
    progress: Progress
    dry_run: bool
    confirm: Callable[[ResyncPlan], bool]

    async def run(self) -> ResyncPlan | ResyncResult:
        from oktasync.workflows.resync import plan_resync
        from oktasync.workflows.session import TenantSession

        async with TenantSession(self.config, self.state_dir, progress=self.progress) as session:
            gateway, app = await session.gateway(), await session.app()
            if self.dry_run:
                return await plan_resync(
                    self.config,
                    gateway,
                    app,
                    state_dir=self.state_dir,
                    max_affected_users=self.options.max_affected_users,
                )
            return await self._resync(gateway, app)

    async def _resync(self, gateway: OktaGateway, app: App) -> ResyncResult:
        from oktasync.workflows.resync import run_resync

        stop = _StopFlag(progress_note=echo_err)
        with stop.installed():
            try:
                return await run_resync(
                    self.config,
                    gateway,
                    app,
                    state_dir=self.state_dir,
                    options=self.options,
                    confirm=self.confirm,
                    stop_requested=stop,
                    progress=self.progress,
                )
            except asyncio.CancelledError:
                raise Interrupted(
                    "resync stopped at once (second Ctrl-C); the journal is consistent",
                    self.options.resume_command,
                ) from None


def _render(outcome: ResyncPlan | ResyncResult, *, as_json: bool, config_path: str) -> int:
    """Print the plan or the report (text or JSON), then its warnings; the exit code."""
    if as_json:
        emit_json(outcome.to_dict())
    elif isinstance(outcome, ResyncPlan):
        for line in _plan_lines(outcome, brief=False):
            click.echo(for_terminal(line))  # group names and logins from Okta: controls escaped
    else:
        _print_result(_result_lines(outcome, config_path))
    for warning in getattr(outcome, "warnings", ()):
        echo_warning(warning)
    return outcome.exit_code if outcome.exit_code else EXIT_OK


class _StopFlag:
    """First Ctrl-C (or SIGTERM): no further group is unassigned; those already unassigned are reassigned and
    Deactivate Users restored before the exit (after the last unassignment the run simply finishes). Second
    Ctrl-C: cancel now (the journal tells --resume what may have happened)."""

    def __init__(self, progress_note: Callable[[str], None]) -> None:
        self.requested = False
        self._note = progress_note
        self._task: asyncio.Task[Any] | None = None

    def __call__(self) -> bool:
        return self.requested

    def _on_signal(self) -> None:
        if self.requested and self._task is not None:
            self._task.cancel()
            return
        self.requested = True
        self._note(
            "Stopping: no further group is unassigned; every group already unassigned is reassigned and "
            "Deactivate Users restored before exiting (Ctrl-C again to stop at once; --resume then "
            "finishes)..."
        )

    def installed(self) -> _Installed:
        return _Installed(self)


class _Installed:
    def __init__(self, flag: _StopFlag) -> None:
        self.flag = flag
        self.signals: list[int] = []

    def __enter__(self) -> None:
        loop = asyncio.get_running_loop()
        self.flag._task = asyncio.current_task()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.flag._on_signal)
                self.signals.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no support
                pass

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in self.signals:
            loop.remove_signal_handler(sig)


# Status words of the report coloured on a terminal (terminal_console decides whether colour is on).
_STATUS_STYLES = {
    " done": "bold green",
    "finished, NOT proven": "bold red",
    "NOT re-pushed": "bold red",
    "LEFT OFF": "bold yellow",
}


def _print_result(lines: list[str]) -> None:
    """The report, its status words in colour on a terminal; Okta's names and logins escaped."""
    from rich.text import Text

    console = terminal_console()
    for number, line in enumerate(lines):
        text = Text(for_terminal(line))
        for word, style in _STATUS_STYLES.items():
            if number == 0 or word != " done":  # "done" is a status only in the heading
                text.highlight_words([word], style=style)
        console.print(text)


def _users(counts: dict[str, int]) -> str:
    return f"{counts.get('total', 0)} ({counts.get('GROUP', 0)} via groups, {counts.get('USER', 0)} direct)"


def _plan_lines(plan: ResyncPlan, *, brief: bool) -> list[str]:
    lines = [
        f"Resync plan for {plan.app_label} (tenant {plan.tenant}, app {plan.app_id}, {plan.kind})",
        f"  groups assigned: {len(plan.groups)}; to cycle: {len(plan.targets)}",
        f"  app users: {_users(plan.app_users)}",
        f"  users affected: {plan.affected_users} (resync.max_affected_users: {plan.max_affected_users})",
        f"  directly assigned users: {plan.direct_users} (not touched by a group resync)",
        f"  Deactivate Users: {'on' if plan.deactivate_users else 'off'} now (read through the "
        f"{plan.deactivate_channel} channel)",
    ]
    if plan.missing_named_groups:
        lines.append(f"  named in resync.groups but not assigned: {', '.join(plan.missing_named_groups)}")
    if plan.unfinished_run:
        lines.append(f"  an unfinished run exists ({plan.unfinished_run}): finish it with --resume first")
    if plan.exceeds_limit:
        lines.append(
            f"  REFUSED as is: {plan.affected_users} users > {plan.max_affected_users}; raise it explicitly "
            f"with --max-affected-users {plan.affected_users}"
        )
    lines.append("  steps:")
    lines += numbered(plan.steps(), "    ")
    lines.append(
        f"  estimate: ~{plan.estimated_calls} API calls in the /api/v1/apps bucket, "
        f"~{plan.estimated_seconds_at_limit:.0f}s at {plan.rate_limit_per_minute}/minute"
    )
    if not brief:
        targets = set(plan.targets)
        lines.append("  priority  group  (profile attributes)")
        for group in plan.groups:
            mark = "" if group.group_id in targets else "  [not cycled]"
            attrs = ", ".join(sorted(group.profile)) or "-"
            lines.append(f"  {group.priority!s:>8}  {group.name or group.group_id}  ({attrs}){mark}")
    return lines


def _result_lines(result: ResyncResult, config_path: str) -> list[str]:
    d = result.deactivate_users
    if d["recorded"]:
        deactivate = (
            f"was on; switched off through {d['off_channel']}, restored on through {d['restored_channel']} "
            "(confirmed by reading)"
        )
    else:
        deactivate = f"was off and stays {'on' if d['final'] else 'off'}"
    if d.get("withheld"):
        deactivate = "was on; switched off, and LEFT OFF: some removals were never seen (see the warning)"
    status = "done" if result.proven else "finished, NOT proven"
    lines = [
        f"Resync of {result.app_label} (tenant {result.tenant}) {status}"
        f"{' (resumed)' if result.resumed else ''}: run {result.run_id}",
        f"  groups cycled: {len(result.groups_cycled)} of {result.groups_assigned_before} assigned; every "
        "assignment verified equal to the snapshot (group, priority, profile)",
        f"  app users: before {_users(result.app_users_before)}, after {_users(result.app_users_after)}",
        f"  directly assigned users: {result.direct_users}, not touched by a group resync",
        f"  Deactivate Users: {deactivate}",
        "  push state now: "
        + (", ".join(f"{k} {v}" for k, v in result.sync_states_after.items()) or "no app users"),
        f"  push failures (syncState ERROR): {result.push_failures}; list and retry them with: "
        f"oktasync tasks {shlex.quote(config_path)}",
        *_repush_lines(result),
        f"  API calls: {result.api_calls} (floor for {len(result.groups_cycled)} groups: "
        f"{result.api_calls_minimum}); {result.duration_seconds:.1f}s",
        f"  journal: {result.journal}",
    ]
    return lines


_REASONS = {
    "missing": "not back: Okta's assignment job has not re-created the app user",
    "stale": "never removed, so never re-created: the same app user as before, nothing re-pushed",
    "pending": "re-created, but its push is not over",
    "not_pushed": "re-created, but provisioning does not push to the app (syncState DISABLED)",
}
_SHOWN = 20


def _repush_lines(result: ResyncResult) -> list[str]:
    repush = result.repush
    if not repush:
        return []
    removal, back = repush.get("removal_wait") or {}, repush.get("return_wait") or {}
    lines = [
        f"  re-pushed: {repush.get('repushed', 0)} of {repush.get('expected', 0)} group-entitled users "
        f"(re-created by Okta, push over; {repush.get('push_failed', 0)} of them failed); waited "
        f"{removal.get('seconds') or 0:.1f}s for removals ({removal.get('outcome')}), "
        f"{back.get('seconds') or 0:.1f}s for their return ({back.get('outcome')})",
    ]
    if result.not_repushed:
        lines.append(f"  NOT re-pushed: {len(result.not_repushed)} user(s):")
        for user in result.not_repushed[:_SHOWN]:
            who = user.get("user_name") or user["user_id"]
            state = f", syncState {user['sync_state']}" if user.get("sync_state") else ""
            lines.append(
                f"    {who} ({user['user_id']}): {_REASONS.get(user['reason'], user['reason'])}{state}"
            )
        if len(result.not_repushed) > _SHOWN:
            lines.append(f"    ... and {len(result.not_repushed) - _SHOWN} more (--json lists them all)")
    return lines
