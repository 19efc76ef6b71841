"""Load a playbook and check ALL of it before anything runs (exit 3, every problem with file:line).

The shape is checked by the pydantic models of ``playbooks.model`` (unknown keys, types, required keys,
step ids, actions and their `with:` arguments, bounds); their errors become problems at the value's
file:line:column with a fix. Checked here, on the document itself so that a step the models reject is
still checked: duplicate step ids, an input's default against its type, repeating steps' intervals,
template and condition syntax, and what templates refer to — only declared inputs, only steps that run
earlier (a step may read its own result in `until` and `failed_when`), only the names in scope
(`inputs`, `steps`, `config`, `tenant`, `dry_run`, `playbook`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pydantic

from oktasync.config.problems import document_path, suggest, type_fix, unknown_key_fix
from oktasync.errors import ConfigError, Problem
from oktasync.playbooks.catalog import ACTIONS
from oktasync.playbooks.catalog import shipped_playbook as shipped_playbook  # callers import it from here
from oktasync.playbooks.expr import ENVIRONMENT, check_syntax, is_template, references
from oktasync.playbooks.model import (
    MAX_ATTEMPTS,
    MAX_INTERVAL_SECONDS,
    MIN_REPEAT_INTERVAL_SECONDS,
    InputModel,
    InputSpec,
    Playbook,
    PlaybookFile,
    Step,
    StepModel,
)
from oktasync.yamlsource import Path_, SourceDocument, dotted_key, load_yaml_document

_INPUT_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
SCOPE_NAMES = frozenset({"inputs", "steps", "config", "tenant", "dry_run", "playbook"})
SELF_NAMES = frozenset({"result", "attempt"})  # only in until / failed_when
_STEP_KEYS = ("id", "action", *(key for key in StepModel.model_fields if key != "id"), "with")


class _Checker:
    def __init__(self, doc: SourceDocument) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def add(
        self,
        path: Path_,
        message: str,
        fix: str | None = None,
        *,
        at_key: bool = False,
        missing: str | None = None,
    ) -> None:
        """A problem at ``path``; ``missing`` names a key that is not there (the problem's ``key``)."""
        problem = self.doc.problem(path, message, fix, at_key=at_key)
        if missing is not None:
            problem = dataclasses.replace(problem, key=dotted_key((*path, missing)))
        self.problems.append(problem)

    def unknown_key(self, path: Path_, where: str, allowed: Iterable[str]) -> None:
        """``path`` ends in a key the model of ``where`` forbids: say so at the key, with the nearest
        allowed key (or the list of them) as the fix."""
        key = str(path[-1])
        self.add(path, f"unknown key '{key}' in {where}", unknown_key_fix(key, allowed), at_key=True)


def load_playbook(path: Path | str) -> Playbook:
    """Load and check a playbook, or raise ``ConfigError`` listing every problem with file:line."""
    doc = load_yaml_document(path, what="playbook")
    data = _normalised(doc.data)
    check = _Checker(doc)
    model: PlaybookFile | None = None
    try:
        model = PlaybookFile.model_validate(data)
    except pydantic.ValidationError as error:
        for item in error.errors(include_input=False):
            _shape_problem(check, data, item)
    _check_inputs(check, data.get("inputs"))
    input_names = set(data["inputs"]) if isinstance(data.get("inputs"), dict) else set()
    _check_steps(check, data.get("steps"), input_names)
    if check.problems or model is None:
        raise ConfigError(_ordered(check.problems))
    marks = {**doc.value_marks, **{(*key, "@key"): mark for key, mark in doc.key_marks.items()}}
    return Playbook(
        name=model.name,
        description=model.description,
        file=str(path),
        sha256=doc.sha256,
        inputs=tuple(_input_spec(name, spec) for name, spec in model.inputs.items()),
        steps=tuple(_runtime_step(doc, index, raw) for index, raw in enumerate(data["steps"])),
        marks=marks,
    )


def _normalised(data: dict[str, Any]) -> dict[str, Any]:
    """A key written without a value (YAML null) counts as not written: an empty `with:` or input spec is
    an empty mapping, an empty `description:` is no description, an empty `name:` is missing."""
    data = _without_nulls(data)
    if isinstance(data.get("inputs"), dict):
        data["inputs"] = {
            name: {} if spec is None else _without_nulls(spec) for name, spec in data["inputs"].items()
        }
    if isinstance(data.get("steps"), list):
        data["steps"] = [_without_nulls(step) for step in data["steps"]]
    return data


def _without_nulls(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {key: item for key, item in value.items() if item is not None}


def _ordered(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for problem in sorted(problems, key=lambda p: (p.line or 0, p.column or 0)):
        key = (problem.line, problem.column, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return unique


def _input_spec(name: str, spec: InputModel) -> InputSpec:
    return InputSpec(
        name=name,
        description=spec.description,
        type=spec.type,
        default=spec.default,
        required=spec.required,
    )


def _runtime_step(doc: SourceDocument, index: int, raw: dict[str, Any]) -> Step:
    """The step as the runner executes it: the `with:` arguments as written (templates unrendered)."""
    attempts = raw.get("max_attempts") or (10 if "until" in raw else 1)
    return Step(
        id=raw["id"],
        action=raw["action"],
        name=raw.get("name") or raw["action"],
        description=(raw.get("description") or "").strip(),
        args=dict(raw.get("with") or {}),
        when=raw.get("when"),
        until=raw.get("until"),
        failed_when=raw.get("failed_when"),
        max_attempts=attempts,
        interval=float(raw.get("interval", 5)),
        on_failure=raw.get("on_failure", "stop"),
        line=doc.value_marks.get(("steps", index), (None, None))[0],
    )


def _shape_problem(check: _Checker, data: dict[str, Any], item: Mapping[str, Any]) -> None:
    """One pydantic error as a problem a person can act on, worded by where it is in the playbook."""
    kind = item["type"]
    path = document_path(item["loc"], data, kind)
    value = _value(data, path)
    if path[:1] == ("inputs",):
        _input_shape_problem(check, path, kind, value, item)
    elif path[:1] == ("steps",) and len(path) >= 2:
        _step_shape_problem(check, data, path, kind, value, item)
    elif path == ("steps",):
        check.add(path, "a playbook needs a non-empty list of 'steps'", "add steps: - id: … action: …")
    elif kind == "extra_forbidden":
        check.unknown_key(path, "a playbook", PlaybookFile.model_fields)
    elif kind == "missing":
        check.add(path[:-1], f"missing required key '{path[-1]}'", "add it", missing=str(path[-1]))
    else:
        check.add(path, f"'{path[-1]}' must be a string", type_fix(item))


def _input_shape_problem(
    check: _Checker, path: Path_, kind: str, value: Any, item: Mapping[str, Any]
) -> None:
    if len(path) == 1:
        check.add(
            path, "'inputs' must be a mapping of input names to their specs", "inputs: {name: {type: string}}"
        )
        return
    name = str(path[1])
    if "[key]" in item["loc"]:
        check.add(
            path, f"input name '{name}' must be a plain identifier", "use letters, digits, _", at_key=True
        )
    elif len(path) == 2:
        check.add(
            path,
            f"input '{name}' must be a mapping (description, type, default, required)",
            f"{name}: {{type: string, description: …}}",
        )
    elif kind == "extra_forbidden":
        check.unknown_key(path, f"input '{name}'", InputModel.model_fields)
    elif path[2] == "type":
        check.add(path, f"unknown input type '{value}'", f"one of {', '.join(_INPUT_TYPES)}")
    elif path[2] == "required":
        check.add(path, "'required' must be true or false", "write required: true or required: false")
    elif path[2] == "default":
        pass  # reported by _check_inputs, which knows the input's type
    else:
        check.add(path, f"'{path[2]}' of input '{name}' must be a string", type_fix(item))


def _step_shape_problem(
    check: _Checker, data: dict[str, Any], path: Path_, kind: str, value: Any, item: Mapping[str, Any]
) -> None:
    step: Path_ = path[:2]
    raw = _value(data, step)
    action = raw.get("action") if isinstance(raw, dict) else None
    if len(path) == 2:
        if kind == "union_tag_invalid":
            fix = suggest(str(action), ACTIONS) or f"one of: {', '.join(ACTIONS)}"
            check.add((*step, "action"), f"unknown action '{action}'", fix)
        elif kind == "union_tag_not_found" and isinstance(raw, dict):
            fix = f"add action: (one of: {', '.join(ACTIONS)})"
            check.add(step, "missing required key 'action'", fix, missing="action")
        else:
            check.add(
                step, "each step must be a mapping with at least 'id' and 'action'", "- id: … action: …"
            )
            return
        _check_common_keys(check, data, step, raw)
        return
    key = path[2]
    if key == "with":
        _argument_problem(check, path, str(action), kind, value)
    elif kind == "extra_forbidden":
        check.add(
            path,
            f"unknown key '{key}' in a step",
            suggest(str(key), _STEP_KEYS) or f"allowed: {', '.join(_STEP_KEYS)}",
            at_key=True,
        )
    elif kind == "missing":
        check.add(step, f"missing required key '{key}'", "add it", missing=str(key))
    elif key == "id" and not isinstance(value, str):
        check.add(path, "'id' must be a string", "use letters, digits, _")
    elif key == "id":
        check.add(path, f"step id '{value}' must be a plain identifier", "use letters, digits, _")
    elif key == "max_attempts":
        check.add(path, f"max_attempts must be an integer from 1 to {MAX_ATTEMPTS}", "e.g. max_attempts: 10")
    elif key == "interval":
        check.add(
            path, f"interval must be a number of seconds from 0 to {MAX_INTERVAL_SECONDS}", "e.g. interval: 5"
        )
    elif key == "on_failure":
        check.add(
            path, f"on_failure must be 'stop' or 'continue', not {value!r}", "on_failure: stop or continue"
        )
    elif key in ("when", "until", "failed_when"):
        check.add(
            path,
            "a condition must be a string (a jinja2 expression) or true/false",
            'e.g. "steps.plan.result.summary.change > 0"',
        )
    else:
        check.add(path, f"'{key}' must be a string", type_fix(item))


def _check_common_keys(check: _Checker, data: dict[str, Any], step: Path_, raw: dict[str, Any]) -> None:
    """A step whose action is unknown or missing has no model of its own: check what every step has."""
    common = {key: value for key, value in raw.items() if key not in ("action", "with")}
    try:
        StepModel.model_validate(common)
    except pydantic.ValidationError as error:
        for item in error.errors(include_input=False):
            _shape_problem(check, data, {**item, "loc": (*step, *item["loc"])})


def _argument_problem(check: _Checker, path: Path_, action: str, kind: str, value: Any) -> None:
    specs = ACTIONS[action].args
    step = path[:2]
    if len(path) == 3:
        if kind == "missing":
            for name, spec in specs.items():
                if spec.required:
                    fix = f"add with: {{{name}: …}}"
                    check.add(step, f"action '{action}' needs argument '{name}'", fix, missing=f"with.{name}")
        else:
            check.add(path, "'with' must be a mapping of argument names to values", "with: {name: value}")
        return
    name = str(path[3])
    if kind == "extra_forbidden":
        fix = suggest(name, specs) or (
            f"'{action}' takes: {', '.join(specs)}" if specs else f"'{action}' takes no arguments"
        )
        check.add(path, f"unknown argument '{name}' for action '{action}'", fix, at_key=True)
    elif kind == "missing":
        fix = f"add with: {{{name}: …}}"
        check.add(step, f"action '{action}' needs argument '{name}'", fix, missing=f"with.{name}")
    else:
        spec = specs[name]
        problem = spec.check(value) or "must not be an empty template"
        fix = f"write {spec.type_names()}" + (
            f" (one of {', '.join(map(str, spec.choices))})" if spec.choices else ""
        )
        check.add(path, f"argument '{name}' {problem}", f"{fix}, or a template: {{{{ … }}}}")


def _value(data: Any, path: Path_) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


def _check_inputs(check: _Checker, raw: Any) -> None:
    """An input's default fits its type; a required input has none."""
    if not isinstance(raw, dict):
        return
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            continue
        path: Path_ = ("inputs", name)
        kind = spec.get("type", "string")
        kinds = _INPUT_TYPES.get(kind) if isinstance(kind, str) else None
        default = spec.get("default")
        if default is not None and kinds is not None:
            wrong_bool = isinstance(default, bool) and kind != "boolean"
            if wrong_bool or not isinstance(default, kinds):
                check.add(
                    (*path, "default"),
                    f"default of input '{name}' is not {_a(kind)}",
                    f"write {_a(kind)}, or change the input's type",
                )
        if spec.get("required") is True and default is not None:
            check.add((*path, "required"), f"input '{name}' is required and has a default", "keep one")


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _check_steps(check: _Checker, raw: Any, input_names: set[str]) -> None:
    if not isinstance(raw, list):
        return
    all_ids = [item.get("id") for item in raw if isinstance(item, dict)]
    seen: list[str] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            continue
        _check_step(check, item, ("steps", index), seen, all_ids, input_names)
        step_id = item.get("id")
        if isinstance(step_id, str):
            seen.append(step_id)


def _check_step(
    check: _Checker,
    item: dict[str, Any],
    path: Path_,
    earlier: list[str],
    all_ids: list[Any],
    input_names: set[str],
) -> None:
    step_id = item.get("id") if isinstance(item.get("id"), str) else ""
    if step_id and step_id in earlier:
        check.add((*path, "id"), f"duplicate step id '{step_id}'", "give each step its own id")
    own = step_id or "?"

    def templates_ok(value: Any, at: Path_, *, condition: bool, self_allowed: bool) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                templates_ok(sub, (*at, key), condition=False, self_allowed=False)
            return
        if isinstance(value, list):
            for index, sub in enumerate(value):
                templates_ok(sub, (*at, index), condition=False, self_allowed=False)
            return
        if not isinstance(value, str) or not (condition or is_template(value)):
            return
        error = check_syntax(value, condition=condition)
        if error is not None:
            check.add(at, f"template syntax error: {error}", "fix the jinja2 expression")
            return
        _check_references(check, value, at, condition, self_allowed, own, earlier, all_ids, input_names)

    for key in ("when", "until", "failed_when"):
        if isinstance(item.get(key), str):
            templates_ok(item[key], (*path, key), condition=True, self_allowed=key != "when")
    action = item.get("action")
    args = item.get("with")
    if isinstance(action, str) and action in ACTIONS and isinstance(args, dict):
        for name, value in args.items():
            if name in ACTIONS[action].args and is_template(value):
                templates_ok(value, (*path, "with", name), condition=False, self_allowed=False)
    _check_interval(check, item, path)


def _check_interval(check: _Checker, item: dict[str, Any], path: Path_) -> None:
    """A repeating step polls Okta or the target: a tight loop would only spend rate limits."""
    attempts = item.get("max_attempts", 10 if "until" in item else 1)
    interval = item.get("interval", 5)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= MAX_ATTEMPTS:
        return  # reported by the model
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0:
        return
    if attempts > 1 and interval < MIN_REPEAT_INTERVAL_SECONDS:
        check.add(
            (*path, "interval"),
            f"a repeating step (max_attempts > 1) waits at least {MIN_REPEAT_INTERVAL_SECONDS:g} s between "
            "attempts",
            f"set interval: {MIN_REPEAT_INTERVAL_SECONDS:g} or more",
        )


def _check_references(
    check: _Checker,
    text: str,
    at: Path_,
    condition: bool,
    self_allowed: bool,
    own: str,
    earlier: list[str],
    all_ids: list[Any],
    input_names: set[str],
) -> None:
    refs = references(text, condition=condition)
    allowed = SCOPE_NAMES | (SELF_NAMES if self_allowed else frozenset())
    for name in sorted(refs.names - allowed - set(ENVIRONMENT.globals)):
        hint = "'result' and 'attempt' exist only in until and failed_when" if name in SELF_NAMES else None
        check.add(
            at, f"unknown name '{name}' in template", hint or f"names in scope: {', '.join(sorted(allowed))}"
        )
    for ref in sorted(refs.steps):
        if ref in earlier or (self_allowed and ref == own):
            continue
        if ref == own:
            check.add(at, f"step '{own}' refers to its own result here", "use it in until/failed_when only")
        elif ref in all_ids:
            check.add(at, f"refers to step '{ref}', which runs later", "steps can read only earlier steps")
        else:
            check.add(
                at,
                f"refers to unknown step '{ref}'",
                suggest(ref, earlier) or f"earlier steps: {', '.join(earlier) or '(none)'}",
            )
    for ref in sorted(refs.inputs - input_names):
        check.add(
            at,
            f"refers to undeclared input '{ref}'",
            suggest(ref, input_names) or "declare it under inputs:",
        )
