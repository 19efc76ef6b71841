"""How one step's attempts are judged and recorded: the step as templates see it (``steps.<id>``), an
oktasync error turned into the step's outcome, and the step's final record from its attempts.

Apart from ``execution.py`` because these are pure: they decide from the attempts alone, with no I/O, so
the rules of ``until``, ``failed_when`` and ``on_failure`` read in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from oktasync.errors import EXIT_FAILED, EXIT_OK, ConfigError, ManualActionRequired, OktasyncError
from oktasync.playbooks import record as rec
from oktasync.playbooks.context import StepOutcome
from oktasync.playbooks.model import Step


def scope_entry(entry: rec.StepRecord) -> dict[str, Any]:
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


def error_outcome(error: OktasyncError) -> StepOutcome:
    """The outcome of an attempt whose action raised: the error's exit code, message and hint."""
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
class Attempts:
    """The attempts of one step so far: the last outcome and what was decided about it."""

    outcome: StepOutcome
    count: int
    failed: bool
    errored: bool  # the action raised (its error is the outcome): until and failed_when are not asked
    settled: bool


def finished_entry(
    step: Step, entry: rec.StepRecord, attempts: Attempts, *, seconds: float, dry_run: bool
) -> rec.StepRecord:
    """The step's record once its attempts are over: its status, exit code and summary decided."""
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
        dry_run=dry_run,
        continued=status == rec.StepStatus.FAILED and step.on_failure == "continue",
    )
