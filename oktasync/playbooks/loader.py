"""Load a playbook and check ALL of it before anything runs (exit 3, every problem with file:line).

Checked here: the shape (unknown keys are errors), step ids, actions and their `with:` arguments (names,
required ones, types of literal values), template and condition syntax, and what templates refer to —
only declared inputs, only steps that run earlier (a step may read its own result in `until` and
`failed_when`), only the names in scope (`inputs`, `steps`, `config`, `tenant`, `dry_run`, `playbook`).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from oktasync.errors import ConfigError, Problem
from oktasync.playbooks.catalog import ACTIONS
from oktasync.playbooks.catalog import shipped_playbook as shipped_playbook  # callers import it from here
from oktasync.playbooks.expr import ENVIRONMENT, check_syntax, is_template, references
from oktasync.playbooks.model import InputSpec, Playbook, Step
from oktasync.yamlsource import Path_, SourceDocument, load_yaml_document

_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOP_KEYS = ("name", "description", "inputs", "steps")
_INPUT_KEYS = ("description", "type", "default", "required")
_STEP_KEYS = (
    "id",
    "action",
    "name",
    "description",
    "with",
    "when",
    "until",
    "failed_when",
    "max_attempts",
    "interval",
    "on_failure",
)
_INPUT_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
# Bounds on repeating steps (docs/playbooks.md "Limits").
MAX_ATTEMPTS = 1000
MIN_REPEAT_INTERVAL_SECONDS = 1.0
MAX_INTERVAL_SECONDS = 3600
SCOPE_NAMES = frozenset({"inputs", "steps", "config", "tenant", "dry_run", "playbook"})
SELF_NAMES = frozenset({"result", "attempt"})  # only in until / failed_when


def _suggest(word: str, options: Any) -> str | None:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"did you mean '{close[0]}'?" if close else None


class _Checker:
    def __init__(self, doc: SourceDocument) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def add(self, path: Path_, message: str, fix: str | None = None, *, at_key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, fix, at_key=at_key))

    def unknown_keys(self, data: dict[str, Any], allowed: tuple[str, ...], path: Path_, what: str) -> None:
        for key in data:
            if key not in allowed:
                fix = _suggest(key, allowed) or f"allowed: {', '.join(allowed)}"
                self.add((*path, key), f"unknown key '{key}' in {what}", fix, at_key=True)

    def string(self, data: dict[str, Any], key: str, path: Path_, *, required: bool = False) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.add(path, f"missing required key '{key}'", "add it")
            return ""
        if not isinstance(value, str):
            self.add((*path, key), f"'{key}' must be a string")
            return ""
        return value


def load_playbook(path: Path | str) -> Playbook:
    """Load and check a playbook, or raise ``ConfigError`` listing every problem with file:line."""
    doc = load_yaml_document(path, what="playbook")
    check = _Checker(doc)
    data: dict[str, Any] = doc.data
    check.unknown_keys(data, _TOP_KEYS, (), "a playbook")
    name = check.string(data, "name", (), required=True)
    description = check.string(data, "description", ())
    inputs = _inputs(check, data.get("inputs"))
    steps = _steps(check, data.get("steps"), {spec.name for spec in inputs})
    if check.problems:
        raise ConfigError(sorted(check.problems, key=lambda p: (p.line or 0, p.column or 0)))
    marks = {**doc.value_marks, **{(*key, "@key"): mark for key, mark in doc.key_marks.items()}}
    return Playbook(
        name=name,
        description=description,
        file=str(path),
        sha256=doc.sha256,
        inputs=tuple(inputs),
        steps=tuple(steps),
        marks=marks,
    )


def _inputs(check: _Checker, raw: Any) -> list[InputSpec]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        check.add(("inputs",), "'inputs' must be a mapping of input names to their specs")
        return []
    specs = []
    for name, spec in raw.items():
        path: Path_ = ("inputs", name)
        if not _ID.match(name):
            check.add(
                path, f"input name '{name}' must be a plain identifier", "use letters, digits, _", at_key=True
            )
        spec = {} if spec is None else spec
        if not isinstance(spec, dict):
            check.add(path, f"input '{name}' must be a mapping (description, type, default, required)")
            continue
        check.unknown_keys(spec, _INPUT_KEYS, path, f"input '{name}'")
        kind = spec.get("type", "string")
        if kind not in _INPUT_TYPES:
            check.add((*path, "type"), f"unknown input type '{kind}'", f"one of {', '.join(_INPUT_TYPES)}")
            kind = "string"
        default = spec.get("default")
        required = spec.get("required", False)
        if not isinstance(required, bool):
            check.add((*path, "required"), "'required' must be true or false")
            required = False
        if default is not None:
            wrong_bool = isinstance(default, bool) and kind != "boolean"
            if wrong_bool or not isinstance(default, _INPUT_TYPES[kind]):
                check.add((*path, "default"), f"default of input '{name}' is not a {kind}")
        if required and default is not None:
            check.add((*path, "required"), f"input '{name}' is required and has a default", "keep one")
        specs.append(
            InputSpec(
                name=name,
                description=spec.get("description") or "",
                type=kind,
                default=default,
                required=required,
            )
        )
    return specs


def _steps(check: _Checker, raw: Any, input_names: set[str]) -> list[Step]:
    if not isinstance(raw, list) or not raw:
        check.add(("steps",), "a playbook needs a non-empty list of 'steps'", "add steps: - id: … action: …")
        return []
    all_ids = [item.get("id") for item in raw if isinstance(item, dict)]
    seen: list[str] = []
    steps = []
    for index, item in enumerate(raw):
        path: Path_ = ("steps", index)
        if not isinstance(item, dict):
            check.add(path, "each step must be a mapping with at least 'id' and 'action'")
            continue
        step = _step(check, item, path, seen, all_ids, input_names)
        if step is not None:
            steps.append(step)
        step_id = item.get("id")
        if isinstance(step_id, str):
            seen.append(step_id)
    return steps


def _step(
    check: _Checker,
    item: dict[str, Any],
    path: Path_,
    earlier: list[str],
    all_ids: list[Any],
    input_names: set[str],
) -> Step | None:
    check.unknown_keys(item, _STEP_KEYS, path, "a step")
    step_id = check.string(item, "id", path, required=True)
    if step_id:
        if not _ID.match(step_id):
            check.add(
                (*path, "id"), f"step id '{step_id}' must be a plain identifier", "use letters, digits, _"
            )
        if step_id in earlier:
            check.add((*path, "id"), f"duplicate step id '{step_id}'", "give each step its own id")
    action = check.string(item, "action", path, required=True)
    if action and action not in ACTIONS:
        check.add(
            (*path, "action"),
            f"unknown action '{action}'",
            _suggest(action, ACTIONS) or f"one of: {', '.join(ACTIONS)}",
        )
    own = step_id or "?"

    def templates_ok(value: Any, at: Path_, *, condition: bool, self_allowed: bool) -> None:
        if isinstance(value, bool) and condition:
            return
        if isinstance(value, dict):
            for key, sub in value.items():
                templates_ok(sub, (*at, key), condition=False, self_allowed=False)
            return
        if isinstance(value, list):
            for index, sub in enumerate(value):
                templates_ok(sub, (*at, index), condition=False, self_allowed=False)
            return
        if condition and not isinstance(value, str):
            check.add(at, "a condition must be a string (a jinja2 expression) or true/false")
            return
        if not isinstance(value, str) or not (condition or is_template(value)):
            return
        error = check_syntax(value, condition=condition)
        if error is not None:
            check.add(at, f"template syntax error: {error}", "fix the jinja2 expression")
            return
        _check_references(check, value, at, condition, self_allowed, own, earlier, all_ids, input_names)

    for key in ("when", "until", "failed_when"):
        if key in item:
            templates_ok(item[key], (*path, key), condition=True, self_allowed=key != "when")
    args = item.get("with", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        check.add((*path, "with"), "'with' must be a mapping of argument names to values")
        args = {}
    if action in ACTIONS:
        specs = ACTIONS[action].args
        for name, value in args.items():
            at: Path_ = (*path, "with", name)
            if name not in specs:
                fix = _suggest(name, specs) or (
                    f"'{action}' takes: {', '.join(specs)}" if specs else f"'{action}' takes no arguments"
                )
                check.add(at, f"unknown argument '{name}' for action '{action}'", fix, at_key=True)
                continue
            if is_template(value):
                templates_ok(value, at, condition=False, self_allowed=False)
                continue
            problem = specs[name].check(value)
            if problem:
                check.add(at, f"argument '{name}' {problem}")
        for name, spec in specs.items():
            if spec.required and name not in args:
                check.add(path, f"action '{action}' needs argument '{name}'", f"add with: {{{name}: …}}")
    attempts = item.get("max_attempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= MAX_ATTEMPTS:
        check.add((*path, "max_attempts"), f"max_attempts must be an integer from 1 to {MAX_ATTEMPTS}")
        attempts = 1
    if "until" in item and "max_attempts" not in item:
        attempts = 10
    interval = item.get("interval", 5)
    if (
        isinstance(interval, bool)
        or not isinstance(interval, int | float)
        or not 0 <= interval <= MAX_INTERVAL_SECONDS
    ):
        check.add(
            (*path, "interval"), f"interval must be a number of seconds from 0 to {MAX_INTERVAL_SECONDS}"
        )
        interval = 5
    elif attempts > 1 and interval < MIN_REPEAT_INTERVAL_SECONDS:
        # A repeating step polls Okta or the target: a tight loop would only spend rate limits.
        check.add(
            (*path, "interval"),
            f"a repeating step (max_attempts > 1) waits at least {MIN_REPEAT_INTERVAL_SECONDS:g} s between "
            "attempts",
            f"set interval: {MIN_REPEAT_INTERVAL_SECONDS:g} or more",
        )
        interval = MIN_REPEAT_INTERVAL_SECONDS
    on_failure = item.get("on_failure", "stop")
    if on_failure not in ("stop", "continue"):
        check.add((*path, "on_failure"), f"on_failure must be 'stop' or 'continue', not {on_failure!r}")
        on_failure = "stop"
    name = check.string(item, "name", path) or action
    description = check.string(item, "description", path)
    if not step_id or action not in ACTIONS:
        return None
    return Step(
        id=step_id,
        action=action,
        name=name,
        description=description.strip(),
        args=dict(args),
        when=item.get("when"),
        until=item.get("until"),
        failed_when=item.get("failed_when"),
        max_attempts=attempts,
        interval=float(interval),
        on_failure=on_failure,
        line=check.doc.value_marks.get(path, (None, None))[0],
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
                _suggest(ref, earlier) or f"earlier steps: {', '.join(earlier) or '(none)'}",
            )
    for ref in sorted(refs.inputs - input_names):
        check.add(
            at,
            f"refers to undeclared input '{ref}'",
            _suggest(ref, input_names) or "declare it under inputs:",
        )
