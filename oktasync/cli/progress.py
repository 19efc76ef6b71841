"""rich progress bars on stderr, only on a TTY (see ``context.progress_enabled``)."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import TYPE_CHECKING

from oktasync.cli.context import progress_enabled, register_live_display, terminal_console
from oktasync.progress import NullProgress, Progress
from oktasync.textsafe import for_terminal

if TYPE_CHECKING:
    from rich.progress import TaskID

log = logging.getLogger("oktasync")


class RichProgress:
    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars

        self._bars = Bars(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=terminal_console(stderr=True),
            transient=True,  # cleared when the work ends, before the command prints its result
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self._bars.start()
        register_live_display(self._bars)  # paused while a person is asked something
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        register_live_display(None)
        self._bars.stop()

    def start(self, task: str, total: int | None = None) -> None:
        self._tasks[task] = self._bars.add_task(task, total=total)

    def advance(self, task: str, amount: int = 1) -> None:
        if task in self._tasks:
            self._bars.advance(self._tasks[task], amount)

    def finish(self, task: str) -> None:
        """The task's bar disappears at once: the next line printed is never drawn under a stale bar."""
        if task in self._tasks:
            self._bars.remove_task(self._tasks.pop(task))

    def note(self, message: str) -> None:
        from rich.text import Text

        # A plain line above the bars: console.log would add the time and the caller's source location
        # (``progress.py:55``), which mean nothing to the person reading it.
        self._bars.console.print(Text(for_terminal(message)))


class _LoggingProgress(NullProgress):
    """Without a TTY, long waits still reach the log (stderr), never stdout."""

    def note(self, message: str) -> None:
        log.info(message)


def make_progress(as_json: bool = False) -> tuple[Progress, RichProgress | None]:
    """A progress sink for a command, and the context manager to enter when it is a live display."""
    if progress_enabled() and not as_json:
        bars = RichProgress()
        return bars, bars
    return _LoggingProgress(), None
