"""`oktasync plan CONFIG... [--format text|markdown|json] [--out FILE] [--detailed-exitcode]`.

Desired vs actual for every managed setting."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from oktasync.cli.context import (
    CONFIG_PATH,
    echo_err,
    echo_warning,
    emit_json,
    global_options,
    json_option,
    mark_json,
    numbered,
    terminal_console,
)
from oktasync.cli.plan_render import print_tables, render_markdown
from oktasync.cli.progress import make_progress
from oktasync.config import load_tenants
from oktasync.config.schema import TenantConfig
from oktasync.state import StateDir
from oktasync.textsafe import for_terminal
from oktasync.workflows.app_guard import unfinished_warning
from oktasync.workflows.manual_steps import token_source_of
from oktasync.workflows.plan import PlanResult, SettingPlan, Status, TenantPlan, plan_configs
from oktasync.workflows.saved_plan import make_saved_plan, write_saved_plan

_MARK = {
    Status.CHANGE: "~",
    Status.IN_SYNC: "=",
    Status.UNVERIFIABLE: "?",
    Status.CONFIRMED_MANUALLY: "c",
    Status.NOT_APPLICABLE: "-",
}
_KIND = {"custom_scim": "custom SCIM app", "api_capable": "API-capable app"}


def _value(value: Any) -> str:
    if value is None:
        return "(unknown)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _setting_line(item: SettingPlan) -> str:
    channel = item.channel.value if item.channel else "-"
    if item.status is Status.CHANGE:
        what = f"{_value(item.actual)} -> {_value(item.desired)}"
    elif item.status is Status.NOT_APPLICABLE:
        what = "not applicable"
    elif item.status is Status.UNVERIFIABLE:
        what = f"cannot be verified (wants {_value(item.desired)})"
    elif item.status is Status.CONFIRMED_MANUALLY:
        what = f"{_value(item.desired)} (confirmed manually on {(item.confirmed_at or '')[:10]})"
    else:
        what = _value(item.desired)
    line = f"  {_MARK[item.status]} {item.label:<40} {what}   [{channel}]"
    if item.reason and item.status in (Status.CHANGE, Status.UNVERIFIABLE):
        line += f"  ({item.reason})"
    if item.assumed and item.status is not Status.NOT_APPLICABLE:
        line += f"\n      {item.assumed} (docs/okta-behaviour.md)"
    return line


def render_tenant_plan(plan: TenantPlan) -> list[str]:
    head = f"Tenant {plan.tenant} ({plan.org_url})"
    if plan.source:
        head += f"  [{plan.source}]"
    lines = [head]
    if plan.error:
        lines.append(f"  ERROR: {plan.error}")
        return lines
    assert plan.app is not None and plan.kind is not None
    admin = "admin session given" if plan.admin_session else "no admin session"
    lines.append(f'  app "{plan.app.label}" ({plan.app.id}), {_KIND[plan.kind.value]}, {admin}')
    lines += [_setting_line(item) for item in plan.settings]
    counts = {status: sum(1 for s in plan.settings if s.status is status) for status in Status}
    lines.append(
        f"  Plan: {counts[Status.CHANGE]} to change, {counts[Status.UNVERIFIABLE]} cannot be verified, "
        f"{counts[Status.CONFIRMED_MANUALLY]} confirmed manually, {counts[Status.IN_SYNC]} in sync, "
        f"{counts[Status.NOT_APPLICABLE]} not applicable."
    )
    if plan.manual_steps:
        lines.append("  Needs a person in the Admin Console (apply prints these again):")
        lines += numbered(plan.manual_steps, "    ")
    return lines


def render_plan(result: PlanResult) -> str:
    blocks = ["\n".join(render_tenant_plan(t)) for t in result.tenants]
    legend = (
        "Legend: ~ change, = in sync, ? cannot be verified, c confirmed manually, - not applicable; [channel]"
    )
    return "\n\n".join([*blocks, legend])


def print_plan(result: PlanResult, fmt: str, *, detailed: bool = False) -> None:
    """The plan on stdout: ``json`` one document, ``markdown`` for a pull request, ``text`` a table on a
    terminal and plain, stable lines in a pipe."""
    if fmt == "json":
        emit_json(result.to_dict(detailed=detailed))
    elif fmt == "markdown":
        click.echo(render_markdown(result), nl=False)
    else:
        console = terminal_console()
        if console.is_terminal:
            print_tables(result, console)
        else:
            click.echo(for_terminal(render_plan(result)))  # names and values from Okta: controls escaped


def _save_plan(
    result: PlanResult,
    loaded: list[TenantConfig],
    configs: tuple[str, ...],
    out: str,
    rotate_token: bool,
) -> bool:
    """Write the plan file; False (with the reason on stderr) when a tenant could not be planned."""
    failed = [t.tenant for t in result.tenants if t.error]
    if failed:
        echo_err(
            f"The plan was not saved to {out}: {', '.join(failed)} could not be planned (see above).",
            level="error",
        )
        return False
    saved = make_saved_plan(
        result,
        list(zip(loaded, configs, strict=True)),
        rotate_token=rotate_token,
        token_sources=[token_source_of(path) for path in configs],
    )
    write_saved_plan(saved, out)
    echo_err(f"Saved the plan to {out}; apply exactly it with: oktasync apply {out}")
    return True


@click.command("plan")
@click.argument("configs", nargs=-1, required=True, type=CONFIG_PATH)
@json_option("Print one JSON document (docs/plan-json.md); the same as --format json.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "markdown", "json"]),
    default=None,
    callback=mark_json,
    help="text (a table on a terminal, plain lines in a pipe), markdown (for a pull-request comment) or "
    "json (docs/plan-json.md). [default: text]",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also save the plan to FILE (JSON, no secrets) for `oktasync apply FILE`, which applies exactly "
    "it and refuses when the configs or the org changed since (docs/plan-apply.md, Saved plans).",
)
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 2 when verifiable drift exists (0 = nothing to change)."
)
@click.option("--rotate-token", is_flag=True, help="Show the Bearer token as to be rewritten.")
@click.pass_context
def command(
    ctx: click.Context,
    configs: tuple[str, ...],
    as_json: bool,
    output_format: str | None,
    out: str | None,
    detailed_exitcode: bool,
    rotate_token: bool,
) -> int:
    """Show desired vs actual for every managed setting, per tenant, with the channel that would apply it.

    Settings nothing can read are listed as "cannot be verified" with their console step; they are not
    drift. Reads Okta only (--out writes the plan file). Exit 0; with --detailed-exitcode 2 when a
    verifiable setting differs; 1 when a tenant could not be planned (worst tenant wins; a plan with such a
    tenant is not saved).
    """
    if as_json and output_format not in (None, "json"):
        raise click.UsageError("--json is --format json: give one of them")
    fmt = "json" if as_json else output_format or "text"
    loaded = load_tenants(list(configs))
    state = StateDir(global_options(ctx).resolved_state_dir())
    progress, display = make_progress(fmt == "json")

    async def run() -> PlanResult:
        return await plan_configs(
            list(zip(loaded, configs, strict=True)),
            state=state,
            rotate_token=rotate_token,
            token_sources=[token_source_of(path) for path in configs],
            progress=progress,
        )

    if display is not None:
        with display:
            result = asyncio.run(run())
    else:
        result = asyncio.run(run())
    print_plan(result, fmt, detailed=detailed_exitcode)
    for config, path, tenant in zip(loaded, configs, result.tenants, strict=True):
        if (warning := unfinished_warning(state.root, config, tenant.app, path)) is not None:
            echo_warning(f"tenant {config.tenant}: {warning}", tenant=config.tenant)
    if out is not None:
        _save_plan(result, loaded, configs, out, rotate_token)  # not saved: the exit code says why
    return result.exit_code(detailed_exitcode)
