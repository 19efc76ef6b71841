"""`oktasync playbook run|list|validate|status`: YAML runbooks of oktasync steps (docs/playbooks.md)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from oktasync.cli.context import (
    CONFIG_PATH,
    SuggestingGroup,
    confirm_err,
    echo_err,
    echo_line,
    emit_json,
    global_options,
    json_option,
    numbered,
    status_text,
)
from oktasync.cli.progress import make_progress
from oktasync.errors import ConfigError, OktasyncError, Problem, SafetyError
from oktasync.playbooks.model import Playbook, Step
from oktasync.textsafe import for_terminal

if TYPE_CHECKING:
    from oktasync.config.schema import TenantConfig

_MARKS = {"ok": "ok", "failed": "FAILED", "skipped": "skipped", "declined": "DECLINED", "running": "running"}


def resolve_playbook_path(name: str) -> Path:
    """A path, or the name of a shipped playbook (``chronosphere-onboarding`` → playbooks/…yaml)."""
    path = Path(name)
    if path.exists() or "/" in name or name.endswith((".yaml", ".yml")):
        return path
    from oktasync.playbooks.loader import shipped_playbook

    return shipped_playbook(name) or path


def complete_playbook(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion for PLAYBOOK: the shipped playbooks' names (a team's ``./playbooks`` included),
    then playbook files in the current directory."""
    from click.shell_completion import CompletionItem

    from oktasync.playbooks.catalog import shipped_playbook_names

    names = [name for name in shipped_playbook_names() if name.startswith(incomplete)]
    files = sorted(
        path.name
        for pattern in ("*.yaml", "*.yml")
        for path in Path.cwd().glob(pattern)
        if path.name.startswith(incomplete)
    )
    return [CompletionItem(name) for name in names] + [CompletionItem(name, type="file") for name in files]


def _parse_vars(values: tuple[str, ...]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"--var {item!r}: expected NAME=VALUE")
        parsed[name.strip()] = value
    return parsed


def _load(playbook_arg: str, configs: tuple[str, ...]) -> tuple[Playbook, list[tuple[str, Any]]]:
    """The playbook and every config, checked together: one ConfigError lists all their problems."""
    from oktasync.config import load_tenant
    from oktasync.playbooks.loader import load_playbook

    problems: list[Problem] = []
    playbook: Playbook | None = None
    try:
        playbook = load_playbook(resolve_playbook_path(playbook_arg))
    except ConfigError as error:
        problems += error.problems
    loaded: list[tuple[str, Any]] = []
    for path in configs:
        try:
            loaded.append((path, load_tenant(path)))
        except ConfigError as error:
            problems += error.problems
    if problems or playbook is None:
        raise ConfigError(problems)
    return playbook, loaded


class _TextReporter:
    """Per-step progress lines: stdout in text mode, stderr under --json (stdout holds the one document)."""

    def __init__(self, *, err: bool, verbose: bool) -> None:
        self.err = err
        self.verbose = verbose

    def _echo(self, text: str, *, status: str | None = None, word: str = "") -> None:
        """One progress line, after ``word`` (a status word, coloured on a terminal by ``status``)."""
        if self.err:
            echo_err(word + text)  # JSON records under --log-format json
        elif word:
            echo_line(status_text(word, status), for_terminal(text))  # summaries quote Okta and the target
        else:
            echo_line(for_terminal(text))

    def run_started(self, playbook: Playbook, tenant: str, run_id: str, resumed: bool) -> None:
        what = "resuming run" if resumed else "run"
        self._echo(f"playbook {playbook.name} · tenant {tenant} · {what} {run_id}")

    def step_started(self, step: Step, index: int, total: int, attempt: int) -> None:
        if attempt == 1:
            title = step.id if step.name == step.action else f"{step.id}: {step.name}"
            self._echo(f"[{index}/{total}] {title} ({step.action}) …")
            if self.verbose and step.description:
                for line in step.description.splitlines():
                    self._echo(f"        {line}")

    def step_finished(
        self, step: Step, index: int, total: int, entry: Mapping[str, Any], reused: bool
    ) -> None:
        status = str(entry.get("status"))
        mark = _MARKS.get(status, status)
        if reused:
            self._echo(f"[{index}/{total}] {step.id}: {mark} in an earlier attempt of this run, not repeated")
            return
        if status == "skipped":
            self._echo(f"[{index}/{total}] {step.id}: skipped ({step.name}: when: is false)")
            return
        attempts = entry.get("attempts", 1)
        more = f", {attempts} attempts" if attempts and attempts > 1 else ""
        seconds = entry.get("seconds")
        took = f" ({seconds:.1f}s{more})" if isinstance(seconds, int | float) else ""
        suffix = " — continuing (on_failure: continue)" if entry.get("continued") else ""
        self._echo(f": {entry.get('summary')}{took}{suffix}", status=status, word=f"        {mark}")
        result = entry.get("result") or {}
        if status in ("failed", "declined"):
            if result.get("hint"):
                self._echo(f"        hint: {result['hint']}")
            for line in numbered(result.get("manual_steps") or [], "          "):
                self._echo(line)
            for line in result.get("problems") or []:
                self._echo(f"          {line}")

    def note(self, message: str) -> None:
        echo_err(f"        {message}")


