"""`oktasync snapshot CONFIG`: a read-only, pseudonymised copy of what the runbook touches.

See docs/rehearsal.md.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from oktasync.cli.context import CONFIG_PATH, echo_err, emit_json, global_options, json_option
from oktasync.cli.progress import make_progress


@click.command("snapshot")
@click.argument("config_path", metavar="CONFIG", type=CONFIG_PATH)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Where to write the snapshot (JSON). Default: <tenant>-snapshot.json in the current directory.",
)
@click.option(
    "--target", is_flag=True, help="Also read the SCIM target's users (GET only, as Okta's test does)."
)
@click.option(
    "--no-pseudonymise",
    "keep_real",
    is_flag=True,
    help="Keep real ids, names, logins and emails (for a rehearsal on this machine only).",
)
@json_option("Print one JSON document (what was read) instead of the summary.")
@click.pass_context
def command(
    ctx: click.Context, config_path: str, out: str | None, target: bool, keep_real: bool, as_json: bool
) -> int:
    """Read the app, its group assignments, their entitled users, the app users, recent push failures, the
    rate limits Okta reports and the observed latency, and write them to one file for `oktasync rehearse`.

    Read-only and paced like every oktasync command. Interrupted? Run it again: it continues from the
    checkpoint in the state dir. Ids, names, logins and emails are replaced by keyed hashes (the key is
    never written) unless --no-pseudonymise; secrets are never written.
    """
    from oktasync.config import load_tenant
    from oktasync.rehearsal.snapshot import SnapshotResult, take_snapshot

    config = load_tenant(config_path)
    destination = Path(out) if out else Path(f"{config.tenant}-snapshot.json")
    state_dir = global_options(ctx).resolved_state_dir()
    progress, live = make_progress(as_json)

    async def go() -> SnapshotResult:
        from oktasync.workflows.session import TenantSession

        async with TenantSession(config, state_dir, progress=progress) as session:
            return await take_snapshot(
                session, out=destination, pseudonymise=not keep_real, target=target, announce=echo_err
            )

    if live is not None:
        with live:
            result = asyncio.run(go())
    else:
        result = asyncio.run(go())
    summary: dict[str, Any] = result.to_dict()
    if as_json:
        emit_json(summary)
        return 0
    click.echo(
        f"snapshot of {result.document['app']['label']} written to {result.path} "
        f"({'pseudonymised' if summary['pseudonymised'] else 'REAL VALUES: keep it on this machine'})"
    )
    click.echo(
        f"  {summary['groups']} assigned groups, {summary['app_users']} app users, "
        f"{summary['push_failures']} recent push failures"
        + ("" if summary["target_users"] is None else f", {summary['target_users']} target users")
    )
    click.echo(
        f"  {summary['calls']} Okta requests{' (resumed)' if result.resumed else ''}; "
        f"rate limits seen: {len(summary['rate_limits'])} buckets"
    )
    click.echo(f"  next: oktasync rehearse {result.path} chronosphere-onboarding")
    return 0
