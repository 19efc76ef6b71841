"""A jinja2 sandbox with bounds, for tenant configs and playbooks (docs/playbooks.md "Limits").

jinja2's own sandbox keeps templates away from Python internals but lets them build values of any size
(``'x' * 10**9``, ``'x' | center(10**9)``) and loop for as long as they like. Here:

* **memory**: a string, list or number an operator, filter or method would build is checked *before* it
  is built, against ``MAX_VALUE_CHARS`` (strings, lists) and ``MAX_INT_BITS`` (numbers);
* **loops**: ``range()`` is capped at ``MAX_RANGE`` items;
* **time**: ``time_limit()`` interrupts an evaluation that runs longer than its budget (a SIGALRM timer,
  on the main thread, where the CLI runs templates).
"""

from __future__ import annotations

import functools
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import jinja2
import jinja2.nodes
import jinja2.sandbox
from jinja2.exceptions import SecurityError

MAX_VALUE_CHARS = 1_000_000
MAX_INT_BITS = 4096
MAX_RANGE = 10_000
TIME_LIMIT_SECONDS = 2.0


class LimitExceeded(jinja2.TemplateError):
    """A template went over one of the bounds; the message says which."""


def _size(value: Any) -> int:
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset):
        return len(value)
    return 0


def _check_int(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise LimitExceeded(f"a number in the template is larger than {MAX_INT_BITS} bits")


def _check_size(value: Any) -> Any:
    if _size(value) > MAX_VALUE_CHARS:
        raise LimitExceeded(f"the template built a value larger than {MAX_VALUE_CHARS} items/characters")
    _check_int(value)
    return value


def _check_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """A number argument is a width, a count or a repeat in every filter and method that takes one: a big one
    builds a big value (``center``, ``indent``, ``ljust``, ``zfill``, ``format('%*s')``)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE_CHARS:
            raise LimitExceeded(f"a number argument is larger than {MAX_VALUE_CHARS}")


def _predicted_replace(text: Any = None, old: Any = None, new: Any = None, count: Any = -1, *_: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        if len(text) + hits * (len(new) - len(old)) > MAX_VALUE_CHARS:
            raise LimitExceeded(f"replace() would build more than {MAX_VALUE_CHARS} characters")


def _bounded_filter(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_args(args, kwargs)
        if name == "replace":
            values = [
                arg
                for arg in args
                if not isinstance(arg, jinja2.runtime.Context | jinja2.Environment | jinja2.nodes.EvalContext)
            ]
            _predicted_replace(*values[:3], kwargs.get("count", values[3] if len(values) > 3 else -1))
        return _check_size(function(*args, **kwargs))

    return bounded


def _bounded_range(*args: int) -> range:
    for value in args:
        _check_int(value)
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise LimitExceeded(f"range() is capped at {MAX_RANGE} items")
    return result


class BoundedSandbox(jinja2.sandbox.SandboxedEnvironment):
    """The sandbox with size checks on every operator, filter and call that can grow a value."""

    intercepted_binops = frozenset({"*", "**", "+", "<<"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _bounded_filter(fn, name) for name, fn in self.filters.items()}
        self.globals["range"] = _bounded_range

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            for sized, times in ((left, right), (right, left)):
                if _size(sized) and isinstance(times, int) and _size(sized) * max(times, 0) > MAX_VALUE_CHARS:
                    raise LimitExceeded(f"the template built a value larger than {MAX_VALUE_CHARS} items")
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise LimitExceeded(f"a number in the template is larger than {MAX_INT_BITS} bits")
        elif operator == "+" and _size(left) + _size(right) > MAX_VALUE_CHARS:
            raise LimitExceeded(f"the template built a value larger than {MAX_VALUE_CHARS} items")
        return _check_size(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # str.format / format_map can pad to any width ("{:>999999999}"): refused outright.
        if super().wrap_str_format(value) is None:
            return None

        def refused(*args: Any, **kwargs: Any) -> str:
            raise SecurityError("str.format is not available in templates; use ~ or the format filter")

        return refused

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        name = getattr(__obj, "__name__", "")
        _check_args(args, kwargs)
        if name == "replace":
            _predicted_replace(getattr(__obj, "__self__", None), *args[:3])
        return _check_size(super().call(__context, __obj, *args, **kwargs))


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int | float) and isinstance(exponent, int | float):
        magnitude = abs(base)
        if magnitude > 1 and exponent > 0 and exponent * math.log2(magnitude) > MAX_INT_BITS:
            raise LimitExceeded(f"a number in the template is larger than {MAX_INT_BITS} bits")


class _TimeUp(BaseException):
    """Raised by the timer inside the template; a BaseException so that no template-level handler eats it."""


@contextmanager
def time_limit(seconds: float = TIME_LIMIT_SECONDS) -> Iterator[None]:
    """Interrupt the body after ``seconds`` with ``LimitExceeded`` (main thread only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise _TimeUp

    previous = signal.signal(signal.SIGALRM, interrupt)
    other_delay, other_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    except _TimeUp:
        raise LimitExceeded(f"the template ran longer than {seconds:g} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if other_delay:  # someone else's timer was running: give it back what is left of it
            left = max(other_delay - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, other_interval)


def render_text(template: jinja2.Template, scope: Any, *, max_chars: int = MAX_VALUE_CHARS) -> str:
    """Render ``template`` chunk by chunk, stopping as soon as the output passes ``max_chars``."""
    parts: list[str] = []
    total = 0
    for chunk in template.generate(scope):
        total += len(chunk)
        if total > max_chars:
            raise LimitExceeded(f"the template renders more than {max_chars} characters")
        parts.append(chunk)
    return "".join(parts)
