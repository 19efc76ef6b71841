"""One playbook run against one tenant config: the run record kept step by step (fsynced before a step
touches anything), each step's ``when``, ``with:`` and attempts, and where the run stops.

Apart from ``runner.py``, which decides whether a run starts, resumes or is refused (lock, unfinished
records, the app's writer guard) and goes through the configs; this module only executes what it is given.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oktasync.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    ConfigError,
    Interrupted,
    OktasyncError,
    Problem,
)
from oktasync.playbooks import record as rec
from oktasync.playbooks.catalog import ACTIONS, step_writes
from oktasync.playbooks.context import (
    ActionContext,
    ActionImpl,
    Interaction,
    RunReporter,
    StepOutcome,
)
from oktasync.playbooks.expr import TemplateFailure, evaluate_condition, render_value
from oktasync.playbooks.model import Playbook, Step
from oktasync.playbooks.results import TenantRun, public_step
from oktasync.playbooks.steps import Attempts, error_outcome, finished_entry, scope_entry
from oktasync.progress import Progress
from oktasync.workflows.session import TenantSession

if TYPE_CHECKING:
    from oktasync.config.schema import TenantConfig
    from oktasync.models import App
    from oktasync.okta_gateway.base import OktaGateway


def _config_scope(config: TenantConfig) -> dict[str, Any]:
    # mode="json" turns every Secret into "**********": templates can never reach a secret.
    dumped: dict[str, Any] = config.model_dump(mode="json")
    return dumped


class PlaybookRun:
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

    def _app_ref(self) -> rec.RecordedApp | None:
        return rec.RecordedApp(self.app.id, self.app.label) if self.app is not None else None

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
            "steps": {sid: scope_entry(entry) for sid, entry in self.record.steps.items()},
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
                public_step(step, record.steps[step.id])
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
        entry = finished_entry(
            step, entry, attempts, seconds=round(time.monotonic() - began, 3), dry_run=self.dry_run
        )
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
    ) -> Attempts:
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
            return error_outcome(error), True

    def _decide(self, step: Step, outcome: StepOutcome, attempt: int, errored: bool) -> Attempts:
        """Whether the attempt failed (exit code, or ``failed_when``) and settled (``until``)."""
        failed = outcome.exit_code != EXIT_OK or outcome.declined
        scope = self._scope()
        scope["result"] = outcome.result
        scope["attempt"] = attempt
        scope["steps"][step.id] = scope_entry(
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
        return Attempts(outcome, attempt, failed, errored, settled)
