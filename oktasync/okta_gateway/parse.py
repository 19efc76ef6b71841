"""Lenient parsing of Okta's JSON into oktasync.models.

The SDK's pydantic models reject real answers: ``features[]`` values missing from its enum
(``AUTO_CONFIRM_IMPORTS`` on custom SAML apps with SCIM, okta-sdk-python#574), System Log ``outcome.reason``
empty or longer than 255 characters, strict ``AppUser.profile``. ``tests/conformance`` feeds every recorded
real Okta answer through these parsers (docs/okta-behaviour.md).
One bad record must not make a whole page unreadable, so these parsers take what they need, keep unknown
values as they are, and raise only when a field oktasync relies on is missing.
"""

from __future__ import annotations

from typing import Any

from oktasync.errors import OktaApiError
from oktasync.models import App, AppUser, Connection, GroupAssignment, LogEvent, ToAppSettings


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OktaApiError(f"unexpected {what} from Okta: {type(value).__name__}, not an object")
    return value


def _sub(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _required(doc: dict[str, Any], key: str, what: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str):
        raise OktaApiError(f"unexpected {what} from Okta: no {key!r}")
    return value


def app(raw: Any) -> App:
    doc = _obj(raw, "app")
    features = doc.get("features") or []
    return App(
        id=_required(doc, "id", "app"),
        name=_str(doc.get("name")) or "",
        label=_str(doc.get("label")) or "",
        status=_str(doc.get("status")) or "UNKNOWN",
        sign_on_mode=_str(doc.get("signOnMode")),
        features=tuple(str(f) for f in features if isinstance(f, str)),
    )


def connection(raw: Any) -> Connection:
    doc = _obj(raw, "provisioning connection")
    profile = _sub(doc, "profile")
    return Connection(
        status=_str(doc.get("status")) or "UNKNOWN",
        auth_scheme=_str(doc.get("authScheme")) or _str(profile.get("authScheme")) or "UNKNOWN",
        base_url=_str(doc.get("baseUrl")),
    )


def _enabled(section: Any, key: str) -> bool:
    if not isinstance(section, dict):
        return False
    entry = section.get(key)
    return isinstance(entry, dict) and entry.get("status") == "ENABLED"


def to_app_settings(raw: Any) -> ToAppSettings:
    """A USER_PROVISIONING ApplicationFeature (its ``capabilities``)."""
    doc = _obj(raw, "feature")
    caps = _sub(doc, "capabilities")
    return ToAppSettings(
        create_users=_enabled(caps.get("create"), "lifecycleCreate"),
        update_user_attributes=_enabled(caps.get("update"), "profile"),
        deactivate_users=_enabled(caps.get("update"), "lifecycleDeactivate"),
    )


def group_assignment(raw: Any) -> GroupAssignment:
    doc = _obj(raw, "group assignment")
    embedded = _sub(doc, "_embedded")
    group = _sub(embedded, "group")
    group_profile = _sub(group, "profile")
    priority = doc.get("priority")
    profile = doc.get("profile")
    return GroupAssignment(
        group_id=_required(doc, "id", "group assignment"),
        priority=priority if isinstance(priority, int) and not isinstance(priority, bool) else None,
        profile=dict(profile) if isinstance(profile, dict) else {},
        group_name=_str(group_profile.get("name")),
    )


def app_user(raw: Any) -> AppUser:
    doc = _obj(raw, "app user")
    credentials = _sub(doc, "credentials")
    embedded = _sub(doc, "_embedded")
    user = _sub(embedded, "user")
    user_profile = _sub(user, "profile")
    profile = doc.get("profile")
    return AppUser(
        id=_required(doc, "id", "app user"),
        scope=_str(doc.get("scope")) or "USER",
        status=_str(doc.get("status")) or "UNKNOWN",
        sync_state=_str(doc.get("syncState")),
        external_id=_str(doc.get("externalId")),
        user_name=_str(credentials.get("userName")),
        login=_str(user_profile.get("login")),
        email=_str(user_profile.get("email")),
        profile=dict(profile) if isinstance(profile, dict) else {},
        last_sync=_str(doc.get("lastSync")),
        last_updated=_str(doc.get("lastUpdated")),
        status_changed=_str(doc.get("statusChanged")),
    )


def log_event(raw: Any) -> LogEvent:
    doc = _obj(raw, "System Log event")
    outcome = _sub(doc, "outcome")
    raw_targets = doc.get("target")
    targets: list[Any] = raw_targets if isinstance(raw_targets, list) else []
    actor = _sub(doc, "actor")
    return LogEvent(
        uuid=_required(doc, "uuid", "System Log event"),
        published=_required(doc, "published", "System Log event"),
        event_type=_str(doc.get("eventType")) or "",
        result=_str(outcome.get("result")),
        reason=_str(outcome.get("reason")),  # any length, empty included
        targets=tuple(dict(t) for t in targets if isinstance(t, dict)),
        actor=dict(actor),
        display_message=_str(doc.get("displayMessage")),
    )
