"""`oktasync tasks CONFIG...`: failed assignments — list, retry, report, notify; single-shot or --watch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from oktasync.cli.context import (
    CONFIG_PATH,
    echo_err,
    echo_error,
    echo_line,
    echo_warning,
    emit_error_json,
    emit_json,
    global_options,
    json_option,
    status_text,
)
from oktasync.cli.progress import make_progress
from oktasync.config import Secret, load_tenants
from oktasync.config.load import webhook_url_problem
from oktasync.config.schema import TenantConfig
from oktasync.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_REFUSED,
    OktasyncError,
    SafetyError,
    worst_exit_code,
)
from oktasync.progress import Progress
from oktasync.state import StateDir, StateFileError
from oktasync.textsafe import for_terminal
from oktasync.workflows.app_guard import ignoring_okta_activity, unfinished_resync
from oktasync.workflows.session import TenantSession
from oktasync.workflows.tasks import (
    TasksOptions,
    TasksResult,
    run_tasks,
    tasks_lock,
    write_metrics_file,
)
from oktasync.workflows.tasks.metrics import check_metrics_path
from oktasync.workflows.tasks.model import CANNOT_RETRY, Failure

# How the report words each retry outcome: only "recovered" and "pushed again, failed again" say a push ran,
# and both were read back.
OUTCOME_WORDS = {
    "recovered": "recovered",
    "still_failing": "pushed again, failed again",
    "not_taken": "NOT TAKEN (no new push followed the update)",
    "not_settled": "push started, no result yet",
    "cannot_retry": "cannot be retried by API",
    "exhausted": "out of attempts",
    "error": "the retry call failed",
    "unassigned": "no longer assigned",
}

log = logging.getLogger("oktasync.tasks")

# An open tenant: its config, the Okta gateway, the app, and the app's state directory.
_Session = tuple[TenantConfig, Any, Any, Path]


@click.command("tasks")
@click.argument("configs", nargs=-1, required=True, type=CONFIG_PATH)
@json_option("Print one JSON document (one per line with --watch).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 while failed assignments remain.")
@click.option(
    "--retry",
    is_flag=True,
    help="Attempt to re-trigger failed pushes through the API and read each attempt back "
    "(one Okta does not act on is reported 'not taken', with the Admin Console steps).",
)
@click.option("--watch", is_flag=True, help="Keep running, one pass every --interval seconds (Ctrl-C stops).")
@click.option(
    "--interval", type=click.FloatRange(min=1), default=300, show_default=True, help="Seconds between passes."
)
@click.option(
    "--notify",
    "notify_urls",
    multiple=True,
    envvar="OKTASYNC_NOTIFY_URL",
    metavar="URL",
    help="Also notify this webhook (Slack for hooks.slack.com, Okta Workflows for *.workflows.okta.com, "
    "generic JSON otherwise). Prefer tasks.notify in the config or $OKTASYNC_NOTIFY_URL: command lines "
    "are visible to other local users.",
)
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write Prometheus metrics here (atomically), e.g. for node_exporter's textfile collector.",
)
@click.option(
    "--lookback-days",
    type=click.FloatRange(min=0, max=90, min_open=True),
    default=7,
    show_default=True,
    help="First run only: how far back to read the System Log (retention is 90 days).",
)
@click.option(
    "--full-scan-every",
    type=click.FloatRange(min=0),
    default=60,
    show_default=True,
    metavar="MINUTES",
    help="Read every app user at most this often; runs in between read only new System Log events.",
)
@click.option("--full-scan", is_flag=True, help="Read every app user on this run.")
@click.option(
    "--dismiss",
    multiple=True,
    metavar="USER",
    help="Drop this failure (user id, login or email) from the list until it fails again; recorded.",
)
@click.option(
    "--ignore-okta-activity",
    is_flag=True,
    help="With --retry: write even though Okta shows signs of a resync running elsewhere.",
)
@click.option("--max-passes", type=click.IntRange(min=1), hidden=True, help="Stop --watch after N passes.")
@click.pass_context
def command(
    ctx: click.Context,
    configs: tuple[str, ...],
    as_json: bool,
    detailed_exitcode: bool,
    retry: bool,
    watch: bool,
    interval: float,
    notify_urls: tuple[str, ...],
    metrics_file: Path | None,
    lookback_days: float,
    full_scan_every: float,
    full_scan: bool,
    dismiss: tuple[str, ...],
    max_passes: int | None,
    ignore_okta_activity: bool,
) -> int:
    """List every failed assignment of each config's app — user, how assigned, when, which operation and
    Okta's reason — from app users in syncState ERROR and the System Log; optionally attempt a retry of
    each and read it back (--retry), notify webhooks of each new failure, recovery and retry Okta did not
    take, and write Prometheus metrics.

    Single pass by default (for cron); --watch keeps polling. One poller per app (a second exits 4).
    Exit codes: 0 ok; 2 with --detailed-exitcode while failures remain; 1 when an API call failed or (with
    --retry) a user reached tasks.retry.max_attempts; 4 another poller runs; 130 interrupted.
    """
    _check_options(ctx, watch, notify_urls, metrics_file)
    tenants = load_tenants(list(configs))
    state_root = StateDir(global_options(ctx).resolved_state_dir())
    options = TasksOptions(
        retry=retry,
        lookback=timedelta(days=lookback_days),
        full_scan_interval=timedelta(minutes=full_scan_every),
        force_full=full_scan,
        notify_urls=tuple(Secret(u) for u in notify_urls),
        dismiss=dismiss,
    )
    reporter = _PassReporter(
        as_json=as_json, watch=watch, detailed_exitcode=detailed_exitcode, metrics_file=metrics_file
    )
    poller = _Poller(
        tenants=tenants,
        state_root=state_root,
        options=options,
        reporter=reporter,
        watch=watch,
        interval=interval,
        max_passes=max_passes,
    )
    return _run(poller, as_json=as_json, ignore_okta_activity=ignore_okta_activity)


def _check_options(
    ctx: click.Context, watch: bool, notify_urls: tuple[str, ...], metrics_file: Path | None
) -> None:
    """Usage errors (exit 64) and refused paths before any work starts."""
    if not watch:
        for name in ("interval", "max_passes"):
            if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE:
                flag = "--" + name.replace("_", "-")
                raise click.UsageError(f"{flag} needs --watch (without it, tasks runs one pass)")
    for url in notify_urls:
        why = webhook_url_problem(url)
        if why:
            raise click.UsageError(f"--notify: the URL {why} (value not shown: webhook URLs are secrets)")
    if metrics_file is not None:
        check_metrics_path(metrics_file)


@dataclass
class _PassReporter:
    """What one pass prints (a JSON document, or the text report), writes (metrics) and warns about."""

    as_json: bool
    watch: bool
    detailed_exitcode: bool
    metrics_file: Path | None
    passes: int = 0

    def report(self, results: list[TasksResult]) -> int:
        """Report one pass over every tenant; its exit code."""
        self.passes += 1
        code = worst_exit_code([r.exit_code(self.detailed_exitcode) for r in results])
        if self.metrics_file is not None and results:
            write_metrics_file(self.metrics_file, [r.metrics for r in results])
        if self.as_json:
            document: dict[str, Any] = {"exit_code": code, "tenants": [r.to_dict() for r in results]}
            emit_json(document, compact=self.watch)  # with --watch: one document per line per pass
        else:
            for index, result in enumerate(results):
                if index or self.passes > 1:
                    echo_line()
                _render(result)
        _warn_undelivered(results)
        return code


def _warn_undelivered(results: list[TasksResult]) -> None:
    for result in results:
        for failure in result.notification_failures:
            echo_warning(
                f"notification {failure.event} to {failure.target} failed ({failure.error}); "
                "kept for the next run"
            )


@dataclass
class _Poller:
    """One pass (cron), or passes every ``interval`` seconds (--watch) until Ctrl-C or ``max_passes``."""

    tenants: list[TenantConfig]
    state_root: StateDir
    options: TasksOptions
    reporter: _PassReporter
    watch: bool
    interval: float
    max_passes: int | None

    async def run(self, progress: Progress) -> int:
        async with contextlib.AsyncExitStack() as stack:
            sessions = await _open(stack, self.tenants, self.state_root, progress, retry=self.options.retry)
            while True:
                code = await self._one_pass(sessions, progress)
                if self._done():
                    return code
                await _pause(self.interval)

    def _done(self) -> bool:
        return not self.watch or (self.max_passes is not None and self.reporter.passes >= self.max_passes)

    async def _one_pass(self, sessions: list[_Session], progress: Progress) -> int:
        """Every tenant once; under --watch an Okta error ends the pass, not the poller."""
        try:
            results, unusable = await self._read_all(sessions, progress)
            code = self.reporter.report(results)
            return worst_exit_code([code, EXIT_REFUSED]) if unusable else code
        except SafetyError:
            raise
        except OktasyncError as error:
            if not self.watch:
                raise
            # A long-running poller outlives a bad minute (429 storm, network blip): say so, go on.
            echo_error(f"{error.message} (next pass in {self.interval:g}s)", error_type=type(error).__name__)
            return EXIT_FAILED

    async def _read_all(self, sessions: list[_Session], progress: Progress) -> tuple[list[TasksResult], bool]:
        """Each tenant's result, and whether a tenant's state file could not be trusted (only it fails)."""
        results = []
        unusable = False
        for config, gateway, app, app_dir in sessions:
            try:
                results.append(
                    await run_tasks(
                        config, gateway, app, app_dir=app_dir, options=self.options, progress=progress
                    )
                )
            except StateFileError as error:
                unusable = True
                echo_error(
                    f"tenant {config.tenant}: {error.message}",
                    hint=error.hint,
                    exit_code=error.exit_code,
                    error_type=type(error).__name__,
                )
        return results, unusable


def _run(poller: _Poller, *, as_json: bool, ignore_okta_activity: bool) -> int:
    """Run the poller under progress bars (on a terminal); Ctrl-C ends it with exit 130, state saved."""
    progress, live = make_progress(as_json or poller.watch)
    try:
        with ignoring_okta_activity(ignore_okta_activity), live or contextlib.nullcontext():
            return asyncio.run(poller.run(progress))
    except KeyboardInterrupt:
        message = f"Interrupted after {poller.reporter.passes} pass(es); state is saved, nothing to resume."
        echo_err(message, level="error", exit_code=EXIT_INTERRUPTED, error_type="Interrupted")
        emit_error_json(EXIT_INTERRUPTED, "Interrupted", message)  # only if no document was printed yet
        return EXIT_INTERRUPTED


async def _pause(seconds: float) -> None:
    """The wait between --watch passes (a seam for tests)."""
    await asyncio.sleep(seconds)


async def _open(
    stack: contextlib.AsyncExitStack,
    tenants: list[TenantConfig],
    state_root: StateDir,
    progress: Progress,
    *,
    retry: bool = False,
) -> list[_Session]:
    sessions = []
    for config in tenants:
        session = await stack.enter_async_context(TenantSession(config, state_root.root, progress=progress))
        gateway, app, app_dir = await session.gateway(), await session.app(), await session.app_dir()
        stack.enter_context(tasks_lock(app_dir, config.tenant, app.label))
        if retry:  # --retry writes to the app: its lock, no unfinished resync, no resync seen in Okta
            await session.guard_write(doing="tasks --retry")
        elif (found := unfinished_resync(state_root.root, config, app)) is not None:
            echo_warning(
                f"{found.describe(app.label)}: failures listed now may be the resync's; {found.fix(None)}"
            )
        sessions.append((config, gateway, app, app_dir))
    return sessions


# The colour of each retry outcome's words: recovered is good news, the rest need someone to look.
OUTCOME_STATUS = {
    "recovered": "ok",
    "still_failing": "failed",
    "not_taken": "failed",
    "not_settled": "pending",
    "cannot_retry": "manual",
    "exhausted": "failed",
    "error": "failed",
    "unassigned": "skipped",
}


def _echo(*parts: Any) -> None:
    """Failure messages and logins come from Okta and the target: plain parts are printed with controls
    escaped; styled parts (``status_text``) are the CLI's own words."""
    echo_line(*(part if not isinstance(part, str) else for_terminal(part) for part in parts))


