"""Helpers for gateway tests: run coroutines, build SDK gateways against the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from oktasync.emulator.testing import API_TOKEN
from oktasync.okta_gateway.auth import SswsAuth
from oktasync.okta_gateway.pacing import RetryPolicy
from oktasync.okta_gateway.sdk import SdkGateway

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def fast_retry() -> RetryPolicy:
    """Real policy, short waits (tests must stay fast)."""
    return RetryPolicy(base=0.01, cap=0.1)


def gateway(url: str, token: str = API_TOKEN, **kwargs: Any) -> SdkGateway:
    kwargs.setdefault("retry", fast_retry())
    return SdkGateway(url, SswsAuth(token), **kwargs)


class FakeClock:
    """Time moves only when somebody sleeps."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
