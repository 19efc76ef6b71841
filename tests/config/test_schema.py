"""The shipped JSON Schema matches the code, and example configs point editors at it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from oktasync.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_schema_is_current() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    shipped = json.loads((ROOT / "docs" / "tenant-config.schema.json").read_text())
    assert json.loads(result.stdout) == shipped, (
        "regenerate: oktasync schema > docs/tenant-config.schema.json"
    )


def test_schema_forbids_unknown_keys_and_marks_secrets() -> None:
    schema = json.loads(CliRunner().invoke(cli, ["schema"]).stdout)
    assert schema["additionalProperties"] is False
    bearer = schema["$defs"]["ScimAuth"]["properties"]["bearer_token"]
    assert bearer.get("format") == "password" and bearer.get("writeOnly") is True


def test_example_configs_carry_the_schema_comment() -> None:
    configs = sorted((ROOT / "configs").glob("*.yaml"))
    assert len(configs) >= 2  # a Chronosphere custom SCIM app and an API-capable app
    for config in configs:
        first = config.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../docs/tenant-config.schema.json", config


def test_example_configs_are_valid() -> None:
    import re

    from oktasync.config import load_tenant

    for config in sorted((ROOT / "configs").glob("*.yaml")):
        names = set(re.findall(r"env\.([A-Z0-9_]+)", config.read_text()))
        # Webhook URLs are checked for shape (never printed), so *_URL variables get a URL.
        environ = {
            name: f"https://hooks.example.com/{name.lower()}"
            if name.endswith("URL")
            else f"example-{name.lower()}"
            for name in names
        }
        loaded = load_tenant(config, environ=environ)
        assert loaded.scim.unique_identifier in ("email", "userName", "login")
