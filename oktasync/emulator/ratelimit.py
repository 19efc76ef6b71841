"""Okta's rate-limit buckets and concurrency limit (reference/okta-api.md §2.1-§2.2, Workforce column).

Time scaling: with ``time_scale`` s, a bucket's window lasts ``60 * s`` real seconds while the headers still
announce the per-minute limit. ``X-Rate-Limit-Reset`` is the **real** UTC epoch time (rounded up) at which
the window ends, so a client that waits until Reset by its own wall clock is always right.

Its resolution scales with time too. Okta sends whole epoch seconds, so a client that waits for Reset loses
up to one second per 60-second window. Scaled, that second is ``s`` real seconds: at s < 1 the header carries
decimals (``1764331234.6`` at s = 0.1), so the rounding costs the same share of a window as against Okta.
Whole seconds at s = 0.1 would cost up to a sixth of every 6-second window, an artefact of the scaling that
no real client pays. At s = 1 the header is Okta's integer. (The okta SDK parses the header as a float.)
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

# Bucket names are Okta's (rate_limit_lines.go in okta-api.md §2.2).
APPS = "/api/v1/apps"  # /api/v1/apps and every /api/v1/apps/{id}/* sub-resource: ONE shared bucket
APP_BY_ID = "/api/v1/apps/{id}"  # the exact path only
LOGS = "/api/v1/logs"
API_V1 = "/api/v1"
OAUTH = "/oauth2/v1/token"
ADMIN = "/admin"

DEFAULT_LIMITS: dict[str, int] = {
    APPS: 100,
    APP_BY_ID: 500,
    LOGS: 120,
    API_V1: 1200,
    OAUTH: 600,
    ADMIN: 1200,
}

_APP_EXACT = re.compile(r"^/api/v1/apps/[^/]+/?$")


def bucket_for(path: str) -> str | None:
    """The bucket of a request path, or None for routes outside rate limiting (control API)."""
    if path.startswith("/api/v1/apps"):
        if _APP_EXACT.match(path):
            return APP_BY_ID
        return APPS
    if path.startswith("/api/v1/logs"):
        return LOGS
    if path.startswith("/api/v1"):
        return API_V1
    if path.startswith("/oauth2/"):
        return OAUTH
    if path.startswith("/admin/"):
        return ADMIN
    return None


@dataclass
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: float  # real epoch seconds, at ``RateLimiter.reset_resolution``


@dataclass
class _Window:
    start: float
    used: int


class RateLimiter:
    """Fixed 60 s windows per bucket, started by the first request after the previous one ended."""

    def __init__(self, time_scale: float = 1.0, limits: dict[str, int] | None = None) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = time_scale
        self.limits = dict(DEFAULT_LIMITS)
        self.limits.update(limits or {})
        self._windows: dict[str, _Window] = {}

    @property
    def window_seconds(self) -> float:
        return 60.0 * self.time_scale

    @property
    def reset_resolution(self) -> float:
        """Okta's one-second resolution of X-Rate-Limit-Reset, in real seconds (see the module docstring)."""
        return min(1.0, self.time_scale)

    def _reset_of(self, window: _Window) -> float:
        step = self.reset_resolution
        return math.ceil((window.start + self.window_seconds) / step) * step

    def take(self, bucket: str, now: float | None = None) -> Decision:
        now = time.time() if now is None else now
        limit = self.limits.get(bucket, DEFAULT_LIMITS[API_V1])
        window = self._windows.get(bucket)
        if window is None or now >= window.start + self.window_seconds:
            window = _Window(start=now, used=0)
            self._windows[bucket] = window
        reset = self._reset_of(window)
        if window.used >= limit:
            return Decision(False, limit, 0, reset)
        window.used += 1
        return Decision(True, limit, limit - window.used, reset)

    def exhaust(self, bucket: str) -> None:
        """Use up a bucket's current window (tests of the 429 path)."""
        decision = self.take(bucket)
        self._windows[bucket].used = max(decision.limit, self._windows[bucket].used)

    def reset(self) -> None:
        self._windows.clear()

    def snapshot(self, now: float | None = None) -> dict[str, dict[str, float | int]]:
        now = time.time() if now is None else now
        out: dict[str, dict[str, float | int]] = {}
        for bucket, limit in self.limits.items():
            window = self._windows.get(bucket)
            live = window is not None and now < window.start + self.window_seconds
            out[bucket] = {
                "limit": limit,
                "used": window.used if (window and live) else 0,
                "reset": self._reset_of(window) if (window and live) else 0,
            }
        return out


def format_reset(reset: float) -> str:
    """The X-Rate-Limit-Reset header value: Okta's integer, or milliseconds when time is scaled."""
    whole = round(reset)
    if abs(reset - whole) < 1e-6:
        return str(whole)
    # Rounded up, never down: a client that waits until this instant must find the new window.
    return f"{math.ceil(reset * 1000) / 1000:.3f}".rstrip("0")
