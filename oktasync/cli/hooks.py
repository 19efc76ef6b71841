"""`oktasync hooks serve|register|status`: Okta event hooks beside `tasks` (docs/event-hooks.md)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

import click

from oktasync.cli.context import (
    CONFIG_PATH,
    SuggestingGroup,
    echo_err,
    echo_error,
    echo_line,
    emit_json,
    global_options,
    json_option,
    status_text,
)
from oktasync.config import load_tenants
from oktasync.config.schema import TenantConfig
from oktasync.errors import EXIT_FAILED, EXIT_OK, ConfigError, Problem
from oktasync.textsafe import for_terminal
from oktasync.workflows.session import TenantSession


@click.group("hooks", cls=SuggestingGroup)
def command() -> None:
    """Receive Okta event hooks: provisioning failures announced within seconds, into the same failure state,
    outbox, notifications and metrics as `tasks` (which stays the safety net)."""


def _require_hook(tenants: list[TenantConfig], paths: tuple[str, ...]) -> None:
    """Every config needs an `event_hook` section: a config error (exit 3) naming each file without one."""
    problems = [
        Problem(
            path,
            None,
            None,
            f"tenant {config.tenant} has no `event_hook` section",
            'add event_hook: {secret: "{{ env.OKTA_EVENT_HOOK_SECRET }}"}',
        )
        for config, path in zip(tenants, paths, strict=True)
        if config.event_hook is None
    ]
    if problems:
        raise ConfigError(problems)


@command.command("serve")
@click.argument("configs", nargs=-1, required=True, type=CONFIG_PATH)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="0: any free port."
)
@json_option("When listening, print one JSON document on one line (url, endpoints) on stdout.")
@click.pass_context
def serve(ctx: click.Context, configs: tuple[str, ...], host: str, port: int, as_json: bool) -> int:
    """Serve POST/GET /okta/event-hooks/<tenant> (Okta's deliveries and verification), /healthz and /metrics
    until SIGTERM or Ctrl-C. Plain HTTP: put it behind TLS termination (docs/event-hooks.md).

    Deliveries are stored in the state dir before Okta gets its 200 and applied afterwards, so a restart
    loses none. Exit 0 after a clean stop."""
    tenants = load_tenants(list(configs))
    _require_hook(tenants, configs)
    names = [t.tenant for t in tenants]
    if len(set(names)) != len(names):
        raise click.UsageError("two configs name the same tenant: each tenant gets one endpoint")
    state_dir = global_options(ctx).resolved_state_dir()
    return asyncio.run(_serve(tenants, state_dir, host, port, as_json=as_json))


async def _serve(tenants: list[TenantConfig], state_dir: Path, host: str, port: int, *, as_json: bool) -> int:
    from aiohttp import web

    from oktasync.workflows.hooks import Receiver, TenantReceiver, hook_path

    async with contextlib.AsyncExitStack() as stack:
        receivers = []
        for config in tenants:
            session = await stack.enter_async_context(TenantSession(config, state_dir))
            receivers.append(
                TenantReceiver(config, await session.gateway(), await session.app(), await session.app_dir())
            )
        runner = web.AppRunner(Receiver(receivers).build_app(), access_log=None, handle_signals=False)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0]
        base = f"http://{host}:{bound[1]}"
        echo_err(f"oktasync hooks: listening on {base}", url=base)
        endpoints = []
        for receiver in receivers:
            pending = receiver.inbox.pending()
            endpoint = f"{base}{hook_path(receiver.config.tenant)}"
            app = receiver.app
            endpoints.append(
                {
                    "tenant": receiver.config.tenant,
                    "url": endpoint,
                    "app": {"id": app.id, "label": app.label},
                    "pending_deliveries": pending,
                }
            )
            echo_err(
                f"  {endpoint}  ({app.label}, {app.id}"
                + (f"; {pending} deliveries from before to apply" if pending else "")
                + ")"
            )
        if as_json:
            emit_json({"url": base, "endpoints": endpoints}, compact=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        echo_err("oktasync hooks: stopping")
    return EXIT_OK


@command.command("register")
@click.argument("config", type=CONFIG_PATH)
@click.option(
    "--url",
    required=True,
    metavar="URL",
    help="The receiver's public HTTPS base URL; the hook calls URL/okta/event-hooks/<tenant>.",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@json_option()
@click.pass_context
def register(ctx: click.Context, config: str, url: str, dry_run: bool, as_json: bool) -> int:
    """Create or update the tenant's event hook through Okta's Event Hooks API (the provisioning events,
    the header secret from the config), activate it and run Okta's verification — the receiver must be
    reachable at URL. Idempotent: an unchanged, verified hook is left alone.

    Exit 0 when Okta reports the hook ACTIVE and VERIFIED (or with --dry-run), 1 otherwise."""
    if not url.startswith(("https://", "http://")):
        raise click.UsageError("--url must be an http(s) URL (Okta calls only HTTPS endpoints)")
    [tenant] = load_tenants([config])
    _require_hook([tenant], (config,))
    state_dir = global_options(ctx).resolved_state_dir()

    async def run() -> Any:
        from oktasync.workflows.hooks import register as do_register

        async with TenantSession(tenant, state_dir) as session:
            return await do_register(
                tenant, await session.gateway(), await session.app_dir(), url, dry_run=dry_run
            )

    result = asyncio.run(run())
    if as_json:
        emit_json({"exit_code": EXIT_OK if result.ok else EXIT_FAILED, **result.to_dict()})
    else:
        _print_registration(result, dry_run)
    if result.error:
        echo_error(
            f"event hook not verified: {result.error}",
            hint="is `oktasync hooks serve` running and reachable at the URL? then register again",
        )
    return EXIT_OK if result.ok else EXIT_FAILED


def _print_registration(result: Any, dry_run: bool) -> None:
    echo_line(for_terminal(f'Event hook "{result.name}" -> {result.uri}'))
    for change in result.changes:
        word = "would change" if dry_run else "change"
        echo_line("  ", status_text(word, "changed"), for_terminal(f": {change}"))
    if not result.changes:
        echo_line("  ", status_text("unchanged"))
    if result.actions:
        echo_line("  done: " + ", ".join(result.actions))
    if result.hook is not None and not dry_run:
        hook = result.hook
        healthy = hook.status == "ACTIVE" and hook.verification_status == "VERIFIED"
        reported = status_text(f"{hook.status}, {hook.verification_status}", "ok" if healthy else "failed")
        echo_line("  Okta reports: ", reported, for_terminal(f" ({hook.id})"))


@command.command("status")
@click.argument("configs", nargs=-1, required=True, type=CONFIG_PATH)
@json_option()
@click.pass_context
def status_command(ctx: click.Context, configs: tuple[str, ...], as_json: bool) -> int:
    """Show each tenant's event hook as Okta reports it: registered, active, verified, subscribed events.
    Exit 0 when every hook is ACTIVE, VERIFIED and subscribed to every event; 1 otherwise."""
    tenants = load_tenants(list(configs))
    _require_hook(tenants, configs)
    state_dir = global_options(ctx).resolved_state_dir()

    async def run() -> list[Any]:
        from oktasync.workflows.hooks import status

        out = []
        for tenant in tenants:
            async with TenantSession(tenant, state_dir) as session:
                out.append(await status(tenant, await session.gateway()))
        return out

    found = asyncio.run(run())
    code = EXIT_OK if all(s.healthy for s in found) else EXIT_FAILED
    if as_json:
        emit_json({"exit_code": code, "tenants": [s.to_dict() for s in found]})
    else:
        for item in found:
            health = status_text(
                "ok" if item.healthy else "needs attention", "ok" if item.healthy else "failed"
            )
            echo_line(for_terminal(f"{item.tenant}: "), health, for_terminal(f" ({item.summary()})"))
    return code
