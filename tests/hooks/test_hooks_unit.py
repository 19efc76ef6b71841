"""Unit tests of `workflows/hooks` on the in-memory FakeGateway: registration, parsing and applying events."""

from __future__ import annotations

import asyncio
import collections
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tasks_helpers import Receiver

from oktasync.config import TenantConfig, load_tenant
from oktasync.errors import ConfigError
from oktasync.models import App
from oktasync.okta_gateway.fake import FakeGateway
from oktasync.timestamps import okta_time
from oktasync.workflows.hooks import SUBSCRIBED_EVENTS, doctor_check, register, status
from oktasync.workflows.hooks.apply import apply_events
from oktasync.workflows.hooks.events import DeliveryError, app_events, delivery_events, parse_events
from oktasync.workflows.tasks.state import TasksState

SECRET = "unit-hook-secret-0123456789"
URL = "https://hooks.example.com"


def write_config(tmp_path: Path, *, hook: bool = True) -> TenantConfig:
    text = """tenant: acme
okta:
  org_url: https://acme.okta.com
  token: "{{ env.TOKEN }}"
app:
  label: Chronosphere
scim:
  base_url: https://acme.chronosphere.io/api/scim/v2
  auth:
    bearer_token: "{{ env.TOKEN }}"
tasks:
  notify:
    - webhook: "{{ env.HOOK_URL }}"
      kind: json
"""
    if hook:
        text += 'event_hook:\n  secret: "{{ env.HOOK_SECRET }}"\n'
    path = tmp_path / "acme.yaml"
    path.write_text(text)
    return load_tenant(path)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> None:
    monkeypatch.setenv("TOKEN", "tok-123")
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.setenv("HOOK_URL", receiver.url)


pytestmark = pytest.mark.usefixtures("env")


def test_register_creates_verifies_and_then_leaves_the_hook_alone(tmp_path: Path) -> None:
    config, gw = write_config(tmp_path), FakeGateway()
    result = asyncio.run(register(config, gw, tmp_path, URL))
    assert result.ok and result.actions == ["created", "verified"]
    [hook] = gw.event_hooks.values()
    assert hook.uri == f"{URL}/okta/event-hooks/acme" and hook.name == "oktasync acme"
    assert set(hook.events) == set(SUBSCRIBED_EVENTS) and hook.auth_header == "Authorization"
    assert gw.event_hook_secrets[hook.id] == SECRET
    assert SECRET not in (tmp_path / "event-hook-secret.json").read_text()

    gw.calls.clear()
    again = asyncio.run(register(config, gw, tmp_path, URL))
    assert again.ok and again.changes == [] and again.actions == []
    assert [name for name, _ in gw.calls] == ["list_event_hooks", "list_event_hooks"]  # reads only

    dry = asyncio.run(register(config, gw, tmp_path, "https://other.example.com", dry_run=True))
    assert dry.ok and any(c.startswith("uri ") for c in dry.changes) and dry.actions == []
    assert gw.event_hooks[hook.id].uri == hook.uri


def test_a_new_secret_is_written_and_verified_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gw = FakeGateway()
    assert asyncio.run(register(write_config(tmp_path), gw, tmp_path, URL)).ok
    monkeypatch.setenv("HOOK_SECRET", SECRET + "-rotated")
    result = asyncio.run(register(write_config(tmp_path), gw, tmp_path, URL))
    assert result.ok and result.actions == ["updated", "verified"]
    assert any(c.startswith("secret") for c in result.changes)
    assert list(gw.event_hook_secrets.values()) == [SECRET + "-rotated"]


def test_a_failed_verification_is_reported_not_claimed(tmp_path: Path) -> None:
    config, gw = write_config(tmp_path), FakeGateway()
    gw.verify_ok = False
    result = asyncio.run(register(config, gw, tmp_path, URL))
    assert not result.ok and result.verified is False and "verifyEventHook" in (result.error or "")
    assert not (tmp_path / "event-hook-secret.json").exists()  # nothing recorded as registered
    found = asyncio.run(status(config, gw))
    assert found.hook is not None and not found.healthy
    assert asyncio.run(doctor_check(config, gw)) == (None, found.summary())
    gw.verify_ok = True
    assert asyncio.run(register(config, gw, tmp_path, URL)).ok
    ok, detail = asyncio.run(doctor_check(config, gw)) or (None, "")
    assert ok is True and "VERIFIED" in detail


def test_register_without_an_event_hook_section_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        asyncio.run(register(write_config(tmp_path, hook=False), FakeGateway(), tmp_path, URL))
    assert asyncio.run(doctor_check(write_config(tmp_path, hook=False), FakeGateway())) is None


def test_delivery_format_and_app_filter() -> None:
    with pytest.raises(DeliveryError):
        delivery_events({"data": {"events": "nope"}})
    with pytest.raises(DeliveryError):
        delivery_events([1, 2])
    mine = {"eventType": "application.provision.user.push", "target": [{"id": "0oaA", "type": "AppInstance"}]}
    other_app = {**mine, "target": [{"id": "0oaB", "type": "AppInstance"}]}
    sign_in = {**mine, "eventType": "user.authentication.sso"}
    raw = delivery_events({"data": {"events": [mine, other_app, sign_in]}})
    assert app_events(raw, "0oaA") == [mine]
    assert parse_events([mine]) == []  # no uuid: cannot be de-duplicated, dropped


