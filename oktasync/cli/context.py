"""What every command shares: global options, logging, output conventions and the one error handler.

Output conventions (DESIGN.md §3): human text on stdout by default; ``--json`` prints exactly one JSON
document on stdout and nothing else there; logs go to stderr (text or JSON lines); progress bars only on a
TTY.

``--json`` on failure: when a command that was asked for JSON ends with an error before printing its
document (invalid config, Okta unreachable, a refusal, Ctrl-C), ``handle_errors`` prints one error document
(``{"command", "exit_code", "error": {...}}``) on stdout, and the usual message on stderr. Usage errors
(exit 64) are the exception: the command line itself could not be read, so stdout stays empty.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from oktasync.config.secret import redact
from oktasync.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    ConfigError,
    ManualActionRequired,
    OktasyncError,
)

log = logging.getLogger("oktasync")


# Tenant config paths: plain paths, so that a missing file, a directory and an unreadable file are all
# reported by the loader as an invalid config (exit 3, the file named), never as a usage error (64).
CONFIG_PATH = click.Path(dir_okay=True)


@dataclass
class _Output:
    """What this invocation promised on stdout: set by the ``--json`` option's callback, per ``main()``."""

    json_command: str | None = None  # the command path (``plan``, ``report unmanaged``) when --json was given
    json_emitted: bool = False


_output = _Output()


def reset_output() -> None:
    """Forget the previous invocation (``main()`` may run several times in one process, e.g. tests)."""
    global _output
    _output = _Output()


def _command_name(ctx: click.Context) -> str:
    return " ".join(ctx.command_path.split()[1:]) or ctx.info_name or ""


def mark_json(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Callback for ``--json`` (and ``--format json``): this invocation owes stdout one JSON document."""
    if value is True or value == "json":
        _output.json_command = _command_name(ctx)
    return value


def json_option(help_text: str = "Print one JSON document.") -> Callable[[Any], Any]:
    """The ``--json`` flag every command shares (parameter name ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, callback=mark_json, help=help_text)


@dataclass
class GlobalOptions:
    log_format: str = "text"
    verbose: int = 0
    state_dir: str | None = None

    def resolved_state_dir(self) -> Path:
        """``--state-dir``, else $OKTASYNC_STATE_DIR (click fills it), else the platform's user state dir."""
        if self.state_dir:
            return Path(self.state_dir)
        import platformdirs  # only commands that keep state pay for this import

        return Path(platformdirs.user_state_dir("oktasync"))


def global_options(ctx: click.Context) -> GlobalOptions:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, GlobalOptions) else GlobalOptions()


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("tenant", "app_id", "step"):
            if hasattr(record, key):
                doc[key] = getattr(record, key)
        return json.dumps(doc)


class _RedactSecrets(logging.Filter):
    """Scrub any revealed secret from a log record (a library's message may quote a URL or header)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            # The traceback is rendered later by the formatter; render and scrub it here instead.
            cleaned += "\n" + redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            record.exc_text = None
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(log_format: str, verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactSecrets())
    root = logging.getLogger("oktasync")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    root.propagate = False


def emit_json(document: Any, *, compact: bool = False) -> None:
    """The one JSON document a ``--json`` command prints on stdout (``compact``: on one line, for the
    one-document-per-line output of ``tasks --watch --json``)."""
    click.echo(json.dumps(document, indent=None if compact else 2, sort_keys=False, default=str))
    _output.json_emitted = True


def progress_enabled() -> bool:
    """Progress bars only on an interactive terminal, never in pipelines or under --json."""
    return sys.stderr.isatty() and os.environ.get("CI") is None


def numbered(steps: Iterable[str], indent: str = "  ") -> list[str]:
    """Console steps as the user follows them: ``1. …``, ``2. …`` (one format for every command)."""
    return [f"{indent}{number}. {step}" for number, step in enumerate(steps, start=1)]


def _print_error(error: OktasyncError) -> None:
    click.echo(redact(f"Error: {error.message}"), err=True)
    if isinstance(error, ManualActionRequired):
        for line in numbered(error.steps):
            click.echo(redact(line), err=True)
    if error.hint:
        click.echo(redact(f"Hint: {error.hint}"), err=True)


def emit_error_json(code: int, kind: str, message: str, error: BaseException | None = None) -> None:
    """The one JSON document a ``--json`` command owes stdout when it fails before printing its own."""
    if _output.json_command is None or _output.json_emitted:
        return
    detail: dict[str, Any] = {"type": kind, "message": redact(message)}
    if isinstance(error, OktasyncError):
        detail["hint"] = redact(error.hint) if error.hint else None
    if isinstance(error, ConfigError):
        detail["problems"] = [redact(str(problem)) for problem in error.problems]
    if isinstance(error, ManualActionRequired):
        detail["manual_steps"] = [redact(step) for step in error.steps]
    emit_json({"command": _output.json_command, "exit_code": code, "error": detail})


def _os_error_message(error: OSError) -> str:
    """``[Errno 20] Not a directory: 'x'`` → ``cannot use x: Not a directory``."""
    what = error.strerror or type(error).__name__
    names = [str(name) for name in (error.filename, error.filename2) if name]
    return f"cannot use {' -> '.join(names)}: {what}" if names else f"operating system error: {what}"


def handle_errors(run: Callable[[], Any]) -> int:
    """Map every outcome to an exit code (DESIGN.md §3). The only place that does."""
    try:
        result = run()
    except OktasyncError as error:
        _print_error(error)
        emit_error_json(error.exit_code, type(error).__name__, error.message, error)
        return error.exit_code
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.UsageError as error:
        error.show()
        return EXIT_USAGE
    except click.Abort:
        click.echo("Aborted.", err=True)
        emit_error_json(EXIT_INTERRUPTED, "Interrupted", "interrupted")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        emit_error_json(EXIT_INTERRUPTED, "Interrupted", "interrupted")
        return EXIT_INTERRUPTED
    except click.ClickException as error:
        click.echo(redact(f"Error: {error.format_message()}"), err=True)
        emit_error_json(EXIT_FAILED, type(error).__name__, error.format_message())
        return EXIT_FAILED
    except OSError as error:  # the environment, not a bug: an unusable --state-dir, a full disk, a bad path
        log.debug("operating system error", exc_info=True)
        message = _os_error_message(error)
        click.echo(redact(f"Error: {message}"), err=True)
        if error.filename:
            click.echo("Hint: check that the path exists, is of the right kind and is writable", err=True)
        emit_error_json(EXIT_FAILED, "OSError", message)
        return EXIT_FAILED
    except Exception as error:  # a bug in oktasync: say so plainly, keep the traceback for -vv
        log.debug("unexpected error", exc_info=True)
        message = f"unexpected internal error: {type(error).__name__}: {error}"
        click.echo(redact(f"Error: {message}"), err=True)
        click.echo(
            "Hint: this is a bug in oktasync; re-run with -vv for the traceback and report it", err=True
        )
        emit_error_json(EXIT_FAILED, "InternalError", message)
        return EXIT_FAILED
    return result if isinstance(result, int) else 0
