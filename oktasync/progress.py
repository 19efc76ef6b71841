"""How workflows report progress without knowing about terminals.

The CLI passes a rich-backed implementation on a TTY (``oktasync.cli.progress``); everything else gets
``NullProgress``. Long waits (rate-limit resets, polling a person's console change) go through ``note`` so
that the user sees why nothing moves.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, task: str, total: int | None = None) -> None: ...

    def advance(self, task: str, amount: int = 1) -> None: ...

    def finish(self, task: str) -> None: ...

    def note(self, message: str) -> None: ...


class NullProgress:
    def start(self, task: str, total: int | None = None) -> None:
        pass

    def advance(self, task: str, amount: int = 1) -> None:
        pass

    def finish(self, task: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass
