"""Notifications: one message per new failure and per recovery (and one when Okta did not act on a retry),
to Slack, a JSON webhook or Okta Workflows.

Delivery is at-least-once through an outbox in the state dir: a message is queued (per target) in the same
state write that records the failure as known, and leaves the outbox only after the target answered 2xx. A
failing webhook (5xx, refused, timeout) is reported and retried on the next run; it never stops the run. Each
message carries a stable ``id`` (also sent as ``X-Oktasync-Message-Id``) so a receiver can drop the rare
duplicate (a crash between delivery and the state write).

Webhook URLs are secrets (Slack's and Workflows' embed their token): they are never written to the state dir,
a payload or an error message. Targets are referred to by ``target_id``, a short hash of the URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from oktasync import webhooks
from oktasync.config.secret import Secret

log = logging.getLogger("oktasync.tasks")

KINDS = ("slack", "json", "workflows")
TIMEOUT = 10.0


def target_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def detect_kind(url: str) -> str:
    """The payload for a ``--notify URL``: Slack for hooks.slack.com, Workflows for an Okta Workflows API
    endpoint (``*.workflows.okta.com`` or an ``/api/flo/`` path), otherwise the generic JSON document."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host == "hooks.slack.com":
        return "slack"
    if host.endswith((".workflows.okta.com", ".workflows.oktapreview.com")) or "/api/flo/" in parts.path:
        return "workflows"
    return "json"


@dataclass(frozen=True)
class Notifier:
    kind: str
    url: Secret
    allow_private: bool = False  # the config target's allow_private_address (oktasync.webhooks)

    @property
    def id(self) -> str:
        return target_id(self.url.reveal())

    def describe(self) -> str:
        """A safe name for reports: kind, host and the id. Never the path or query (tokens live there)."""
        try:
            host = urlsplit(self.url.reveal()).hostname or "?"
        except ValueError:  # a malformed URL (config and --notify are checked, this is defence in depth)
            host = "?"
        return f"{self.kind} webhook on {host} ({self.id})"


@dataclass(frozen=True)
class OutboxMessage:
    """An outbox entry: the non-secret facts (``body``) of one failure, recovery or retry not taken, for one
    target (``Notifier.id``), kept until that target answers 2xx; ``tries`` and ``last_error`` say how its
    deliveries failed so far."""

    id: str
    target: str
    event: str
    body: Mapping[str, Any]
    tries: int = 0
    last_error: str | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @staticmethod
    def from_json(raw: Mapping[str, Any]) -> OutboxMessage:
        body, tries, error = dict(raw.get("body") or {}), int(raw.get("tries", 0)), raw.get("last_error")
        return OutboxMessage(
            str(raw["id"]), str(raw.get("target", "")), str(raw["event"]), body, tries, error
        )


def new_message(event: str, body: Mapping[str, Any], target: str) -> OutboxMessage:
    """A new outbox entry for ``target``, with a stable id (sent as ``X-Oktasync-Message-Id``)."""
    return OutboxMessage(str(uuid.uuid4()), target, event, body)


def _user_label(body: Mapping[str, Any]) -> str:
    user = body.get("user") or {}
    return str(user.get("login") or user.get("email") or user.get("id"))


def _how_assigned(body: Mapping[str, Any]) -> str:
    via = str(body.get("assigned_via"))
    return via if via == "no longer assigned" else f"assigned {via}"


def slack_text(event: str, body: Mapping[str, Any]) -> str:
    app = body.get("app") or {}
    where = f"*{app.get('label')}* (tenant {body.get('tenant')})"
    who = f"`{_user_label(body)}`"
    if event == "failure":
        reason = body.get("reason") or {}
        lines = [
            f":warning: Okta provisioning failed: *{body.get('operation')}* of {who} in {where}, "
            f"{_how_assigned(body)}, at {body.get('failed_at') or 'unknown time'}.",
        ]
        if reason.get("okta"):
            lines.append(f"Okta: {reason['okta']}")
        if reason.get("target"):
            lines.append(f"Target: {reason['target']}")
        lines.append(f"Tasks: {body.get('console_url')}")
        return "\n".join(lines)
    if event == "retry_not_taken":
        return (
            f":x: Okta did not re-push {who} in {where} after oktasync's retry ({body.get('operation')}); "
            f"retry it by hand: {body.get('console_steps')}"
        )
    return (
        f":white_check_mark: Okta provisioning {body.get('how')}: {who} in {where} "
        f"({body.get('operation')} no longer failing)."
    )


