"""What a playbook run reports: ``TenantRun`` (one tenant config's run, as ``--json`` prints it) and
``PlaybookResult`` (every config's, and the exit code they add up to).

Apart from the runner because the CLI, the demo and the rehearsal read these without running anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oktasync.errors import EXIT_CHANGES, EXIT_OK
from oktasync.playbooks import record as rec
from oktasync.playbooks.model import Step


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


def public_step(step: Step, entry: rec.StepRecord) -> dict[str, Any]:
    """A recorded step as the run's result shows it."""
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
