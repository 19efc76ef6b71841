"""`hooks register` and `hooks status`: the tenant's Okta event hook through the Event Hooks API.

Registering is idempotent: the hook is found by name (else by URI) and written only when something differs —
its URI, events, header name, or the secret. Okta never returns the secret, so the state dir keeps a salted
scrypt fingerprint of the one last registered (``token_fingerprint``): same fingerprint, no write. After a
write, or while the hook is not VERIFIED, Okta's verify is called (Okta calls the receiver, which must be
running) and the result is read back from Okta, never assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oktasync.config import TenantConfig
from oktasync.errors import ConfigError, OktaApiError, Problem
from oktasync.okta_gateway.base import EventHook, EventHookSpec, OktaGateway
from oktasync.state import atomic_write_json
from oktasync.workflows import token_fingerprint
from oktasync.workflows.hooks.events import SUBSCRIBED_EVENTS
from oktasync.workflows.hooks.receiver import hook_path
from oktasync.workflows.token_fingerprint import make_record

FINGERPRINT_FILE = "event-hook-secret.json"


def hook_name(config: TenantConfig) -> str:
    hook = _hook_config(config)
    return hook.name or f"oktasync {config.tenant}"


def hook_uri(base_url: str, tenant: str) -> str:
    """The receiver's endpoint for ``tenant`` behind the public base URL ``base_url``."""
    return base_url.rstrip("/") + hook_path(tenant)


def _hook_config(config: TenantConfig) -> Any:
    if config.event_hook is None:
        raise ConfigError(
            [
                Problem(
                    "(config)",
                    None,
                    None,
                    f"tenant {config.tenant} has no `event_hook` section",
                    'add event_hook: {secret: "{{ env.OKTA_EVENT_HOOK_SECRET }}"}',
                )
            ]
        )
    return config.event_hook


def find_hook(hooks: list[EventHook], name: str, uri: str | None = None) -> EventHook | None:
    for hook in hooks:
        if hook.name == name:
            return hook
    return next((h for h in hooks if uri and h.uri == uri), None)


@dataclass
class Registration:
    tenant: str
    name: str
    uri: str
    dry_run: bool
    changes: list[str] = field(default_factory=list)  # what differed (and was, or would be, written)
    actions: list[str] = field(default_factory=list)  # created | updated | activated | verified
    hook: EventHook | None = None
    verified: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and (self.dry_run or self.verified)

    def to_dict(self) -> dict[str, Any]:
        hook = self.hook
        return {
            "tenant": self.tenant,
            "name": self.name,
            "uri": self.uri,
            "dry_run": self.dry_run,
            "changes": self.changes,
            "actions": self.actions,
            "hook": _hook_dict(hook) if hook else None,
            "verified": self.verified,
            "error": self.error,
        }


def _hook_dict(hook: EventHook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "name": hook.name,
        "status": hook.status,
        "verification_status": hook.verification_status,
        "uri": hook.uri,
        "events": list(hook.events),
        "auth_header": hook.auth_header,
    }


async def register(
    config: TenantConfig, gateway: OktaGateway, app_dir: Path, base_url: str, *, dry_run: bool = False
) -> Registration:
    hook_config = _hook_config(config)
    secret = hook_config.secret.reveal()
    spec = EventHookSpec(
        name=hook_name(config),
        uri=hook_uri(base_url, config.tenant),
        events=SUBSCRIBED_EVENTS,
        auth_header=hook_config.header,
        secret=secret,
    )
    result = Registration(config.tenant, spec.name, spec.uri, dry_run)
    existing = find_hook(await gateway.list_event_hooks(), spec.name, spec.uri)
    record = token_fingerprint.load(app_dir, FINGERPRINT_FILE)
    secret_known = record is not None and record.matches(secret)
    result.changes.extend(_changes(existing, spec, secret_known))
    result.hook = existing
    if dry_run:
        return result
    try:
        await _converge(gateway, existing, spec, result)
    except OktaApiError as exc:
        result.error = exc.message
    # The outcome as Okta reports it now, whatever the calls answered.
    result.hook = find_hook(await gateway.list_event_hooks(), spec.name, spec.uri)
    result.verified = bool(
        result.hook and result.hook.status == "ACTIVE" and result.hook.verification_status == "VERIFIED"
    )
    if result.verified and not secret_known:
        atomic_write_json(app_dir / FINGERPRINT_FILE, make_record(secret, "event-hook").to_dict())
    if not result.verified and result.error is None:
        result.error = "Okta does not report the hook ACTIVE and VERIFIED"
    return result


