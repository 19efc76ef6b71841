"""Okta's rate-limit buckets, per-client shares and concurrency limit (docs/okta-behaviour.md "Rate limits
and paging"; Workforce figures).

Buckets follow Okta's own route map (the Terraform provider's generated ``rate_limit_lines.go``, see
``bucket_for``): ``/api/v1/apps`` and every ``/api/v1/apps/{id}/*`` share one bucket and the exact
``/api/v1/apps/{id}`` has its own; likewise ``/api/v1/groups`` (list, members, ...) vs the exact
``/api/v1/groups/{id}``, and ``/api/v1/users`` (list, ``/users/{id}/groups``, ...) vs the exact
``/api/v1/users/{id}``, which is two buckets: GET (by id or login) and POST/PUT/DELETE. ``/api/v1/logs`` has
its own; the rest of ``/api/v1`` shares one. Limits: ``DEFAULT_LIMITS``.

Per-client share: by default one API token or OAuth app may use only 50% of a bucket
(https://developer.okta.com/docs/reference/rl2-token-oauth: "each API token or OAuth 2.0 app can use up to 50%
of a bucket's total rate limit"; recorded real headers show ``X-Rate-Limit-Limit: 50`` on ``/api/v1/apps``,
whose org limit is 100, and 250 on ``/api/v1/apps/{id}``, whose org limit is 500: okta-sdk-python cassettes
of 2025-2026). ``take`` counts each request twice: in the org's window of the bucket and in the client's share
of it. A client's ceiling is ``floor(limit * share)`` (at least 1); it is refused when either its share or the
org's bucket is used up, so a second client of the same org draws on the same bucket. The headers a client
sees are its own: ``X-Rate-Limit-Limit`` is its ceiling and ``X-Rate-Limit-Remaining`` is the smaller of what
is left of its share and of the org's bucket (how Okta reports the org part is not documented: see
docs/okta-behaviour.md "Rate limits and paging"). Requests with no recognised client (the token endpoint,
a rejected credential, the Admin Console) count against the org's bucket only and see the org's limit. The
share is ``Behaviour.rate_limit_client_share`` (``--behaviour rate_limit_client_share=1`` gives one client the
whole bucket, as an admin can configure per token or app).

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
from dataclasses import dataclass, field

# Bucket names are Okta's: the third field of each line of Okta's generated route map, the Terraform
# provider's okta/internal/apimutex/rate_limit_lines.go, e.g.
#   "/api/v1/groups/ID/users GET /api/v1/groups"      "/api/v1/groups/ID GET /api/v1/groups/{id}"
#   "/api/v1/users/ID/groups GET /api/v1/users"       "/api/v1/users/ID PUT /api/v1/users/{id}"
#   "/api/v1/users/{id:.+} GET /api/v1/users/{id:.+}" "/api/v1/users/me GET /api/v1/users/me"
# This table is kept apart from the client's (okta_gateway/pacing.py) on purpose: the emulator is an
# independent model of Okta, so tests do not check the client against itself.
APPS = "/api/v1/apps"  # /api/v1/apps and every /api/v1/apps/{id}/* sub-resource: ONE shared bucket
APP_BY_ID = "/api/v1/apps/{id}"  # the exact path only
GROUPS = "/api/v1/groups"  # /api/v1/groups, /groups/rules and every /groups/{id}/* (users, apps, ...)
GROUP_BY_ID = "/api/v1/groups/{id}"  # the exact path only (GET, PUT, DELETE)
USERS = "/api/v1/users"  # /api/v1/users and every /users/{id}/* (groups, lifecycle, ...)
USER_BY_ID = "/api/v1/users/{id}"  # the exact path, POST/PUT/DELETE
USER_BY_ID_GET = "/api/v1/users/{id:.+}"  # the exact path, GET by id or login (docs: /users/{idOrLogin})
USER_ME = "/api/v1/users/me"  # GET only; POST/PUT to /users/me count in USERS
LOGS = "/api/v1/logs"
API_V1 = "/api/v1"
OAUTH = "/oauth2/v1/token"
ADMIN = "/admin"

# Per minute, Workforce column of Okta's last published table, okta/okta-developer-docs
# docs/reference/rl-global-mgmt/index.md (@ ec652bd5, the version with the
# "Integrator Free Plan" column; the Workforce figures below are the same in the older five-column version):
# "Create or list groups: /api/v1/groups except /api/v1/groups/{id}" 500; "Get, update, or delete a group by
# ID: /api/v1/groups/{id} only" 1,000; "Create or list users: Only GET or POST to /api/v1/users" 600; "Update
# or delete a user by ID: Only POST, PUT, or DELETE to /api/v1/users/{id}" 600; "Get a user by ID or sign
# in: Only GET to /api/v1/users/{idOrLogin}" 2,000. The table names no sub-resources; the route map above
# puts /users/{id}/* in /api/v1/users and /groups/{id}/* in /api/v1/groups, so they get those limits.
DEFAULT_LIMITS: dict[str, int] = {
    APPS: 100,
    APP_BY_ID: 500,
    GROUPS: 500,
    GROUP_BY_ID: 1000,
    USERS: 600,
    USER_BY_ID: 600,
    USER_BY_ID_GET: 2000,
    # Not in Okta's published table (the Terraform provider's apimutex.go calls this bucket undocumented):
    # 600, the lowest of the users buckets, so the emulator never grants more than a published users limit.
    USER_ME: 600,
    LOGS: 120,
    API_V1: 1200,
    OAUTH: 600,
    ADMIN: 1200,
}

_APP_EXACT = re.compile(r"^/api/v1/apps/[^/]+/?$")
# /api/v1/groups/rules is the group-rules list (bucket /api/v1/groups), not a group id.
_GROUP_EXACT = re.compile(r"^/api/v1/groups/(?!rules/?$)[^/]+/?$")
_USER_ME = re.compile(r"^/api/v1/users/me/?$")
_USER_EXACT = re.compile(r"^/api/v1/users/[^/]+/?$")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def bucket_for(path: str, method: str = "GET") -> str | None:
    """The bucket of a request, or None for routes outside rate limiting (control API).

    ``method`` matters only for the exact ``/api/v1/users/{id}`` (and ``/users/me``), whose GET has its own
    bucket; the default GET is right for every user route the emulator serves.
    """
    if path.startswith("/api/v1/apps"):
        if _APP_EXACT.match(path):
            return APP_BY_ID
        return APPS
    if _under(path, GROUPS):
        return GROUP_BY_ID if _GROUP_EXACT.match(path) else GROUPS
    if _under(path, USERS):
        is_get = method.upper() in ("GET", "HEAD")
        if _USER_ME.match(path):
            return USER_ME if is_get else USERS
        if _USER_EXACT.match(path):
            return USER_BY_ID_GET if is_get else USER_BY_ID
        return USERS
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
    by_client: dict[str, int] = field(default_factory=dict)


DEFAULT_CLIENT_SHARE = 0.5


def client_ceiling(limit: int, share: float) -> int:
    """A client's per-window ceiling: its share of the org's limit, at least one request."""
    return max(1, min(limit, math.floor(limit * share + 1e-9)))


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

    def take(
        self,
        bucket: str,
        client: str | None = None,
        share: float = DEFAULT_CLIENT_SHARE,
        now: float | None = None,
    ) -> Decision:
        """Count one request of ``client`` (None: no recognised client, the org's bucket only)."""
        now = time.time() if now is None else now
        limit = self.limits.get(bucket, DEFAULT_LIMITS[API_V1])
        window = self._windows.get(bucket)
        if window is None or now >= window.start + self.window_seconds:
            window = _Window(start=now, used=0)
            self._windows[bucket] = window
        reset = self._reset_of(window)
        org_left = limit - window.used
        if client is None:
            if org_left <= 0:
                return Decision(False, limit, 0, reset)
            window.used += 1
            return Decision(True, limit, org_left - 1, reset)
        ceiling = client_ceiling(limit, share)
        client_used = window.by_client.get(client, 0)
        client_left = ceiling - client_used
        if org_left <= 0 or client_left <= 0:
            return Decision(False, ceiling, 0, reset)
        window.used += 1
        window.by_client[client] = client_used + 1
        return Decision(True, ceiling, min(client_left, org_left) - 1, reset)

    def exhaust(self, bucket: str) -> None:
        """Use up a bucket's current window for every client (tests of the 429 path)."""
        decision = self.take(bucket)
        self._windows[bucket].used = max(decision.limit, self._windows[bucket].used)

    def reset(self) -> None:
        self._windows.clear()

    def snapshot(self, now: float | None = None) -> dict[str, dict[str, float | int]]:
        """Per bucket: the org's limit, requests used in the live window, its reset, how many clients."""
        now = time.time() if now is None else now
        out: dict[str, dict[str, float | int]] = {}
        for bucket, limit in self.limits.items():
            window = self._windows.get(bucket)
            live = window is not None and now < window.start + self.window_seconds
            out[bucket] = {
                "limit": limit,
                "used": window.used if (window and live) else 0,
                "reset": self._reset_of(window) if (window and live) else 0,
                "clients": len(window.by_client) if (window and live) else 0,
            }
        return out


def format_reset(reset: float) -> str:
    """The X-Rate-Limit-Reset header value: Okta's integer, or milliseconds when time is scaled."""
    whole = round(reset)
    if abs(reset - whole) < 1e-6:
        return str(whole)
    # Rounded up, never down: a client that waits until this instant must find the new window.
    return f"{math.ceil(reset * 1000) / 1000:.3f}".rstrip("0")
