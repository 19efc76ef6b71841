"""YAML that remembers where each value came from, so every problem can name its file:line:column.

Used for tenant configs and playbooks alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from oktasync.errors import ConfigError, Problem

Path_ = tuple[str | int, ...]


@dataclass
class SourceDocument:
    """Parsed YAML data plus the position of every value (and of every mapping key)."""

    file: str
    data: Any
    value_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def problem(self, path: Path_, message: str, fix: str | None = None, *, at_key: bool = False) -> Problem:
        """A problem located at ``path``, or at the nearest ancestor that has a position."""
        marks = self.key_marks if at_key else self.value_marks
        probe = tuple(path)
        while probe:
            if probe in marks:
                line, column = marks[probe]
                return Problem(self.file, line, column, message, fix)
            if probe in self.value_marks:
                line, column = self.value_marks[probe]
                return Problem(self.file, line, column, message, fix)
            probe = probe[:-1]
        line, column = self.value_marks.get((), (1, 1))
        return Problem(self.file, line, column, message, fix)


_SCALARS = yaml.SafeLoader("")


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _convert(node: yaml.Node, path: Path_, doc: SourceDocument, problems: list[Problem]) -> Any:
    doc.value_marks[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line, column = _mark(key_node)
                problems.append(Problem(doc.file, line, column, "mapping keys must be plain strings"))
                continue
            key = key_node.value
            if key in result:
                line, column = _mark(key_node)
                problems.append(Problem(doc.file, line, column, f"duplicate key '{key}'", "keep one of them"))
            doc.key_marks[(*path, key)] = _mark(key_node)
            result[key] = _convert(value_node, (*path, key), doc, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, index), doc, problems) for index, item in enumerate(node.value)]
    # Scalars: let the safe constructor resolve ints, bools, nulls exactly as YAML does.
    return _SCALARS.construct_object(node)


def load_yaml_document(path: Path | str, *, what: str = "file") -> SourceDocument:
    """Parse ``path`` into a ``SourceDocument`` whose root is a mapping, or raise ``ConfigError``."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(name, None, None, f"{what} not found", "check the path")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([Problem(name, None, None, f"cannot read {what}: {error}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = f"invalid YAML: {error.problem or error.context}"
        if error.context_mark and "end of stream" in (error.problem or ""):
            # An unclosed quote or bracket is found at the end of the file; point at where it opened.
            mark = error.context_mark
            message = f"invalid YAML: {error.context} that is never closed"
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise ConfigError([Problem(name, line, column, message, "fix the YAML syntax")]) from None
    except yaml.YAMLError as error:
        raise ConfigError([Problem(name, None, None, f"invalid YAML: {error}")]) from None
    if node is None:
        raise ConfigError([Problem(name, 1, 1, f"the {what} is empty", f"write a {what} (see configs/)")])
    if not isinstance(node, yaml.MappingNode):
        line, column = _mark(node)
        raise ConfigError(
            [Problem(name, line, column, f"the {what} must be a mapping of keys to values", "see configs/")]
        )
    doc = SourceDocument(file=name, data=None)
    problems: list[Problem] = []
    doc.data = _convert(node, (), doc, problems)
    if problems:
        raise ConfigError(problems)
    return doc