def _render(result: TasksResult) -> None:
    _render_head(result)
    for failure in result.failures:
        _render_failure(result, failure)
    if result.retried and result.retries:
        _render_retries(result)
    for resolution in result.resolutions:
        _echo(
            status_text("Resolved", "ok"),
            f": {resolution.login or resolution.user_id} ({resolution.operation}) {resolution.how}",
        )
    for note in result.notes:
        _echo(f"Note: {note}")
    if result.notifications_delivered or result.notifications_pending:
        _echo(
            f"Notifications: {result.notifications_delivered} delivered, "
            f"{result.notifications_pending} pending"
        )
    if result.failures:
        _echo(f"Admin Console tasks: {result.console_url}")


def _render_head(result: TasksResult) -> None:
    count = len(result.failures)
    scan = result.scan
    _echo(
        f"{result.app_label} (tenant {result.tenant}, app {result.app_id}): ",
        status_text(f"{count} failed assignment{'s' if count != 1 else ''}", "failed" if count else "ok"),
        f"  [{scan['mode']} scan, {scan['events_read']} new log events, {result.api_calls} API calls]",
    )


def _render_failure(result: TasksResult, failure: Failure) -> None:
    flags = []
    if failure.user_id in result.new_failures:
        flags.append("NEW")
    if failure.user_id in result.exhausted:
        flags.append("RETRIES EXHAUSTED")
    flagged = ("  [", status_text(", ".join(flags), "failed"), "]") if flags else ()
    _echo(f"  {failure.login or failure.user_id}  <{failure.email or '-'}>  {failure.user_id}", *flagged)
    when = failure.failed_at or "unknown time"
    source = "" if failure.operation_source == "log" else " (inferred: no log event in the window)"
    how = failure.assigned_via if failure.scope is None else f"assigned {failure.assigned_via}"
    _echo(f"      {failure.operation}{source}, {how}, failed {when}")
    if failure.okta_message:
        _echo(f"      Okta:   {failure.okta_message}")
    if failure.target_message:
        _echo(f"      Target: {failure.target_message}")


def _render_retries(result: TasksResult) -> None:
    counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in result.retry_summary().items())
    _echo(f"Retry attempts, each read back: {counts}")
    for outcome in result.retries:
        who = outcome.login or outcome.user_id
        words = status_text(
            OUTCOME_WORDS.get(outcome.outcome, outcome.outcome), OUTCOME_STATUS.get(outcome.outcome, "")
        )
        attempts = f" (attempts {outcome.attempts})" if outcome.outcome != CANNOT_RETRY else ""
        _echo(f"  {who}  {outcome.operation}: ", words, attempts)
        if outcome.detail:
            _echo(f"      {outcome.detail}")
        if outcome.console_steps:
            _echo(f"      By hand: {outcome.console_steps}")
