"""Run a checked playbook against one or more tenant configs, recording every step (docs/playbooks.md).

For each config in turn: take the playbook's lock for that tenant+app, start a new run record (or pick up
an unfinished one with ``resume=True``), then for each step: evaluate ``when``, render ``with:``, run the
action (repeating it per ``until`` / ``max_attempts``), decide success (exit code, or ``failed_when``),
record the result (fsynced) and either go on or stop (``on_failure``).

The engine never prints: it reports through ``RunReporter`` and asks people through ``Interaction``, both
given by the CLI (or by ``demo``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oktasync.errors import (
    EXIT_CHANGES,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    ConfigError,
    Interrupted,
    ManualActionRequired,
    OktasyncError,
    Problem,
    ResumeRequiredError,
    SafetyError,
)
from oktasync.playbooks import record as rec
from oktasync.playbooks.catalog import ACTIONS, step_writes
from oktasync.playbooks.context import (
    ActionContext,
    ActionImpl,
    AlwaysYes,
    Interaction,
    NullReporter,
    RunReporter,
    StepOutcome,
)
from oktasync.playbooks.expr import TemplateFailure, evaluate_condition, render_value
from oktasync.playbooks.model import InputSpec, Playbook, Step
from oktasync.progress import NullProgress, Progress
from oktasync.state import exclusive_lock
from oktasync.workflows.session import TenantSession, app_state_dir

if TYPE_CHECKING:
    from oktasync.config.schema import TenantConfig
    from oktasync.models import App
    from oktasync.okta_gateway.base import OktaGateway

log = logging.getLogger("oktasync.playbooks")


# --- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantRun:
    tenant: str
    config_file: str
    run_id: str | None  # None in --dry-run (nothing is recorded)
    status: str
    exit_code: int
    record_path: str | None
    resumed: bool
    steps: tuple[dict[str, Any], ...]
    stopped_at: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "config": self.config_file,
            "run_id": self.run_id,
            "status": self.status,
            "exit_code": self.exit_code,
            "resumed": self.resumed,
            "stopped_at": self.stopped_at,
            "message": self.message,
            "record": self.record_path,
            "steps": list(self.steps),
        }

    @property
    def continued_failures(self) -> list[str]:
        failed = rec.StepStatus.FAILED.value
        return [s["id"] for s in self.steps if s["status"] == failed and s["id"] != self.stopped_at]


@dataclass(frozen=True)
class PlaybookResult:
    playbook: str
    file: str
    dry_run: bool
    inputs: dict[str, Any]
    runs: tuple[TenantRun, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook,
            "file": self.file,
            "dry_run": self.dry_run,
            "inputs": self.inputs,
            "exit_code": self.exit_code(),
            "runs": [run.to_dict() for run in self.runs],
        }

    def exit_code(self, detailed: bool = False) -> int:
        """The first stopped run's exit code; else 0 (2 with ``detailed`` when a continued step failed)."""
        for run in self.runs:
            if run.exit_code != EXIT_OK:
                return run.exit_code
        if detailed and any(run.continued_failures for run in self.runs):
            return EXIT_CHANGES
        return EXIT_OK


