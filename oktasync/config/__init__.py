"""Tenant configs: YAML with file:line positions, jinja2 templates, pydantic schema, cross-field rules.

The names below load on first use (PEP 562): the CLI imports ``oktasync.config.secret`` for every command,
``--help`` included, and must not pay for the schema's pydantic models and jinja2 until a config is read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oktasync.config.load import check_tenant, load_tenant, load_tenants
    from oktasync.config.schema import TenantConfig
    from oktasync.config.secret import Secret

__all__ = ["Secret", "TenantConfig", "check_tenant", "load_tenant", "load_tenants"]

_HOMES = {
    "check_tenant": "oktasync.config.load",
    "load_tenant": "oktasync.config.load",
    "load_tenants": "oktasync.config.load",
    "TenantConfig": "oktasync.config.schema",
    "Secret": "oktasync.config.secret",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(home), name)
