"""YAML that remembers where each value came from, so every problem can name its file:line:column.

Used for tenant configs and playbooks alike.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from oktasync.errors import ConfigError, Problem

Path_ = tuple[str | int, ...]


def dotted_key(path: Path_) -> str | None:
    """``("steps", 2, "with", "retry")`` → ``steps[2].with.retry``; None for the document itself."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or None


@dataclass
class SourceDocument:
    """Parsed YAML data plus the position of every value (and of every mapping key)."""

    file: str
    data: Any
    value_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    sha256: str = ""

    def problem(
        self,
        path: Path_,
        message: str,
        fix: str | None = None,
        *,
        at_key: bool = False,
        warning: bool = False,
    ) -> Problem:
        """A problem about the value at ``path`` (its ``key``), located at that value or at the nearest
        ancestor that has a position."""
        line, column = self.position(path, at_key=at_key)
        severity: Literal["error", "warning"] = "warning" if warning else "error"
        return Problem(self.file, line, column, message, fix, key=dotted_key(path), severity=severity)

    def position(self, path: Path_, *, at_key: bool = False) -> tuple[int, int]:
        marks = self.key_marks if at_key else self.value_marks
        probe = tuple(path)
        while probe:
            if probe in marks:
                return marks[probe]
            if probe in self.value_marks:
                return self.value_marks[probe]
            probe = probe[:-1]
        return self.value_marks.get((), (1, 1))


_SCALARS = yaml.SafeLoader("")

# Bounds for any YAML oktasync reads (docs/config.md "Limits"): a config or playbook is a few KiB.
MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000  # values after expanding aliases: an alias bomb stops here, not at gigabytes
MAX_DEPTH = 64

_TAG = "tag:yaml.org,2002:"
_PLAIN_SCALAR_TAGS = {_TAG + name for name in ("str", "int", "float", "bool", "null")}
_TAG_FIX = "remove the tag: oktasync reads plain YAML values (strings, numbers, true/false, lists, mappings)"


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0
        self.stack: set[int] = set()


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _stop(doc: SourceDocument, node: yaml.Node, message: str, fix: str) -> ConfigError:
    line, column = _mark(node)
    return ConfigError([Problem(doc.file, line, column, message, fix)])


def _convert(
    node: yaml.Node, path: Path_, doc: SourceDocument, problems: list[Problem], budget: _Budget
) -> Any:
    budget.nodes += 1
    if budget.nodes > MAX_NODES:
        raise _stop(
            doc,
            node,
            f"more than {MAX_NODES} values after expanding aliases (an alias bomb?)",
            "write the values out, or use fewer nested aliases",
        )
    if len(path) > MAX_DEPTH:
        raise _stop(doc, node, f"nested more than {MAX_DEPTH} levels deep", "flatten the structure")
    if id(node) in budget.stack:
        raise _stop(doc, node, "an alias refers to a value that contains it", "remove the recursive alias")
    doc.value_marks.setdefault(path, _mark(node))
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        expected = _TAG + ("map" if isinstance(node, yaml.MappingNode) else "seq")
        if node.tag != expected:
            line, column = _mark(node)
            problems.append(
                Problem(
                    doc.file, line, column, f"unsupported YAML tag {node.tag}", _TAG_FIX, key=dotted_key(path)
                )
            )
            return None
        budget.stack.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return _mapping(node, path, doc, problems, budget)
            return [
                _convert(item, (*path, index), doc, problems, budget) for index, item in enumerate(node.value)
            ]
        finally:
            budget.stack.discard(id(node))
    return _scalar(node, path, doc, problems)


def _mapping(
    node: yaml.MappingNode, path: Path_, doc: SourceDocument, problems: list[Problem], budget: _Budget
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _PLAIN_SCALAR_TAGS:
            line, column = _mark(key_node)
            problems.append(
                Problem(
                    doc.file,
                    line,
                    column,
                    "mapping keys must be plain strings",
                    "write the key as a plain word (quote it if it looks like a number or a date)",
                    key=dotted_key(path),
                )
            )
            continue
        key = key_node.value
        if key in result:
            line, column = _mark(key_node)
            problems.append(
                Problem(
                    doc.file,
                    line,
                    column,
                    f"duplicate key '{key}'",
                    "keep one of them",
                    key=dotted_key((*path, key)),
                )
            )
        doc.key_marks.setdefault((*path, key), _mark(key_node))
        result[key] = _convert(value_node, (*path, key), doc, problems, budget)
    return result


def _scalar(node: yaml.Node, path: Path_, doc: SourceDocument, problems: list[Problem]) -> Any:
    line, column = _mark(node)
    key = dotted_key(path)
    if node.tag == _TAG + "timestamp":
        try:
            _SCALARS.construct_object(node)
        except ValueError:
            problems.append(
                Problem(
                    doc.file,
                    line,
                    column,
                    "the value is not a real date or time",
                    "fix it, or quote it",
                    key=key,
                )
            )
        return node.value  # a date stays the text it was written as (JSON has no dates)
    if node.tag not in _PLAIN_SCALAR_TAGS:
        problems.append(
            Problem(doc.file, line, column, f"unsupported YAML tag {node.tag}", _TAG_FIX, key=key)
        )
        return None
    try:
        # Let the safe constructor resolve ints, bools, nulls exactly as YAML does.
        return _SCALARS.construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):
        kind = node.tag.removeprefix(_TAG)
        problems.append(
            Problem(
                doc.file, line, column, f"the value is not a valid {kind}", f"write a plain {kind}", key=key
            )
        )
        return None


