"""Fixtures for the SCIM gateway, test-connector and report tests.

* ``target``: a real scim2-server behind a fault-injecting middleware (``scim_targets.ScimTarget``), token
  ``TARGET_TOKEN``; ``target.fault(...)`` breaks it, ``target.requests`` records the wire.
* ``write_config(base_url, ...)``: writes a tenant config YAML whose secrets come from env templates (set by
  the fixture), returns its path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from scim_targets import OKTA_TOKEN, TARGET_TOKEN, ConfigWriter, ScimTarget, run_target


@pytest.fixture
def target() -> Iterator[ScimTarget]:
    with run_target(TARGET_TOKEN) as running:
        yield running


@pytest.fixture
def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ConfigWriter:
    monkeypatch.setenv("TEST_SCIM_TOKEN", TARGET_TOKEN)
    monkeypatch.setenv("TEST_OKTA_TOKEN", OKTA_TOKEN)

    def write(
        base_url: str,
        *,
        tenant: str = "acme",
        org_url: str = "https://acme.okta.com",
        token_env: str = "TEST_SCIM_TOKEN",
        app_label: str = "Chronosphere",
        unique_identifier: str = "email",
    ) -> Path:
        path = tmp_path / f"{tenant}.yaml"
        path.write_text(
            f"""tenant: {tenant}
okta:
  org_url: {org_url}
  token: "{{{{ env.TEST_OKTA_TOKEN }}}}"
app:
  label: {app_label}
scim:
  base_url: {base_url}
  unique_identifier: {unique_identifier}
  auth:
    mode: http_header
    bearer_token: "{{{{ env.{token_env} }}}}"
""",
            encoding="utf-8",
        )
        return path

    return write
