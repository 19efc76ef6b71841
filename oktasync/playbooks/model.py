"""A loaded playbook: name, description, inputs and ordered steps (docs/playbooks.md).

Plain frozen dataclasses; ``loader`` builds them from YAML (keeping every value's file:line), and the runner
executes them. Templates stay unrendered strings here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

OnFailure = Literal["stop", "continue"]


@dataclass(frozen=True)
class InputSpec:
    name: str
    description: str = ""
    type: Literal["string", "integer", "number", "boolean"] = "string"
    default: Any = None
    required: bool = False


@dataclass(frozen=True)
class Step:
    id: str
    action: str
    name: str  # a short title; defaults to the action
    description: str = ""  # what this step is in the runbook; shown by `demo` and `playbook run -v`
    args: dict[str, Any] = field(default_factory=dict)  # the `with:` mapping, templates unrendered
    when: str | bool | None = None
    until: str | bool | None = None
    failed_when: str | bool | None = None
    max_attempts: int = 1
    interval: float = 5.0
    on_failure: OnFailure = "stop"
    line: int | None = None  # where the step starts in the playbook file

    def where(self, file: str) -> str:
        return f"{file}:{self.line}" if self.line else file


@dataclass(frozen=True)
class Playbook:
    name: str
    description: str
    file: str
    sha256: str  # of the file's bytes: a resumed run must run the same playbook
    inputs: tuple[InputSpec, ...]
    steps: tuple[Step, ...]
    # file:line of each value, for problems found while running (templates that fail at run time).
    marks: dict[tuple[str | int, ...], tuple[int, int]] = field(default_factory=dict, compare=False)

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def where(self, path: tuple[str | int, ...]) -> str:
        probe = path
        while probe:
            if probe in self.marks:
                line, column = self.marks[probe]
                return f"{self.file}:{line}:{column}"
            probe = probe[:-1]
        return self.file
