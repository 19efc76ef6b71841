"""What every command shares: global options, logging, output conventions and the one error handler.

Output conventions (docs/architecture.md, Command-line contract): human text on stdout by default; ``--json``
prints exactly one JSON
document on stdout and nothing else there; logs go to stderr (text or JSON lines); progress bars only on a
TTY.

stderr: every line the CLI writes there outside the logging module (the ``Error:`` line and its hint, usage
errors, ``Interrupted.``, warnings, console steps, prompts) goes through ``echo_err`` / ``echo_error`` /
``confirm_err``, so that ``--log-format json`` holds for all of stderr: one JSON object per line, the same
shape as a log record (``time``, ``level``, ``logger``, ``message``, plus fields such as ``exit_code``,
``error_type``, ``hint``, ``problems``, ``manual_steps``). Text mode prints plain lines.

``--json`` on failure: when a command that was asked for JSON ends with an error before printing its
document (invalid config, Okta unreachable, a refusal, Ctrl-C), ``handle_errors`` prints one error document
(``{"command", "exit_code", "error": {...}}``) on stdout, and the usual message on stderr. Usage errors
(exit 64) are the exception: the command line itself could not be read, so stdout stays empty.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
from oktasync.textsafe import for_terminal

log = logging.getLogger("oktasync")


# Tenant config paths: plain paths, so that a missing file, a directory and an unreadable file are all
# reported by the loader as an invalid config (exit 3, the file named), never as a usage error (64).
CONFIG_PATH = click.Path(dir_okay=True)


@dataclass
class _Output:
    """What this invocation promised on stdout: set by the ``--json`` option's callback, per ``main()``."""

    json_command: str | None = None  # the command path (``plan``, ``report unmanaged``) when --json was given
    json_emitted: bool = False
    log_format: str = "text"  # --log-format: how echo_err and friends write stderr
    no_color: bool = False  # --no-color


_output = _Output()


def reset_output(log_format: str = "text") -> None:
    """Forget the previous invocation (``main()`` may run several times in one process, e.g. tests)."""
    global _output
    _output = _Output(log_format=log_format)


def requested_log_format(args: Sequence[str]) -> str:
    """``--log-format`` as given among the global options of ``args``, before click has parsed them.

    A usage error in the global options or in the command name (``oktasync --log-format json nosuch``) is
    raised before the root command's callback runs, so ``main()`` reads the format here first; the
    callback then confirms it (``configure_logging``). Only the global options are scanned (up to the
    first argument that is not one), as click reads them.
    """
    takes_value = {"--log-format", "--state-dir"}
    found = "text"
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--" or not arg.startswith("-"):
            break
        if arg.startswith("--log-format="):
            found = arg.partition("=")[2]
        elif arg == "--log-format" and index + 1 < len(args):
            found = args[index + 1]
        index += 2 if arg in takes_value else 1
    return found if found in ("text", "json") else "text"


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


class SuggestingGroup(click.Group):
    """A command group whose unknown-command error names the closest command, as click does for options:
    ``No such command 'plna'. Did you mean 'plan'?`` (a usage error: exit 64). Newer click suggests from
    the commands it holds; this also covers commands loaded lazily (``LazyGroup``) and older click."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as error:
            typed = args[0] if args else ""
            if getattr(error, "possibilities", None) or typed.startswith("-"):
                raise  # click suggested already, or it is an option, not a command
            close = difflib.get_close_matches(typed, self.list_commands(ctx), n=1)
            if not close:
                raise
            raise click.UsageError(f"{error.message} Did you mean {close[0]!r}?", ctx) from None


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


_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def _json_record(created: float, level: str, logger: str, message: str, fields: Mapping[str, Any]) -> str:
    """One line of ``--log-format json``: the shape every stderr line has in that mode."""
    doc: dict[str, Any] = {
        "time": time.strftime(_TIME_FORMAT, time.localtime(created)),
        "level": level,
        "logger": logger,
        "message": message,
    }
    doc.update(fields)
    return json.dumps(doc, default=str)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # ``http``: the request trace's fields (oktasync/httptrace.py), one object per traced request.
        keys = ("tenant", "app_id", "step", "http")
        fields = {key: getattr(record, key) for key in keys if hasattr(record, key)}
        return _json_record(
            record.created, record.levelname.lower(), record.name, record.getMessage(), fields
        )


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


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not when logging was configured: while
    progress bars are drawn, rich redirects stderr so that a log line is printed above the bars, never
    through them (and a test's captured stderr receives the records)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        """The stream is always the current ``sys.stderr``."""


class _OtherLibrariesHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root logger's handler under ``--log-format json`` (its own type: the next run replaces it)."""


