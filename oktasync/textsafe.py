"""Data from Okta or a SCIM target, made safe for the place it is printed.

* ``for_terminal``: escape control characters (ANSI/OSC escape sequences, carriage returns, backspaces,
  C1 controls, bidirectional overrides) so a user name or an error message from a target cannot move the
  cursor, rewrite earlier lines, set the window title or hide text. Newlines and tabs stay unless asked.
* ``csv_cell``: a cell a spreadsheet would run as a formula gets a leading ``'`` (OWASP "CSV Injection":
  cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return).

JSON output needs neither: JSON escapes control characters, and it is read by programs, not people.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls but \t and \n, DEL, C1 controls, and the Unicode bidirectional embedding/override/isolate
# characters (which can make text read differently from what it is).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_AND_LAYOUT = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_terminal(value: Any, *, single_line: bool = False) -> str:
    """``value`` as text with every control character shown as an escape (``\\x1b``), never executed.
    ``single_line`` escapes newlines and tabs too (for a value printed inside a line or a table cell)."""
    text = "" if value is None else str(value)
    pattern = _CONTROL_AND_LAYOUT if single_line else _CONTROL
    return pattern.sub(_visible, text)


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a string that would start a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
