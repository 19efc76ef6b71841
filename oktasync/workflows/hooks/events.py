"""Okta's event hook delivery, read: the batch format, the events a tenant's receiver keeps, the subscription.

A delivery is a POST whose JSON body carries the System Log events in ``data.events[]``, each a LogEvent like
the System Log API returns (docs/okta-behaviour.md "Event hooks"). The receiver keeps the provisioning
events of the config's app that `tasks` understands (``tasks.model.EVENT_TYPES``) and drops the rest.
"""

from __future__ import annotations

from typing import Any

from oktasync.errors import OktasyncError
from oktasync.models import LogEvent
from oktasync.okta_gateway import parse
from oktasync.workflows.tasks import scan
from oktasync.workflows.tasks.model import EVENT_TYPES, MEMBERSHIP_REMOVE

# What `hooks register` subscribes to: the provisioning events Okta's event-type catalogue tags
# `event-hook-eligible` (docs/okta-behaviour.md "Event hooks"). `application.provision.user.deactivate` is not
# eligible: failed deactivations are found by the `tasks` poll only.
SUBSCRIBED_EVENTS: tuple[str, ...] = (
    "application.provision.user.push",
    "application.provision.user.push_profile",
    "application.provision.user.reactivate",
    "application.provision.user.import_profile",
    "application.provision.user.sync",
    MEMBERSHIP_REMOVE,
)


class DeliveryError(OktasyncError):
    """A delivery body that is not Okta's batch format (answered 400: Okta does not retry a 4xx)."""


def delivery_events(body: Any) -> list[dict[str, Any]]:
    """The raw events of a delivery: ``data.events``, a list of objects."""
    data = body.get("data") if isinstance(body, dict) else None
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise DeliveryError("not an Okta event hook delivery: data.events must be a list of objects")
    return events


def app_events(raw_events: list[dict[str, Any]], app_id: str) -> list[dict[str, Any]]:
    """The events `tasks` would read for this app: a known event type and the app among the targets."""
    kept = []
    for raw in raw_events:
        if raw.get("eventType") not in EVENT_TYPES:
            continue
        targets = raw.get("target")
        if isinstance(targets, list) and any(isinstance(t, dict) and t.get("id") == app_id for t in targets):
            kept.append(raw)
    return kept


def parse_events(raw_events: list[dict[str, Any]]) -> list[LogEvent]:
    """LogEvents, oldest first; an event without uuid or published is dropped (it cannot be de-duplicated)."""
    out = []
    for raw in raw_events:
        try:
            out.append(parse.log_event(raw))
        except OktasyncError:
            continue
    return sorted(out, key=lambda e: e.published)


def event_user(event: LogEvent) -> dict[str, Any] | None:
    """Who the event is about: the ``User`` target (the Okta user id, ``00u…``). Real provisioning events
    also carry an ``AppUser`` target whose id is the app user's (``0ua…``), which the Apps API does not
    accept as a user id (docs/okta-behaviour.md "System Log and provisioning events"). Without a ``User``
    target, whatever `tasks` reads."""
    for target in event.targets:
        if target.get("type") == "User" and target.get("id"):
            return target
    return scan.event_user(event)