def read_bounded_text(path: Path | str, *, what: str = "file", max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes``, or ``ConfigError`` naming the file and
    never quoting it: a FIFO, a device, a directory, a binary file or a symlink out of its directory."""
    name = str(path)
    target = Path(path)

    def refuse(message: str, fix: str) -> ConfigError:
        return ConfigError([Problem(name, None, None, message, fix)])

    if target.is_symlink():
        try:
            resolved = target.resolve(strict=True)
        except (OSError, RuntimeError):
            raise refuse(f"{what} is a broken symbolic link", "pass the file itself") from None
        if not resolved.is_relative_to(target.parent.resolve()):
            raise refuse(
                f"{what} is a symbolic link to a file outside its directory",
                "pass the file itself, or copy it next to the link",
            )
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the read
    except FileNotFoundError:
        raise refuse(f"{what} not found", "check the path") from None
    except OSError as error:
        raise refuse(f"cannot read {what}: {error.strerror}", "check the path and its permissions") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise refuse(f"cannot read {what}: Is a directory", f"pass the path of the {what} file")
        if not stat.S_ISREG(info.st_mode):
            raise refuse(
                f"{what} is not a regular file (a device, FIFO or socket)", "pass the path of a regular file"
            )
        raise refuse(
            f"{what} is larger than {max_bytes // 1024} KiB", f"a {what} is a few KiB: check the path"
        )
    with os.fdopen(fd, "rb") as handle:
        try:
            raw = handle.read(max_bytes + 1)
        except OSError as error:
            raise refuse(f"cannot read {what}: {error.strerror}", "check the path") from None
    if len(raw) > max_bytes:
        raise refuse(
            f"{what} is larger than {max_bytes // 1024} KiB", f"a {what} is a few KiB: check the path"
        )
    if b"\x00" in raw:
        raise refuse(f"{what} is a binary file, not text", "pass the path of a UTF-8 text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError(
            [Problem(name, line, None, f"{what} is not UTF-8 text", "save the file as UTF-8")]
        ) from None


def _check_depth(name: str, text: str) -> None:
    """Refuse deep nesting before composing (the composer recurses once per level), at the level's line."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
                raise ConfigError(
                    [
                        Problem(
                            name,
                            line,
                            column,
                            f"nested more than {MAX_DEPTH} levels deep",
                            "flatten the structure",
                        )
                    ]
                )
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1


def load_yaml_document(path: Path | str, *, what: str = "file") -> SourceDocument:
    """Parse ``path`` into a ``SourceDocument`` whose root is a mapping, or raise ``ConfigError``."""
    name = str(path)
    text = read_bounded_text(path, what=what)
    try:
        _check_depth(name, text)
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
        raise ConfigError(
            [Problem(name, None, None, f"invalid YAML: {error}", "fix the YAML syntax")]
        ) from None
    except RecursionError:
        raise ConfigError(
            [Problem(name, None, None, f"the {what} is nested too deeply", "flatten the structure")]
        ) from None
    if node is None:
        raise ConfigError([Problem(name, 1, 1, f"the {what} is empty", f"write a {what} (see configs/)")])
    if not isinstance(node, yaml.MappingNode):
        line, column = _mark(node)
        raise ConfigError(
            [Problem(name, line, column, f"the {what} must be a mapping of keys to values", "see configs/")]
        )
    doc = SourceDocument(file=name, data=None, sha256=hashlib.sha256(text.encode()).hexdigest())
    problems: list[Problem] = []
    doc.data = _convert(node, (), doc, problems, _Budget())
    if problems:
        raise ConfigError(problems)
    return doc
