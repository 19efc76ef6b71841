"""channels.py: the kind probe, the routing table, read_actual and set_deactivate_users, on FakeGateway."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from oktasync.errors import ManualActionRequired, SafetyError, VerificationError
from oktasync.models import AppKind, Channel
from oktasync.okta_gateway.fake import FakeGateway
from oktasync.workflows import settings
from oktasync.workflows.channels import (
    probe_kind,
    read_actual,
    route,
    set_deactivate_users,
)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_probe_kind_custom_and_api() -> None:
    gw = FakeGateway()
    custom = gw.add_app("Chronosphere")
    oin = gw.add_app("Org2Org", kind=AppKind.API_CAPABLE)
    assert run(probe_kind(gw, custom)) is AppKind.CUSTOM_SCIM
    assert run(probe_kind(gw, oin)) is AppKind.API_CAPABLE


def test_routes_per_kind() -> None:
    base = settings.BASE_URL
    assert route(base, AppKind.API_CAPABLE, False).write is Channel.API
    assert not route(settings.UNIQUE_IDENTIFIER, AppKind.API_CAPABLE, False).applicable
    assert route(base, AppKind.CUSTOM_SCIM, True).write is Channel.ADMIN
    manual_base = route(base, AppKind.CUSTOM_SCIM, False)
    assert manual_base.write is Channel.MANUAL and not manual_base.verifiable
    manual_deact = route(settings.DEACTIVATE_USERS, AppKind.CUSTOM_SCIM, False)
    assert manual_deact.write is Channel.MANUAL and manual_deact.verifiable
    assert "PUSH_USER_DEACTIVATION" in (manual_deact.read or "")


def test_read_actual_custom_without_admin_uses_features() -> None:
    gw = FakeGateway()
    app = gw.add_app("Chronosphere", create_users=True, deactivate_users=False, scim_base_url="https://x")
    actual = run(read_actual(gw, app, AppKind.CUSTOM_SCIM))
    assert actual["to_app.create_users"].value is True
    assert actual["to_app.deactivate_users"].known and actual["to_app.deactivate_users"].value is False
    assert not actual["scim.base_url"].known  # no read path: never "in sync"
    assert not actual["scim.auth.bearer_token"].known


def test_read_actual_admin_form_normalises_auth_mode() -> None:
    gw = FakeGateway(admin_session=True)
    app = gw.add_app("Chronosphere", scim_base_url="https://x", bearer_token="tok", auth_mode="header")
    actual = run(read_actual(gw, app, AppKind.CUSTOM_SCIM))
    assert actual["scim.base_url"].value == "https://x"
    assert actual["scim.auth.mode"].value == "http_header"
    assert actual["scim.auth.bearer_token"].value is True


def test_read_actual_api_capable() -> None:
    gw = FakeGateway()
    app = gw.add_app(
        "Org2Org", kind=AppKind.API_CAPABLE, scim_base_url="https://y", connection_status="DISABLED"
    )
    actual = run(read_actual(gw, app, AppKind.API_CAPABLE))
    assert actual["scim.base_url"].value == "https://y"
    assert actual["scim.auth.bearer_token"].value is False  # connection not ENABLED
    assert not actual["scim.unique_identifier"].known


@pytest.mark.parametrize("enabled", [True, False])
def test_set_deactivate_users_api(enabled: bool) -> None:
    gw = FakeGateway()
    app = gw.add_app("Org2Org", kind=AppKind.API_CAPABLE, deactivate_users=not enabled)
    assert run(set_deactivate_users(gw, app, AppKind.API_CAPABLE, enabled)) is Channel.API
    assert gw.state(app.id).deactivate_users is enabled
    writes = [c for c in gw.calls if c[0] == "update_to_app_settings"]
    assert writes == [("update_to_app_settings", (app.id, None, None, enabled))]


def test_set_deactivate_users_already_set_writes_nothing() -> None:
    gw = FakeGateway(admin_session=True)
    app = gw.add_app("Chronosphere", deactivate_users=False)
    assert run(set_deactivate_users(gw, app, AppKind.CUSTOM_SCIM, False)) is Channel.ADMIN
    assert not [c for c in gw.calls if c[0] == "write_admin_form"]


def test_set_deactivate_users_admin_writes_only_that_field() -> None:
    gw = FakeGateway(admin_session=True)
    app = gw.add_app("Chronosphere", deactivate_users=True, scim_base_url="https://keep")
    assert run(set_deactivate_users(gw, app, AppKind.CUSTOM_SCIM, False)) is Channel.ADMIN
    state = gw.state(app.id)
    assert state.deactivate_users is False and state.scim_base_url == "https://keep"
    assert [c[1][1] for c in gw.calls if c[0] == "write_admin_form"] == [{"deactivate_users": False}]


def test_set_deactivate_users_read_back_disagrees() -> None:
    gw = FakeGateway()
    app = gw.add_app("Org2Org", kind=AppKind.API_CAPABLE, deactivate_users=True)

    async def ignored_write(app_id: str, **kwargs: Any) -> None:  # Okta said 2xx, changed nothing
        return None

    gw.update_to_app_settings = ignored_write  # type: ignore[method-assign]
    with pytest.raises(VerificationError, match="reading it back gives True"):
        run(set_deactivate_users(gw, app, AppKind.API_CAPABLE, False))


def test_set_deactivate_users_manual_without_waiting_raises_with_steps() -> None:
    gw = FakeGateway()
    app = gw.add_app("Chronosphere", deactivate_users=True)
    with pytest.raises(ManualActionRequired) as caught:
        run(set_deactivate_users(gw, app, AppKind.CUSTOM_SCIM, False))
    text = "\n".join(caught.value.steps)
    assert "Deactivate Users: clear (untick)" in text and "Chronosphere" in text
    assert gw.state(app.id).deactivate_users is True


def test_set_deactivate_users_manual_waits_until_features_show_it() -> None:
    gw = FakeGateway()
    app = gw.add_app("Chronosphere", deactivate_users=True)
    shown: list[list[str]] = []
    reads = 0
    original = gw.get_app

    async def get_app(app_id: str) -> Any:
        nonlocal reads
        reads += 1
        if reads == 3:  # the person clicks between the 2nd and 3rd read
            gw.state(app.id).deactivate_users = False
        return await original(app_id)

    gw.get_app = get_app  # type: ignore[method-assign]
    channel = run(
        set_deactivate_users(
            gw, app, AppKind.CUSTOM_SCIM, False, wait_for_person=shown.append, poll_interval=0.0, timeout=60
        )
    )
    assert channel is Channel.MANUAL
    assert len(shown) == 1 and any("Deactivate Users" in s for s in shown[0])
    assert reads == 3


def test_set_deactivate_users_manual_wait_times_out() -> None:
    gw = FakeGateway()
    app = gw.add_app("Chronosphere", deactivate_users=True)
    ticks = iter(range(0, 1000, 10))

    async def show(steps: list[str]) -> None:
        return None

    with pytest.raises(SafetyError, match="still on"):
        run(
            set_deactivate_users(
                gw,
                app,
                AppKind.CUSTOM_SCIM,
                False,
                wait_for_person=show,
                poll_interval=0.0,
                timeout=30,
                clock=lambda: float(next(ticks)),
            )
        )
