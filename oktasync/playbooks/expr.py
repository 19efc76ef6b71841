"""jinja2 in playbooks: `with:` values, `when:` / `until:` / `failed_when:` conditions.

Same rules as tenant configs (docs/architecture.md, Tenant config): templates are rendered after YAML parsing,
value by value, in a
sandbox, and an undefined name is an error, never an empty string. Two playbook-specific rules:

* a value that is exactly one expression (``"{{ steps.plan.result.changes }}"``) keeps its native type (a
  list stays a list, a number a number), so arguments can be passed through unchanged;
* a condition may be written bare (``steps.plan.result.change_count > 0``) or wrapped in ``{{ }}``.

``references`` analyses a template without running it, so the loader can reject a reference to an unknown
or later step before any step runs.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
import jinja2.meta
import jinja2.nodes
import jinja2.sandbox

from oktasync.config.sandbox import MAX_VALUE_CHARS, BoundedSandbox, LimitExceeded, render_text, time_limit

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<body>.*)\}\}\s*$", re.DOTALL)


class _Missing(jinja2.StrictUndefined):
    """Undefined names raise, with the dotted path that was asked for when we can tell."""


def make_environment() -> jinja2.sandbox.SandboxedEnvironment:
    """The bounded sandbox (``oktasync.config.sandbox``): limits on time, value size and range()."""
    return BoundedSandbox(undefined=_Missing, autoescape=False)


_ERRORS = (TypeError, ValueError, ArithmeticError, LookupError, RecursionError, MemoryError)


def _check_result(value: Any) -> Any:
    """A step's arguments and conditions are small: refuse a result that holds more than
    ``MAX_VALUE_CHARS`` characters or items in all (counted without copying it)."""
    budget = MAX_VALUE_CHARS
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str | bytes):
            budget -= len(item)
        elif isinstance(item, dict):
            budget -= len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            budget -= len(item)
            pending.extend(item)
        if budget < 0:
            raise TemplateFailure(f"the result is larger than {MAX_VALUE_CHARS} characters or items")
    return value


ENVIRONMENT = make_environment()


class TemplateFailure(Exception):
    """A template or condition could not be compiled or evaluated; the message says why."""


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _single_expression(text: str) -> str | None:
    match = _SINGLE_EXPRESSION.match(text)
    if match is None:
        return None
    body = match.group("body")
    # "{{ a }} and {{ b }}" is not one expression; a body with its own braces is a string template.
    if "{{" in body or "}}" in body or "{%" in body:
        return None
    return body.strip()


def condition_source(text: str) -> str:
    """A condition's expression: ``{{ x }}`` and ``x`` both mean ``x``."""
    single = _single_expression(text)
    return single if single is not None else text.strip()


def check_syntax(text: str, *, condition: bool = False) -> str | None:
    """None when ``text`` compiles, else the syntax error message."""
    try:
        if condition:
            ENVIRONMENT.compile_expression(condition_source(text))
        else:
            ENVIRONMENT.parse(text)
    except jinja2.TemplateSyntaxError as error:
        return error.message or str(error)
    return None


@contextlib.contextmanager
def _failures_reported_as(what: str) -> Iterator[None]:
    """Run a render under the time limit; whatever it raises becomes a ``TemplateFailure`` worded as
    ``<what> failed: …`` (``<what> stopped: …`` at a limit), or the undefined name's own message."""
    try:
        with time_limit():
            yield
    except jinja2.UndefinedError as error:
        raise TemplateFailure(str(error)) from None
    except LimitExceeded as error:
        raise TemplateFailure(f"{what} stopped: {error}") from None
    except jinja2.TemplateError as error:
        raise TemplateFailure(f"{what} failed: {error}") from None
    except _ERRORS as error:
        raise TemplateFailure(f"{what} failed: {type(error).__name__}: {error}") from None


def render_value(value: Any, scope: Mapping[str, Any]) -> Any:
    """Render every template string inside ``value`` (recursively), keeping native types for single
    expressions. Raises ``TemplateFailure``."""
    if isinstance(value, dict):
        return {key: render_value(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, scope) for item in value]
    if not is_template(value):
        return value
    text: str = value
    with _failures_reported_as("template"):
        single = _single_expression(text)
        if single is not None:
            result = ENVIRONMENT.compile_expression(single, undefined_to_none=False)(**scope)
            if isinstance(result, jinja2.Undefined):
                str(result)  # raises UndefinedError with the name
            return _check_result(result)
        return render_text(ENVIRONMENT.from_string(text), scope)


def evaluate_condition(text: str | bool, scope: Mapping[str, Any]) -> bool:
    """Evaluate a `when`/`until`/`failed_when` condition. Raises ``TemplateFailure``."""
    if isinstance(text, bool):
        return text
    with _failures_reported_as("condition"):
        result = ENVIRONMENT.compile_expression(condition_source(text), undefined_to_none=False)(**scope)
        if isinstance(result, jinja2.Undefined):
            str(result)  # raises UndefinedError with the name
        _check_result(result)
    if isinstance(result, str):
        # A rendered string ("False", "0", "") is what people mean when they template a condition.
        return result.strip().lower() not in ("", "false", "0", "no", "none", "off")
    return bool(result)


@dataclass
class References:
    """What a template refers to: top-level names, and which steps/inputs by name."""

    names: set[str] = field(default_factory=set)
    steps: set[str] = field(default_factory=set)
    inputs: set[str] = field(default_factory=set)


def references(text: str, *, condition: bool = False) -> References:
    """Names a template uses (it must already compile: see ``check_syntax``)."""
    source = "{{ " + condition_source(text) + " }}" if condition else text
    tree = ENVIRONMENT.parse(source)
    found = References(names=set(jinja2.meta.find_undeclared_variables(tree)))
    for node in tree.find_all((jinja2.nodes.Getattr, jinja2.nodes.Getitem)):
        owner = getattr(node, "node", None)
        if not isinstance(owner, jinja2.nodes.Name) or owner.name not in ("steps", "inputs"):
            continue
        key: Any = None
        if isinstance(node, jinja2.nodes.Getattr):
            key = node.attr
        elif isinstance(node, jinja2.nodes.Getitem) and isinstance(node.arg, jinja2.nodes.Const):
            key = node.arg.value  # steps[some_variable] cannot be checked statically: key stays None
        if isinstance(key, str):
            (found.steps if owner.name == "steps" else found.inputs).add(key)
    return found
