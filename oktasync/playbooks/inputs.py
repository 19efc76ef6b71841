"""A playbook's declared inputs from ``--var`` values and defaults, converted to each input's type.

Apart from the runner because it is checked once for the whole run, before any tenant is touched, and every
problem is reported at once with its file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oktasync.errors import ConfigError, Problem
from oktasync.playbooks.model import InputSpec, Playbook

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _coerce(spec: InputSpec, raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    if spec.type == "boolean":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError("expected true or false")
    if spec.type == "integer":
        return int(raw)
    if spec.type == "number":
        return float(raw)
    return raw


def resolve_inputs(playbook: Playbook, given: Mapping[str, Any], *, complete: bool = True) -> dict[str, Any]:
    """Declared inputs from ``--var`` values and defaults; every problem at once (``ConfigError``).

    ``complete=False`` (resuming: the run record has the inputs) converts only what is given."""
    specs = {spec.name: spec for spec in playbook.inputs}
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for name, raw in given.items():
        if name not in specs:
            known = ", ".join(specs) or "(none)"
            problems.append(
                Problem(
                    playbook.file,
                    None,
                    None,
                    f"--var {name}: the playbook has no input '{name}'",
                    f"inputs: {known}",
                )
            )
            continue
        try:
            values[name] = _coerce(specs[name], raw)
        except ValueError as error:
            problems.append(
                Problem(playbook.file, None, None, f"--var {name}={raw}: not a {specs[name].type} ({error})")
            )
    for spec in playbook.inputs:
        if spec.name in values or not complete:
            continue
        if spec.required:
            line = _line(playbook, ("inputs", spec.name))
            problems.append(
                Problem(
                    playbook.file, line, None, f"input '{spec.name}' is required", f"pass --var {spec.name}=…"
                )
            )
        else:
            values[spec.name] = spec.default
    if problems:
        raise ConfigError(problems)
    return values


def _line(playbook: Playbook, path: tuple[str | int, ...]) -> int | None:
    mark = playbook.marks.get(path)
    return mark[0] if mark else None