class Org:
    """Chronosphere with alice in ERROR (create failed) and bob fine; events shaped like Okta's: a User
    target (00u…), an AppUser target (the app user's own 0ua… id) and the AppInstance."""

    def __init__(self) -> None:
        self.gw = FakeGateway()
        self.alice = self.gw.add_user("alice@example.com")
        self.bob = self.gw.add_user("bob@example.com")
        self.app: App = self.gw.add_app("Chronosphere", create_users=True)
        self.gw.add_app_user(self.app.id, self.alice, scope="USER", status="STAGED", sync_state="ERROR")
        self.gw.add_app_user(self.app.id, self.bob, scope="USER", external_id="scim-bob")

    def event(self, kind: str, user: str, result: str, reason: str | None) -> dict[str, Any]:
        login = self.gw.users[user]["login"]
        return {
            "uuid": str(uuid.uuid4()),
            "published": okta_time(datetime.now(UTC)),
            "eventType": kind,
            "outcome": {"result": result, "reason": reason},
            "target": [
                {"id": "0ua" + user[3:], "type": "AppUser", "alternateId": login},
                {"id": user, "type": "User", "alternateId": login, "displayName": login},
                {"id": self.app.id, "type": "AppInstance", "alternateId": "Chronosphere"},
            ],
        }


def test_apply_announces_once_and_resolves(tmp_path: Path, receiver: Receiver) -> None:
    config, org, state = write_config(tmp_path), Org(), TasksState()
    now = datetime.now(UTC)
    failed = org.event("application.provision.user.push", org.alice, "FAILURE", None)  # a null reason
    first = asyncio.run(apply_events(config, org.gw, org.app, state, parse_events([failed]), now=now))
    assert first.new_failures == (org.alice,) and first.notifications_delivered == 1
    failure = state.failures[org.alice]
    assert failure.login == "alice@example.com" and failure.reason is None and failure.scope == "USER"
    assert state.knows_event(failed["uuid"])

    # Okta's at-least-once: the same event again, and a new failure event of the same user.
    again = org.event("application.provision.user.push", org.alice, "FAILURE", "Okta; target")
    second = asyncio.run(apply_events(config, org.gw, org.app, state, parse_events([failed, again]), now=now))
    assert second.duplicates == 1 and second.events == 1 and second.new_failures == ()
    assert len(receiver.bodies("failure")) == 1

    # The next push succeeds: a recovery, announced once.
    users = org.gw.state(org.app.id).users
    users[org.alice] = replace(users[org.alice], sync_state="SYNCHRONIZED")
    fixed = org.event("application.provision.user.push", org.alice, "SUCCESS", None)
    third = asyncio.run(apply_events(config, org.gw, org.app, state, parse_events([fixed]), now=now))
    assert [r.how for r in third.resolutions] == ["recovered"] and state.failures == {}
    assert len(receiver.bodies("recovery")) == 1


def test_a_failure_no_longer_in_error_is_not_announced(tmp_path: Path, receiver: Receiver) -> None:
    config, org, state = write_config(tmp_path), Org(), TasksState()
    stale = org.event("application.provision.user.push_profile", org.bob, "FAILURE", "Okta; 409")
    applied = asyncio.run(
        apply_events(config, org.gw, org.app, state, parse_events([stale]), now=datetime.now(UTC))
    )
    assert applied.new_failures == () and receiver.bodies() == []  # bob is SYNCHRONIZED by now


def test_receiver_metrics_are_valid_exposition_whatever_the_label_values() -> None:
    """The receiver's counters go through prometheus_client: an app id Okta returns with a quote, a
    backslash or a newline in it is escaped, so a scraper still reads every sample."""
    from types import SimpleNamespace

    from prometheus_client.parser import text_string_to_metric_families

    from oktasync.workflows.hooks.receiver import render_receiver_metrics

    counters = collections.Counter({"deliveries_accepted": 2, "events_applied": 5})
    odd_id = '0oa"x\\y\nz'
    tenant = SimpleNamespace(
        config=SimpleNamespace(tenant="acme"),
        app=SimpleNamespace(id=odd_id),
        counters=counters,
        inbox=SimpleNamespace(pending=lambda: 3),
    )
    families = {f.name: f for f in text_string_to_metric_families(render_receiver_metrics([tenant]))}
    accepted = [
        s for s in families["oktasync_hooks_deliveries"].samples if s.labels.get("result") == "accepted"
    ]
    assert [(s.labels["app_id"], s.value) for s in accepted] == [(odd_id, 2.0)]
    applied = families["oktasync_hooks_events_applied"].samples
    assert [(s.name, s.value) for s in applied] == [("oktasync_hooks_events_applied_total", 5.0)]
    assert [s.value for s in families["oktasync_hooks_inbox_pending"].samples] == [3.0]
