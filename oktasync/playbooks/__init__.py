"""Playbooks: YAML runbooks of oktasync actions, checked whole before they run, recorded step by step and
resumable (docs/playbooks.md).

    playbook = load_playbook("playbooks/verify.yaml")  # ConfigError: every problem, file:line
    result = await run_playbook(playbook, [(path, load_tenant(path))], inputs={}, state_dir=...)
"""

from oktasync.playbooks.context import (
    ActionContext,
    AlwaysYes,
    Interaction,
    NullReporter,
    RunReporter,
    StepOutcome,
)
from oktasync.playbooks.loader import load_playbook
from oktasync.playbooks.model import InputSpec, Playbook, Step
from oktasync.playbooks.results import PlaybookResult, TenantRun
from oktasync.playbooks.runner import run_playbook

__all__ = [
    "ActionContext",
    "AlwaysYes",
    "InputSpec",
    "Interaction",
    "NullReporter",
    "Playbook",
    "PlaybookResult",
    "RunReporter",
    "Step",
    "StepOutcome",
    "TenantRun",
    "load_playbook",
    "run_playbook",
]