class _TerminalInteraction:
    """`confirm` steps: --yes passes them; else ask on the terminal; with no terminal, refuse (exit 4)."""

    def __init__(self, yes: bool) -> None:
        self.yes = yes

    def confirm(self, message: str) -> bool:
        if self.yes:
            return True
        if not sys.stdin.isatty():
            raise SafetyError(
                "this step waits for a person to confirm, and there is no terminal to ask on",
                hint="run it on a terminal, or pass --yes to confirm every confirm step in advance",
            )
        return confirm_err(f"        {message}")


@click.group("playbook", cls=SuggestingGroup)
def command() -> None:
    """Run YAML playbooks: ordered oktasync steps with inputs, conditions and a run record."""


@command.command("run")
@click.argument("playbook", shell_complete=complete_playbook)
@click.option(
    "-c",
    "--config",
    "configs",
    multiple=True,
    required=True,
    type=CONFIG_PATH,
    help="Tenant config (repeat for several tenants; they run one after another).",
)
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="Set a playbook input.")
@click.option("--yes", is_flag=True, help="Pass every confirm step without asking.")
@click.option("--dry-run", is_flag=True, help="Change nothing: read-only steps run, write steps only tell.")
@click.option("--resume", is_flag=True, help="Continue the interrupted or stopped run where it stopped.")
@click.option("--fresh", is_flag=True, help="Discard an interrupted run and start a new one.")
@json_option("Print one JSON document (progress goes to stderr).")
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 2 when a step failed under on_failure: continue."
)
@click.pass_context
def run_command(
    ctx: click.Context,
    playbook: str,
    configs: tuple[str, ...],
    variables: tuple[str, ...],
    yes: bool,
    dry_run: bool,
    resume: bool,
    fresh: bool,
    as_json: bool,
    detailed_exitcode: bool,
) -> int:
    """Check the whole PLAYBOOK, then run it for each --config.

    PLAYBOOK is a file, or the name of a shipped playbook (chronosphere-onboarding, resync,
    retry-failed-assignments, verify). Nothing runs unless the playbook and every config are valid
    (exit 3, every problem with file:line). Each step's result is recorded in the state dir; an
    interrupted run must be finished with --resume (or discarded with --fresh) before a new one starts.
    """
    from oktasync.playbooks.runner import run_playbook

    if resume and (dry_run or fresh):
        raise click.UsageError("--resume cannot be combined with --dry-run or --fresh")
    options = global_options(ctx)
    given = _parse_vars(variables)
    loaded_playbook, loaded = _load(playbook, configs)
    progress, live = make_progress(as_json)
    reporter = _TextReporter(err=as_json, verbose=options.verbose > 0)
    resume_command = " ".join(
        ["oktasync", "playbook", "run", playbook, *(f"--config {c}" for c in configs), "--resume"]
    )

    async def go() -> Any:
        return await run_playbook(
            loaded_playbook,
            loaded,
            inputs=given,
            state_dir=options.resolved_state_dir(),
            dry_run=dry_run,
            resume=resume,
            fresh=fresh,
            interaction=_TerminalInteraction(yes),
            reporter=reporter,
            progress=progress,
            resume_command=resume_command,
        )

    if live is not None:
        with live:
            result = asyncio.run(go())
    else:
        result = asyncio.run(go())
    if as_json:
        emit_json(result.to_dict())
    else:
        _print_summary(result)
    code: int = result.exit_code(detailed_exitcode)
    return code


def _print_summary(result: Any) -> None:
    for run in result.runs:
        counts: dict[str, int] = {}
        for step in run.steps:
            counts[step["status"]] = counts.get(step["status"], 0) + 1
        tally = ", ".join(f"{n} {status}" for status, n in counts.items())
        prefix = "dry run " if result.dry_run else ""
        echo_line(
            status_text(f"{prefix}{run.status}", run.status),
            for_terminal(f": playbook {result.playbook} for {run.tenant} ({tally})"),
        )
        if run.continued_failures:
            click.echo(f"  steps that failed and were allowed to: {', '.join(run.continued_failures)}")
        if run.message:
            click.echo(f"  {run.message}")
        if run.record_path:
            click.echo(f"  run record: {run.record_path}")
        if run.stopped_at:
            click.echo("  fix the cause, then continue with --resume (or start over with --fresh)")


