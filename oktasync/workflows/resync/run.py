"""One resync in progress: what every step reads and writes (the app, the gateway, the journal and the run
state replayed from it), and the helpers the steps share: a bounded fan-out and the safe stop points."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from oktasync.errors import Interrupted
from oktasync.models import App, AppKind
from oktasync.okta_gateway.base import OktaGateway
from oktasync.progress import Progress
from oktasync.workflows.resync.journal import GroupRecord, ResyncJournal, RunState, Snapshot
from oktasync.workflows.resync.options import ResyncOptions
from oktasync.workflows.resync.records import Aborted, Outcome
from oktasync.workflows.resync.snapshot import AppUserListing
from oktasync.workflows.resync.steps import FoundOn, Step
from oktasync.workflows.resync.switch import DeactivateUsersSwitch

if TYPE_CHECKING:
    from oktasync.config.schema import TenantConfig

T = TypeVar("T")


class RollBack(Exception):
    """A stop (Ctrl-C) while groups are unassigned and none is reassigned yet: roll back."""


def chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]


class ResyncRun:
    """The shared context of one run's steps; ``state`` is re-read from the journal after each record."""

    def __init__(
        self,
        *,
        config: TenantConfig,
        gateway: OktaGateway,
        app: App,
        kind: AppKind,
        journal: ResyncJournal,
        switch: DeactivateUsersSwitch,
        options: ResyncOptions,
        stop_requested: Callable[[], bool],
        progress: Progress,
        resume_command: str,
        snapshot_listing: AppUserListing | None = None,
    ) -> None:
        self.config, self.gateway, self.app, self.kind = config, gateway, app, kind
        self.journal, self.switch, self.options = journal, switch, options
        self.stop_requested, self.progress, self.resume_command = stop_requested, progress, resume_command
        self.snapshot_listing = snapshot_listing
        self.concurrency = options.concurrency or config.okta.max_concurrency
        self.state: RunState = journal.state()
        self.rolling_back = False

    @property
    def snapshot(self) -> Snapshot:
        assert self.state.snapshot is not None
        return self.state.snapshot

    @property
    def expected(self) -> Mapping[str, GroupRecord]:
        assert self.state.expected is not None
        return self.state.expected

    def reload(self) -> None:
        self.state = self.journal.state()

    def check_stop(self, phase: str) -> None:
        """A stop (Ctrl-C) at a safe point. Before Deactivate Users is touched: the run ends, nothing changed.
        Before any group is reassigned (the removal wait): roll back (``RollBack``). While Okta re-creates
        the app users after reassigning: stop waiting, journal kept (``--resume`` waits again)."""
        if not self.stop_requested() or self.rolling_back:
            return  # a roll back is what the stop asked for: it runs to its end (a second Ctrl-C cancels)
        if not self.state.has_intent(Step.DEACTIVATE_OFF):
            self.journal.append("interrupted", phase=phase)
            self.journal.end(Aborted(Outcome.INTERRUPTED, "interrupted before any change"))
            path = self.journal.archive(Outcome.INTERRUPTED)
            raise Interrupted(
                f"resync of {self.app.label} interrupted before any change; nothing to resume "
                f"(journal: {path})"
            )
        if not self.state.intents.get(Step.ASSIGN):
            raise RollBack()
        self.journal.append("interrupted", phase=phase)
        raise Interrupted(
            f"resync of {self.app.label} interrupted ({phase}): every group is assigned again; Deactivate "
            "Users stays off until the run is finished",
            self.resume_command,
        )

    async def bounded(self, items: Sequence[str], work: Callable[[str], Awaitable[None]]) -> None:
        """Run ``work`` on every item, at most ``concurrency`` at once; every started item finishes (and is
        journaled) before the first error is raised."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(item: str) -> None:
            async with gate:
                await work(item)

        outcomes = await asyncio.gather(*(one(i) for i in items), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def deactivate_is_on(self, phase: str, batch: int) -> bool:
        """Re-read Deactivate Users; journal it when found on."""
        on, channel = await self.switch.read()
        if on:
            found = FoundOn(phase, batch, str(channel))
            self.journal.append("deactivate_found_on", **found.to_fields())
            self.reload()
        return on
