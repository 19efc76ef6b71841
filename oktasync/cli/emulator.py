"""``oktasync emulator serve``: the loopback Okta emulator in the foreground.

See docs/architecture.md, The emulator, and docs/emulator.md. Bad input is reported before anything is
served, as docs/architecture.md, Command-line contract, asks, never as a traceback or a generic failure: a
``--state`` file that is missing, unreadable or not a
valid seed, a ``--save-state`` path that could not be written at exit, and a ``--host``/``--port`` that
cannot be listened on are invalid input (exit 3, the file or option named, with the fix); a malformed
``--rate-limit`` (or an unknown bucket) is a usage error (64).
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from oktasync.cli.context import SuggestingGroup, echo_err, emit_json, json_option
from oktasync.errors import ConfigError, Problem

if TYPE_CHECKING:
    from oktasync.emulator.behaviour import Behaviour
    from oktasync.emulator.server import Emulator

_SEED_FIX = 'a state file is a JSON (or .yaml) seed as --save-state writes it: docs/emulator.md "Seed format"'


def _state_problem(path: str, error: Exception) -> Problem:
    """What is wrong with a ``--state`` file, where, and how to fix it."""
    import yaml

    if isinstance(error, FileNotFoundError):
        return Problem(
            path,
            None,
            None,
            "emulator state file not found",
            "check the path, or leave out --state to start empty",
        )
    if isinstance(error, IsADirectoryError):
        return Problem(path, None, None, "is a directory, not a state file", "pass the state file's path")
    if isinstance(error, OSError):
        return Problem(
            path,
            None,
            None,
            f"cannot read the state file: {error.strerror or error}",
            "check its permissions",
        )
    if isinstance(error, UnicodeDecodeError):
        return Problem(path, None, None, "the state file is not UTF-8 text", _SEED_FIX)
    if isinstance(error, json.JSONDecodeError):
        return Problem(path, error.lineno, error.colno, f"invalid JSON: {error.msg}", _SEED_FIX)
    if isinstance(error, yaml.YAMLError):
        mark = getattr(error, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        problem = getattr(error, "problem", None) or str(error)
        return Problem(path, line, column, f"invalid YAML: {problem}", _SEED_FIX)
    # A SeedError names the offending entry; load_file's also names the file, which Problem does once.
    message = str(error).removeprefix(f"{path}: ").removeprefix("invalid seed: ")
    return Problem(path, None, None, f"invalid seed: {message}", _SEED_FIX)


def _with_seed_fix(problem: Problem) -> Problem:
    fix = f"{problem.fix}; {_SEED_FIX}" if problem.fix else _SEED_FIX
    return Problem(problem.file, problem.line, problem.column, problem.message, fix)


def _check_save_path(path: str) -> None:
    """``--save-state`` is written only at exit: refuse a path that cannot be written before serving, so the
    state of a whole session is not lost at the end."""
    target = Path(path)
    parent = target.parent
    problem = None
    if target.is_dir():
        problem = "is a directory, not a file"
    elif not parent.is_dir():
        problem = f"the directory {parent} does not exist"
    elif not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        problem = "cannot be written: permission denied"
    if problem:
        raise ConfigError(
            [Problem(path, None, None, f"--save-state: {problem}", "pass a writable file path")]
        )


@click.group(name="emulator", cls=SuggestingGroup)
def command() -> None:
    """Run the loopback Okta emulator (for tests, benchmarks and the demo)."""


@command.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback only).")
@click.option(
    "--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="Port; 0 picks a free one."
)
@click.option(
    "--state", "state_file", type=click.Path(), help="Seed/state file (JSON, or YAML if named .yaml/.yml)."
)
@click.option(
    "--save-state",
    "save_file",
    type=click.Path(),
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
@click.option(
    "--behaviour",
    "behaviours",
    multiple=True,
    metavar="NAME=VALUE",
    help="Switch an unsettled Okta behaviour (docs/okta-behaviour.md lists them; repeatable).",
)
@click.option("--allow-non-loopback", is_flag=True, help="Listen on a non-loopback address (test server!).")
@click.option(
    "--control-token",
    envvar="OKTASYNC_EMULATOR_CONTROL_TOKEN",
    help="Token the control API's changing calls must send (X-Emulator-Control-Token); default: a new "
    "random one, printed at start.",
)
@json_option(
    "When listening, print one JSON document on one line (url, control_url, api_tokens, control_token) "
    "instead of the text lines."
)
def serve(
    host: str,
    port: int,
    state_file: str | None,
    save_file: str | None,
    time_scale: float,
    api_tokens: tuple[str, ...],
    rate_limits: tuple[str, ...],
    workers: int,
    behaviours: tuple[str, ...],
    allow_non_loopback: bool,
    control_token: str | None,
    as_json: bool,
) -> None:
    """Serve the emulated Okta org until Ctrl-C; prints the URL and the API token(s)."""
    import secrets

    from oktasync.emulator.seed import SeedError
    from oktasync.emulator.server import Emulator
    from oktasync.loopback import is_loopback_host

    if not is_loopback_host(host) and not allow_non_loopback:
        raise click.UsageError(f"refusing to listen on non-loopback {host!r}; pass --allow-non-loopback")
    limits = _parse_rate_limits(rate_limits)
    behaviour = _parse_behaviour(behaviours)
    if save_file:
        _check_save_path(save_file)
    seed = _load_seed(state_file) if state_file else {}
    tokens = list(api_tokens)
    if not tokens and not seed.get("api_tokens"):
        tokens = [secrets.token_urlsafe(24)]
    try:
        emulator = Emulator(
            seed,
            time_scale=time_scale,
            rate_limits=limits,
            api_tokens=tokens,
            workers=workers,
            behaviour=behaviour,
            control_token=control_token,
        )
    except SeedError as exc:
        raise ConfigError([_state_problem(state_file or "--state", exc)]) from None
    _serve_until_stopped(emulator, host, port, save_file, as_json)


def _parse_rate_limits(rate_limits: tuple[str, ...]) -> dict[str, int]:
    """``--rate-limit BUCKET=N`` items as per-minute limits by bucket name."""
    from oktasync.emulator.ratelimit import DEFAULT_LIMITS

    limits: dict[str, int] = {}
    for item in rate_limits:
        bucket, sep, value = item.rpartition("=")
        if not sep or not value.isdigit():
            raise click.UsageError(f"--rate-limit expects BUCKET=N, got {item!r}")
        if bucket not in DEFAULT_LIMITS:
            # An unknown name would be accepted and never used: the limit the user asked for would not apply.
            known = ", ".join(DEFAULT_LIMITS)
            raise click.UsageError(f"--rate-limit: unknown bucket {bucket!r}; buckets: {known}")
        limits[bucket] = int(value)
    return limits


def _parse_behaviour(behaviours: tuple[str, ...]) -> Behaviour:
    """The default behaviour with the ``--behaviour NAME=VALUE`` switches; a bad one is a usage error."""
    from oktasync.emulator.behaviour import Behaviour, parse_assignments

    try:
        return Behaviour().updated(parse_assignments(behaviours))
    except ValueError as exc:
        raise click.UsageError(f"--behaviour: {exc}") from None


def _load_seed(state_file: str) -> dict[str, Any]:
    """The ``--state`` seed; anything wrong with the file is invalid input naming it, with the fix."""
    import yaml

    from oktasync.emulator.seed import load_file

    try:
        return load_file(state_file)
    except (OSError, ValueError) as exc:  # SeedError, JSON and YAML errors, bad UTF-8 are ValueErrors
        raise ConfigError([_state_problem(state_file, exc)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([_state_problem(state_file, exc)]) from None
    except ConfigError as exc:  # not a regular file, too large, binary, bounded YAML: file and line
        raise ConfigError([_with_seed_fix(problem) for problem in exc.problems]) from None


def _serve_until_stopped(
    emulator: Emulator, host: str, port: int, save_file: str | None, as_json: bool
) -> None:
    """Serve until Ctrl-C, then save the state if asked. A socket that cannot be bound is invalid input; an
    OSError once serving has begun is not about the options, so it is raised as it is."""
    import asyncio

    from oktasync.emulator.runtime import serve_forever
    from oktasync.emulator.seed import dump_state
    from oktasync.emulator.seed import save_file as write_state

    started = False

    def ready(bound: int) -> None:
        nonlocal started
        started = True
        _announce(emulator, host, bound, as_json)

    try:
        asyncio.run(serve_forever(emulator, host, port, ready))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        if started:
            raise
        raise ConfigError([_listen_problem(host, port, exc)]) from None
    finally:
        if save_file and started:  # nothing was served, so there is no session state to keep
            write_state(save_file, dump_state(emulator.store, secrets=True))
            echo_err(f"state saved to {save_file}")


def _announce(emulator: Emulator, host: str, bound: int, as_json: bool) -> None:
    """Tell the user (or a script) where the emulator listens and which tokens it accepts."""
    url = f"http://{host}:{bound}"
    if as_json:  # flushed at once: a script reads this line to learn the port, while the server runs
        document = {
            "url": url,
            "control_url": f"{url}/__emulator/",
            "api_tokens": sorted(emulator.store.api_tokens),
            "control_token": emulator.control_token,
        }
        emit_json(document, compact=True)
        return
    click.echo(f"Okta emulator listening on {url}")
    for token in sorted(emulator.store.api_tokens):
        click.echo(f"  API token: SSWS {token}")
    click.echo(f"  control API: {url}/__emulator/  (Ctrl-C to stop)")
    click.echo(f"  control token: {emulator.control_token}  (header X-Emulator-Control-Token)")


def _listen_problem(host: str, port: int, error: OSError) -> Problem:
    """The socket could not be bound: the --host/--port given cannot be used."""
    reason = error.strerror or str(error)
    if error.errno == errno.EADDRINUSE:
        return Problem(
            f"--port {port}",
            None,
            None,
            f"cannot listen on {host}:{port}: the port is in use",
            "pick another --port, or --port 0 to let the system choose a free one",
        )
    if error.errno == errno.EACCES:
        return Problem(
            f"--port {port}",
            None,
            None,
            f"cannot listen on {host}:{port}: permission denied",
            "use a port above 1023, or --port 0 to let the system choose a free one",
        )
    return Problem(
        f"--host {host}",
        None,
        None,
        f"cannot listen on {host}:{port}: {reason}",
        "pass a loopback address this machine has, such as 127.0.0.1",
    )
