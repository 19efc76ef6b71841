"""What every command shares: global options, logging, output conventions and the one error handler.

Output conventions (DESIGN.md §3): human text on stdout by default; ``--json`` prints exactly one JSON
document on stdout and nothing else there; logs go to stderr (text or JSON lines); progress bars only on a
TTY.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from oktasync.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    ManualActionRequired,
    OktasyncError,
)

log = logging.getLogger("oktasync")


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


def configure_logging(log_format: str, verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("oktasync")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    root.propagate = False


def emit_json(document: Any) -> None:
    """The one JSON document a ``--json`` command prints on stdout."""
    click.echo(json.dumps(document, indent=2, sort_keys=False, default=str))


def progress_enabled() -> bool:
    """Progress bars only on an interactive terminal, never in pipelines or under --json."""
    return sys.stderr.isatty() and os.environ.get("CI") is None


def _print_error(error: OktasyncError) -> None:
    click.echo(f"Error: {error.message}", err=True)
    if isinstance(error, ManualActionRequired):
        for number, step in enumerate(error.steps, start=1):
            click.echo(f"  {number}. {step}", err=True)
    if error.hint:
        click.echo(f"Hint: {error.hint}", err=True)


def handle_errors(run: Callable[[], Any]) -> int:
    """Map every outcome to an exit code (DESIGN.md §3). The only place that does."""
    try:
        result = run()
    except OktasyncError as error:
        _print_error(error)
        return error.exit_code
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.UsageError as error:
        error.show()
        return EXIT_USAGE
    except click.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as error:
        error.show()
        return EXIT_FAILED
    except Exception as error:  # a bug in oktasync: say so plainly, keep the traceback for -vv
        log.debug("unexpected error", exc_info=True)
        click.echo(f"Error: unexpected internal error: {type(error).__name__}: {error}", err=True)
        click.echo(
            "Hint: this is a bug in oktasync; re-run with -vv for the traceback and report it", err=True
        )
        return EXIT_FAILED
    return result if isinstance(result, int) else 0
