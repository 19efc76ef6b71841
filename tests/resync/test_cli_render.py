"""The resync report's status words: coloured on a terminal, plain text anywhere else."""

from __future__ import annotations

import io
import sys

import pytest

from oktasync.cli import resync as resync_cli
from oktasync.cli.context import reset_output

REPORT = [
    "Resync of Chronosphere (tenant acme) finished, NOT proven: run 20261205T000000Z-abcd1234",
    "  NOT re-pushed: 2 user(s):",
]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def rendered(monkeypatch: pytest.MonkeyPatch, stream: io.StringIO) -> str:
    reset_output()
    monkeypatch.setattr(sys, "stdout", stream)
    resync_cli._print_result(REPORT)
    return stream.getvalue()


def test_status_words_are_coloured_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    out = rendered(monkeypatch, Terminal())
    assert "\x1b[" in out
    assert out.count("NOT") == 2 and "finished, NOT proven" in out


@pytest.mark.parametrize("stream_kind", ["pipe", "no-color"])
def test_status_words_are_plain_in_a_pipe_or_under_no_color(
    monkeypatch: pytest.MonkeyPatch, stream_kind: str
) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    if stream_kind == "no-color":
        monkeypatch.setenv("NO_COLOR", "1")
        stream: io.StringIO = Terminal()
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
        stream = io.StringIO()
    assert rendered(monkeypatch, stream) == "\n".join(REPORT) + "\n"
