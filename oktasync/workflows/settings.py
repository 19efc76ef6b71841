"""The catalogue of managed provisioning settings: each one's config key, console label and form field.

Channels (``channels.py``) decide how each setting is written and read; the console steps
(``manual_steps.py``) say where a person finds it. Both read this catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- the catalogue -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One managed setting. ``key`` is its path in the tenant config; ``label`` is the console's name."""

    key: str
    label: str
    group: str  # "connector" (Provisioning > Integration) or "to_app" (Provisioning > To App)
    admin_field: str  # field of AdminProvisioningForm that reads it
    secret: bool = False


PROVISIONING = Setting("general.provisioning", "General: Provisioning (SCIM)", "general", "")
BASE_URL = Setting("scim.base_url", "SCIM connector base URL", "connector", "scim_base_url")
UNIQUE_IDENTIFIER = Setting(
    "scim.unique_identifier", "Unique identifier field for users", "connector", "unique_identifier"
)
PUSH_NEW_USERS = Setting(
    "scim.push_new_users", "Supported action: Push New Users", "connector", "push_new_users"
)
PUSH_PROFILE_UPDATES = Setting(
    "scim.push_profile_updates", "Supported action: Push Profile Updates", "connector", "push_profile_updates"
)
AUTH_MODE = Setting("scim.auth.mode", "Authentication Mode", "connector", "auth_mode")
BEARER_TOKEN = Setting("scim.auth.bearer_token", "Bearer token", "connector", "bearer_token_set", secret=True)
CREATE_USERS = Setting("to_app.create_users", "To App: Create Users", "to_app", "create_users")
UPDATE_USER_ATTRIBUTES = Setting(
    "to_app.update_user_attributes", "To App: Update User Attributes", "to_app", "update_user_attributes"
)
DEACTIVATE_USERS = Setting(
    "to_app.deactivate_users", "To App: Deactivate Users", "to_app", "deactivate_users"
)

SETTINGS: tuple[Setting, ...] = (
    PROVISIONING,
    BASE_URL,
    UNIQUE_IDENTIFIER,
    PUSH_NEW_USERS,
    PUSH_PROFILE_UPDATES,
    AUTH_MODE,
    BEARER_TOKEN,
    CREATE_USERS,
    UPDATE_USER_ATTRIBUTES,
    DEACTIVATE_USERS,
)
SETTINGS_BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
TO_APP: tuple[Setting, ...] = (CREATE_USERS, UPDATE_USER_ATTRIBUTES, DEACTIVATE_USERS)
NOT_APPLICABLE_TO_OIN: frozenset[str] = frozenset(
    {PROVISIONING.key, UNIQUE_IDENTIFIER.key, PUSH_NEW_USERS.key, PUSH_PROFILE_UPDATES.key}
)

# features[] value that shows each setting of a custom app (docs/okta-behaviour.md; verification only).
FEATURE_FLAGS: dict[str, str] = {
    PROVISIONING.key: "SCIM_PROVISIONING",
    CREATE_USERS.key: "PUSH_NEW_USERS",
    UPDATE_USER_ATTRIBUTES.key: "PUSH_PROFILE_UPDATES",
    DEACTIVATE_USERS.key: "PUSH_USER_DEACTIVATION",
}