@command.command("list")
@json_option("Print the playbooks as one JSON document.")
def list_command(as_json: bool) -> int:
    """List the playbooks `playbook run NAME` finds: shipped with oktasync, or in ./playbooks."""
    from oktasync.playbooks.catalog import shipped_playbook_names
    from oktasync.playbooks.loader import load_playbook, shipped_playbook

    listed: list[dict[str, Any]] = []
    for name in shipped_playbook_names():
        path = shipped_playbook(name)
        entry: dict[str, Any] = {"name": name, "file": str(path), "valid": False}
        try:
            book = load_playbook(path or name)
        except ConfigError as error:
            entry["problems"] = [str(problem) for problem in error.problems]
        else:
            first_line = book.description.strip().splitlines()[0] if book.description.strip() else ""
            inputs = [spec.name for spec in book.inputs]
            entry.update(valid=True, description=first_line, steps=len(book.steps), inputs=inputs)
        listed.append(entry)
    if as_json:
        emit_json({"playbooks": listed})
        return 0
    width = max((len(entry["name"]) for entry in listed), default=0)
    for entry in listed:
        if entry["valid"]:
            echo_line(
                for_terminal(f"{entry['name']:<{width}}  {entry['steps']:>2} steps  {entry['description']}")
            )
        else:
            echo_line(for_terminal(f"{entry['name']:<{width}}  "), status_text("invalid", "failed"))
    return 0


@command.command("validate")
@click.argument("playbooks", nargs=-1, required=True)
@json_option("Print one JSON document: every file and every problem (file, line, column, key, fix).")
def validate_command(playbooks: tuple[str, ...], as_json: bool) -> int:
    """Check playbooks without running them (schema, actions, arguments, templates, step references)."""
    from oktasync.cli.validate import file_entry, problems_document
    from oktasync.errors import EXIT_INVALID
    from oktasync.playbooks.loader import load_playbook

    problems: list[Problem] = []
    files: list[dict[str, Any]] = []
    for name in playbooks:
        try:
            book = load_playbook(resolve_playbook_path(name))
        except ConfigError as error:
            problems += error.problems
            files.append(file_entry(name, error.problems))
            if not as_json:
                click.echo(f"invalid {name}")
            continue
        files.append(file_entry(book.file, [], name=book.name, steps=len(book.steps)))
        if not as_json:
            click.echo(f"ok      {book.file}  ({book.name}: {len(book.steps)} steps)")
    if as_json:
        emit_json(problems_document("playbooks", files, problems))
        return EXIT_INVALID if problems else 0
    if problems:
        raise ConfigError(problems)
    return 0


@command.command("status")
@click.argument("playbook", shell_complete=complete_playbook)
@click.option("-c", "--config", "configs", multiple=True, required=True, type=CONFIG_PATH)
@json_option("Print the run records as one JSON document.")
@click.pass_context
def status_command(ctx: click.Context, playbook: str, configs: tuple[str, ...], as_json: bool) -> int:
    """Show the latest run of PLAYBOOK for each --config, step by step, from the run record."""
    loaded_playbook, loaded = _load(playbook, configs)
    state_dir = global_options(ctx).resolved_state_dir()
    records = [
        _latest_run(state_dir, config_path, config, loaded_playbook.name) for config_path, config in loaded
    ]
    if as_json:
        emit_json({"playbook": loaded_playbook.name, "runs": records})
        return 0
    for item in records:
        record = item["record"]
        if record is None:
            click.echo(f"{item['tenant']}: no run of {loaded_playbook.name} recorded")
            continue
        click.echo(
            f"{item['tenant']}: run {record['run_id']} {record['status']} (started {record['started']})"
        )
        for step in loaded_playbook.steps:
            entry = record["steps"].get(step.id)
            status = entry["status"] if entry else "not run"
            summary = f" — {entry.get('summary')}" if entry and entry.get("summary") else ""
            click.echo(for_terminal(f"  {step.id:<24} {status}{summary}"))
    return 0


def _latest_run(state_dir: Path, config_path: str, config: TenantConfig, name: str) -> dict[str, Any]:
    """The latest recorded run of playbook ``name`` against the config's app, read offline. A config that
    names its app by label only, matching the records of several apps, is refused (pin ``app.id``)."""
    from oktasync.playbooks.record import find_run_records, read_record

    paths = find_run_records(state_dir, config, name)
    if len(paths) > 1:
        raise OktasyncError(
            f"{config_path}: runs of playbook '{name}' are recorded for {len(paths)} apps labelled "
            f"{config.app.label!r}: " + ", ".join(str(path) for path in paths),
            hint=f"set app.id in {config_path} to the app whose run to show",
        )
    record = read_record(paths[0]) if paths else None
    return {
        "tenant": config.tenant,
        "record": record.to_json() if record is not None else None,
        "path": str(paths[0]) if paths else None,
    }
