"""The bounded jinja2 sandbox shared by configs and playbooks (oktasync/config/sandbox.py)."""

from __future__ import annotations

import signal
import time

import pytest

from oktasync.config.sandbox import BoundedSandbox, LimitExceeded, render_text, time_limit

SANDBOX = BoundedSandbox()


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ 'acme' | upper }}-{{ range(3) | join(',') }}", "ACME-0,1,2"),
        ("{{ 'a-b' | replace('-', '_') }} {{ 'x' * 3 }} {{ 2 ** 10 }}", "a_b xxx 1024"),
        ("{{ ['b', 'a'] | sort | first }}{{ '%s!' | format('hi') }}", "ahi!"),
        ("{{ 'x' | center(7) }}", "   x   "),
    ],
)
def test_ordinary_templates_render(template: str, expected: str) -> None:
    with time_limit():
        assert render_text(SANDBOX.from_string(template), {}) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 10**7 }}",
        "{{ [0] * 10**7 }}",
        "{{ 10 ** 100000 }}",
        "{{ 'x' | center(10**7) }}",
        "{{ 'x' | indent(10**7, true) }}",
        "{{ '%*s' | format(10**7, 'x') }}",
        "{{ ('x' * 5000) | replace('x', 'x' * 5000) }}",
        "{{ ('x' * 5000).replace('x', 'x' * 5000) }}",
        "{{ 'x'.ljust(10**7) }}",
        "{{ '{:>99999999}'.format(1) }}",
        "{{ range(10**6) | list }}",
    ],
)
def test_values_are_refused_before_they_are_built(template: str) -> None:
    with pytest.raises(jinja2_errors()):
        render_text(SANDBOX.from_string(template), {})


def jinja2_errors() -> tuple[type[Exception], ...]:
    from jinja2.exceptions import SecurityError

    return (LimitExceeded, SecurityError)


def test_a_runaway_loop_is_stopped_and_another_timer_is_given_back() -> None:
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.6)
    try:
        started = time.monotonic()
        loops = "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}"
        with pytest.raises(LimitExceeded, match="longer than 0.2 s"), time_limit(0.2):
            render_text(SANDBOX.from_string(loops), {})
        assert time.monotonic() - started < 0.5
        deadline = time.monotonic() + 2
        while not fired and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fired == [1]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
