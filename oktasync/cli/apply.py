"""`oktasync apply CONFIG...|PLAN_FILE [--yes] [--json] [--confirm-manual] [--wait] [--rotate-token]`."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field

import click

from oktasync.cli.context import (
    CONFIG_PATH,
    confirm_err,
    echo_err,
    emit_json,
    global_options,
    json_option,
    numbered,
)
from oktasync.cli.plan import print_plan
from oktasync.cli.progress import make_progress
from oktasync.config import TenantConfig, load_tenants
from oktasync.errors import EXIT_REFUSED
from oktasync.progress import Progress
from oktasync.state import StateDir
from oktasync.textsafe import for_terminal
from oktasync.workflows.app_guard import ignoring_okta_activity
from oktasync.workflows.apply import ApplyOptions, TenantApplyResult, apply_configs
from oktasync.workflows.manual_steps import token_source_of
from oktasync.workflows.plan import PlanResult
from oktasync.workflows.saved_plan import (
    SavedApply,
    SavedPlan,
    apply_saved_plan,
    check_config_files,
    read_saved_plan,
    refuse_plan_report,
    replan_command,
    sniff_saved_plan,
)


def _interactive() -> bool:
    """Can we ask? Only with a terminal on stdin (CI runners, pipes and cron have none)."""
    return sys.stdin.isatty()


def _render_result(result: TenantApplyResult) -> list[str]:
    lines = [f"Tenant {result.tenant}:"]
    for action in result.actions:
        detail = f" ({action.detail})" if action.detail else ""
        lines.append(f"  {action.action:<9} {action.key} [{action.channel}]{detail}")
    if result.manual_steps:
        lines.append("  Manual action required. In the Okta Admin Console:")
        lines += numbered(result.manual_steps, "    ")
        lines.append(
            "  Then run apply again: with --wait it polls the readable settings until they show the change; "
            "settings nothing can read need --confirm-manual (recorded in the state dir with the date)."
        )
    if result.error and not result.manual_steps:
        lines.append(f"  FAILED: {result.error}")
    elif result.exit_code == 0:
        lines.append(
            "  Done: every setting verified (or confirmed manually)." if result.actions else "  No changes."
        )
    return lines


@click.command("apply")
@click.argument("configs", nargs=-1, required=True, type=CONFIG_PATH, metavar="CONFIG...|PLAN_FILE")
@click.option("--yes", is_flag=True, help="Apply without asking.")
@json_option("Print one JSON document (docs/plan-json.md).")
@click.option(
    "--confirm-manual",
    is_flag=True,
    help="Record that you did the console steps for settings nothing can read (date + values, no secrets).",
)
@click.option(
    "--wait", is_flag=True, help="Print the console steps and poll until the reads show the change."
)
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0),
    default=900.0,
    show_default=True,
    help="Seconds --wait polls.",
)
@click.option(
    "--wait-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds between polls.",
)
@click.option("--rotate-token", is_flag=True, help="Write the Bearer token even if it looks unchanged.")
@click.option(
    "--ignore-okta-activity",
    is_flag=True,
    help="Write even though Okta shows signs of a resync running elsewhere (Deactivate Users off and recent "
    "group unassignments in the System Log). Only when you know none runs.",
)
@click.pass_context
def command(
    ctx: click.Context,
    configs: tuple[str, ...],
    yes: bool,
    as_json: bool,
    confirm_manual: bool,
    wait: bool,
    wait_timeout: float,
    wait_interval: float,
    rotate_token: bool,
    ignore_okta_activity: bool,
) -> int:
    """Apply the plan through each setting's channel, re-read every write and verify it.

    Give tenant configs, or one saved plan (a file `plan --out` wrote, told apart by its content): then
    exactly that plan is applied, and the apply is refused (exit 4, showing what moved and the command
    to re-plan) when a config or the org changed since.

    Shows the plan and asks before writing unless --yes (without a terminal and without --yes it refuses,
    exit 4). Settings only a person can change are printed as console steps with the values filled in
    (exit 5), unless --wait sees them change or --confirm-manual records them. Exit 0 applied and verified,
    1 a write's read-back disagreed or Okta failed, 4 refused, 5 manual action required (worst tenant wins).
    """
    saved_path, saved, paths = _what_to_apply(configs, rotate_token)
    request = _ApplyRequest(
        paths=paths,
        loaded=load_tenants(paths),
        saved=saved,
        state=StateDir(global_options(ctx).resolved_state_dir()),
        options=ApplyOptions(
            confirm_manual=confirm_manual,
            wait=wait,
            rotate_token=rotate_token,
            timeout=wait_timeout,
            poll_interval=wait_interval,
            show_steps=_show_steps,
        ),
        approver=_Approver(yes=yes, as_json=as_json),
    )
    progress, display = make_progress(as_json)
    with ignoring_okta_activity(ignore_okta_activity):
        if display is not None:
            with display:
                outcome = asyncio.run(request.run(progress))
        else:
            outcome = asyncio.run(request.run(progress))
    if outcome.moved and saved is not None and saved_path is not None:
        return _refuse_stale(outcome, saved, saved_path, as_json)
    if outcome.result is None:
        return _refuse(outcome.plan, request.approver.refused, as_json)
    if as_json:
        emit_json(outcome.result.to_dict())
    else:
        for tenant in outcome.result.tenants:
            click.echo(for_terminal("\n".join(_render_result(tenant))))
    return outcome.result.exit_code


def _what_to_apply(
    arguments: tuple[str, ...], rotate_token: bool
) -> tuple[str | None, SavedPlan | None, list[str]]:
    """The saved plan (its path and contents) when one is given, and the config paths to apply."""
    saved_path = _saved_plan_argument(arguments)
    if saved_path is None:
        return None, None, list(arguments)
    if rotate_token:
        raise click.UsageError(
            "--rotate-token is part of the plan: re-plan with `plan --rotate-token --out FILE`"
        )
    saved = read_saved_plan(saved_path)
    check_config_files(saved, saved_path)
    return saved_path, saved, saved.config_paths


def _show_steps(tenant: str, steps: list[str]) -> None:
    """``--wait``: the console steps a person must do, shown once before polling."""
    echo_err(
        f"Tenant {tenant}: do these steps in the Okta Admin Console; waiting for them to show:",
        level="warning",
        details=numbered(steps),
        tenant=tenant,
    )


@dataclass
class _Approver:
    """Shows the plan and asks before writing (unless ``--yes``); keeps why it refused."""

    yes: bool
    as_json: bool
    refused: list[str] = field(default_factory=list)

    async def __call__(self, plan: PlanResult, needed: bool) -> bool:
        if not self.as_json:
            print_plan(plan, "text")  # a table on a terminal, plain lines in a pipe
            click.echo()
        if self.yes or not needed:
            return True
        if not _interactive():
            self.refused.append("no terminal to ask on: re-run with --yes to apply without asking")
            return False
        answer = confirm_err("Apply these changes?")  # on this thread: Ctrl-C at the prompt cancels
        if not answer:
            self.refused.append("not confirmed")
        return bool(answer)


@dataclass(frozen=True)
class _ApplyRequest:
    """The configs (or the saved plan) to apply, with the options and the approval asked for."""

    paths: list[str]
    loaded: list[TenantConfig]
    saved: SavedPlan | None
    state: StateDir
    options: ApplyOptions
    approver: _Approver

    async def run(self, progress: Progress) -> SavedApply:
        token_sources = [token_source_of(path) for path in self.paths]
        if self.saved is not None:
            return await apply_saved_plan(
                self.saved,
                self.loaded,
                state=self.state,
                options=self.options,
                approve=self.approver,
                token_sources=token_sources,
                progress=progress,
            )
        plan, result = await apply_configs(
            list(zip(self.loaded, self.paths, strict=True)),
            state=self.state,
            options=self.options,
            approve=self.approver,
            token_sources=token_sources,
            progress=progress,
        )
        return SavedApply(plan, result)


def _saved_plan_argument(arguments: tuple[str, ...]) -> str | None:
    """The saved plan among the arguments, if one is: then it must be the only argument."""
    plans = [path for path in arguments if sniff_saved_plan(path)]
    if not plans:
        for path in arguments:
            refuse_plan_report(path)
        return None
    if len(arguments) > 1:
        raise click.UsageError(
            f"{plans[0]} is a saved plan: apply takes one saved plan, or tenant configs, not both"
        )
    return plans[0]


def _refuse(plan: PlanResult, refused: list[str], as_json: bool) -> int:
    reason = refused[0] if refused else "not confirmed"
    if as_json:
        doc = plan.to_dict(detailed=True)
        doc.update(command="apply", exit_code=EXIT_REFUSED, refused=reason)
        emit_json(doc)
    echo_err(f"Refused: {reason}. Nothing was changed.", level="error", exit_code=EXIT_REFUSED)
    return EXIT_REFUSED


def _refuse_stale(outcome: SavedApply, saved: SavedPlan, saved_path: str, as_json: bool) -> int:
    """The saved plan no longer matches the configs or the org: say what moved and how to re-plan."""
    replan = replan_command(saved, saved_path)
    if as_json:
        doc = outcome.plan.to_dict(detailed=True)
        doc.update(
            command="apply",
            exit_code=EXIT_REFUSED,
            refused=f"the saved plan {saved_path} is stale",
            moved=[m.to_dict() for m in outcome.moved],
            replan=replan,
        )
        emit_json(doc)
    echo_err(
        f"Refused: the saved plan {saved_path} no longer matches what it was made from "
        f"(planned {saved.created_at or 'at an unknown time'}). Nothing was changed. What moved:",
        level="error",
        details=[f"  {for_terminal(str(m))}" for m in outcome.moved]
        + [f"Review the new plan, then apply it: {replan}"],
        exit_code=EXIT_REFUSED,
    )
    return EXIT_REFUSED
