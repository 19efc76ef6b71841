"""The tenant config format (docs/architecture.md, Tenant config) as pydantic models. Field docs feed
``oktasync schema``.

Only shape and types live here; rules that need the file's line numbers or more than one field are in
``config.rules`` so that every problem can be reported at once, each at its place.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from oktasync.config.secret import Secret

# Okta's "Unique identifier field for users" of a SCIM connector: the Okta user attribute whose value is
# sent in the SCIM lookup filter. The vendor runbook asks for `email`.
UNIQUE_IDENTIFIERS = ("email", "userName", "login")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OAuthConfig(_Strict):
    """An OAuth 2.0 service app using private_key_jwt (Okta's recommended auth for automation)."""

    client_id: str = Field(description="Client ID of the API service app.")
    private_key_file: str = Field(
        description="PEM private key whose public JWK is registered on the app; relative to the config file."
    )
    key_id: str | None = Field(default=None, description="`kid` of the key, if the app has several.")
    scopes: list[str] = Field(
        default=[
            "okta.apps.read",
            "okta.apps.manage",
            "okta.groups.read",
            "okta.users.read",
            "okta.logs.read",
        ],
        description="Scopes to request.",
    )
    dpop: StrictBool = Field(
        default=False,
        description="Use DPoP-bound access tokens (RFC 9449): set it when the service app requires a DPoP "
        "proof (Okta's 'Require Demonstrating Proof of Possession (DPoP) header in token requests').",
    )


class OktaConfig(_Strict):
    org_url: str = Field(description="Your org URL, e.g. https://acme.okta.com (not the -admin URL).")
    token: Secret | None = Field(
        default=None, description='SSWS API token, from a template: "{{ env.OKTA_API_TOKEN }}".'
    )
    oauth: OAuthConfig | None = Field(default=None, description="OAuth service app instead of a token.")
    admin_session: Secret | None = Field(
        default=None,
        description="Admin Console session: the cookies of the -admin host as a `Cookie:` header value, a "
        "Netscape cookies.txt file (via `{{ file(...) }}`) or the `sid` cookie alone. Enables the `admin` "
        "channel, an interface Okta does not support (docs/admin-console-channel.md). Empty = not given.",
    )
    max_concurrency: int = Field(default=8, ge=1, le=50, description="Concurrent requests (Okta allows 75).")
    rate_limit_headroom: float = Field(
        default=0.1, ge=0, lt=1, description="Fraction of each rate-limit bucket left unused for others."
    )
    max_rate_limit_wait_seconds: float = Field(
        default=300,
        ge=0,
        le=3600,
        description="Seconds one request may spend in total waiting out 429s (rate limited) for bucket "
        "resets before it fails; 0 = fail on the first 429.",
    )


class AppRef(_Strict):
    label: str | None = Field(default=None, description="The app's label as shown in the Admin Console.")
    id: str | None = Field(default=None, description="The app id (0oa…). Either label or id.")


class ScimAuth(_Strict):
    mode: Literal["http_header"] = Field(default="http_header", description="Authentication Mode.")
    bearer_token: Secret = Field(description="The target's service-account token, from a template.")


class ScimConfig(_Strict):
    base_url: str = Field(
        description="SCIM connector base URL, e.g. https://acme.chronosphere.io/api/scim/v2"
    )
    unique_identifier: str = Field(default="email", description="Unique identifier field for users.")
    push_new_users: bool = Field(default=True, description="Supported provisioning action: Push New Users.")
    push_profile_updates: bool = Field(default=True, description="Supported action: Push Profile Updates.")
    auth: ScimAuth


class ToAppConfig(_Strict):
    create_users: bool = Field(default=True, description="Provisioning > To App: Create Users.")
    update_user_attributes: bool = Field(default=True, description="To App: Update User Attributes.")
    deactivate_users: bool = Field(default=True, description="To App: Deactivate Users.")


class ResyncConfig(_Strict):
    groups: Literal["all"] | list[str] = Field(default="all", description='"all" or a list of group names.')
    max_affected_users: int = Field(default=10000, ge=0, description="Refuse larger resyncs (safety limit).")


class RetryConfig(_Strict):
    max_attempts: int = Field(default=3, ge=0, description="Retries per user across runs.")
    settle_timeout_seconds: float = Field(default=120, gt=0, description="How long to wait for a push.")


class NotifyTarget(_Strict):
    webhook: Secret = Field(description="Webhook URL (treated as a secret: it usually embeds one).")
    kind: Literal["slack", "json", "workflows"] = Field(
        default="slack", description="slack (incoming webhook), json (generic) or workflows (Okta Workflows)."
    )
    allow_private_address: bool = Field(
        default=False,
        description="Allow a webhook host on a private or loopback network (10/8, 192.168/16, ...). "
        "Link-local and cloud metadata addresses are refused regardless.",
    )


class TasksConfig(_Strict):
    retry: RetryConfig = RetryConfig()
    notify: list[NotifyTarget] = Field(default_factory=list)


class EventHookConfig(_Strict):
    """The Okta event hook that `oktasync hooks` registers and receives (docs/event-hooks.md)."""

    secret: Secret = Field(
        description="The value Okta sends in `header` with every delivery; anything else is refused."
    )
    header: str = Field(
        default="Authorization",
        pattern=r"^[A-Za-z0-9-]+$",
        description="The name of the header that carries the secret (Okta's authScheme key).",
    )
    name: str | None = Field(
        default=None, description='The hook\'s name in Okta (default "oktasync <tenant>").'
    )


class TenantConfig(_Strict):
    """One Okta org + one app + its SCIM target."""

    tenant: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Name used in logs and journals."
    )
    vars: dict[str, Any] = Field(default_factory=dict, description="Values for templates: {{ vars.name }}.")
    okta: OktaConfig
    app: AppRef
    scim: ScimConfig
    to_app: ToAppConfig = ToAppConfig()
    resync: ResyncConfig = ResyncConfig()
    tasks: TasksConfig = TasksConfig()
    event_hook: EventHookConfig | None = Field(
        default=None, description="An Okta event hook for `oktasync hooks` (optional)."
    )


# Paths of values that must come from a template, never be written inline; ``env`` and ``file()`` may
# feed them (docs/config.md "Templates and secrets").
SECRET_PATHS: tuple[tuple[str | int, ...], ...] = (
    ("okta", "token"),
    ("okta", "admin_session"),
    ("scim", "auth", "bearer_token"),
    ("event_hook", "secret"),
)
SECRET_LIST_PATHS: tuple[tuple[tuple[str, ...], str], ...] = ((("tasks", "notify"), "webhook"),)

# The non-secret fields that may also read ``env`` and ``file()`` (docs/config.md lists them). Their
# values are not secret: they are printed, and the tenant name names a state directory. ``*`` stands for a
# list index. Every other field refuses ``env`` and ``file()``.
ENV_ALLOWED_PATHS: frozenset[tuple[str, ...]] = frozenset(
    {
        ("tenant",),
        ("okta", "org_url"),
        ("okta", "max_concurrency"),
        ("okta", "rate_limit_headroom"),
        ("okta", "max_rate_limit_wait_seconds"),
        ("okta", "oauth", "client_id"),
        ("okta", "oauth", "key_id"),
        ("okta", "oauth", "private_key_file"),
        ("app", "label"),
        ("app", "id"),
        ("scim", "base_url"),
    }
)

# Environment variables named like these hold secrets whatever field reads them: only secret fields may.
_SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|SESSION|COOKIE|CREDENTIALS?|API_?KEY|_SID)$", re.I)


def looks_secret(variable: str) -> bool:
    return bool(_SECRET_NAME.search(variable))