def configure_logging(log_format: str, verbose: int) -> None:
    _output.log_format = log_format
    handler = _StderrHandler()
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactSecrets())
    root = logging.getLogger("oktasync")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    root.propagate = False
    # Other libraries' warnings (asyncio's "Task exception was never retrieved", aiohttp) reach Python's
    # last-resort handler, which prints bare text on stderr. Under --log-format json they get the JSON
    # formatter too; text mode keeps Python's default. Handlers others put on the root logger (pytest's)
    # are left alone: only ours is replaced.
    top = logging.getLogger()
    for old in [h for h in top.handlers if isinstance(h, _OtherLibrariesHandler)]:
        top.removeHandler(old)
    if log_format == "json":
        others = _OtherLibrariesHandler(sys.stderr)
        others.setLevel(logging.WARNING)
        others.setFormatter(_JsonFormatter())
        others.addFilter(_RedactSecrets())
        top.addHandler(others)


def _redacted(value: Any) -> Any:
    """``value`` with every revealed secret masked, in every string it holds (before JSON escapes them)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


def json_logs() -> bool:
    """Whether stderr is JSON lines (``--log-format json``) for this invocation."""
    return _output.log_format == "json"


def echo_err(message: str, *, level: str = "info", details: Iterable[str] = (), **fields: Any) -> None:
    """Write a message for the person (or the log collector) on stderr: the one way the CLI does it.

    Text mode: ``message``, then each of ``details`` on its own line, exactly as given (``fields`` are not
    shown). ``--log-format json``: one JSON record with ``level``, ``message`` (leading indentation
    dropped), ``details`` (a list, when given) and ``fields``. Secrets are masked in both.
    """
    lines = list(details)
    if json_logs():
        extra = dict(fields)
        if lines:
            extra["details"] = [line.strip() for line in lines]
        record = _json_record(time.time(), level, "oktasync", redact(message.strip()), _redacted(extra))
        click.echo(record, err=True)
        return
    for line in (message, *lines):
        # Messages quote Okta's and the target's answers: their control characters are shown, not run.
        click.echo(for_terminal(redact(line)), err=True)


def echo_error(message: str, *, hint: str | None = None, steps: Sequence[str] = (), **fields: Any) -> None:
    """An error for the person: ``Error: …``, the console steps numbered, ``Hint: …`` (text), or one JSON
    record at level ``error`` with ``hint`` and ``manual_steps`` (``--log-format json``)."""
    if json_logs():
        extra: dict[str, Any] = {}
        if hint:
            extra["hint"] = hint
        if steps:
            extra["manual_steps"] = list(steps)
        echo_err(message, level="error", **extra, **fields)
        return
    echo_err(f"Error: {message}", details=numbered(steps))
    if hint:
        echo_err(f"Hint: {hint}")


def echo_warning(message: str, **fields: Any) -> None:
    """``Warning: …`` (text), or one JSON record at level ``warning`` (``--log-format json``)."""
    if json_logs():
        echo_err(message, level="warning", **fields)
    else:
        echo_err(f"Warning: {message}")


class _Pausable:
    """A live display (rich progress bars) that must stop redrawing while a person is asked something."""

    def stop(self) -> None: ...

    def start(self) -> None: ...


_live_display: list[_Pausable] = []


def register_live_display(display: Any) -> None:
    """Called by the progress display when it starts (``None`` when it stops)."""
    _live_display[:] = [display] if display is not None else []


@contextlib.contextmanager
def _prompting() -> Iterator[None]:
    """While a person is asked: no live display redrawing over the question, and Ctrl-C cancels.

    An asyncio loop (or ``asyncio.run``) may own SIGINT while a command runs, which would swallow a Ctrl-C
    typed at the prompt (a later "y" would then start the run). Here SIGINT raises ``KeyboardInterrupt``
    at once, which becomes ``click.Abort`` (exit 130, nothing changed)."""
    paused = list(_live_display)
    for display in paused:
        display.stop()
    previous = None
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    except (KeyboardInterrupt, EOFError):
        if not json_logs():
            click.echo("", err=True)  # end the prompt's line
        raise click.Abort() from None
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
        for display in paused:
            display.start()


def confirm_err(question: str) -> bool:
    """Ask the person at the terminal: ``question [y/N]: `` on stderr (default no), the answer a line on
    stdin. Under ``--log-format json`` the question is a JSON record (``"prompt": true``), so stderr stays
    JSON lines. Ctrl-C or end of input cancels: ``click.Abort`` (exit 130), nothing changed."""
    with _prompting():
        while True:
            if json_logs():
                echo_err(f"{question} [y/N]", level="warning", prompt=True)
            else:
                click.echo(f"{redact(question)} [y/N]: ", err=True, nl=False)
            answer = sys.stdin.readline()
            if not answer:
                raise EOFError
            answer = answer.strip().lower()
            if answer in ("", "n", "no"):
                return False
            if answer in ("y", "yes"):
                return True
            echo_err("invalid input: answer y or n", level="warning")


# The version of every JSON document the CLI prints (docs/json-output.md): it changes only when a key is
# removed or changes meaning; new keys may be added within a version.
JSON_FORMAT_VERSION = 1


def versioned(document: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` with ``format_version`` as its first key (a version the document already carries is kept).

    A document in a standard format that names its own version (a JSON Schema's ``$schema``, printed by
    ``oktasync schema``) is left as the standard defines it."""
    if "$schema" in document:
        return dict(document)
    version = document.get("format_version", JSON_FORMAT_VERSION)
    return {"format_version": version, **{k: v for k, v in document.items() if k != "format_version"}}


