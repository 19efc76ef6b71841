"""What a playbook action gets (``ActionContext``) and returns (``StepOutcome``), and the interfaces the
runner is given: ``Interaction`` to ask people, ``RunReporter`` to report. Actions reach the tenant's Okta
gateway, app and app state dir through the run's ``TenantSession`` (``workflows.session``).

The runner (``runner.py``) and the action implementations (``actions.py``) both build on this module, so
neither imports the other's internals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from oktasync.playbooks.model import Playbook, Step
from oktasync.progress import Progress

if TYPE_CHECKING:
    from oktasync.config.schema import TenantConfig
    from oktasync.workflows.session import TenantSession


# --- what actions get and return -------------------------------------------------------------------


@dataclass(frozen=True)
class StepOutcome:
    """What one attempt of an action produced. ``result`` is the workflow's ``to_dict()`` (no secrets)."""

    exit_code: int
    result: dict[str, Any]
    summary: str
    declined: bool = False  # a person said no at a confirm step


class Interaction(Protocol):
    def confirm(self, message: str) -> bool:
        """Ask a person; True to go on. Raise ``SafetyError`` when nobody can be asked."""
        ...


class AlwaysYes:
    """``--yes``: every confirm step passes (recorded as confirmed by --yes)."""

    def confirm(self, message: str) -> bool:
        return True


class RunReporter(Protocol):
    def run_started(self, playbook: Playbook, tenant: str, run_id: str, resumed: bool) -> None: ...

    def step_started(self, step: Step, index: int, total: int, attempt: int) -> None: ...

    def step_finished(
        self, step: Step, index: int, total: int, entry: Mapping[str, Any], reused: bool
    ) -> None: ...

    def note(self, message: str) -> None: ...


class NullReporter:
    def run_started(self, playbook: Playbook, tenant: str, run_id: str, resumed: bool) -> None:
        pass

    def step_started(self, step: Step, index: int, total: int, attempt: int) -> None:
        pass

    def step_finished(
        self, step: Step, index: int, total: int, entry: Mapping[str, Any], reused: bool
    ) -> None:
        pass

    def note(self, message: str) -> None:
        pass


@dataclass
class ActionContext:
    """Everything an action implementation may use."""

    step: Step
    config_path: str
    config: TenantConfig
    state_dir: Path
    dry_run: bool
    resumed: bool  # this step was interrupted (or stopped) in an earlier run and is being run again
    attempt: int
    progress: Progress
    interaction: Interaction
    session: TenantSession
    reporter: RunReporter
    resume_command: str  # `playbook run … --resume`: what to tell a person when a step stops half-way


ActionImpl = Callable[[ActionContext, dict[str, Any]], Awaitable[StepOutcome]]
