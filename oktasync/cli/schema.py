"""`oktasync schema [config|playbook]`: the JSON Schema of a tenant config or of a playbook."""

from __future__ import annotations

import json

import click


def tenant_config_schema() -> dict[str, object]:
    from oktasync.config.schema import TenantConfig

    schema = TenantConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "oktasync tenant config"
    return schema


def playbook_schema() -> dict[str, object]:
    from oktasync.playbooks.model import playbook_json_schema

    return playbook_json_schema()


@click.command("schema")
@click.argument("kind", type=click.Choice(["config", "playbook"]), default="config")
def command(kind: str) -> int:
    """Print the JSON Schema of a tenant config (default) or of a playbook.

    Editors read it from a yaml-language-server comment; the repository ships both
    (docs/tenant-config.schema.json, docs/schemas/playbook.schema.json).
    """
    schema = tenant_config_schema() if kind == "config" else playbook_schema()
    # A JSON Schema as editors and validators read it: not an oktasync output document (no envelope).
    click.echo(json.dumps(schema, indent=2))
    return 0
