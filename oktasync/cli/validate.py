"""`oktasync validate CONFIG...`: schema, template and cross-field checks; reads no API."""

from __future__ import annotations

from typing import Any

import click

from oktasync.cli.context import CONFIG_PATH, emit_json, json_option
from oktasync.config import load_tenant
from oktasync.errors import EXIT_INVALID, ConfigError


@click.command("validate")
@click.argument("configs", nargs=-1, required=True, type=CONFIG_PATH)
@json_option("Print one JSON document.")
def command(configs: tuple[str, ...], as_json: bool) -> int:
    """Check tenant configs: schema, templates and cross-field rules. Reads no API.

    Exits 0 when every config is valid, 3 when any is not (each problem listed with file:line:column).
    """
    results: list[dict[str, Any]] = []
    for path in configs:
        try:
            config = load_tenant(path)
        except ConfigError as error:
            results.append({"file": path, "valid": False, "problems": [str(p) for p in error.problems]})
            continue
        app = config.app.label or config.app.id
        results.append({"file": path, "valid": True, "tenant": config.tenant, "app": app})
    if as_json:
        emit_json({"configs": results})
    else:
        for result in results:
            if result["valid"]:
                click.echo(f"ok      {result['file']}  (tenant {result['tenant']}, app {result['app']})")
            else:
                click.echo(f"invalid {result['file']}")
                for problem in result["problems"]:
                    click.echo(f"  {problem}")
    return EXIT_INVALID if any(not r["valid"] for r in results) else 0
