"""Okta's background jobs for group assignment changes.

Assigning a group to an app, or unassigning it, answers at once; the app users that the change entitles or
disentitles are created or removed afterwards by a background job, whose System Log events carry
``transaction.type: JOB`` (docs/okta-behaviour.md, "Group assignments and background jobs"). How late the job
runs is not documented, so it is a switch (``group_assign_delay_seconds``, ``group_unassign_delay_seconds``,
``group_job_late_seconds`` in ``behaviour.py``), in emulated seconds scaled by the emulator's ``time_scale``.

A job decides what to do when it runs, from the state at that moment: an unassignment whose group was
assigned again in the meantime removes nobody, and whether a removal deactivates the user in the target
depends on *Deactivate Users* at that moment, as it does for Okta's own job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

LATE_EVERY = 3  # with group_job_late_seconds set, every third job scheduled runs that much later


class GroupJobs:
    """Delayed callbacks on the emulator's event loop, with a count of those still pending."""

    def __init__(self) -> None:
        self._handles: set[asyncio.TimerHandle] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.scheduled = 0  # jobs ever scheduled with a delay (decides which one runs late)

    @property
    def pending(self) -> int:
        return len(self._handles)

    def delay(self, base: float, late: float) -> float:
        """The emulated delay of the next job: ``base``, plus ``late`` for every ``LATE_EVERY``-th job."""
        if base <= 0 and late <= 0:
            return 0.0
        self.scheduled += 1
        return base + (late if late > 0 and self.scheduled % LATE_EVERY == 0 else 0.0)

    def run_after(self, seconds: float, job: Callable[[], None]) -> None:
        """Run ``job`` after ``seconds`` (real seconds), or at once when ``seconds`` is not positive."""
        if seconds <= 0:
            job()
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            assert handle is not None
            self._handles.discard(handle)
            try:
                job()
            finally:
                if not self._handles:
                    self._idle.set()

        handle = loop.call_later(seconds, fire)
        self._handles.add(handle)
        self._idle.clear()

    def clear(self) -> None:
        """Drop every pending job (the org's state was replaced)."""
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
        self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True
