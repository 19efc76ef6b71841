"""The command line: argument parsing, output and exit codes. The only layer that imports click or exits.

Subcommands are imported lazily (``_COMMANDS``), so ``oktasync --help`` and ``validate`` never pay for the
okta SDK, aiohttp or the emulator. Each module named there defines one click command called ``command``.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from oktasync.cli.context import (
    GlobalOptions,
    SuggestingGroup,
    configure_logging,
    handle_errors,
    json_logs,
    requested_log_format,
    reset_output,
    set_no_color,
)

# name -> (module, one-line help). Help is duplicated here so `--help` does not import every command.
_COMMANDS: dict[str, tuple[str, str]] = {
    "emulator": (
        "oktasync.cli.emulator",
        "Run the loopback Okta emulator (for tests, benchmarks and the demo).",
    ),
    "validate": ("oktasync.cli.validate", "Check tenant configs: schema, templates, cross-field rules."),
    "schema": ("oktasync.cli.schema", "Print the JSON Schema of the tenant config format."),
    "plan": ("oktasync.cli.plan", "Show desired vs actual provisioning settings and how each would apply."),
    "apply": ("oktasync.cli.apply", "Apply the plan through the right channel and verify every write."),
    "doctor": ("oktasync.cli.doctor", "Read-only probe: auth, scopes, app kind, channels, rate limits."),
    "playbook": ("oktasync.cli.playbook", "Run YAML playbooks of oktasync steps, recorded and resumable."),
    "demo": ("oktasync.cli.demo", "The whole runbook end to end on a local emulator: start here."),
    "test-connector": ("oktasync.cli.test_connector", "Test the SCIM target as Okta does, and more."),
    "hooks": ("oktasync.cli.hooks", "Okta event hooks: receive provisioning failures in seconds; register."),
    "tasks": ("oktasync.cli.tasks", "Find, retry, report and notify failed assignments (cron or --watch)."),
    "completion": ("oktasync.cli.completion", "Print the shell completion script (bash, zsh or fish)."),
    "report": ("oktasync.cli.report", "report unmanaged: target users Okta does not manage."),
    "resync": ("oktasync.cli.resync", "Safely unassign and reassign every group (journaled, resumable)."),
    "snapshot": (
        "oktasync.cli.snapshot",
        "Read-only, pseudonymised copy of the app's org state for rehearse.",
    ),
    "rehearse": (
        "oktasync.cli.rehearse",
        "Run a playbook or command on a snapshot first: calls, time, failures.",
    ),
}


class LazyGroup(SuggestingGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module = importlib.import_module(_COMMANDS[cmd_name][0])
        command: click.Command = module.command
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (EOFError, KeyboardInterrupt) as error:
            if not json_logs():
                raise  # click closes the terminal's ^C echo with a blank line on stderr, then aborts
            # Under --log-format json that blank line would be the one stderr line that is not JSON:
            # abort without it; handle_errors reports the abort (130) as a record.
            raise click.Abort() from error

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in sorted(_COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Format of the log lines written to stderr.",
)
@click.option("-v", "--verbose", count=True, help="More log detail (-vv for debug).")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    envvar="OKTASYNC_STATE_DIR",
    help="Journals, locks and run records. Default: $OKTASYNC_STATE_DIR, else the user state directory.",
)
@click.option(
    "--no-color",
    is_flag=True,
    help="No colour in any output (also: the NO_COLOR environment variable).",
)
@click.version_option(package_name="oktasync")
@click.pass_context
def cli(ctx: click.Context, log_format: str, verbose: int, state_dir: str | None, no_color: bool) -> None:
    """oktasync: Okta SCIM provisioning as code.

    Reads YAML tenant configs and plans, applies and verifies an app's SCIM provisioning settings, tests
    the SCIM connector as Okta does, resyncs group assignments safely, and finds and retries failed
    assignments. Exit codes: 0 ok, 1 failed, 2 changes/failures remain (--detailed-exitcode),
    3 invalid config, 4 refused by a safety guard, 5 manual action required, 64 usage, 130 interrupted.
    """
    ctx.obj = GlobalOptions(log_format=log_format, verbose=verbose, state_dir=state_dir)
    set_no_color(no_color)
    configure_logging(log_format, verbose)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (errors mapped once, in ``handle_errors``)."""
    args = sys.argv[1:] if argv is None else argv
    # Known before click parses anything, so a usage error in the command line itself honours it too.
    reset_output(log_format=requested_log_format(args))
    result: Any = handle_errors(lambda: cli.main(args=args, prog_name="oktasync", standalone_mode=False))
    return result if isinstance(result, int) else 0