def payload(kind: str, message: OutboxMessage) -> dict[str, Any]:
    event, body = message.event, message.body
    if kind == "slack":
        # Slack incoming webhooks take {"text": ...}; so do Mattermost, Rocket.Chat and Teams' Slack shim.
        return {"text": slack_text(event, body)}
    if kind == "workflows":
        # Okta Workflows "API Endpoint" flows map top-level JSON keys to card outputs: keep it flat.
        user, app, reason = body.get("user") or {}, body.get("app") or {}, body.get("reason") or {}
        return {
            "messageId": message.id,
            "event": event,
            "tenant": body.get("tenant"),
            "appId": app.get("id"),
            "appLabel": app.get("label"),
            "userId": user.get("id"),
            "login": user.get("login"),
            "email": user.get("email"),
            "operation": body.get("operation"),
            "assignedVia": body.get("assigned_via"),
            "oktaMessage": reason.get("okta"),
            "targetMessage": reason.get("target"),
            "failedAt": body.get("failed_at"),
            "how": body.get("how"),
            "detail": body.get("detail"),
            "consoleSteps": body.get("console_steps"),
            "consoleUrl": body.get("console_url"),
            "at": body.get("at"),
        }
    return {"source": "oktasync", "type": f"oktasync.tasks.{event}", "id": message.id, **body}


def _safe_error(error: Exception, url: str) -> str:
    if isinstance(error, webhooks.WebhookRefused):
        return str(error)  # names the address class, never the URL
    if not isinstance(error, httpx.HTTPError):
        # Not a transport error: its message may quote the URL in a normalised form that the replace
        # below would miss (an invalid URL, a bad port). The type is enough to act on.
        return f"{type(error).__name__} (the webhook URL is unusable)"
    text = f"{type(error).__name__}: {error}".replace(url, "(sensitive)")
    return text[:300]


@dataclass(frozen=True)
class DeliveryFailure:
    target: str  # Notifier.describe()
    message_id: str
    event: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "message_id": self.message_id,
            "event": self.event,
            "error": self.error,
        }


async def deliver(
    outbox: list[OutboxMessage],
    notifiers: list[Notifier],
    *,
    client: httpx.AsyncClient | None = None,
    timeout: float = TIMEOUT,
) -> tuple[list[OutboxMessage], int, list[DeliveryFailure]]:
    """Send what the outbox holds; return (the outbox left, delivered count, failures).

    Messages for a target no longer configured are dropped. After a target's first failure in a run, its
    remaining messages wait for the next run (one dead webhook does not cost a timeout per message).
    """
    by_id = {n.id: n for n in notifiers}
    left: list[OutboxMessage] = []
    delivered = 0
    failures: list[DeliveryFailure] = []
    broken: set[str] = set()
    own = client is None
    http = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
    try:
        for message in outbox:
            notifier = by_id.get(message.target)
            if notifier is None:
                continue
            if notifier.id in broken:
                left.append(message)
                continue
            url = notifier.url.reveal()
            try:
                # A total deadline: httpx's timeout bounds each read, and a webhook trickling a byte every few
                # seconds would otherwise hold the run (and its lock) for as long as it likes.
                async with asyncio.timeout(timeout):
                    response = await webhooks.post(
                        http,
                        url,
                        json=payload(notifier.kind, message),
                        headers={"X-Oktasync-Message-Id": message.id, "User-Agent": "oktasync-tasks"},
                        allow_private=notifier.allow_private,
                    )
                ok = 200 <= response.status_code < 300
                error = None if ok else f"HTTP {response.status_code}"
            except TimeoutError:
                ok, error = False, f"no complete answer within the {timeout:g}s deadline"
            except Exception as exc:  # noqa: BLE001 - any failure is the webhook's, never the run's
                # httpx raises InvalidURL, ValueError or OverflowError (a bad port) outside HTTPError.
                ok, error = False, _safe_error(exc, url)
            if ok:
                delivered += 1
                continue
            message = replace(message, tries=message.tries + 1, last_error=error)
            left.append(message)
            broken.add(notifier.id)
            failures.append(DeliveryFailure(notifier.describe(), message.id, message.event, str(error)))
            log.warning("notification to %s failed (%s); kept for the next run", notifier.describe(), error)
    finally:
        if own:
            await http.aclose()
    return left, delivered, failures
