"""The config library: templates, secrets, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from oktasync.config import Secret, load_tenant
from oktasync.errors import ConfigError

HERE = Path(__file__).parent
ENV = {"OKTA_API_TOKEN": "okta-api-token-7f3a", "CHRONOSPHERE_SCIM_TOKEN": "scim-bearer-token-91c2"}


def test_templates_render_after_parsing() -> None:
    config = load_tenant(HERE / "valid_base.yaml", environ=ENV)
    assert config.scim.base_url == "https://acme.chronosphere.io/api/scim/v2"
    assert config.okta.token is not None and config.okta.token.reveal() == ENV["OKTA_API_TOKEN"]
    assert config.okta.admin_session is None  # empty default means "not given"


def test_secret_is_masked_in_repr_and_str() -> None:
    config = load_tenant(HERE / "valid_base.yaml", environ=ENV)
    for rendering in (
        repr(config),
        str(config),
        str(config.scim.auth.bearer_token),
        config.model_dump_json(),
    ):
        for secret in ENV.values():
            assert secret not in rendering
    assert "(sensitive)" in repr(config)


def test_template_cannot_inject_yaml_structure(tmp_path: Path) -> None:
    text = (HERE / "valid_base.yaml").read_text().replace("tenant: acme", 'tenant: "{{ env.TENANT }}"')
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_tenant(tmp_path / "c.yaml", environ={**ENV, "TENANT": "x\nokta: {}"})
    assert "tenant" in str(raised.value)


def test_secret_from_file(tmp_path: Path) -> None:
    (tmp_path / "token.txt").write_text("from-a-file\n")
    text = (
        (HERE / "valid_base.yaml")
        .read_text()
        .replace('"{{ env.CHRONOSPHERE_SCIM_TOKEN }}"', "\"{{ file('token.txt') }}\"")
    )
    (tmp_path / "c.yaml").write_text(text)
    config = load_tenant(tmp_path / "c.yaml", environ=ENV)
    assert config.scim.auth.bearer_token.reveal() == "from-a-file"


def test_loopback_http_is_allowed_for_the_emulator(tmp_path: Path) -> None:
    text = (HERE / "valid_base.yaml").read_text()
    text = text.replace("https://acme.okta.com", "http://127.0.0.1:8080")
    text = text.replace(
        '"https://{{ vars.address }}.chronosphere.io/api/scim/v2"', "http://localhost:9000/v2"
    )
    (tmp_path / "c.yaml").write_text(text)
    config = load_tenant(tmp_path / "c.yaml", environ=ENV)
    assert config.okta.org_url == "http://127.0.0.1:8080"


def test_defaults() -> None:
    config = load_tenant(HERE / "valid_base.yaml", environ=ENV)
    assert config.resync.groups == "all"
    assert config.resync.max_affected_users == 10000
    assert config.tasks.retry.max_attempts == 3
    assert isinstance(config.scim.auth.bearer_token, Secret)


def test_private_key_file_is_relative_to_the_config(tmp_path: Path) -> None:
    text = (
        (HERE / "valid_base.yaml")
        .read_text()
        .replace(
            '  token: "{{ env.OKTA_API_TOKEN }}"\n',
            "  oauth:\n    client_id: 0oaservice\n    private_key_file: keys/oktasync.pem\n",
        )
    )
    (tmp_path / "c.yaml").write_text(text)
    config = load_tenant(tmp_path / "c.yaml", environ=ENV)
    assert config.okta.oauth is not None
    assert config.okta.oauth.private_key_file == str(tmp_path / "keys" / "oktasync.pem")