# --- inputs ----------------------------------------------------------------------------------------

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _coerce(spec: InputSpec, raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    if spec.type == "boolean":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError("expected true or false")
    if spec.type == "integer":
        return int(raw)
    if spec.type == "number":
        return float(raw)
    return raw


def resolve_inputs(playbook: Playbook, given: Mapping[str, Any], *, complete: bool = True) -> dict[str, Any]:
    """Declared inputs from ``--var`` values and defaults; every problem at once (``ConfigError``).

    ``complete=False`` (resuming: the run record has the inputs) converts only what is given."""
    specs = {spec.name: spec for spec in playbook.inputs}
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for name, raw in given.items():
        if name not in specs:
            known = ", ".join(specs) or "(none)"
            problems.append(
                Problem(
                    playbook.file,
                    None,
                    None,
                    f"--var {name}: the playbook has no input '{name}'",
                    f"inputs: {known}",
                )
            )
            continue
        try:
            values[name] = _coerce(specs[name], raw)
        except ValueError as error:
            problems.append(
                Problem(playbook.file, None, None, f"--var {name}={raw}: not a {specs[name].type} ({error})")
            )
    for spec in playbook.inputs:
        if spec.name in values or not complete:
            continue
        if spec.required:
            line = _line(playbook, ("inputs", spec.name))
            problems.append(
                Problem(
                    playbook.file, line, None, f"input '{spec.name}' is required", f"pass --var {spec.name}=…"
                )
            )
        else:
            values[spec.name] = spec.default
    if problems:
        raise ConfigError(problems)
    return values


def _line(playbook: Playbook, path: tuple[str | int, ...]) -> int | None:
    mark = playbook.marks.get(path)
    return mark[0] if mark else None


# --- the run ---------------------------------------------------------------------------------------


def _config_scope(config: TenantConfig) -> dict[str, Any]:
    # mode="json" turns every Secret into "**********": templates can never reach a secret.
    dumped: dict[str, Any] = config.model_dump(mode="json")
    return dumped


def _public_step(step: Step, entry: rec.StepRecord) -> dict[str, Any]:
    return {
        "id": step.id,
        "action": step.action,
        "name": step.name,
        "status": entry.status.value,
        "exit_code": entry.exit_code,
        "summary": entry.summary,
        "attempts": entry.attempts,
        "dry_run": entry.dry_run or False,
        "result": entry.result or {},
    }


def _scope_entry(entry: rec.StepRecord) -> dict[str, Any]:
    """A step as templates see it (``steps.<id>.…``)."""
    return {
        "status": entry.status.value,
        "exit_code": entry.exit_code,
        "summary": entry.summary,
        "attempts": entry.attempts,
        "result": entry.result or {},
        "ok": entry.status == rec.StepStatus.OK,
        "skipped": entry.status == rec.StepStatus.SKIPPED,
        "failed": entry.status.failed,
    }


def _error_outcome(error: OktasyncError) -> StepOutcome:
    result: dict[str, Any] = {"error": error.message, "error_type": type(error).__name__}
    if error.hint:
        result["hint"] = error.hint
    if isinstance(error, ManualActionRequired):
        result["manual_steps"] = list(error.steps)
    if isinstance(error, ConfigError):
        result["problems"] = [str(problem) for problem in error.problems]
    first_line = error.message.splitlines()[0] if error.message else type(error).__name__
    return StepOutcome(exit_code=error.exit_code, result=result, summary=first_line)


@dataclass
class _Attempts:
    """The attempts of one step so far: the last outcome and what was decided about it."""

    outcome: StepOutcome
    count: int
    failed: bool
    errored: bool  # the action raised (its error is the outcome): until and failed_when are not asked
    settled: bool


class _PlaybookRun:
    """One playbook run against one tenant config."""

    def __init__(
        self,
        playbook: Playbook,
        config_path: str,
        config: TenantConfig,
        inputs: dict[str, Any],
        *,
        state_dir: Path,
        dry_run: bool,
        interaction: Interaction,
        reporter: RunReporter,
        progress: Progress,
        implementations: Mapping[str, ActionImpl],
        sleep: Callable[[float], Awaitable[None]],
        resume_command: str,
        gateway: OktaGateway | None = None,
    ) -> None:
        self.playbook = playbook
        self.config_path = config_path
        self.config = config
        self.inputs = inputs
        self.state_dir = state_dir
        self.dry_run = dry_run
        self.interaction = interaction
        self.reporter = reporter
        self.progress = progress
        self.implementations = implementations
        self.sleep = sleep
        self.resume_command = resume_command
        self.session = TenantSession(config, state_dir, progress=progress, gateway=gateway)
        self.app: App | None = None  # resolved before a recorded run opens its record
        self.store: rec.RunRecordStore | None = None
        self.record = self._new_record()
        self.active_step: str | None = None

    def _new_record(self) -> rec.RunRecord:
        playbook = self.playbook
        return rec.RunRecord(
            run_id=rec.new_run_id(),
            playbook=rec.PlaybookRef(playbook.name, playbook.file, playbook.sha256),
            tenant=self.config.tenant,
            config=self.config_path,
            inputs=self.inputs,
            status=rec.RunStatus.RUNNING,
            started=rec.now(),
            app=self._app_ref(),
        )

    def _app_ref(self) -> rec.AppRef | None:
        return rec.AppRef(self.app.id, self.app.label) if self.app is not None else None

    def _save(self) -> None:
        if self.store is not None:
            self.store.write(self.record)

    def _record_step(self, step: Step, entry: rec.StepRecord, *, running: bool) -> None:
        """Put ``entry`` in the record and write it (fsynced) before anything else happens."""
        self.record = self.record.with_step(step.id, entry, current=step.id if running else None)
        self._save()

    def _scope(self) -> dict[str, Any]:
        return {
            "inputs": dict(self.inputs),
            "steps": {sid: _scope_entry(entry) for sid, entry in self.record.steps.items()},
            "config": _config_scope(self.config),
            "tenant": self.config.tenant,
            "dry_run": self.dry_run,
            "playbook": {"name": self.playbook.name, "file": self.playbook.file},
        }

    def _template_problem(self, step: Step, key: str, error: TemplateFailure) -> ConfigError:
        index = self.playbook.steps.index(step)
        where = self.playbook.marks.get(("steps", index, key)) or self.playbook.marks.get(("steps", index))
        line, column = where if where else (None, None)
        return ConfigError(
            [
                Problem(
                    self.playbook.file, line, column, f"step '{step.id}' {key}: {error}", "fix the template"
                )
            ]
        )

    def _condition(self, step: Step, key: str, expression: str | bool, scope: Mapping[str, Any]) -> bool:
        try:
            return evaluate_condition(expression, scope)
        except TemplateFailure as error:
            raise self._template_problem(step, key, error) from None

    def start(self, existing: rec.RunRecord | None, resume: bool) -> bool:
        """Set up the record; returns whether this is a resumed run."""
        if resume and existing is not None:
            self.record = replace(existing.reopen(), app=self._app_ref() or existing.app)
            return True
        self.record = self._new_record()
        return False

    async def execute(self, resumed: bool) -> TenantRun:
        self.reporter.run_started(self.playbook, self.config.tenant, self.record.run_id, resumed)
        self._save()
        try:
            stopped = await self._run_steps()
        except (KeyboardInterrupt, asyncio.CancelledError, Interrupted) as error:
            # The record keeps the step as "running": --resume runs it again (resync resumes its journal).
            raise Interrupted(
                f"playbook '{self.playbook.name}' interrupted; the run record is kept",
                resume_command=self.resume_command,
            ) from error
        except Exception as error:
            # A template that fails or goes over a limit mid-run (exit 3), or any other error: the run is
            # over, so its record must not stay "running" (that would demand a --resume of a dead run).
            self._abort(error)
            raise
        stopped_at, exit_code, message = stopped or (None, EXIT_OK, None)
        status = rec.RunStatus.STOPPED if stopped_at else rec.RunStatus.COMPLETED
        self.record = self.record.finish(status, exit_code, stopped_at)
        if self.store is not None:
            self.store.finish(self.record)
        return self._tenant_run(resumed, message)

    async def _run_steps(self) -> tuple[str, int, str] | None:
        """Run the steps not yet done; the step it stopped at, the exit code and why (None: no stop)."""
        total = len(self.playbook.steps)
        for index, step in enumerate(self.playbook.steps, start=1):
            previous = self.record.steps.get(step.id)
            if previous is not None and (
                previous.status.done or (previous.status == rec.StepStatus.FAILED and previous.continued)
            ):
                self.reporter.step_finished(step, index, total, previous.to_json(), True)
                continue
            self.active_step = step.id
            entry = await self._run_step(step, index, total, step_resumed=previous is not None)
            if entry.status.failed and not entry.continued:
                exit_code = entry.exit_code or EXIT_FAILED
                if entry.status == rec.StepStatus.DECLINED:
                    exit_code = EXIT_REFUSED
                return step.id, exit_code, f"stopped at step '{step.id}': {entry.summary}"
        return None

    def _tenant_run(self, resumed: bool, message: str | None) -> TenantRun:
        record = self.record
        return TenantRun(
            tenant=self.config.tenant,
            config_file=self.config_path,
            run_id=record.run_id,
            status=record.status.value,
            exit_code=record.exit_code if record.exit_code is not None else EXIT_OK,
            record_path=str(self.store.path) if self.store else None,
            resumed=resumed,
            steps=tuple(
                _public_step(step, record.steps[step.id])
                for step in self.playbook.steps
                if step.id in record.steps
            ),
            stopped_at=record.stopped_at,
            message=message,
        )

    def _abort(self, error: Exception) -> None:
        if self.store is None:
            return
        exit_code = getattr(error, "exit_code", EXIT_FAILED)
        failing = self.active_step
        summary = f"aborted: {type(error).__name__}" + (
            f" (exit {exit_code})" if isinstance(exit_code, int) else ""
        )
        record = replace(self.record, current=None)
        if failing is not None:
            entry = record.steps.get(failing) or rec.StepRecord(rec.StepStatus.FAILED, result={})
            aborted = replace(
                entry, status=rec.StepStatus.FAILED, summary=summary, exit_code=exit_code, finished=rec.now()
            )
            record = record.with_step(failing, aborted, current=None)
        self.record = record.finish(rec.RunStatus.STOPPED, exit_code, failing)
        self.store.finish(self.record)

    async def _run_step(self, step: Step, index: int, total: int, step_resumed: bool) -> rec.StepRecord:
        if step.when is not None and not self._condition(step, "when", step.when, self._scope()):
            skipped = rec.StepRecord(
                rec.StepStatus.SKIPPED, summary="skipped (when: condition is false)", result={}
            )
            self._record_step(step, skipped, running=False)
            self.reporter.step_finished(step, index, total, skipped.to_json(), False)
            return skipped
        args = self._arguments(step)
        entry = rec.StepRecord(
            rec.StepStatus.RUNNING,
            started=rec.now(),
            resumed=step_resumed,
            writes=step_writes(step.action, args),
        )
        # fsynced before the step touches anything: a crash from here on resumes this step
        self._record_step(step, entry, running=True)
        began = time.monotonic()
        attempts = await self._attempt_until_settled(step, index, total, args, entry, step_resumed)
        entry = self._finished_entry(step, entry, attempts, seconds=round(time.monotonic() - began, 3))
        self._record_step(step, entry, running=False)
        self.reporter.step_finished(step, index, total, entry.to_json(), False)
        return entry

    def _arguments(self, step: Step) -> dict[str, Any]:
        """The step's ``with:`` rendered, checked against the action's arguments, defaults filled in."""
        try:
            args = render_value(step.args, self._scope())
        except TemplateFailure as error:
            raise self._template_problem(step, "with", error) from None
        spec = ACTIONS[step.action]
        problems = [
            f"argument '{name}' {problem}"
            for name, value in args.items()
            if (problem := spec.args[name].check(value)) is not None
        ]
        if problems:
            raise self._template_problem(step, "with", TemplateFailure("; ".join(problems)))
        for name, arg in spec.args.items():
            args.setdefault(name, arg.default)
        rendered: dict[str, Any] = args
        return rendered

    async def _attempt_until_settled(
        self,
        step: Step,
        index: int,
        total: int,
        args: dict[str, Any],
        entry: rec.StepRecord,
        step_resumed: bool,
    ) -> _Attempts:
        """Run the action (repeating it per ``until`` / ``max_attempts``) and decide each attempt."""
        count = 0
        while True:
            count += 1
            self.record = self.record.with_step(step.id, replace(entry, attempts=count), current=step.id)
            self.reporter.step_started(step, index, total, count)
            outcome, errored = await self._attempt(step, args, count, resumed=step_resumed)
            step_resumed = False  # later attempts start from a clean state
            attempts = self._decide(step, outcome, count, errored)
            if outcome.declined or attempts.settled or count >= step.max_attempts:
                return attempts
            if self.dry_run:
                self.reporter.note(
                    f"{step.id}: dry run, not repeating (would repeat up to {step.max_attempts}×)"
                )
                attempts.settled = True
                return attempts
            why = "condition not met yet" if step.until is not None and not errored else outcome.summary
            self.reporter.note(
                f"{step.id}: attempt {count}/{step.max_attempts}: {why}; again in {step.interval:g}s"
            )
            await self.sleep(step.interval)

    async def _attempt(
        self, step: Step, args: dict[str, Any], attempt: int, *, resumed: bool
    ) -> tuple[StepOutcome, bool]:
        """One call of the action; an oktasync error becomes the outcome (True: it errored)."""
        context = ActionContext(
            step=step,
            config_path=self.config_path,
            config=self.config,
            state_dir=self.state_dir,
            dry_run=self.dry_run,
            resumed=resumed,
            attempt=attempt,
            progress=self.progress,
            interaction=self.interaction,
            session=self.session,
            reporter=self.reporter,
            resume_command=self.resume_command,
        )
        try:
            return await self.implementations[step.action](context, dict(args)), False
        except Interrupted:
            raise
        except OktasyncError as error:
            return _error_outcome(error), True

    def _decide(self, step: Step, outcome: StepOutcome, attempt: int, errored: bool) -> _Attempts:
        """Whether the attempt failed (exit code, or ``failed_when``) and settled (``until``)."""
        failed = outcome.exit_code != EXIT_OK or outcome.declined
        scope = self._scope()
        scope["result"] = outcome.result
        scope["attempt"] = attempt
        scope["steps"][step.id] = _scope_entry(
            rec.StepRecord(
                rec.StepStatus.RUNNING,
                attempts=attempt,
                exit_code=outcome.exit_code,
                summary=outcome.summary,
                result=outcome.result,
            )
        )
        asked = not errored and not outcome.declined
        if step.failed_when is not None and asked:
            failed = self._condition(step, "failed_when", step.failed_when, scope)
        settled = not failed
        if step.until is not None and asked:
            settled = self._condition(step, "until", step.until, scope)
        return _Attempts(outcome, attempt, failed, errored, settled)

    def _finished_entry(
        self, step: Step, entry: rec.StepRecord, attempts: _Attempts, *, seconds: float
    ) -> rec.StepRecord:
        outcome, failed = attempts.outcome, attempts.failed
        summary = outcome.summary
        exit_code = outcome.exit_code
        if step.until is not None and not attempts.settled and not attempts.errored:
            failed = True
            summary = f"{summary} (until condition still false after {attempts.count} attempts)"
        if failed and exit_code == EXIT_OK:
            exit_code = EXIT_FAILED
        if not failed and step.failed_when is not None:
            exit_code = EXIT_OK  # failed_when decided: the workflow's code is kept in the result
        if outcome.declined:
            status = rec.StepStatus.DECLINED
        else:
            status = rec.StepStatus.FAILED if failed else rec.StepStatus.OK
        return replace(
            entry,
            status=status,
            attempts=attempts.count,
            exit_code=exit_code,
            workflow_exit_code=outcome.exit_code,
            summary=summary,
            result=outcome.result,
            finished=rec.now(),
            seconds=seconds,
            dry_run=self.dry_run,
            continued=status == rec.StepStatus.FAILED and step.on_failure == "continue",
        )


async def run_playbook(
    playbook: Playbook,
    configs: Sequence[tuple[str, TenantConfig]],
    *,
    inputs: Mapping[str, Any],
    state_dir: Path,
    dry_run: bool = False,
    resume: bool = False,
    fresh: bool = False,
    interaction: Interaction | None = None,
    reporter: RunReporter | None = None,
    progress: Progress | None = None,
    implementations: Mapping[str, ActionImpl] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    resume_command: str | None = None,
    gateway: OktaGateway | None = None,
) -> PlaybookResult:
    """Run ``playbook`` for each ``(path, config)`` in turn; stop at the first run that stops.

    ``inputs`` are the raw ``--var`` values (strings are converted to each input's type). Raises
    ``ConfigError`` (bad inputs, or a template failing at run time, with file:line), ``SafetyError`` (run
    in progress, unfinished run without ``resume``/``fresh``, resume of a changed playbook) and
    ``Interrupted`` (the record is kept; resume with ``resume_command``). A recorded run resolves the
    config's app first: its record lives in the app's state directory. ``gateway`` replaces the
    configs' Okta gateways (tests inject a ``FakeGateway``).
    """
    if resume and dry_run:
        raise SafetyError("--resume and --dry-run cannot be combined", hint="drop one of them")
    if resume and fresh:
        raise SafetyError("--resume and --fresh cannot be combined", hint="drop one of them")
    if implementations is None:
        from oktasync.playbooks.actions import IMPLEMENTATIONS  # imports the workflows, on first use

        implementations = IMPLEMENTATIONS
    resolved_inputs = resolve_inputs(playbook, inputs, complete=not resume)
    runs: list[TenantRun] = []
    for config_path, config in configs:
        run = _PlaybookRun(
            playbook,
            config_path,
            config,
            resolved_inputs,
            state_dir=state_dir,
            dry_run=dry_run,
            interaction=interaction or AlwaysYes(),
            reporter=reporter or NullReporter(),
            progress=progress or NullProgress(),
            implementations=implementations,
            sleep=sleep,
            resume_command=resume_command or f"oktasync playbook run {playbook.file} --resume",
            gateway=gateway,
        )
        async with run.session:
            result = await _run_one(run, inputs, dry_run=dry_run, resume=resume, fresh=fresh)
        runs.append(result)
        if result.exit_code != EXIT_OK:
            break
    return PlaybookResult(
        playbook=playbook.name, file=playbook.file, dry_run=dry_run, inputs=resolved_inputs, runs=tuple(runs)
    )


async def _run_one(
    run: _PlaybookRun, given: Mapping[str, Any], *, dry_run: bool, resume: bool, fresh: bool
) -> TenantRun:
    if dry_run:
        # A dry run records nothing and takes no lock: it changes nothing, the state dir included.
        run.start(None, resume=False)
        return await run.execute(resumed=False)
    return await _recorded(run, given, resume=resume, fresh=fresh)


async def _recorded(run: _PlaybookRun, given: Mapping[str, Any], *, resume: bool, fresh: bool) -> TenantRun:
    """Run ``run`` under the playbook's lock for the app, recording it in the app's state directory (or
    resuming its record)."""
    playbook, config = run.playbook, run.config
    store = rec.RunRecordStore(await _record_dir(run), playbook.name)
    with exclusive_lock(store.lock_path, f"playbook '{playbook.name}' for {config.tenant}"):
        existing = store.read()
        resumed = _check_resume(playbook, existing, resume, fresh, run.inputs, given, store.path)
        if run.app is not None:
            await _guard_app(run, run.app, resumed=resumed, fresh=fresh)
        run.store = store
        run.start(existing, resume=resumed)
        return await run.execute(resumed=resumed)


async def _record_dir(run: _PlaybookRun) -> Path:
    """The app's state directory, where the run is recorded: the app is resolved in Okta first. When that
    fails and the config pins ``app.id``, that app's directory: the run goes on, and its first step that
    needs Okta reports why (no step can write either). With only ``app.label``, the error is raised:
    nothing can say which app's directory the record belongs in."""
    config = run.config
    try:
        run.app = await run.session.app()
    except OktasyncError as error:
        if isinstance(error, SafetyError) or not config.app.id:
            raise
        return app_state_dir(run.state_dir, config, config.app.id, config.app.label)
    return await run.session.app_dir()


async def _guard_app(run: _PlaybookRun, app: App, *, resumed: bool, fresh: bool) -> None:
    """One writer per Okta app (``workflows.app_guard``): a playbook that writes holds the app's lock for the
    whole run (until its session closes) and refuses over an unfinished resync of the app or one seen
    running in Okta; one that only reads reports an unfinished resync prominently (and ``--fresh`` refuses
    over it)."""
    from oktasync.workflows.app_guard import refuse_if_unfinished, unfinished_resync

    playbook, config = run.playbook, run.config
    doing = f"playbook '{playbook.name}'" + (" --fresh" if fresh else "")
    if any(step_writes(step.action, step.args) for step in playbook.steps):
        # A resumed run that stopped inside its resync step finishes that resync's journal itself.
        finishing_resync = resumed and any(step.action == "resync" for step in playbook.steps)
        await run.session.guard_write(
            doing=doing,
            config_path=run.config_path,
            refuse_unfinished=not finishing_resync,
            check_okta=not finishing_resync,
        )
        return
    found = unfinished_resync(run.state_dir, config, app)
    if found is None:
        return
    if fresh:
        refuse_if_unfinished(run.state_dir, config, app, doing=doing, config_path=run.config_path)
    run.reporter.note(f"WARNING: {found.describe(app.label)}; {found.fix(run.config_path)}")


def _check_resume(
    playbook: Playbook,
    existing: rec.RunRecord | None,
    resume: bool,
    fresh: bool,
    inputs: dict[str, Any],
    given: Mapping[str, Any],
    path: Path,
) -> bool:
    """Whether to resume ``existing``; raises when the request and the recorded run disagree."""
    unfinished = existing is not None and existing.status.unfinished
    if not resume:
        if existing is not None and existing.status == rec.RunStatus.RUNNING and not fresh:
            at = existing.current or "?"
            raise ResumeRequiredError(
                f"playbook '{playbook.name}' has an interrupted run ({existing.run_id}, "
                f"stopped inside step '{at}'); record: {path}",
                hint="finish it with --resume, or discard it with --fresh (a resync inside keeps its own "
                "journal and still has to be resumed)",
            )
        return False
    if existing is None or not unfinished:
        raise SafetyError(
            f"playbook '{playbook.name}' has no unfinished run to resume (record: {path})",
            hint="run it without --resume",
        )
    assert existing is not None
    if existing.playbook.sha256 != playbook.sha256:
        raise SafetyError(
            f"the playbook file changed since run {existing.run_id} started; resuming could skip or "
            "repeat the wrong steps",
            hint="restore the playbook as it was, or start a new run with --fresh",
        )
    recorded = existing.inputs
    changed = sorted(name for name in given if name in inputs and recorded.get(name) != inputs[name])
    if changed:
        raise SafetyError(
            f"--var {', '.join(changed)} differ from the run being resumed",
            hint="resume without --var (the recorded inputs are used), or start a new run with --fresh",
        )
    inputs.clear()
    inputs.update(recorded)
    return True
