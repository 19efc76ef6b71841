"""The System Log's paging cursor and ``filter`` expression parser, as the emulator serves them."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from typing import Any

from oktasync.emulator.responses import (
    OktaError,
    invalid_cursor,
)


def _millis(epoch: float) -> int:
    return round(epoch * 1000)


def log_cursor(times: list[float], index: int) -> str:
    """Okta's System Log cursor, ``<published epoch ms>_<rank among the events of that ms>`` (recorded:
    ``after=1658862453660_1``): it names the last event returned, so the next page starts after it."""
    ms = _millis(times[index])
    first = bisect.bisect_left(times, (ms - 0.5) / 1000)
    return f"{ms}_{index - first + 1}"


def log_cursor_position(times: list[float], cursor: str) -> int:
    """Index of the first event after ``cursor``; a value the server could not have minted is E0000029."""
    match = re.fullmatch(r"(\d{1,15})_(\d{1,9})", cursor)
    if match is None:
        raise invalid_cursor()
    ms, rank = int(match.group(1)), int(match.group(2))
    first = bisect.bisect_left(times, (ms - 0.5) / 1000)
    same_ms = bisect.bisect_left(times, (ms + 0.5) / 1000) - first
    return first + min(rank, same_ms)


_FILTER_TERM = re.compile(r'^\s*([A-Za-z_][\w.]*)\s+(eq|sw|ew|co)\s+"((?:[^"\\]|\\.)*)"\s*$')


def parse_log_filter(expr: str | None) -> Callable[[dict[str, Any]], bool]:
    """``field <op> "v"`` terms joined by ``and``, op one of ``eq``, ``sw``, ``ew``, ``co`` (syslog-query:
    https://developer.okta.com/docs/reference/system-log-query/; ``ew`` recorded by JupiterOne/graph-okta)."""
    if not expr:
        return lambda _event: True
    terms: list[tuple[list[str], str, str]] = []
    for part in re.split(r"\s+and\s+", expr.strip(), flags=re.IGNORECASE):
        match = _FILTER_TERM.match(part)
        if not match:
            raise OktaError(
                400, "E0000001", "Api validation failed: filter", [f"Invalid filter: {part.strip()}"]
            )
        terms.append((match.group(1).split("."), match.group(2), match.group(3).replace('\\"', '"')))

    def values(node: Any, path: list[str]) -> list[Any]:
        if not path:
            return [node]
        if isinstance(node, list):
            return [v for item in node for v in values(item, path)]
        if isinstance(node, dict) and path[0] in node:
            return values(node[path[0]], path[1:])
        return []

    def predicate(event: dict[str, Any]) -> bool:
        for path, op, wanted in terms:
            found = values(event, path)
            if op == "eq":
                ok = any(isinstance(v, str) and v == wanted for v in found)
            elif op == "sw":
                ok = any(isinstance(v, str) and v.startswith(wanted) for v in found)
            elif op == "ew":
                ok = any(isinstance(v, str) and v.endswith(wanted) for v in found)
            else:
                ok = any(isinstance(v, str) and wanted in v for v in found)
            if not ok:
                return False
        return True

    return predicate