def json_text(document: Mapping[str, Any], *, compact: bool = False) -> str:
    """A versioned JSON document as text: how the CLI writes every JSON document (stdout or a file)."""
    return json.dumps(versioned(document), indent=None if compact else 2, sort_keys=False, default=str)


def emit_json(document: Mapping[str, Any], *, compact: bool = False) -> None:
    """The one JSON document a ``--json`` command prints on stdout (``compact``: on one line, for the
    one-document-per-line output of ``tasks --watch --json``), ``format_version`` first."""
    click.echo(json_text(document, compact=compact))
    _output.json_emitted = True


def set_no_color(no_color: bool) -> None:
    """``--no-color`` (the global option): no colour on any stream for this invocation."""
    _output.no_color = no_color


def colour_enabled(stream: Any) -> bool:
    """Colour only on an interactive terminal, never under ``--no-color``, ``NO_COLOR`` (https://no-color.org:
    set and not empty), ``TERM=dumb``, ``--json`` or ``--log-format json``."""
    if _output.no_color or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    if _output.json_command is not None or _output.log_format == "json":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def terminal_console(*, stderr: bool = False) -> Any:
    """The rich Console every command renders tables and coloured status words with: colour decided once,
    by ``colour_enabled``, for the stream it writes to; no markup surprises from user data (``markup`` off:
    render ``rich.text.Text`` for styled parts)."""
    from rich.console import Console  # only commands that render rich output pay for this import

    stream = sys.stderr if stderr else sys.stdout
    colour = colour_enabled(stream)
    return Console(
        file=stream,
        stderr=stderr,
        no_color=not colour,
        color_system="auto" if colour else None,
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=True,
    )


# How a status word looks on a colour terminal: one palette for every command.
_STATUS_STYLES = {
    "ok": "green",
    "pass": "green",
    "passed": "green",
    "in_sync": "green",
    "recovered": "green",
    "unchanged": "green",
    "completed": "green",
    "changed": "yellow",
    "change": "yellow",
    "warning": "yellow",
    "warn": "yellow",
    "pending": "yellow",
    "info": "cyan",
    "skipped": "dim",
    "skip": "dim",
    "manual": "magenta",
    "failed": "bold red",
    "fail": "bold red",
    "refused": "bold red",
    "declined": "bold red",
    "error": "bold red",
    "stopped": "bold red",
}


def status_text(text: str, status: str | None = None) -> Any:
    """``text`` as a ``rich.text.Text`` in the colour of ``status`` (default: ``text`` itself, lowercased
    and stripped: ``FAIL`` is red); no style for a status the palette does not know."""
    from rich.text import Text

    key = (status if status is not None else text).strip().lower()
    return Text(text, style=_STATUS_STYLES.get(key, ""))


def echo_line(*parts: Any, err: bool = False) -> None:
    """One line of human output made of plain strings and ``status_text`` parts: coloured only when
    ``colour_enabled`` says so for that stream. Plain parts are printed as given (callers escape what
    Okta or the target sent with ``for_terminal``)."""
    from rich.text import Text

    stream = sys.stderr if err else sys.stdout
    if not colour_enabled(stream):
        # The same characters rich would print without colour, at a fraction of the cost (long reports).
        click.echo("".join(part.plain if isinstance(part, Text) else str(part) for part in parts), err=err)
        return
    line = Text()
    for part in parts:
        line.append(part if isinstance(part, Text) else Text(str(part)))
    _line_console(stream, err).print(line)


