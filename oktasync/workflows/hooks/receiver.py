"""The event hook receiver: an aiohttp application serving one or many tenants.

Routes (docs/event-hooks.md):

* ``GET  /okta/event-hooks/{tenant}`` with ``X-Okta-Verification-Challenge``: Okta's one-time verification,
  answered ``{"verification": <the header's value>}``. It reveals nothing, so it is answered with or without
  the secret (whether Okta sends the secret on verification is not documented).
* ``POST /okta/event-hooks/{tenant}``: a delivery. The configured header must equal the tenant's secret
  (``hmac.compare_digest``, constant time) or the answer is 401, logged without the secret. The app's
  provisioning events are written to the durable inbox, then Okta gets its 200 — within its 3-second limit,
  whatever Okta or the webhooks do — and a worker per tenant applies them afterwards.
* ``GET /healthz``: 200 while every tenant's worker runs (503 otherwise), with inbox sizes.
* ``GET /metrics``: Prometheus text: the `tasks` metrics of every app plus the receiver's own.

The worker takes the `tasks` lock of the app for each batch (a running `tasks` pass makes it wait; the
deliveries wait in the inbox meanwhile), applies the events to the `tasks` failure state
(``workflows/hooks/apply.py``) and sends the notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from oktasync.config import TenantConfig
from oktasync.errors import LockedError
from oktasync.models import App
from oktasync.okta_gateway.base import OktaGateway
from oktasync.workflows.hooks.apply import apply_events
from oktasync.workflows.hooks.events import DeliveryError, app_events, delivery_events, parse_events
from oktasync.workflows.hooks.inbox import Inbox, InboxItem
from oktasync.workflows.tasks.metrics import render as render_metrics
from oktasync.workflows.tasks.publish import app_metrics
from oktasync.workflows.tasks.run import tasks_lock
from oktasync.workflows.tasks.state import TasksState, load_state, save_state

log = logging.getLogger("oktasync.hooks")

HOOK_PATH = "/okta/event-hooks/{tenant}"
MAX_BODY = 10 * 1024**2  # a batch of LogEvents is far smaller; anything bigger is refused (413)
LOCK_RETRY_SECONDS = 1.0  # how often a worker tries the `tasks` lock while a `tasks` pass holds it
IDLE_POLL_SECONDS = 5.0  # a worker also looks at its inbox this often without a signal (files from before)
STOP_GRACE_SECONDS = 15.0  # on SIGTERM, how long a pass in progress may take to finish


def hook_path(tenant: str) -> str:
    return HOOK_PATH.format(tenant=tenant)


@dataclass
class TenantReceiver:
    """One tenant+app: its config, gateway, state dir, inbox and worker."""

    config: TenantConfig
    gateway: OktaGateway
    app: App
    app_dir: Path
    inbox: Inbox = field(init=False)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    counters: Counter[str] = field(default_factory=Counter)
    last_applied: float | None = None
    last_error: str | None = None
    task: asyncio.Task[None] | None = None
    stopping: bool = False

    def __post_init__(self) -> None:
        self.inbox = Inbox(self.app_dir)

    @property
    def secret(self) -> str:
        assert self.config.event_hook is not None
        return self.config.event_hook.secret.reveal()

    @property
    def header(self) -> str:
        assert self.config.event_hook is not None
        return self.config.event_hook.header

    def authentic(self, request: web.Request) -> bool:
        given = request.headers.get(self.header)
        return given is not None and hmac.compare_digest(given.encode(), self.secret.encode())

    def _commit(self, state: TasksState, items: list[InboxItem]) -> None:
        """The events are applied and their messages queued: save that, then the deliveries may go."""
        save_state(self.app_dir, state)
        self.inbox.remove(items)

    async def process_once(self, http_client: httpx.AsyncClient | None = None) -> bool:
        """Apply what the inbox holds, under the `tasks` lock. False when the lock is taken (try later)."""
        items = self.inbox.items()
        if not items:
            return True
        try:
            with tasks_lock(self.app_dir, self.config.tenant, self.app.label):
                # File work in a thread: the event loop must keep answering Okta within its limit.
                state = await asyncio.to_thread(load_state, self.app_dir)
                events = parse_events([e for item in items for e in item.events])
                applied = await apply_events(
                    self.config,
                    self.gateway,
                    self.app,
                    state,
                    events,
                    now=datetime.now(UTC),
                    http_client=http_client,
                    save=lambda: asyncio.to_thread(self._commit, state, items),
                )
                await asyncio.to_thread(save_state, self.app_dir, state)
        except LockedError:
            self.counters["lock_waits"] += 1
            return False
        self.counters["events_applied"] += applied.events
        self.counters["events_duplicate"] += applied.duplicates
        self.counters["failures_announced"] += len(applied.new_failures)
        self.last_applied = time.time()
        self.last_error = None
        for failure in applied.notification_failures:
            log.warning(
                "notification %s to %s failed (%s); kept in the outbox",
                failure.event,
                failure.target,
                failure.error,
            )
        return True

    async def run(self, http_client: httpx.AsyncClient | None = None) -> None:
        """The worker: apply the inbox whenever a delivery arrives (and at start, for what a previous
        process accepted), retrying while `tasks` holds the lock or Okta fails. Returns once ``stopping``
        is set, between two passes (a pass in progress finishes)."""
        while not self.stopping:
            self.wake.clear()  # before reading the inbox: a delivery during this pass wakes the next one
            try:
                done = await self.process_once(http_client)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an Okta outage must not stop the receiver
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                self.counters["apply_errors"] += 1
                log.warning(
                    "tenant %s: applying delivered events failed (%s); retrying",
                    self.config.tenant,
                    self.last_error,
                )
                done = False
            if self.stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), IDLE_POLL_SECONDS if done else LOCK_RETRY_SECONDS)


class Receiver:
    """The aiohttp application over the tenants (``build_app``); the CLI runs it."""

    def __init__(self, tenants: list[TenantReceiver]) -> None:
        self.tenants = {t.config.tenant: t for t in tenants}
        self.http: httpx.AsyncClient | None = None

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_get(HOOK_PATH, self.verify)
        app.router.add_post(HOOK_PATH, self.deliver)
        app.router.add_get("/healthz", self.health)
        app.router.add_get("/metrics", self.metrics)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, _: web.Application) -> None:
        self.http = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        for tenant in self.tenants.values():
            tenant.task = asyncio.create_task(tenant.run(self.http), name=f"hooks-{tenant.config.tenant}")

    async def _stop(self, _: web.Application) -> None:
        for tenant in self.tenants.values():
            tenant.stopping = True
            tenant.wake.set()
        tasks = [t.task for t in self.tenants.values() if t.task is not None]
        # Let a pass in progress finish (its notifications are already safe in the outbox either way).
        if tasks:
            _done, late = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.http is not None:
            await self.http.aclose()

    def _tenant(self, request: web.Request) -> TenantReceiver:
        tenant = self.tenants.get(request.match_info["tenant"])
        if tenant is None:
            raise web.HTTPNotFound(text="unknown tenant\n")
        return tenant

    async def verify(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        challenge = request.headers.get("X-Okta-Verification-Challenge")
        if challenge is None:
            return web.json_response({"error": "no X-Okta-Verification-Challenge header"}, status=400)
        tenant.counters["verifications"] += 1
        log.info("tenant %s: answered Okta's verification request", tenant.config.tenant)
        return web.json_response({"verification": challenge})

    async def deliver(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        if not tenant.authentic(request):
            tenant.counters["deliveries_unauthorized"] += 1
            log.warning(
                "tenant %s: refused a delivery from %s: the %s header is missing or wrong",
                tenant.config.tenant,
                request.remote,
                tenant.header,
            )
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            raw = delivery_events(json.loads(await request.read()))
        except (ValueError, DeliveryError) as exc:
            tenant.counters["deliveries_invalid"] += 1
            return web.json_response({"error": str(getattr(exc, "message", exc))[:200]}, status=400)
        kept = app_events(raw, tenant.app.id)
        tenant.counters["deliveries_accepted"] += 1
        tenant.counters["events_received"] += len(raw)
        tenant.counters["events_kept"] += len(kept)
        if kept:
            # On disk before Okta hears 200. In a thread: concurrent deliveries fsync in parallel, and the
            # event loop keeps answering meanwhile.
            await asyncio.to_thread(tenant.inbox.put, kept)
            tenant.wake.set()
        return web.Response(status=200)

    async def health(self, request: web.Request) -> web.Response:
        tenants = {}
        healthy = True
        for name, tenant in self.tenants.items():
            alive = tenant.task is not None and not tenant.task.done()
            healthy &= alive
            tenants[name] = {
                "worker": "running" if alive else "stopped",
                "app": tenant.app.id,
                "inbox": tenant.inbox.pending(),
                "last_applied": tenant.last_applied,
                "last_error": tenant.last_error,
            }
        return web.json_response(
            {"status": "ok" if healthy else "failing", "tenants": tenants}, status=200 if healthy else 503
        )

    async def metrics(self, request: web.Request) -> web.Response:
        text = render_metrics(
            app_metrics(t.config, t.app, load_state(t.app_dir), api_calls=0) for t in self.tenants.values()
        ) + render_receiver_metrics(self.tenants.values())
        return web.Response(text=text, content_type="text/plain", charset="utf-8")


_RECEIVER_METRICS: tuple[tuple[str, str, str], ...] = (
    ("oktasync_hooks_deliveries_total", "Event hook deliveries, by result.", "deliveries_"),
    ("oktasync_hooks_events_received_total", "Events in accepted deliveries.", "events_received"),
    ("oktasync_hooks_events_kept_total", "Provisioning events of the app, kept.", "events_kept"),
    (
        "oktasync_hooks_events_applied_total",
        "Kept events applied to the failure state.",
        "events_applied",
    ),
    (
        "oktasync_hooks_events_duplicate_total",
        "Kept events already applied (skipped).",
        "events_duplicate",
    ),
    (
        "oktasync_hooks_apply_errors_total",
        "Batches that failed to apply (retried).",
        "apply_errors",
    ),
)


class _ReceiverCollector(Collector):
    """The receiver's own counters and inbox gauge, per tenant+app (label values escaped by the library)."""

    def __init__(self, tenants: list[Any]) -> None:
        self.tenants = tenants

    def collect(self) -> Iterator[Metric]:
        labels = ("tenant", "app_id")
        for name, help_text, key in _RECEIVER_METRICS:
            with_result = key == "deliveries_"
            family_labels = (*labels, "result") if with_result else labels
            family = CounterMetricFamily(name, help_text, labels=family_labels)
            for t in self.tenants:
                base = [t.config.tenant, t.app.id]
                if with_result:
                    for result in ("accepted", "unauthorized", "invalid"):
                        family.add_metric([*base, result], t.counters["deliveries_" + result])
                else:
                    family.add_metric(base, t.counters[key])
            yield family
        pending = GaugeMetricFamily(
            "oktasync_hooks_inbox_pending", "Accepted deliveries not applied yet.", labels=labels
        )
        for t in self.tenants:
            pending.add_metric([t.config.tenant, t.app.id], t.inbox.pending())
        yield pending


def render_receiver_metrics(tenants: Iterable[Any]) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ReceiverCollector(list(tenants)))
    return generate_latest(registry).decode("utf-8")
