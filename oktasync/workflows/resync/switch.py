"""*Deactivate Users*, read and written through the best channel (``workflows.channels``)."""

from __future__ import annotations

from typing import Protocol

from oktasync.models import App, AppKind, Channel
from oktasync.okta_gateway.base import OktaGateway
from oktasync.progress import Progress
from oktasync.workflows.resync.options import ResyncOptions, WaitForPerson


class DeactivateUsersSwitch(Protocol):
    """Reads and writes *Provisioning > To App > Deactivate Users* of one app."""

    async def read(self) -> tuple[bool, Channel]: ...

    async def set(self, enabled: bool) -> Channel:
        """Return only once a read proves the new state (raise otherwise)."""
        ...


class ChannelSwitch:
    """The switch through ``workflows.channels`` (api / admin / manual with polling)."""

    def __init__(
        self,
        gateway: OktaGateway,
        app: App,
        kind: AppKind,
        *,
        wait_for_person: WaitForPerson | None = None,
        poll_interval: float = 5.0,
        timeout: float = 900.0,
        progress: Progress | None = None,
    ) -> None:
        self.gateway, self.app, self.kind = gateway, app, kind
        self.wait_for_person = wait_for_person
        self.poll_interval, self.timeout = poll_interval, timeout
        self.progress = progress

    async def read(self) -> tuple[bool, Channel]:
        from oktasync.workflows.channels import read_deactivate_users

        return await read_deactivate_users(self.gateway, self.app, self.kind)

    async def set(self, enabled: bool) -> Channel:
        from oktasync.workflows.channels import set_deactivate_users

        return await set_deactivate_users(
            self.gateway,
            self.app,
            self.kind,
            enabled,
            wait_for_person=self.wait_for_person,
            poll_interval=self.poll_interval,
            timeout=self.timeout,
            progress=self.progress,
        )


def default_switch(
    gateway: OktaGateway, app: App, kind: AppKind, options: ResyncOptions, progress: Progress
) -> DeactivateUsersSwitch:
    return ChannelSwitch(
        gateway,
        app,
        kind,
        wait_for_person=options.wait_for_person,
        poll_interval=options.poll_interval,
        timeout=options.manual_timeout,
        progress=progress,
    )


async def probe_kind(gateway: OktaGateway, app: App) -> AppKind:
    from oktasync.workflows.channels import probe_kind as probe

    return await probe(gateway, app)
