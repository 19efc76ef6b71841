"""jinja2 rendering of string values, after YAML parsing (DESIGN.md §4).

Rendering value by value means a template can never inject YAML structure. Undefined names are errors,
with a message that says which environment variable or var is missing. The sandbox keeps templates from
reaching into Python objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox

from oktasync.config.yamlsource import Path_, SourceDocument
from oktasync.errors import Problem


class EnvScope(dict[str, str]):
    """``env`` in templates: the process environment."""


class VarsScope(dict[str, Any]):
    """``vars`` in templates: the config's own ``vars:`` mapping."""


class _Missing(jinja2.StrictUndefined):
    @property
    def _undefined_message(self) -> str:
        owner = self._undefined_obj
        name = self._undefined_name
        if isinstance(owner, EnvScope):
            return f"environment variable {name} is not set"
        if isinstance(owner, VarsScope):
            return f"'vars.{name}' is not defined"
        if owner is jinja2.utils.missing:
            return f"'{name}' is undefined"
        return f"'{name}' is undefined in {type(owner).__name__}"


def make_environment(base_dir: Path | None = None) -> jinja2.sandbox.SandboxedEnvironment:
    env = jinja2.sandbox.SandboxedEnvironment(
        undefined=_Missing, autoescape=False, keep_trailing_newline=False
    )
    if base_dir is not None:

        def read_file(path: str) -> str:
            """{{ file('secrets/token') }}: a secret kept in a file next to (or relative to) the config."""
            return (base_dir / Path(path).expanduser()).read_text(encoding="utf-8").strip()

        env.globals["file"] = read_file
    return env


def fix_for(message: str) -> str:
    if message.startswith("environment variable "):
        name = message.split()[2]
        return f"export {name}=… before running, or use {{{{ env.{name} | default('…') }}}}"
    if message.startswith("'vars."):
        return "define it under vars:"
    return "check the template"


def render_strings(
    data: Any,
    scope: Mapping[str, Any],
    doc: SourceDocument,
    environment: jinja2.Environment,
    *,
    path: Path_ = (),
    skip: Callable[[Path_], bool] = lambda p: False,
) -> tuple[Any, list[Problem], set[Path_]]:
    """Render every string in ``data``; return the result, the problems, and which paths were templates."""
    problems: list[Problem] = []
    templated: set[Path_] = set()

    def walk(value: Any, at: Path_) -> Any:
        if skip(at):
            return value
        if isinstance(value, dict):
            return {key: walk(item, (*at, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, (*at, index)) for index, item in enumerate(value)]
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            templated.add(at)
            try:
                return environment.from_string(value).render(scope)
            except jinja2.UndefinedError as error:
                problems.append(doc.problem(at, str(error), fix_for(str(error))))
            except jinja2.TemplateSyntaxError as error:
                problems.append(
                    doc.problem(at, f"template syntax error: {error.message}", "fix the template")
                )
            except (jinja2.TemplateError, OSError) as error:
                problems.append(doc.problem(at, f"template failed: {error}", "fix the template"))
            return value
        return value

    return walk(data, path), problems, templated
