"""`oktasync report unmanaged CONFIG [--format table|json|csv] [--json]`: target users Okta does not
manage."""

from __future__ import annotations

import asyncio
import csv
import io

import click

from oktasync.cli.context import (
    CONFIG_PATH,
    SuggestingGroup,
    echo_warning,
    emit_json,
    global_options,
    json_option,
    mark_json,
)
from oktasync.cli.progress import make_progress
from oktasync.config import load_tenant
from oktasync.textsafe import csv_cell, for_terminal
from oktasync.workflows.report import COLUMNS, UnmanagedReport


@click.group("report", cls=SuggestingGroup)
def command() -> None:
    """Reports on the SCIM target."""


@command.command("unmanaged")
@click.argument("config_path", metavar="CONFIG", type=CONFIG_PATH)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    callback=mark_json,
    help="table for people, json for scripts (one document), csv for a spreadsheet review.",
)
@json_option("Same as --format json.")
@click.pass_context
def unmanaged(ctx: click.Context, config_path: str, fmt: str, as_json: bool) -> int:
    """List every user of the SCIM target and whether Okta manages it, with a suggested action:
    none (managed, or already inactive), deactivate (no Okta user matches), change_email (the same person
    is in Okta under another email; both shown) or review (several Okta users could match).

    Read-only on both sides. Exits 0, or 1 when the target's paging lost users (the report is then
    incomplete and says so). Matching rules: docs/scim.md.
    """
    if as_json:
        fmt = "json"
    config = load_tenant(config_path)
    state_dir = global_options(ctx).resolved_state_dir()
    progress, live = make_progress(fmt != "table")

    async def run() -> UnmanagedReport:
        from oktasync.scim_gateway import ScimGateway
        from oktasync.workflows.report import report_unmanaged
        from oktasync.workflows.session import TenantSession

        async with TenantSession(config, state_dir, progress=progress) as session:
            okta = await session.gateway()
            async with ScimGateway.from_config(config.scim) as scim:
                app = await session.app()
                return await report_unmanaged(
                    config.tenant, config.scim.base_url, app, okta, scim, progress=progress
                )

    if live is not None:
        with live:
            report = asyncio.run(run())
    else:
        report = asyncio.run(run())
    for warning in report.warnings:
        echo_warning(warning)
    if fmt == "json":
        emit_json(report.to_dict())
    elif fmt == "csv":
        click.echo(to_csv(report), nl=False)
    else:
        _table(report)
    return report.exit_code


def to_csv(report: UnmanagedReport) -> str:
    """One row per target user, columns in ``COLUMNS`` order; booleans as true/false."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    for row in report.rows:
        doc = row.to_dict()
        doc["target_active"] = "true" if doc["target_active"] else "false"
        writer.writerow({column: csv_cell(value) for column, value in doc.items()})
    return buffer.getvalue()


def _table(report: UnmanagedReport) -> None:
    click.echo(
        for_terminal(f"== {report.tenant}: app {report.app_label} ({report.app_id}) -> {report.base_url}")
    )
    summary = report.summary()
    click.echo(
        f"{summary['target_users']} target users: {summary['managed']} managed, "
        f"{summary['inactive']} inactive, "
        f"{summary['email_changed']} email changed, {summary['unmanaged']} unmanaged "
        f"({summary['action_deactivate']} to deactivate, {summary['action_review']} to review); "
        f"{summary['okta_app_users']} Okta app users"
    )
    if not report.complete:
        click.echo("INCOMPLETE: the target's paging lost users; see the warnings above.")
    rows = [r for r in report.rows if r.action.value != "none"]
    if not rows:
        click.echo("Nothing to decide: every active target user is managed by Okta.")
        return
    click.echo()
    headers = ("action", "target userName", "target email", "Okta email", "match", "note")
    table = [
        tuple(
            for_terminal(cell, single_line=True)
            for cell in (
                r.action.value,
                r.target.user_name or "",
                r.target.email or "",
                r.to_dict()["okta_email"],
                r.match,
                r.note,
            )
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(str(line[i])) for line in table)) for i, h in enumerate(headers[:-1])]
    fmt_line = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
    click.echo(fmt_line.format(*headers))
    for line in table:
        click.echo(fmt_line.format(*line))