def _changes(existing: EventHook | None, spec: EventHookSpec, secret_known: bool) -> list[str]:
    """What registering would change, one line each (the secret compared by its fingerprint: Okta never
    shows it)."""
    if existing is None:
        return ["no event hook yet: create it"]
    changes = []
    if existing.uri != spec.uri:
        changes.append(f"uri {existing.uri} -> {spec.uri}")
    if existing.name != spec.name:
        changes.append(f"name {existing.name!r} -> {spec.name!r}")
    if set(existing.events) != set(spec.events):
        changes.append("events: " + ", ".join(sorted(set(spec.events) ^ set(existing.events))))
    if existing.auth_header != spec.auth_header:
        changes.append(f"auth header {existing.auth_header} -> {spec.auth_header}")
    if not secret_known:
        changes.append("secret: not the one last registered from here (Okta never shows it)")
    if existing.status != "ACTIVE":
        changes.append(f"status {existing.status} -> ACTIVE")
    if existing.verification_status != "VERIFIED":
        changes.append("not verified: verify")
    return changes


async def _converge(
    gateway: OktaGateway, existing: EventHook | None, spec: EventHookSpec, result: Registration
) -> None:
    """Create or replace the hook when anything but its status differs, activate it, verify it."""
    hook = existing
    if hook is None:
        hook = await gateway.create_event_hook(spec)
        result.actions.append("created")
    elif any(not c.startswith(("status ", "not verified")) for c in result.changes):
        hook = await gateway.replace_event_hook(hook.id, spec)
        result.actions.append("updated")
    if hook.status != "ACTIVE":
        hook = await gateway.activate_event_hook(hook.id)
        result.actions.append("activated")
    if result.actions or hook.verification_status != "VERIFIED":
        await gateway.verify_event_hook(hook.id)
        result.actions.append("verified")


@dataclass(frozen=True)
class HookStatus:
    tenant: str
    name: str
    hook: EventHook | None

    @property
    def missing_events(self) -> tuple[str, ...]:
        have = set(self.hook.events) if self.hook else set()
        return tuple(e for e in SUBSCRIBED_EVENTS if e not in have)

    @property
    def healthy(self) -> bool:
        return bool(
            self.hook
            and self.hook.status == "ACTIVE"
            and self.hook.verification_status == "VERIFIED"
            and not self.missing_events
        )

    def summary(self) -> str:
        if self.hook is None:
            return f'no event hook named "{self.name}": run `oktasync hooks register CONFIG --url URL`'
        text = f"{self.hook.status}, {self.hook.verification_status}, {self.hook.uri}"
        if self.missing_events:
            text += "; not subscribed to " + ", ".join(self.missing_events)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "name": self.name,
            "registered": self.hook is not None,
            "active": bool(self.hook and self.hook.status == "ACTIVE"),
            "verified": bool(self.hook and self.hook.verification_status == "VERIFIED"),
            "missing_events": list(self.missing_events),
            "hook": _hook_dict(self.hook) if self.hook else None,
        }


async def status(config: TenantConfig, gateway: OktaGateway) -> HookStatus:
    name = hook_name(config)
    return HookStatus(config.tenant, name, find_hook(await gateway.list_event_hooks(), name))


async def doctor_check(config: TenantConfig, gateway: OktaGateway) -> tuple[bool | None, str] | None:
    """For `doctor`: None when the config has no event hook; else (ok, detail). A hook that is missing or
    unverified is a warning (``ok`` None): `tasks` still finds every failure, only later."""
    if config.event_hook is None:
        return None
    try:
        found = await status(config, gateway)
    except OktaApiError as exc:
        return None, f"event hooks not readable ({exc.message}); needs okta.eventHooks.read"
    if found.healthy:
        return True, f'"{found.name}" {found.summary()}'
    return None, found.summary()
