"""`oktasync plan CONFIG... [--json] [--detailed-exitcode]`: desired vs actual for every managed setting."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from oktasync.cli.context import (
    CONFIG_PATH,
    echo_warning,
    emit_json,
    global_options,
    json_option,
    numbered,
)
from oktasync.cli.progress import make_progress
from oktasync.config import load_tenants
from oktasync.state import StateDir
from oktasync.textsafe import for_terminal
from oktasync.workflows.app_guard import unfinished_warning
from oktasync.workflows.manual_steps import token_source_of
from oktasync.workflows.plan import PlanResult, SettingPlan, Status, TenantPlan, plan_configs

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


@click.command("plan")
@click.argument("configs", nargs=-1, required=True, type=CONFIG_PATH)
@json_option("Print one JSON document (docs/plan-json.md).")
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 2 when verifiable drift exists (0 = nothing to change)."
)
@click.option("--rotate-token", is_flag=True, help="Show the Bearer token as to be rewritten.")
@click.pass_context
def command(
    ctx: click.Context, configs: tuple[str, ...], as_json: bool, detailed_exitcode: bool, rotate_token: bool
) -> int:
    """Show desired vs actual for every managed setting, per tenant, with the channel that would apply it.

    Settings nothing can read are listed as "cannot be verified" with their console step; they are not
    drift. Reads only. Exit 0; with --detailed-exitcode 2 when a verifiable setting differs; 1 when a
    tenant could not be planned (worst tenant wins).
    """
    loaded = load_tenants(list(configs))
    state = StateDir(global_options(ctx).resolved_state_dir())
    progress, display = make_progress(as_json)

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
    if as_json:
        emit_json(result.to_dict(detailed=detailed_exitcode))
    else:
        click.echo(for_terminal(render_plan(result)))  # names and values from Okta: controls escaped
    for config, path, tenant in zip(loaded, configs, result.tenants, strict=True):
        if (warning := unfinished_warning(state.root, config, tenant.app, path)) is not None:
            echo_warning(f"tenant {config.tenant}: {warning}", tenant=config.tenant)
    return result.exit_code(detailed_exitcode)
