"""The Okta gateway: the one seam between oktasync and Okta (docs/architecture.md, Layers; docs/gateway.md).

Workflows use only the ``OktaGateway`` protocol (``okta_gateway.base``)::

    from oktasync.okta_gateway import open_gateway, resolve_app

    async with open_gateway(config, progress=progress) as gateway:
        app = await resolve_app(gateway, config)

Commands and playbook runs reach these two through ``workflows.session.TenantSession`` (the gateway opened
once, the app resolved once, the app's state directory). ``open_gateway`` imports the SDK-backed
implementation lazily, so commands that never call Okta do not pay
for the ``okta`` package; unit tests use ``FakeGateway`` (in memory, same semantics).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from oktasync.errors import NotFoundError, OktasyncError
from oktasync.models import App
from oktasync.okta_gateway.base import OktaGateway
from oktasync.okta_gateway.fake import FakeGateway

if TYPE_CHECKING:
    from oktasync.config.schema import TenantConfig
    from oktasync.progress import Progress

__all__ = ["FakeGateway", "OktaGateway", "open_gateway", "resolve_app"]


@asynccontextmanager
async def open_gateway(
    config: TenantConfig, *, progress: Progress | None = None
) -> AsyncIterator[OktaGateway]:
    """The SDK-backed gateway for ``config.okta`` (with the Admin Console channel attached when the config
    has ``okta.admin_session``), closed on exit."""
    from oktasync.okta_gateway.sdk import SdkGateway

    gateway = SdkGateway.from_config(config.okta, progress=progress)
    try:
        yield gateway
    finally:
        await gateway.close()


async def resolve_app(gateway: OktaGateway, config: TenantConfig) -> App:
    """The app the config manages: by ``app.id``, else by exact ``app.label``.

    No match and several matches are errors; several matches list every candidate so the user can pin one
    with ``app.id``.
    """
    ref = config.app
    if ref.id:
        try:
            return await gateway.get_app(ref.id)
        except NotFoundError as exc:
            raise OktasyncError(
                f"no app with id {ref.id!r} in {config.okta.org_url}",
                hint="check app.id (Admin Console > Applications > the app: the id is in the URL)",
            ) from exc
    label = ref.label or ""
    apps = await gateway.find_apps(label)
    if not apps:
        raise OktasyncError(
            f"no app labelled {label!r} in {config.okta.org_url}",
            hint="app.label must equal the app's label exactly (case and spaces count), or set app.id: 0oa…",
        )
    if len(apps) > 1:
        listing = "\n".join(f"  {a.id}  {a.name}  {a.status}  {a.label!r}" for a in apps)
        raise OktasyncError(
            f"{len(apps)} apps are labelled {label!r} in {config.okta.org_url}:\n{listing}",
            hint="set app.id in the config to the one to manage",
        )
    return apps[0]
