"""plan/apply workflows on FakeGateway: statuses, channels, token fingerprint, manual steps, idempotence."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from oktasync.config import TenantConfig, load_tenant
from oktasync.errors import EXIT_CHANGES, EXIT_FAILED, EXIT_MANUAL, EXIT_OK, EXIT_REFUSED
from oktasync.models import App, AppKind, Channel
from oktasync.okta_gateway.fake import FakeGateway
from oktasync.state import StateDir
from oktasync.workflows import token_fingerprint
from oktasync.workflows.apply import ApplyOptions, apply_tenant
from oktasync.workflows.plan import Status, TenantPlan, plan_tenant, worst_exit_code
from oktasync.workflows.session import TenantSession, app_state_dir

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


async def _session(cfg: TenantConfig, gw: FakeGateway, app: App, state: StateDir) -> TenantSession:
    session = TenantSession(cfg, state.root, gateway=gw)
    assert (await session.app()).id == app.id
    return session


def plan(cfg: TenantConfig, gw: FakeGateway, app: App, state: StateDir, **kw: Any) -> TenantPlan:
    async def run() -> TenantPlan:
        async with await _session(cfg, gw, app, state) as session:
            return await plan_tenant(session, **kw)

    return asyncio.run(run())


def apply(cfg: TenantConfig, gw: FakeGateway, app: App, state: StateDir, **options: Any) -> Any:
    before = plan(cfg, gw, app, state, rotate_token=options.get("rotate_token", False))

    async def run() -> Any:
        async with await _session(cfg, gw, app, state) as session:
            return await apply_tenant(session, before, options=ApplyOptions(**options))

    return asyncio.run(run())


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
    channels = {s.key: s.channel.value for s in first.settings if s.channel}
    assert channels.pop("general.provisioning") == "manual" and set(channels.values()) == {"admin"}
    assert first.setting("general.provisioning").status is Status.IN_SYNC
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
    assert not (app_state_dir(state.root, cfg, app.id) / token_fingerprint.FILE_NAME).exists()


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
    text = "".join(p.read_text() for p in app_state_dir(state.root, cfg, app.id).iterdir())
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


FORM_WITHOUT_CONNECTOR_ACTIONS = frozenset(
    {"scim_base_url", "bearer_token", "create_users", "update_user_attributes", "deactivate_users"}
)


def test_admin_writes_what_the_page_has_and_a_person_does_the_rest(tmp_path: Path) -> None:
    cfg, state = config(tmp_path), StateDir(tmp_path / "state")
    gw = FakeGateway(admin_session=True)
    app = gw.add_app("Chronosphere", form_found=FORM_WITHOUT_CONNECTOR_ACTIONS, auth_mode=None)
    first = plan(cfg, gw, app, state)
    channels = {s.key: s.channel for s in first.settings}
    assert {k for k, c in channels.items() if c is not None and c.value == "admin"} == {
        "scim.base_url", "scim.auth.bearer_token", "to_app.create_users", "to_app.update_user_attributes",
        "to_app.deactivate_users",
    }  # fmt: skip
    token = first.setting("scim.auth.bearer_token")
    assert token.status is Status.CHANGE and token.read is None and "assumed" in token.assumed

    result = apply(cfg, gw, app, state)
    assert result.exit_code == EXIT_MANUAL, result.error
    assert [c[1][1] for c in gw.calls if c[0] == "write_admin_form"] == [
        {
            "scim_base_url": BASE,
            "create_users": True,
            "update_user_attributes": True,
            "deactivate_users": True,
        }
    ]
    actions = {(a.key, a.action) for a in result.actions}
    assert ("scim.auth.bearer_token", "sent") in actions and ("scim.base_url", "verified") in actions
    steps = "\n".join(result.manual_steps)
    for expected in (
        "Unique identifier field for users: enter email",
        "Push New Users",
        "Authentication Mode",
    ):
        assert expected in steps
    assert "Test Connector Configuration" in steps and "SCIM connector base URL" not in steps
    assert BEARER not in steps
    # The token sent in that run is not confirmed by the same --confirm-manual run ...
    again = apply(cfg, gw, app, state, confirm_manual=True)
    assert again.exit_code == EXIT_OK, again.error
    assert writes(gw) == ["write_admin_form"]  # nothing written twice
    after = plan(cfg, gw, app, state)
    assert after.exit_code == EXIT_OK
    assert after.setting("scim.auth.bearer_token").status is Status.CONFIRMED_MANUALLY


def test_a_token_sent_in_this_run_waits_for_a_later_confirmation(tmp_path: Path) -> None:
    cfg, state = config(tmp_path), StateDir(tmp_path / "state")
    gw = FakeGateway(admin_session=True)
    app = gw.add_app("Chronosphere", form_found=FORM_WITHOUT_CONNECTOR_ACTIONS | {"unique_identifier"})
    result = apply(cfg, gw, app, state, confirm_manual=True)
    assert result.exit_code == EXIT_MANUAL
    assert ("scim.auth.bearer_token", "pending") in {(a.key, a.action) for a in result.actions}
    # A new token is sent again (its fingerprint differs), and needs a new confirmation.
    assert apply(cfg, gw, app, state, confirm_manual=True).exit_code == EXIT_OK
    changed = config(tmp_path, bearer=BEARER + "-rotated")
    assert plan(changed, gw, app, state).setting("scim.auth.bearer_token").status is Status.CHANGE
    assert apply(changed, gw, app, state).exit_code == EXIT_MANUAL


@pytest.mark.parametrize("admin", [True, False])
def test_provisioning_never_enabled_is_planned_first(tmp_path: Path, admin: bool) -> None:
    cfg, state = config(tmp_path), StateDir(tmp_path / "state")
    gw = FakeGateway(admin_session=admin)
    app = gw.add_app("Chronosphere", provisioning_enabled=False)
    first = plan(cfg, gw, app, state)
    setting = first.setting("general.provisioning")
    assert (setting.status, setting.channel, setting.actual) == (Status.CHANGE, Channel.MANUAL, False)
    assert first.manual_steps and "Provisioning to SCIM" in first.manual_steps[1]
    assert not [c for c in gw.calls if c[0] == "read_admin_form"]  # no provisioning form to read yet
    if admin:
        assert "waits for General > Provisioning: SCIM" in first.setting("scim.base_url").reason
    result = apply(cfg, gw, app, state, confirm_manual=True)
    assert result.exit_code == EXIT_MANUAL and writes(gw) == []
    assert "Provisioning to SCIM" in "\n".join(result.manual_steps)
    gw.state(app.id).provisioning_enabled = True  # a person does runbook step 4
    assert plan(cfg, gw, app, state).setting("general.provisioning").status is Status.IN_SYNC


def test_api_capable_apps_have_no_provisioning_setting(tmp_path: Path) -> None:
    cfg, state = config(tmp_path), StateDir(tmp_path / "state")
    gw = FakeGateway()
    app = gw.add_app("Chronosphere", kind=AppKind.API_CAPABLE)
    assert plan(cfg, gw, app, state).setting("general.provisioning").status is Status.NOT_APPLICABLE


def test_wait_for_provisioning_then_write_through_the_form(tmp_path: Path) -> None:
    cfg, state = config(tmp_path), StateDir(tmp_path / "state")
    gw = FakeGateway(admin_session=True)
    app = gw.add_app("Chronosphere", provisioning_enabled=False)
    shown: list[list[str]] = []

    def person(tenant: str, steps: list[str]) -> None:
        shown.append(steps)
        gw.state(app.id).provisioning_enabled = True  # runbook step 4, done when the steps are shown

    result = apply(cfg, gw, app, state, wait=True, poll_interval=0.01, timeout=5, show_steps=person)
    assert result.exit_code == EXIT_OK, result.error
    assert shown and "Provisioning to SCIM" in "\n".join(shown[0])
    assert ("general.provisioning", "waited") in {(a.key, a.action) for a in result.actions}
    assert writes(gw) == ["write_admin_form"] and gw.state(app.id).scim_base_url == BASE
