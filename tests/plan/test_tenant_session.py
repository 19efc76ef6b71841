"""TenantSession on FakeGateway: the app resolved once, its one state directory, the write guard held until
the session closes, an injected gateway left open, and a tenant's older state adopted on first use."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from oktasync.config import TenantConfig, load_tenant
from oktasync.errors import LockedError, OktasyncError
from oktasync.okta_gateway import FakeGateway
from oktasync.state import exclusive_lock
from oktasync.workflows.session import TenantSession, app_state_dir

CONFIG = """\
tenant: acme
okta:
  org_url: https://Acme.okta.com/
  token: "{{ env.OKTA_API_TOKEN }}"
app:
  label: Chronosphere
scim:
  base_url: https://acme.chronosphere.io/api/scim/v2
  auth:
    bearer_token: "{{ env.SCIM_TOKEN }}"
"""


def _config(tmp_path: Path) -> TenantConfig:
    path = tmp_path / "acme.yaml"
    path.write_text(CONFIG)
    return load_tenant(path, environ={"OKTA_API_TOKEN": "api-SECRET", "SCIM_TOKEN": "scim-SECRET"})


def test_the_app_is_resolved_once_and_its_state_dir_is_keyed_by_org_and_id(tmp_path: Path) -> None:
    gateway = FakeGateway()
    app = gateway.add_app("Chronosphere")

    async def run() -> Path:
        async with TenantSession(_config(tmp_path), tmp_path / "state", gateway=gateway) as session:
            assert await session.gateway() is gateway
            assert (await session.app()).id == app.id
            assert (await session.app()).id == app.id
            return await session.app_dir()

    app_dir = asyncio.run(run())
    assert app_dir == tmp_path / "state" / "apps" / "acme.okta.com" / app.id and app_dir.is_dir()
    assert [name for name, _ in gateway.calls].count("find_apps") == 1
    assert not getattr(gateway, "closed", False)  # an injected gateway is the caller's to close


def test_the_write_guard_holds_the_app_lock_until_the_session_closes(tmp_path: Path) -> None:
    gateway = FakeGateway()
    gateway.add_app("Chronosphere")
    config = _config(tmp_path)

    async def run() -> Path:
        async with TenantSession(config, tmp_path / "state", gateway=gateway) as session:
            await session.guard_write(doing="apply", check_okta=False)
            lock = await session.app_dir() / "app.lock"
            with pytest.raises(LockedError), exclusive_lock(lock, "another writer"):
                pass
            return lock

    lock = asyncio.run(run())
    with exclusive_lock(lock, "another writer"):  # released with the session
        pass


def test_an_unresolvable_app_is_an_error_before_any_state_is_written(tmp_path: Path) -> None:
    gateway = FakeGateway()
    gateway.add_app("Another")

    async def run() -> None:
        async with TenantSession(_config(tmp_path), tmp_path / "state", gateway=gateway) as session:
            await session.app_dir()

    with pytest.raises(OktasyncError, match="no app labelled 'Chronosphere'"):
        asyncio.run(run())
    assert not (tmp_path / "state").exists()


def test_state_a_tenant_kept_under_its_name_moves_into_the_app_dir(tmp_path: Path) -> None:
    gateway = FakeGateway()
    app = gateway.add_app("Chronosphere")
    config = _config(tmp_path)
    by_id = tmp_path / "state" / "acme" / app.id
    by_label = tmp_path / "state" / "acme" / "Chronosphere" / "playbooks"
    by_id.mkdir(parents=True)
    by_label.mkdir(parents=True)
    (by_id / "tasks-state.json").write_text('{"known": {}}\n')
    (by_label / "verify.json").write_text("{}\n")

    async def run() -> Path:
        async with TenantSession(config, tmp_path / "state", gateway=gateway) as session:
            return await session.app_dir()

    app_dir = asyncio.run(run())
    assert app_dir == app_state_dir(tmp_path / "state", config, app.id, app.label)
    assert (app_dir / "tasks-state.json").read_text() == '{"known": {}}\n'
    assert (app_dir / "playbooks" / "verify.json").read_text() == "{}\n"
    assert not (by_id / "tasks-state.json").exists() and not (by_label / "verify.json").exists()
