"""Tenant configs: YAML with file:line positions, jinja2 templates, pydantic schema, cross-field rules."""

from oktasync.config.load import load_tenant, load_tenants
from oktasync.config.schema import TenantConfig
from oktasync.config.secret import Secret

__all__ = ["Secret", "TenantConfig", "load_tenant", "load_tenants"]
