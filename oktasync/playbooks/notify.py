"""The `notify` action: post a message to the config's webhook targets (``tasks.notify``).

Webhook URLs are secrets (they embed a token): they are revealed only for the request, and a failure is
reported by target number and HTTP status or error type, never with the URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oktasync.config.schema import NotifyTarget


def payload(target: NotifyTarget, message: str, *, level: str, tenant: str) -> dict[str, Any]:
    text = f"[oktasync · {tenant}] {message}"
    if target.kind == "slack":
        return {"text": text}
    return {"source": "oktasync", "tenant": tenant, "level": level, "message": message}


async def send_notifications(
    targets: Sequence[NotifyTarget], message: str, *, level: str, tenant: str, timeout: float = 10.0
) -> tuple[int, list[str]]:
    """Send to every target, each within ``timeout`` seconds in total (not per read: a webhook trickling
    bytes is cut at its deadline); returns (number sent, one line per failure without the URL)."""
    import asyncio

    import httpx

    from oktasync import webhooks

    sent = 0
    failures: list[str] = []
    async with httpx.AsyncClient(timeout=timeout) as client:
        for number, target in enumerate(targets, start=1):
            try:
                async with asyncio.timeout(timeout):
                    response = await webhooks.post(
                        client,
                        target.webhook.reveal(),
                        json=payload(target, message, level=level, tenant=tenant),
                        allow_private=target.allow_private_address,
                    )
            except TimeoutError:
                failures.append(f"target {number} ({target.kind}): no complete answer within {timeout:g}s")
                continue
            except webhooks.WebhookRefused as error:
                failures.append(f"target {number} ({target.kind}): {error}")
                continue
            except Exception as error:  # noqa: BLE001 - InvalidURL, ValueError, OverflowError: not HTTPError
                failures.append(f"target {number} ({target.kind}): {type(error).__name__}")
                continue
            if response.is_success:
                sent += 1
            else:
                failures.append(f"target {number} ({target.kind}): HTTP {response.status_code}")
    return sent, failures