# The console echo_line last used per stream (stdout, stderr): building one costs about a millisecond, too
# much per line of a long report; it is rebuilt when the stream changes.
_line_consoles: dict[bool, tuple[Any, Any]] = {}


def _line_console(stream: Any, err: bool) -> Any:
    cached = _line_consoles.get(err)
    if cached is not None and cached[0] is stream:
        return cached[1]
    console = terminal_console(stderr=err)
    _line_consoles[err] = (stream, console)
    return console


def progress_enabled() -> bool:
    """Progress bars only on an interactive terminal, never in pipelines, under --json, or when stderr is
    JSON records (--log-format json): a redrawn bar is not a record."""
    return _output.log_format != "json" and sys.stderr.isatty() and os.environ.get("CI") is None


def numbered(steps: Iterable[str], indent: str = "  ") -> list[str]:
    """Console steps as the user follows them: ``1. …``, ``2. …`` (one format for every command)."""
    return [f"{indent}{number}. {step}" for number, step in enumerate(steps, start=1)]


def _print_error(error: OktasyncError) -> None:
    fields: dict[str, Any] = {"exit_code": error.exit_code, "error_type": type(error).__name__}
    if isinstance(error, ConfigError):
        fields["problems"] = [str(problem) for problem in error.problems]
    steps = error.steps if isinstance(error, ManualActionRequired) else ()
    echo_error(error.message, hint=error.hint, steps=steps, **fields)


def _print_usage_error(error: click.UsageError) -> None:
    """click's usage message as it prints it (text), or as one JSON record (``--log-format json``)."""
    if not json_logs():
        error.show()
        return
    # One stable type for every usage error (exit 64), not click's subclass (NoSuchOption, BadParameter...).
    fields: dict[str, Any] = {"exit_code": EXIT_USAGE, "error_type": "UsageError"}
    hint = None
    ctx = error.ctx
    if ctx is not None:
        fields["usage"] = ctx.get_usage()
        if ctx.command.get_help_option(ctx) is not None:
            option = max(ctx.command.get_help_option_names(ctx), key=len)
            hint = f"Try '{ctx.command_path} {option}' for help."
    echo_error(error.format_message(), hint=hint, **fields)


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
    """Map every outcome to an exit code (docs/architecture.md, Command-line contract). The only place that
    does."""
    try:
        result = run()
    except OktasyncError as error:
        _print_error(error)
        emit_error_json(error.exit_code, type(error).__name__, error.message, error)
        return error.exit_code
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.UsageError as error:
        _print_usage_error(error)
        return EXIT_USAGE
    except click.Abort:
        echo_err("Aborted.", level="error", exit_code=EXIT_INTERRUPTED, error_type="Interrupted")
        emit_error_json(EXIT_INTERRUPTED, "Interrupted", "interrupted")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        echo_err("Interrupted.", level="error", exit_code=EXIT_INTERRUPTED, error_type="Interrupted")
        emit_error_json(EXIT_INTERRUPTED, "Interrupted", "interrupted")
        return EXIT_INTERRUPTED
    except click.ClickException as error:
        echo_error(error.format_message(), exit_code=EXIT_FAILED, error_type=type(error).__name__)
        emit_error_json(EXIT_FAILED, type(error).__name__, error.format_message())
        return EXIT_FAILED
    except OSError as error:  # the environment, not a bug: an unusable --state-dir, a full disk, a bad path
        log.debug("operating system error", exc_info=True)
        message = _os_error_message(error)
        hint = "check that the path exists, is of the right kind and is writable" if error.filename else None
        echo_error(message, hint=hint, exit_code=EXIT_FAILED, error_type="OSError")
        emit_error_json(EXIT_FAILED, "OSError", message)
        return EXIT_FAILED
    except Exception as error:  # a bug in oktasync: say so plainly, keep the traceback for -vv
        log.debug("unexpected error", exc_info=True)
        message = f"unexpected internal error: {type(error).__name__}: {error}"
        echo_error(
            message,
            hint="this is a bug in oktasync; re-run with -vv for the traceback and report it",
            exit_code=EXIT_FAILED,
            error_type="InternalError",
        )
        emit_error_json(EXIT_FAILED, "InternalError", message)
        return EXIT_FAILED
    return result if isinstance(result, int) else 0
