"""From pydantic's validation errors to problems a person can act on: the key, its line, a fix.

Shared by the tenant config loader and the playbook loader: both validate YAML with strict pydantic
models (``extra="forbid"``) and report every error at the value's file:line:column.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from oktasync.yamlsource import Path_

# What to write instead, by pydantic error type (https://docs.pydantic.dev/latest/errors/validation_errors/).
_TYPE_FIXES = {
    "int_type": "write a whole number",
    "int_parsing": "write a whole number",
    "int_from_float": "write a whole number",
    "float_type": "write a number",
    "float_parsing": "write a number",
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "string_type": "write a string (quote it if it looks like a number or true/false)",
    "model_type": "write a mapping (indented key: value lines)",
    "model_attributes_type": "write a mapping (indented key: value lines)",
    "dict_type": "write a mapping (indented key: value lines)",
    "list_type": "write a list (lines starting with '- ')",
    "greater_than": "use a larger value",
    "greater_than_equal": "use a larger value",
    "less_than": "use a smaller value",
    "less_than_equal": "use a smaller value",
    "too_short": "add at least one item",
}


def suggest(word: str, options: Iterable[str]) -> str | None:
    """``did you mean 'create_users'?`` for a near miss among ``options``, else None."""
    close = difflib.get_close_matches(str(word), list(options), n=1)
    return f"did you mean '{close[0]}'?" if close else None


def document_path(loc: Iterable[Any], data: Any, kind: str) -> Path_:
    """pydantic's error location as the path of the value in the document: the parts pydantic adds (the
    tag of a union member such as ``bool`` or ``function-after[...]``, a discriminator's value, ``[key]``)
    are not keys of the data, so they are left out. A missing key is kept: it names what to add."""
    parts = list(loc)
    path: list[str | int] = []
    node = data
    for index, part in enumerate(parts):
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif kind == "missing" and index == len(parts) - 1 and isinstance(part, str):
            node = None
        else:
            continue
        path.append(part)
    return tuple(path)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def model_at(root: type[BaseModel], path: Path_) -> type[BaseModel] | None:
    """The model that validates the mapping at ``path`` (list indexes skipped), if one does."""
    model: type[BaseModel] | None = root
    for part in path:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        models = _models_in(field.annotation)
        model = models[0] if len(models) == 1 else None
    return model


def field_names(model: type[BaseModel]) -> list[str]:
    """The keys a mapping validated by ``model`` may hold (aliases, as written in YAML)."""
    return [field.alias or name for name, field in model.model_fields.items()]


def unknown_key_fix(key: str, allowed: Iterable[str]) -> str:
    options = list(allowed)
    return suggest(key, options) or f"remove it, or use one of: {', '.join(options)}"


def type_fix(item: Mapping[str, Any]) -> str | None:
    """A fix for a wrong value, from the error's type (and the allowed values of a choice)."""
    kind = item["type"]
    if kind == "literal_error":
        return f"use one of: {item.get('ctx', {}).get('expected', '')}"
    if kind in ("string_pattern_mismatch", "string_too_short", "string_too_long"):
        return "see `oktasync schema` for what the value may be"
    return _TYPE_FIXES.get(kind)
