"""The System Log as the org writes it: the event list (kept sorted by time for ``since``/``until``), the
event body Okta writes and the targets it names (docs/okta-behaviour.md, System Log and provisioning events).

Apart from ``store.py`` because writing an event follows no org rule. ``Store`` builds on ``EventLog``, so
the rules that log (assignments, memberships) and the provisioning engine both call ``store.log_event``.
Serving the log (its cursor and ``filter``) is ``system_log.py``.
"""

from __future__ import annotations

import bisect
import secrets
import time
import uuid
from typing import Any

from oktasync.emulator.records import App, User, app_user_object_id, iso


class EventLog:
    """The org's System Log events, in publication order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.event_times: list[float] = []

    def app_target(self, app: App) -> dict[str, Any]:
        return {"id": app.id, "type": "AppInstance", "alternateId": app.label, "displayName": app.label}

    def app_user_targets(self, app: App, user: User, user_name: str | None = None) -> list[dict[str, Any]]:
        """The targets of an event about one app user, as Okta writes them (docs/okta-behaviour.md, "System
        Log and provisioning events"): the ``AppUser`` (its own ``0ua`` id, the app username as
        ``alternateId``), the ``AppInstance``, and the ``User`` (the Okta user id and login)."""
        app_user = app.users.get(user.id)
        name = user_name or (app_user.user_name if app_user is not None else None) or user.login
        return [
            {
                "id": app_user_object_id(app.id, user.id),
                "type": "AppUser",
                "alternateId": name,
                "displayName": user.display_name,
                "detailEntry": None,
            },
            self.app_target(app),
            {
                "id": user.id,
                "type": "User",
                "alternateId": user.login,
                "displayName": user.display_name,
                "detailEntry": None,
            },
        ]

    def log_event(
        self,
        event_type: str,
        display_message: str,
        *,
        targets: list[dict[str, Any]],
        result: str = "SUCCESS",
        reason: str | None = None,
        actor: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        now = time.time()
        if self.event_times and now < self.event_times[-1]:
            now = self.event_times[-1]  # keep the log sorted even if the clock steps back
        event: dict[str, Any] = {
            "uuid": str(uuid.uuid4()),
            "published": iso(now),
            "eventType": event_type,
            "version": "0",
            "severity": "INFO" if result == "SUCCESS" else "WARN",
            "legacyEventType": None,
            "displayMessage": display_message,
            "actor": actor
            or {
                "id": "0oa1system00000000001",
                "type": "PublicClientApp",
                "alternateId": "Okta System",
                "displayName": "Okta System",
                "detailEntry": None,
            },
            "client": None,
            "outcome": {"result": result, "reason": reason},
            "target": targets,
            "transaction": {"type": "JOB", "id": secrets.token_hex(10), "detail": {}},
            "debugContext": {"debugData": {}},
            "authenticationContext": None,
            "securityContext": None,
            "request": {"ipChain": []},
        }
        self.events.append(event)
        self.event_times.append(now)
        return event

    def events_between(self, since: float, until: float) -> tuple[int, int]:
        """Index range [lo, hi) of events with since <= published < until."""
        return bisect.bisect_left(self.event_times, since), bisect.bisect_left(self.event_times, until)
