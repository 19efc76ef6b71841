"""`oktasync schema`: the JSON Schema of the tenant config format, for editors and CI."""

from __future__ import annotations

import click

from oktasync.cli.context import emit_json
from oktasync.config.schema import TenantConfig


def tenant_config_schema() -> dict[str, object]:
    schema = TenantConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "oktasync tenant config"
    return schema


@click.command("schema")
def command() -> int:
    """Print the JSON Schema of the tenant config (editors: yaml-language-server $schema comment)."""
    emit_json(tenant_config_schema())
    return 0
