"""`oktasync doctor CONFIG [--json]`: read-only probe of auth, scopes, the app, channels, rate limits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click

from oktasync.cli.context import (
    CONFIG_PATH,
    echo_line,
    echo_warning,
    emit_json,
    global_options,
    json_option,
    status_text,
)
from oktasync.config import load_tenant
from oktasync.textsafe import for_terminal
from oktasync.workflows.app_guard import unfinished_warning
from oktasync.workflows.doctor import DoctorResult, doctor
from oktasync.workflows.session import TenantSession

_MARK = {True: "ok", False: "FAIL", None: "info"}


def render_lines(result: DoctorResult) -> list[Any]:
    """The report as ``rich.text.Text`` lines: each check's mark coloured by its status, names and values
    from Okta with controls escaped."""
    from rich.text import Text

    lines = [Text(for_terminal(f"Tenant {result.tenant} ({result.org_url}), auth: {result.auth_method}"))]
    for check in result.checks:
        mark = "warn" if check.warning else _MARK[check.ok]
        line = Text("  ")
        line.append(status_text(f"{mark:<4}", mark))
        line.append(for_terminal(f"  {check.name:<18} {check.detail}"))
        lines.append(line)
    lines += [Text(for_terminal(text)) for text in _detail_lines(result)]
    return lines


def _detail_lines(result: DoctorResult) -> list[str]:
    lines = []
    if result.scopes:
        lines.append("  Scopes: " + ", ".join(f"{scope} {state}" for scope, state in result.scopes.items()))
    if result.channels:
        lines.append("  Settings (channel that writes it / read that verifies it):")
        for row in result.channels:
            write = row["write"] or "not applicable"
            verify = row["verify"] or "cannot be verified"
            lines.append(f"    {row['label']:<40} {write:<15} {verify}")
            if row.get("assumed"):
                lines.append(f"      {row['assumed']} (docs/okta-behaviour.md)")
    if result.rate_limits:
        lines.append("  Rate-limit headroom (last headers seen):")
        now = time.time()
        for r in result.rate_limits:
            reset = max(0.0, r.reset_epoch - now)
            lines.append(f"    {r.bucket:<24} {r.remaining}/{r.limit} left, resets in {reset:.0f}s")
    return lines


def render(result: DoctorResult) -> str:
    """The report as plain text."""
    return "\n".join(line.plain for line in render_lines(result))


@click.command("doctor")
@click.argument("config", type=CONFIG_PATH)
@json_option("Print one JSON document.")
@click.pass_context
def command(ctx: click.Context, config: str, as_json: bool) -> int:
    """Read-only probe: auth and scopes, the app and its kind, which channel writes and which read verifies
    each managed setting, rate-limit headroom per bucket, admin session validity.

    Exit 0 when every check passes, 1 when one fails (each failure says what to fix). A warning (for
    example okta.users.read missing: tasks works, more slowly) does not change the exit code.
    """
    loaded = load_tenant(config)
    state_dir = global_options(ctx).resolved_state_dir()

    async def run() -> DoctorResult:
        async with TenantSession(loaded, state_dir) as session:
            return await doctor(session)

    result = asyncio.run(run())
    if as_json:
        emit_json(result.to_dict())
    else:
        for line in render_lines(result):
            echo_line(line)
    if (warning := unfinished_warning(state_dir, loaded, result.app, config)) is not None:
        echo_warning(warning)
    return result.exit_code
