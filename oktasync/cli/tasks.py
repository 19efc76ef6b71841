"""`oktasync tasks CONFIG...`: failed assignments — list, retry, report, notify; single-shot or --watch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from oktasync.cli.context import (
    CONFIG_PATH,
    echo_err,
    echo_error,
    echo_warning,
    emit_error_json,
    emit_json,
    global_options,
    json_option,
)
from oktasync.cli.progress import make_progress
from oktasync.config import Secret, load_tenants
from oktasync.config.load import webhook_url_problem
from oktasync.config.schema import TenantConfig
from oktasync.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    OktasyncError,
    SafetyError,
    worst_exit_code,
)
from oktasync.progress import Progress
from oktasync.state import StateDir, StateFileError
from oktasync.textsafe import for_terminal
from oktasync.workflows.app_guard import guard_app_write, ignoring_okta_activity, unfinished_resync
from oktasync.workflows.tasks import (
    TasksOptions,
    TasksResult,
    run_tasks,
    tasks_lock,
    write_metrics_file,
)
from oktasync.workflows.tasks.metrics import check_metrics_path
from oktasync.workflows.tasks.model import CANNOT_RETRY

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
        check_metrics_path(metrics_file)  # before any work: refused paths are refused up front
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
    progress, live = make_progress(as_json or watch)
    passes = 0

    def report(results: list[TasksResult]) -> int:
        nonlocal passes
        passes += 1
        codes = [r.exit_code(detailed_exitcode) for r in results]
        code = worst_exit_code(codes)
        if metrics_file is not None and results:
            write_metrics_file(metrics_file, [r.metrics for r in results])
        if as_json:
            document: dict[str, Any] = {"exit_code": code, "tenants": [r.to_dict() for r in results]}
            if watch:
                emit_json(document, compact=True)  # one document per line per pass
            else:
                emit_json(document)
        else:
            for index, result in enumerate(results):
                if index or passes > 1:
                    click.echo()
                _render(result)
        for result in results:
            for failure in result.notification_failures:
                echo_warning(
                    f"notification {failure.event} to {failure.target} failed ({failure.error}); "
                    "kept for the next run"
                )
        return code

    async def main() -> int:
        async with contextlib.AsyncExitStack() as stack:
            sessions = await _open(stack, tenants, state_root, progress, retry=retry)
            code = EXIT_OK
            while True:
                try:
                    results = []
                    unusable = False  # a tenant whose state file cannot be trusted: only it fails
                    for config, gateway, app, app_dir in sessions:
                        try:
                            results.append(
                                await run_tasks(
                                    config, gateway, app, app_dir=app_dir, options=options, progress=progress
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
                    code = report(results)
                    if unusable:
                        code = worst_exit_code([code, EXIT_REFUSED])
                except SafetyError:
                    raise
                except OktasyncError as error:
                    if not watch:
                        raise
                    # A long-running poller outlives a bad minute (429 storm, network blip): say so, go on.
                    echo_error(
                        f"{error.message} (next pass in {interval:g}s)", error_type=type(error).__name__
                    )
                    code = EXIT_FAILED
                if not watch or (max_passes is not None and passes >= max_passes):
                    return code
                await _pause(interval)

    try:
        with ignoring_okta_activity(ignore_okta_activity):
            if live is not None:
                with live:
                    return asyncio.run(main())
            return asyncio.run(main())
    except KeyboardInterrupt:
        message = f"Interrupted after {passes} pass(es); state is saved, nothing to resume."
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
) -> list[tuple[Any, Any, Any, Path]]:
    from oktasync.okta_gateway import open_gateway, resolve_app

    sessions = []
    for config in tenants:
        gateway = await stack.enter_async_context(open_gateway(config, progress=progress))
        app = await resolve_app(gateway, config)
        app_dir = state_root.for_app(config.tenant, app.id)
        stack.enter_context(tasks_lock(app_dir, config.tenant, app.label))
        if retry:  # --retry writes to the app: its lock, no unfinished resync, no resync seen in Okta
            await guard_app_write(stack, state_root.root, config, app, gateway, doing="tasks --retry")
        elif (found := unfinished_resync(state_root.root, config, app)) is not None:
            echo_warning(
                f"{found.describe(app.label)}: failures listed now may be the resync's; {found.fix(None)}"
            )
        sessions.append((config, gateway, app, app_dir))
    return sessions


def _echo(text: str = "") -> None:
    """Failure messages and logins come from Okta and the target: print them with controls escaped."""
    click.echo(for_terminal(text))


def _render(result: TasksResult) -> None:
    count = len(result.failures)
    head = (
        f"{result.app_label} (tenant {result.tenant}, app {result.app_id}): "
        f"{count} failed assignment{'s' if count != 1 else ''}"
    )
    scan = result.scan
    _echo(
        head + f"  [{scan['mode']} scan, {scan['events_read']} new log events, {result.api_calls} API calls]"
    )
    for failure in result.failures:
        flags = []
        if failure.user_id in result.new_failures:
            flags.append("NEW")
        if failure.user_id in result.exhausted:
            flags.append("RETRIES EXHAUSTED")
        _echo(
            f"  {failure.login or failure.user_id}  <{failure.email or '-'}>  {failure.user_id}"
            + (f"  [{', '.join(flags)}]" if flags else "")
        )
        when = failure.failed_at or "unknown time"
        source = "" if failure.operation_source == "log" else " (inferred: no log event in the window)"
        how = failure.assigned_via if failure.scope is None else f"assigned {failure.assigned_via}"
        _echo(f"      {failure.operation}{source}, {how}, failed {when}")
        if failure.okta_message:
            _echo(f"      Okta:   {failure.okta_message}")
        if failure.target_message:
            _echo(f"      Target: {failure.target_message}")
    if result.retried and result.retries:
        counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in result.retry_summary().items())
        _echo(f"Retry attempts, each read back: {counts}")
        for outcome in result.retries:
            who = outcome.login or outcome.user_id
            line = f"  {who}  {outcome.operation}: {OUTCOME_WORDS.get(outcome.outcome, outcome.outcome)}"
            if outcome.outcome != CANNOT_RETRY:
                line += f" (attempts {outcome.attempts})"
            _echo(line)
            if outcome.detail:
                _echo(f"      {outcome.detail}")
            if outcome.console_steps:
                _echo(f"      By hand: {outcome.console_steps}")
    for resolution in result.resolutions:
        _echo(f"Resolved: {resolution.login or resolution.user_id} ({resolution.operation}) {resolution.how}")
    for note in result.notes:
        _echo(f"Note: {note}")
    if result.notifications_delivered or result.notifications_pending:
        _echo(
            f"Notifications: {result.notifications_delivered} delivered, "
            f"{result.notifications_pending} pending"
        )
    if result.failures:
        _echo(f"Admin Console tasks: {result.console_url}")
