"""plan/apply workflows on FakeGateway: statuses, channels, token fingerprint, manual steps, idempotence."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from oktasync.config import TenantConfig, load_tenant
from oktasync.errors import EXIT_CHANGES, EXIT_FAILED, EXIT_MANUAL, EXIT_OK, EXIT_REFUSED
from oktasync.models import App, AppKind
from oktasync.okta_gateway.fake import FakeGateway
from oktasync.state import StateDir
from oktasync.workflows import token_fingerprint
from oktasync.workflows.apply import ApplyOptions, apply_tenant
from oktasync.workflows.plan import Status, TenantPlan, plan_tenant, worst_exit_code

BEARER = "bearer-SECRET-0123456789abcdef"
BASE = "https://acme.chronosphere.io/api/scim/v2"
CONFIG = """\
tenant: acme
okta:
  org_url: https://acme.okta.com
  token: "{{ env.OKTA_API_TOKEN }}"
app:
  label: Chronosphere
scim:
  base_url: "%s"
  unique_identifier: email
  push_new_users: true
  push_profile_updates: true
  auth:
    mode: http_header
    bearer_token: "{{ env.SCIM_TOKEN }}"
to_app:
  create_users: true
  update_user_attributes: true
  deactivate_users: true
"""


def config(tmp_path: Path, bearer: str = BEARER) -> TenantConfig:
    path = tmp_path / "acme.yaml"
    path.write_text(CONFIG % BASE)
    return load_tenant(path, environ={"OKTA_API_TOKEN": "api-SECRET", "SCIM_TOKEN": bearer})


def plan(cfg: TenantConfig, gw: FakeGateway, app: App, state: StateDir, **kw: Any) -> TenantPlan:
    return asyncio.run(plan_tenant(cfg, gw, app, state=state, **kw))


def apply(cfg: TenantConfig, gw: FakeGateway, app: App, state: StateDir, **options: Any) -> Any:
    before = plan(cfg, gw, app, state, rotate_token=options.get("rotate_token", False))
    return asyncio.run(apply_tenant(cfg, gw, app, before, state=state, options=ApplyOptions(**options)))


def writes(gw: FakeGateway) -> list[str]:
    write_calls = {"set_connection", "activate_connection", "update_to_app_settings", "write_admin_form"}
    return [name for name, _ in gw.calls if name in write_calls]


def test_api_capable_plan_apply_replan(tmp_path: Path) -> None:
    cfg, state = config(tmp_path), StateDir(tmp_path / "state")
    gw = FakeGateway()
    app = gw.add_app("Chronosphere", kind=AppKind.API_CAPABLE)
    first = plan(cfg, gw, app, state)
    assert first.kind is AppKind.API_CAPABLE and first.exit_code == EXIT_CHANGES
    statuses = {s.key: s.status for s in first.settings}
    assert statuses["scim.unique_identifier"] is Status.NOT_APPLICABLE
    assert statuses["scim.base_url"] is Status.CHANGE
    assert statuses["scim.auth.bearer_token"] is Status.CHANGE
    assert all(s.channel is None or s.channel.value == "api" for s in first.settings)

    result = apply(cfg, gw, app, state)
    assert result.exit_code == EXIT_OK, result.error
    assert gw.state(app.id).bearer_token == BEARER and gw.state(app.id).connection_status == "ENABLED"
    assert result.after is not None and not result.after.has_drift
    assert {a.action for a in result.actions} == {"written", "verified"}

    second = plan(cfg, gw, app, state)
    assert second.exit_code == EXIT_OK
    assert second.setting("scim.auth.bearer_token").status is Status.IN_SYNC
    gw.calls.clear()
    again = apply(cfg, gw, app, state)
    assert again.exit_code == EXIT_OK and writes(gw) == [] and again.writes == 0


def test_token_changed_and_rotation(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    gw = FakeGateway(admin_session=True)
    app = gw.add_app("Chronosphere")
    assert apply(config(tmp_path), gw, app, state).exit_code == EXIT_OK
    changed = plan(config(tmp_path, bearer="another-token-xyz"), gw, app, state)
    token = changed.setting("scim.auth.bearer_token")
    assert token.status is Status.CHANGE and token.reason == "token changed"
    rotate = plan(config(tmp_path), gw, app, state, rotate_token=True)
    assert rotate.setting("scim.auth.bearer_token").status is Status.CHANGE
    gw.calls.clear()
    assert apply(config(tmp_path), gw, app, state, rotate_token=True).exit_code == EXIT_OK
    assert [c[1][2] for c in gw.calls if c[0] == "write_admin_form"] == ["(sensitive)"]


def test_token_set_outside_oktasync_is_rewritten_once(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    gw = FakeGateway(admin_session=True)
    app = gw.add_app("Chronosphere", bearer_token="someone-elses")
    assert (
        "not by oktasync" in plan(config(tmp_path), gw, app, state).setting("scim.auth.bearer_token").reason
    )
    apply(config(tmp_path), gw, app, state)
    assert gw.state(app.id).bearer_token == BEARER


def test_fingerprint_is_salted_and_hides_the_token(tmp_path: Path) -> None:
    one = token_fingerprint.make_record(BEARER, "admin")
    two = token_fingerprint.make_record(BEARER, "admin")
    assert one.salt != two.salt and one.fingerprint != two.fingerprint
    assert one.matches(BEARER) and not one.matches(BEARER + "x")
    token_fingerprint.save(tmp_path, one)
    text = (tmp_path / token_fingerprint.FILE_NAME).read_text()
    assert BEARER not in text and token_fingerprint.load(tmp_path) == one


def test_admin_channel_writes_everything_in_one_form_post(tmp_path: Path) -> None:
    cfg, state = config(tmp_path), StateDir(tmp_path / "state")
    gw = FakeGateway(admin_session=True)
    app = gw.add_app("Chronosphere")
    first = plan(cfg, gw, app, state)
    assert first.exit_code == EXIT_CHANGES
    assert {s.channel.value for s in first.settings if s.channel} == {"admin"}
    result = apply(cfg, gw, app, state)
    assert result.exit_code == EXIT_OK, result.error
    st = gw.state(app.id)
    assert (st.scim_base_url, st.unique_identifier, st.auth_mode) == (BASE, "email", "header")
    assert writes(gw) == ["write_admin_form"]
    gw.calls.clear()
    assert apply(cfg, gw, app, state).exit_code == EXIT_OK and writes(gw) == []


def test_admin_write_that_does_not_stick_fails(tmp_path: Path) -> None:
    cfg, state = config(tmp_path), StateDir(tmp_path / "state")
    gw = FakeGateway(admin_session=True)
    app = gw.add_app("Chronosphere")

    async def ignored(app: App, changes: dict[str, Any], *, bearer_token: str | None = None) -> None:
        return None

    gw.write_admin_form = ignored  # type: ignore[method-assign]
    result = apply(cfg, gw, app, state)
    assert result.exit_code == EXIT_FAILED and "reading back disagrees" in (result.error or "")
    assert not (state.for_app("acme", app.id) / token_fingerprint.FILE_NAME).exists()


def test_custom_without_admin_manual_then_confirm(tmp_path: Path) -> None:
    cfg, state = config(tmp_path), StateDir(tmp_path / "state")
    gw = FakeGateway()
    app = gw.add_app("Chronosphere")
    first = plan(cfg, gw, app, state)
    assert first.exit_code == EXIT_CHANGES  # To App toggles are readable through features[]
    assert first.setting("scim.base_url").status is Status.UNVERIFIABLE
    assert any(BASE in step for step in first.manual_steps)
    assert not any(BEARER in step for step in first.manual_steps)

    result = apply(cfg, gw, app, state)
    assert result.exit_code == EXIT_MANUAL and writes(gw) == []
    assert any(BASE in step for step in result.manual_steps)

    # --confirm-manual alone cannot override a readable setting that still differs
    assert apply(cfg, gw, app, state, confirm_manual=True).exit_code == EXIT_MANUAL
    st = gw.state(app.id)
    st.create_users = st.update_user_attributes = st.deactivate_users = True  # the person clicks
    done = apply(cfg, gw, app, state, confirm_manual=True)
    assert done.exit_code == EXIT_OK, done.error
    after = plan(cfg, gw, app, state)
    assert after.exit_code == EXIT_OK
    assert after.setting("scim.base_url").status is Status.CONFIRMED_MANUALLY
    assert after.setting("scim.auth.bearer_token").status is Status.CONFIRMED_MANUALLY
    assert after.setting("to_app.create_users").status is Status.IN_SYNC
    text = "".join(p.read_text() for p in state.for_app("acme", app.id).iterdir())
    assert BEARER not in text and "api-SECRET" not in text


def test_wait_polls_until_features_show_the_change(tmp_path: Path) -> None:
    cfg, state = config(tmp_path), StateDir(tmp_path / "state")
    gw = FakeGateway()
    app = gw.add_app("Chronosphere")
    shown: list[tuple[str, list[str]]] = []

    def person(tenant: str, steps: list[str]) -> None:
        shown.append((tenant, steps))
        st = gw.state(app.id)
        st.create_users = st.update_user_attributes = st.deactivate_users = True

    result = apply(cfg, gw, app, state, wait=True, confirm_manual=True, show_steps=person, poll_interval=0.0)
    assert result.exit_code == EXIT_OK, result.error
    assert shown and shown[0][0] == "acme"
    assert {a.action for a in result.actions} >= {"waited", "confirmed"}


def test_wait_without_confirm_leaves_unreadable_pending(tmp_path: Path) -> None:
    cfg, state = config(tmp_path), StateDir(tmp_path / "state")
    gw = FakeGateway()
    app = gw.add_app("Chronosphere", create_users=True, update_user_attributes=True, deactivate_users=True)
    result = apply(cfg, gw, app, state, wait=True, poll_interval=0.0)
    assert result.exit_code == EXIT_MANUAL
    assert any("--confirm-manual" in a.detail for a in result.actions if a.action == "pending")


def test_wait_times_out_with_refusal(tmp_path: Path) -> None:
    cfg, state = config(tmp_path), StateDir(tmp_path / "state")
    gw = FakeGateway()
    app = gw.add_app("Chronosphere")
    ticks = iter(range(0, 10_000, 100))
    result = apply(cfg, gw, app, state, wait=True, poll_interval=0.0, timeout=250, clock=lambda: next(ticks))
    assert result.exit_code == EXIT_REFUSED and "still not changed" in (result.error or "")


@pytest.mark.parametrize(
    ("codes", "worst"),
    [([0, 2], 2), ([2, 5], 5), ([5, 4], 4), ([4, 1], 1), ([0], 0), ([], 0), ([1, 130], 130)],
)
def test_worst_exit_code(codes: list[int], worst: int) -> None:
    assert worst_exit_code(codes) == worst
