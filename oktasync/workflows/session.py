"""One tenant's session with Okta: its gateway, its app and the app's state directory (docs/architecture.md,
Tenant session).

Every command that talks to Okta, and every playbook run, goes through a ``TenantSession``::

    async with TenantSession(config, state_dir, progress=progress) as session:
        app = await session.app()           # opens the gateway on first use, resolves the app once
        app_dir = await session.app_dir()   # <state dir>/apps/<org host>/<app id>/
        await session.guard_write(doing="apply")  # the app's write lock, held until the session closes

The app's state directory is keyed by Okta org and app id, whatever the config calls the tenant or the app
(``StateDir.app_dir``): the app's write lock, resync journals, tasks and hooks state, plan confirmations,
playbook run records and the snapshot checkpoint all live there. Unit tests inject a ``FakeGateway``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from oktasync.okta_gateway import open_gateway, resolve_app
from oktasync.progress import NullProgress, Progress
from oktasync.state import StateDir
from oktasync.workflows.app_guard import app_write_lock, check_okta_activity, refuse_if_unfinished

if TYPE_CHECKING:
    from oktasync.config.schema import TenantConfig
    from oktasync.models import App
    from oktasync.okta_gateway.base import OktaGateway


def app_state_dir(state_dir: Path, config: TenantConfig, app_id: str, label: str | None = None) -> Path:
    """The one state directory of the config's Okta app (created on first use). State a config of this
    tenant kept under its tenant name (by app id, or by ``label``) is moved there first."""
    return StateDir(state_dir).app_dir(config.okta.org_url, app_id, tenant=config.tenant, label=label)


def org_app_dirs(state_dir: Path, config: TenantConfig) -> list[Path]:
    """The state directories of every app of the config's Okta org that has one (none is created): what
    offline readers search when the config names its app by label only."""
    return StateDir(Path(state_dir)).org_app_dirs(config.okta.org_url)


class TenantSession:
    """One tenant config's gateway (opened on first use), its app (resolved once) and the app's state dir.

    ``gateway`` injects a gateway (``FakeGateway`` in unit tests): the session then never closes it."""

    def __init__(
        self,
        config: TenantConfig,
        state_dir: Path,
        *,
        progress: Progress | None = None,
        gateway: OktaGateway | None = None,
    ) -> None:
        self.config = config
        self.state_dir = Path(state_dir)
        self.progress = progress or NullProgress()
        self._stack = contextlib.AsyncExitStack()
        self._gateway = gateway
        self._app: App | None = None
        self._app_dir: Path | None = None

    async def __aenter__(self) -> TenantSession:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def gateway(self) -> OktaGateway:
        """The tenant's Okta gateway, opened on first use."""
        if self._gateway is None:
            self._gateway = await self._stack.enter_async_context(
                open_gateway(self.config, progress=self.progress)
            )
        return self._gateway

    async def app(self) -> App:
        """The app the config manages (``app.id``, else the exact ``app.label``), resolved once."""
        if self._app is None:
            self._app = await resolve_app(await self.gateway(), self.config)
        return self._app

    async def app_dir(self) -> Path:
        """The app's one state directory: ``<state dir>/apps/<org host>/<app id>/``."""
        if self._app_dir is None:
            app = await self.app()
            self._app_dir = app_state_dir(self.state_dir, self.config, app.id, app.label)
        return self._app_dir

    async def guard_write(
        self,
        *,
        doing: str,
        config_path: str | None = None,
        deactivate_users: bool | None = None,
        refuse_unfinished: bool = True,
        check_okta: bool = True,
    ) -> None:
        """Everything a writer does before writing to the app (``workflows/app_guard.py``): take its write
        lock (held until the session closes), refuse over an unfinished resync (``refuse_unfinished``: a run
        finishing that very resync does not), and (``check_okta``) over one seen running in Okta."""
        await self.app_dir()  # the app's state moved into its one directory before the lock is taken there
        app, gateway = await self.app(), await self.gateway()
        self._stack.enter_context(app_write_lock(self.state_dir, self.config, app))
        if refuse_unfinished:
            refuse_if_unfinished(self.state_dir, self.config, app, doing=doing, config_path=config_path)
        if check_okta:
            await check_okta_activity(
                gateway, app, deactivate_users=deactivate_users, state_dir=self.state_dir, config=self.config
            )

    async def close(self) -> None:
        """Release the write lock (if taken) and close the gateway the session opened."""
        await self._stack.aclose()


__all__ = ["TenantSession", "app_state_dir", "org_app_dirs"]
