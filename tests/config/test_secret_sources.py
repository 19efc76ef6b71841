"""Where `env` and `file()` may flow in a tenant config (docs/config.md "Templates and secrets")."""

from __future__ import annotations

from pathlib import Path

import pytest

from oktasync.config import load_tenant
from oktasync.errors import ConfigError

HERE = Path(__file__).parent
ENV = {"OKTA_API_TOKEN": "okta-api-token-7f3a", "CHRONOSPHERE_SCIM_TOKEN": "scim-bearer-token-91c2"}


def _config(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = (HERE / "valid_base.yaml").read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_allow_listed_fields_may_read_plain_variables(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        ("tenant: acme", 'tenant: "{{ env.TENANT_NAME }}"'),
        ("org_url: https://acme.okta.com", 'org_url: "{{ env.ORG_URL }}"'),
    )
    config = load_tenant(
        path, environ={**ENV, "TENANT_NAME": "acme-eu", "ORG_URL": "https://acme-eu.okta.com"}
    )
    assert config.tenant == "acme-eu" and config.okta.org_url == "https://acme-eu.okta.com"


def test_a_var_that_read_a_secret_feeds_the_secret_field_and_is_kept_masked(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        ('token: "{{ env.OKTA_API_TOKEN }}"', 'token: "{{ vars.token }}"'),
        ("  address: acme", '  address: acme\n  token: "{{ env.OKTA_API_TOKEN }}"'),
    )
    config = load_tenant(path, environ=ENV)
    assert config.okta.token is not None and config.okta.token.reveal() == ENV["OKTA_API_TOKEN"]
    assert config.vars == {"address": "acme", "token": "(sensitive)"}
    assert ENV["OKTA_API_TOKEN"] not in config.model_dump_json()


@pytest.mark.parametrize(
    ("replacement", "message"),
    [
        (
            ("label: Chronosphere", 'label: "{{ env.OKTA_API_TOKEN[::-1] }}"'),
            "app.label reads env.OKTA_API_TOKEN",
        ),
        (
            ("label: Chronosphere", "label: \"{{ env | list | join(',') }}\""),
            "'env' cannot be used as a whole",
        ),
        (
            ("label: Chronosphere", 'label: "{% for k in env %}{{ k }}{% endfor %}"'),
            "cannot be used as a whole",
        ),
        (("label: Chronosphere", 'label: "{{ vars }}"'), "'vars' cannot be used as a whole"),
        (("unique_identifier: email", 'unique_identifier: "{{ env.IDENT }}"'), "may not read env or file()"),
    ],
)
def test_refused_routes_name_the_field_and_never_the_value(
    tmp_path: Path, replacement: tuple[str, str], message: str
) -> None:
    path = _config(tmp_path, replacement)
    with pytest.raises(ConfigError) as raised:
        load_tenant(path, environ={**ENV, "IDENT": "email"})
    text = str(raised.value)
    assert message in text
    for secret in ENV.values():
        assert secret not in text and secret[::-1] not in text


def test_file_reads_inside_the_tree_through_a_link_that_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("from-a-file\n")
    (tmp_path / "current").symlink_to(tmp_path / "secrets" / "token")
    path = _config(tmp_path, ('"{{ env.CHRONOSPHERE_SCIM_TOKEN }}"', "\"{{ file('current') }}\""))
    assert load_tenant(path, environ=ENV).scim.auth.bearer_token.reveal() == "from-a-file"


def test_a_file_that_feeds_a_secret_cannot_feed_another_field(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-a-file\n")
    path = _config(
        tmp_path,
        ('"{{ env.CHRONOSPHERE_SCIM_TOKEN }}"', "\"{{ file('token') }}\""),
        ("label: Chronosphere", "label: \"{{ file('./token') | upper }}\""),
    )
    with pytest.raises(ConfigError) as raised:
        load_tenant(path, environ=ENV)
    assert "app.label reads token, but it feeds the secret scim.auth.bearer_token" in str(raised.value)
    assert "FROM-A-FILE" not in str(raised.value)
