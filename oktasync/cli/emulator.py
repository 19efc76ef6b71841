"""``oktasync emulator serve``: the loopback Okta emulator in the foreground.

See DESIGN.md §7 and docs/emulator.md.
"""

from __future__ import annotations

import click

from oktasync.errors import OktasyncError


@click.group(name="emulator")
def command() -> None:
    """Run the loopback Okta emulator (for tests, benchmarks and the demo)."""


@command.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback only).")
@click.option(
    "--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="Port; 0 picks a free one."
)
@click.option(
    "--state", "state_file", type=click.Path(dir_okay=False), help="Seed/state file (JSON or YAML)."
)
@click.option(
    "--save-state",
    "save_file",
    type=click.Path(dir_okay=False),
    help="Write the whole state (with secrets) to this file on exit.",
)
@click.option(
    "--time-scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Rate-limit window scale.",
)
@click.option("--api-token", "api_tokens", multiple=True, help="Accept this SSWS token (repeatable).")
@click.option(
    "--rate-limit", "rate_limits", multiple=True, help="Per-minute bucket limit, BUCKET=N (repeatable)."
)
@click.option(
    "--workers", default=4, show_default=True, type=click.IntRange(min=1), help="Provisioning engine workers."
)
@click.option("--allow-non-loopback", is_flag=True, help="Listen on a non-loopback address (test server!).")
def serve(
    host: str,
    port: int,
    state_file: str | None,
    save_file: str | None,
    time_scale: float,
    api_tokens: tuple[str, ...],
    rate_limits: tuple[str, ...],
    workers: int,
    allow_non_loopback: bool,
) -> None:
    """Serve the emulated Okta org until Ctrl-C; prints the URL and the API token(s)."""
    import asyncio
    import secrets

    from oktasync.emulator.runtime import serve_forever
    from oktasync.emulator.seed import SeedError, dump_state, load_file
    from oktasync.emulator.seed import save_file as write_state
    from oktasync.emulator.server import Emulator
    from oktasync.loopback import is_loopback_host

    if not is_loopback_host(host) and not allow_non_loopback:
        raise click.UsageError(f"refusing to listen on non-loopback {host!r}; pass --allow-non-loopback")
    limits: dict[str, int] = {}
    for item in rate_limits:
        bucket, sep, value = item.rpartition("=")
        if not sep or not value.isdigit():
            raise click.UsageError(f"--rate-limit expects BUCKET=N, got {item!r}")
        limits[bucket] = int(value)
    try:
        seed = load_file(state_file) if state_file else {}
    except (OSError, SeedError, ValueError) as exc:
        raise OktasyncError(f"cannot load state {state_file}: {exc}") from exc
    tokens = list(api_tokens)
    if not tokens and not seed.get("api_tokens"):
        tokens = [secrets.token_urlsafe(24)]
    try:
        emulator = Emulator(
            seed, time_scale=time_scale, rate_limits=limits, api_tokens=tokens, workers=workers
        )
    except SeedError as exc:
        raise OktasyncError(str(exc)) from exc

    def ready(bound: int) -> None:
        click.echo(f"Okta emulator listening on http://{host}:{bound}")
        for token in sorted(emulator.store.api_tokens):
            click.echo(f"  API token: SSWS {token}")
        click.echo(f"  control API: http://{host}:{bound}/__emulator/  (Ctrl-C to stop)")

    try:
        asyncio.run(serve_forever(emulator, host, port, ready))
    except KeyboardInterrupt:
        pass
    finally:
        if save_file:
            write_state(save_file, dump_state(emulator.store, secrets=True))
            click.echo(f"state saved to {save_file}", err=True)
