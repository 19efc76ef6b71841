"""doctor on FakeGateway: a 403 on a read names the missing scope; failures set exit 1; channel rows."""

from __future__ import annotations

import asyncio
from pathlib import Path

from oktasync.config import TenantConfig, load_tenant
from oktasync.errors import ApiErrorDetails, AuthError
from oktasync.models import AppKind, RateLimitState
from oktasync.okta_gateway.fake import FakeGateway
from oktasync.workflows.doctor import doctor
from oktasync.workflows.session import TenantSession

OAUTH = """\
tenant: acme
okta:
  org_url: https://acme.okta.com
  oauth:
    client_id: 0oaservice
    private_key_file: key.pem
    scopes: [okta.apps.read, okta.logs.read]
app:
  label: Chronosphere
scim:
  base_url: https://acme.chronosphere.io/api/scim/v2
  auth:
    bearer_token: "{{ env.SCIM_TOKEN }}"
"""


def _config(tmp_path: Path) -> TenantConfig:
    path = tmp_path / "acme.yaml"
    path.write_text(OAUTH)
    (tmp_path / "key.pem").write_text("unused")
    return load_tenant(path, environ={"SCIM_TOKEN": "t"})


def _forbidden() -> AuthError:
    return AuthError("Okta answered an error", ApiErrorDetails(status=403, error_code="E0000006"))


def test_missing_scope_is_named(tmp_path: Path) -> None:
    gw = FakeGateway()
    app = gw.add_app("Chronosphere")
    gid = gw.add_group("engineering", ["alice@example.com"])
    asyncio.run(gw.assign_group(app.id, gid, None, {}))
    gw.fail_next("list_group_member_ids", _forbidden())
    gw.set_rate_limit(RateLimitState("/api/v1/apps", 100, 40, 0.0))
    result = asyncio.run(doctor(TenantSession(_config(tmp_path), tmp_path / "state", gateway=gw)))
    assert result.exit_code == 1
    members = next(c for c in result.checks if c.name == "group members")
    assert members.ok is False and "okta.groups.read" in members.detail
    assert result.scopes["okta.groups.read"] == "missing"
    assert result.scopes["okta.apps.manage"] == "not requested"
    assert result.kind is AppKind.CUSTOM_SCIM
    assert {row["write"] for row in result.channels} == {"manual"}
    assert result.to_dict()["rate_limits"][0]["headroom"] == 0.4


def test_forbidden_app_read_is_reported_not_raised(tmp_path: Path) -> None:
    gw = FakeGateway()
    gw.add_app("Chronosphere")
    gw.fail_next("find_apps", _forbidden())
    result = asyncio.run(doctor(TenantSession(_config(tmp_path), tmp_path / "state", gateway=gw)))
    app_check = next(c for c in result.checks if c.name == "app")
    assert app_check.ok is False and "okta.apps.read" in app_check.detail
    assert result.app is None and result.exit_code == 1


def test_ambiguous_label_lists_candidates(tmp_path: Path) -> None:
    gw = FakeGateway()
    one = gw.add_app("Chronosphere")
    two = gw.add_app("Chronosphere")
    result = asyncio.run(doctor(TenantSession(_config(tmp_path), tmp_path / "state", gateway=gw)))
    app_check = next(c for c in result.checks if c.name == "app")
    assert app_check.ok is False and one.id in app_check.detail and two.id in app_check.detail
