"""Admin Console steps for settings only a person can change, with the values filled in.

Menu paths and field names follow the vendor's SCIM runbook ("Configure SCIM integration on Okta": General
tab > Provisioning: SCIM, then Provisioning > Integration and Provisioning > To App); the wording is ours. The
Bearer token is never printed: the step says where to copy it from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from oktasync.models import App
from oktasync.workflows.settings import (
    AUTH_MODE,
    BASE_URL,
    BEARER_TOKEN,
    CREATE_USERS,
    DEACTIVATE_USERS,
    PROVISIONING,
    PUSH_NEW_USERS,
    PUSH_PROFILE_UPDATES,
    UNIQUE_IDENTIFIER,
    UPDATE_USER_ATTRIBUTES,
)

DEFAULT_TOKEN_SOURCE = "the secret your tenant config reads for scim.auth.bearer_token"
TOKEN_SENT = "(sent through the Admin Console form)"  # the token was written; a person only checks it


def _tick(value: Any) -> str:
    return "select (tick)" if value else "clear (untick)"


def steps_for(app: App, changes: Mapping[str, Any], *, token_source: str | None = None) -> list[str]:
    """Console steps that set each ``changes[key]`` (setting key → desired value) on ``app``.

    The token's value in ``changes`` is ignored: only where to paste it from (``token_source``) is shown.
    """
    steps = [
        f'Sign in to the Okta Admin Console, open Applications > Applications and select "{app.label}" '
        f"(app id {app.id})."
    ]
    if PROVISIONING.key in changes:
        steps += _provisioning_steps()
    steps += _integration_steps(changes, token_source)
    steps += _to_app_steps(changes)
    if changes.get(PUSH_NEW_USERS.key) is True or changes.get(CREATE_USERS.key) is True:
        steps.append(
            "Note: Push New Users (Integration) and Create Users (To App) are both needed; provisioning "
            "fails if either is missing."
        )
    return steps


def _provisioning_steps() -> list[str]:
    """General tab: switch provisioning to SCIM, which makes the Provisioning tab appear."""
    return [
        "Open the General tab, click Edit in App Settings, set Provisioning to SCIM, then click Save "
        "(the Provisioning tab appears).",
        "With an admin session (okta.admin_session), run `oktasync apply` again now: it writes the "
        "Provisioning tab's settings through the Admin Console form; otherwise go on below.",
    ]


def _integration_steps(changes: Mapping[str, Any], token_source: str | None) -> list[str]:
    """Provisioning > Integration: the SCIM connector's fields, then Test Connector Configuration."""
    connector = [key for key in changes if key.startswith("scim.")]
    token_sent = changes.get(BEARER_TOKEN.key) == TOKEN_SENT
    if token_sent and connector == [BEARER_TOKEN.key]:
        # Only the token changed, and it was written: nothing to type, only the connector test can check it.
        return [
            "Open the Provisioning tab, choose Integration, click Edit, then Test Connector Configuration: "
            "oktasync sent the Bearer token through the form, but nothing can read it back. When the test "
            "succeeds, click Cancel and confirm with `oktasync apply --confirm-manual`."
        ]
    if not connector:
        return []
    steps = ["Open the Provisioning tab, choose Integration in the side menu, then click Edit."]
    steps += _connector_field_steps(changes)
    if token_sent:
        steps.append(
            "Authorization > Bearer: leave it as it is (oktasync sent the token through the form; the "
            "connector test below checks it)."
        )
    elif BEARER_TOKEN.key in changes:
        steps.append(
            "Authorization > Bearer: paste the target's service-account token, taken from "
            f"{token_source or DEFAULT_TOKEN_SOURCE} (oktasync never prints it)."
        )
    steps.append(
        "Click Test Connector Configuration and make sure it succeeds, then click Save "
        "(the Provisioning to App page opens)."
    )
    return steps


def _connector_field_steps(changes: Mapping[str, Any]) -> list[str]:
    """The connector form's fields other than the Bearer token, in the form's order."""
    steps = []
    if BASE_URL.key in changes:
        steps.append(f"SCIM connector base URL: enter {changes[BASE_URL.key]}")
    if UNIQUE_IDENTIFIER.key in changes:
        steps.append(f"Unique identifier field for users: enter {changes[UNIQUE_IDENTIFIER.key]}")
    if PUSH_NEW_USERS.key in changes:
        steps.append(f"Supported provisioning actions: {_tick(changes[PUSH_NEW_USERS.key])} Push New Users")
    if PUSH_PROFILE_UPDATES.key in changes:
        tick = _tick(changes[PUSH_PROFILE_UPDATES.key])
        steps.append(f"Supported provisioning actions: {tick} Push Profile Updates")
    if AUTH_MODE.key in changes:
        steps.append("Authentication Mode: choose HTTP Header.")
    return steps


_TO_APP_LABELS = {
    CREATE_USERS.key: "Create Users",
    UPDATE_USER_ATTRIBUTES.key: "Update User Attributes",
    DEACTIVATE_USERS.key: "Deactivate Users",
}


def _to_app_steps(changes: Mapping[str, Any]) -> list[str]:
    """Provisioning > To App: the checkboxes, in the page's order."""
    if not any(key.startswith("to_app.") for key in changes):
        return []
    steps = ["On the Provisioning tab, choose To App in the side menu, then click Edit."]
    for key, label in _TO_APP_LABELS.items():
        if key in changes:
            steps.append(f"{label}: {_tick(changes[key])} the Enable checkbox.")
    steps.append("Click Save.")
    return steps


def token_source_of(config_path: str | Path) -> str:
    """Where the config reads its Bearer token from, e.g. ``{{ env.CHRONOSPHERE_SCIM_TOKEN }}`` — the
    template text, which is not secret — so that steps can say where to copy the token from."""
    import yaml

    try:
        data = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
        raw = data["scim"]["auth"]["bearer_token"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return DEFAULT_TOKEN_SOURCE
    if isinstance(raw, str) and "{{" in raw:
        return f"the value of `{raw.strip()}` (scim.auth.bearer_token in {Path(config_path).name})"
    return DEFAULT_TOKEN_SOURCE
