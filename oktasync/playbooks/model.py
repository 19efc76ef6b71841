"""A playbook: the file format as strict pydantic models, and the loaded playbook the runner executes.

``PlaybookFile`` is the format (docs/playbooks.md "Format"): strict types, unknown keys forbidden, one step
model per action whose ``with:`` model lists that action's arguments (from ``catalog.ACTIONS``). It gives
the JSON Schema (``oktasync schema playbook``, docs/schemas/playbook.schema.json). Rules that need more
than one value or the file's line numbers (step references, template syntax, duplicate ids) are checked by
``loader``, which then builds the frozen dataclasses below. Templates stay unrendered strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from oktasync.playbooks.catalog import ACTIONS, ArgSpec

OnFailure = Literal["stop", "continue"]
InputType = Literal["string", "integer", "number", "boolean"]

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Bounds on repeating steps (docs/playbooks.md "Limits").
MAX_ATTEMPTS = 1000
MIN_REPEAT_INTERVAL_SECONDS = 1.0
MAX_INTERVAL_SECONDS = 3600

# A jinja2 template: accepted wherever an argument takes another type, checked and rendered at run time.
Template = Annotated[
    str,
    StringConstraints(pattern=r"\{\{|\{%"),
    Field(description="A jinja2 template ({{ ... }}), rendered when the step runs."),
]
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER)]
Condition = Annotated[
    str | bool,
    Field(description="A jinja2 expression (no braces needed) or true/false."),
]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class InputModel(_Strict):
    """An input of the playbook, set with `--var NAME=VALUE`."""

    description: str = Field(default="", description="What the input is for.")
    type: InputType = Field(default="string", description="The type --var values are read as.")
    default: str | int | float | bool | None = Field(default=None, description="The value when not set.")
    required: bool = Field(default=False, description="Must be set with --var (no default then).")


class StepModel(_Strict):
    """What every step has, whatever its action."""

    id: Identifier = Field(description="Unique; templates read its outcome as steps.<id>.")
    name: str | None = Field(default=None, description="A short title (default: the action).")
    description: str = Field(default="", description="What this step is in the runbook.")
    when: Condition | None = Field(default=None, description="Run the step only when this is true.")
    until: Condition | None = Field(default=None, description="Repeat the step until this is true.")
    failed_when: Condition | None = Field(
        default=None, description="Decide failure from the result instead of the exit code."
    )
    max_attempts: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ATTEMPTS,
        description="Attempts at most (default 10 with until, else 1).",
    )
    interval: float = Field(
        default=5,
        ge=0,
        le=MAX_INTERVAL_SECONDS,
        description=f"Seconds between attempts (at least {MIN_REPEAT_INTERVAL_SECONDS:g} when repeating).",
    )
    on_failure: OnFailure = Field(default="stop", description="stop the run, or continue with the next step.")


def _arg_annotation(spec: ArgSpec) -> Any:
    kinds: tuple[Any, ...] = (Literal[spec.choices],) if spec.choices is not None else spec.types
    if str not in kinds:
        kinds = (*kinds, Template)
    return Union[kinds] if len(kinds) > 1 else kinds[0]  # noqa: UP007 - built at run time


def _class_name(action: str) -> str:
    return "".join(part.capitalize() for part in action.split("-"))


def _args_model(action: str) -> type[BaseModel]:
    fields: dict[str, Any] = {
        name: (
            _arg_annotation(spec),
            Field(... if spec.required else spec.default, description=spec.help),
        )
        for name, spec in ACTIONS[action].args.items()
    }
    return create_model(f"{_class_name(action)}Args", __base__=_Strict, **fields)


def _step_model(action: str) -> type[StepModel]:
    args = _args_model(action)
    required = any(spec.required for spec in ACTIONS[action].args.values())
    with_field = Field(alias="with", description=f"The arguments of {action}.")
    if not required:
        with_field = Field(default_factory=args, alias="with", description=f"The arguments of {action}.")
    tag: Any = Literal[action]
    model: type[StepModel] = create_model(
        f"{_class_name(action)}Step",
        __base__=StepModel,
        __doc__=ACTIONS[action].help,
        action=(tag, Field(description=ACTIONS[action].help)),
        with_=(args, with_field),
    )
    return model


STEP_MODELS: dict[str, type[StepModel]] = {action: _step_model(action) for action in ACTIONS}
# One model per action, told apart by `action` (a discriminated union: errors name the step's own model).
AnyStep: Any = Annotated[Union[tuple(STEP_MODELS.values())], Field(discriminator="action")]  # noqa: UP007


class PlaybookFile(_Strict):
    """An oktasync playbook (docs/playbooks.md)."""

    name: str = Field(description="Names the run record.")
    description: str = Field(default="", description="What this playbook is for.")
    inputs: dict[Identifier, InputModel] = Field(
        default_factory=dict, description="Inputs, set with --var NAME=VALUE."
    )
    steps: list[AnyStep] = Field(min_length=1, description="The steps, run in order.")


def playbook_json_schema() -> dict[str, Any]:
    schema = PlaybookFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "oktasync playbook"
    return schema


@dataclass(frozen=True)
class InputSpec:
    name: str
    description: str = ""
    type: InputType = "string"
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
