"""Rate-limit pacing and retry policy for Okta requests: the one place that decides when a request may go.

Okta's limits (docs/okta-behaviour.md "Rate limits and paging"):

* Requests count against a **bucket** per endpoint family, as Okta's route map assigns them (``bucket_for``):
  ``/api/v1/apps`` and every ``/api/v1/apps/{id}/*`` sub-resource share one bucket (about 100/min on
  Workforce orgs) and ``/api/v1/apps/{id}`` (the exact path) has its own; likewise ``/api/v1/groups``
  (list, ``/groups/{id}/users``, ...) vs the exact ``/api/v1/groups/{id}``, and ``/api/v1/users`` (list,
  ``/users/{id}/groups``, ...) vs the exact ``/api/v1/users/{id}`` (one bucket for GET, one for writes).
  ``/api/v1/logs`` has its own and the rest of ``/api/v1`` shares one. Each response carries
  ``X-Rate-Limit-Limit``, ``X-Rate-Limit-Remaining`` and ``X-Rate-Limit-Reset`` (UTC epoch seconds), so
  the pacer learns each bucket's limit from Okta rather than from a table.
* Those headers are this client's: one API token or OAuth app may use only its share of a bucket, 50 % by
  default (https://developer.okta.com/docs/reference/rl2-token-oauth; recorded real headers show 50 on
  ``/api/v1/apps``, whose org limit is 100). Limit is the share, Remaining what is left of it, or of the
  org's bucket when other clients have drained it lower (docs/okta-behaviour.md "Rate limits and paging").
* Over the limit Okta answers ``429 E0000047`` until the window resets. Over the **concurrency** limit (75
  in-flight requests per org) it answers 429 with Limit = Remaining = 0 and a Reset that is only a suggestion.

Policy (``Pacer``):

* Before a request, its bucket must have budget: ``remaining - in_flight - headroom`` where ``headroom`` is
  ``config.okta.rate_limit_headroom`` of the limit the headers announce, left for other clients of the org.
  The default, 10 %, keeps oktasync at 90 % of its share (45 % of the org's bucket at the default share):
  Okta warns every admin (Admin Console banner and email) when an org's usage *exceeds* 90 % on Workforce
  products (60 % on API products; help.okta.com, "Set up rate limit notifications"), and the other 10 %
  stays free for the org's other integrations. While more than half the
  limit is usable, requests go at once; below that the usable budget is spread evenly over the time left
  until Reset, in ``usable + 1`` gaps so that the last one still lands in this window. Several
  uncoordinated clients that share a bucket each see Remaining fall faster and slow down in turn, so
  together they approach the budget without exhausting it. With no usable budget, the bucket waits until
  Reset.
* Retries follow the one retry policy of every channel (``oktasync.retrying``); what is Okta's own is here:
  a 429 marks its bucket empty until Reset (or, for the concurrency 429, backs off with jitter) and the
  request is retried: a 429 means Okta did not process it, so this is safe for any method. Okta's guidance
  is to wait until ``X-Rate-Limit-Reset`` and retry (developer.okta.com rl-best-practices), so 429s are
  bounded by *time*, not by count: a request keeps waiting for resets while its total 429 wait stays within
  ``RetryPolicy.max_429_wait`` (default 5 minutes). A fixed count would give up on a burst of 429s that a
  few more resets absorb, however short each wait is.
* 5xx answers, timeouts and dropped connections are retried with jittered, bounded exponential backoff, but
  only for idempotent requests (GET, PUT, DELETE): a POST that may have been processed is never repeated.
  A connection that could not even be opened is retried for every method.
* Concurrency is bounded by ``config.okta.max_concurrency`` (default 8, well under Okta's 75).

Clock and sleep are injectable (``Clock``) so that tests can drive time.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from oktasync.models import RateLimitState

# The one retry policy of every channel lives in oktasync.retrying; imported here for the gateway's callers.
from oktasync.retrying import IDEMPOTENT_METHODS as IDEMPOTENT_METHODS
from oktasync.retrying import RetryPolicy as RetryPolicy

# Bucket names are Okta's: the third field of each line of its generated route map, the Terraform provider's
# okta/internal/apimutex/rate_limit_lines.go, e.g.
# "/api/v1/groups/ID/users GET /api/v1/groups", "/api/v1/groups/ID GET /api/v1/groups/{id}",
# "/api/v1/users/ID/groups GET /api/v1/users", "/api/v1/users/ID PUT /api/v1/users/{id}",
# "/api/v1/users/{id:.+} GET /api/v1/users/{id:.+}". The emulator keeps its own copy (emulator/ratelimit.py)
# on purpose: it is an independent model of Okta, so tests do not check this table against itself.
APPS = "/api/v1/apps"  # /api/v1/apps and every /api/v1/apps/{id}/* sub-resource
APP_BY_ID = "/api/v1/apps/{id}"  # the exact path only
GROUPS = "/api/v1/groups"  # /api/v1/groups, /groups/rules and every /groups/{id}/* (users, apps, ...)
GROUP_BY_ID = "/api/v1/groups/{id}"  # the exact path only
USERS = "/api/v1/users"  # /api/v1/users and every /users/{id}/* (groups, lifecycle, ...)
USER_BY_ID = "/api/v1/users/{id}"  # the exact path, POST/PUT/DELETE
USER_BY_ID_GET = "/api/v1/users/{id:.+}"  # the exact path, GET by id or login
USER_ME = "/api/v1/users/me"  # GET only; POST/PUT to /users/me count in USERS
LOGS = "/api/v1/logs"
API_V1 = "/api/v1"
OAUTH = "/oauth2/v1/token"
ADMIN = "/admin"

_APP_EXACT = re.compile(r"^/api/v1/apps/[^/]+/?$")
_GROUP_EXACT = re.compile(r"^/api/v1/groups/(?!rules/?$)[^/]+/?$")  # /groups/rules lists group rules
_USER_ME = re.compile(r"^/api/v1/users/me/?$")
_USER_EXACT = re.compile(r"^/api/v1/users/[^/]+/?$")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def bucket_for(path: str, method: str = "GET") -> str:
    """Okta's rate-limit bucket of a request (rate_limit_lines.go; docs/okta-behaviour.md).

    ``method`` matters only for the exact ``/api/v1/users/{id}`` (and ``/users/me``): GET has its own bucket.
    """
    if path.startswith("/api/v1/apps"):
        return APP_BY_ID if _APP_EXACT.match(path) else APPS
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
    if path.startswith("/oauth2/"):
        return OAUTH
    if path.startswith("/admin/"):
        return ADMIN
    return API_V1


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock UTC epoch seconds (X-Rate-Limit-Reset is an epoch second)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class _Bucket:
    name: str
    limit: int = 0
    remaining: int = 0
    reset: float = 0.0  # epoch seconds (local clock, corrected for skew)
    known: bool = False
    in_flight: int = 0
    last_sent: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _BucketTable(dict[str, _Bucket]):
    """One API client's buckets (a dict subclass, so a weak reference can hold it)."""


# Okta counts a bucket per API token or OAuth app, not per connection: gateways of the same client in one
# event loop (``plan`` of many tenants runs them concurrently) share what the headers told each of them.
_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _BucketTable]] = (
    weakref.WeakKeyDictionary()
)


def shared_buckets(client_key: str) -> dict[str, _Bucket]:
    """The bucket table of the API client ``client_key`` (org + credential) in the running event loop;
    a table of its own when no loop runs (its locks belong to one loop)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _BucketTable()
    return _SHARED.setdefault(loop, {}).setdefault(client_key, _BucketTable())


def _number_header(values: Iterable[str]) -> float | None:
    """The smallest of a header's values (Okta may repeat X-Rate-Limit-* headers), ignoring garbage."""
    parsed = []
    for value in values:
        try:
            number = float(value.strip())
        except ValueError:
            continue
        if math.isfinite(number):
            parsed.append(number)
    return min(parsed) if parsed else None


def _int_header(values: Iterable[str]) -> int | None:
    number = _number_header(values)
    return None if number is None else int(number)


class Pacer:
    """Per-bucket budget tracking plus the concurrency bound. One per gateway (shared by its requests)."""

    # A wait at least this long is shown on the progress display.
    NOTE_AFTER = 3.0

    def __init__(
        self,
        *,
        max_concurrency: int = 8,
        headroom: float = 0.1,
        clock: Clock | None = None,
        note: Callable[[str], None] | None = None,
        buckets: dict[str, _Bucket] | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.headroom = headroom
        self.max_concurrency = max_concurrency
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._buckets: dict[str, _Bucket] = {} if buckets is None else buckets
        self._note = note or (lambda _message: None)
        self.skew = 0.0  # server clock - local clock, applied only when it is large
        self.waited = 0.0  # total seconds spent waiting for budget (for reports)

    def note(self, message: str) -> None:
        self._note(message)

    def bucket(self, name: str) -> _Bucket:
        found = self._buckets.get(name)
        if found is None:
            found = self._buckets[name] = _Bucket(name)
        return found

    @property
    def semaphore(self) -> asyncio.Semaphore:
        return self._semaphore

    def _reserve(self, b: _Bucket) -> int:
        return math.ceil(b.limit * self.headroom)

    def _delay(self, b: _Bucket, now: float) -> float:
        """Seconds to wait before the next request of bucket ``b`` may go (0 = now)."""
        if not b.known or now >= b.reset:
            return 0.0  # unknown, or a fresh window: the answer will tell us
        usable = b.remaining - b.in_flight - self._reserve(b)
        if usable <= 0:
            return b.reset - now
        if usable * 2 > b.limit:
            return 0.0
        # usable + 1 gaps, not usable: the last of the usable requests then goes before Reset, inside this
        # window, instead of at Reset, where it would open the next window one request short.
        interval = (b.reset - now) / (usable + 1)
        return max(0.0, b.last_sent + interval - now)

    async def acquire(self, bucket: str) -> None:
        """Wait for budget in ``bucket``; the caller must call ``release`` (after ``observe``) when done."""
        b = self.bucket(bucket)
        async with b.lock:
            while True:
                now = self.clock.time()
                delay = self._delay(b, now)
                if delay <= 0:
                    break
                if delay >= self.NOTE_AFTER:
                    self._note(f"Okta rate limit: waiting {delay:.0f}s for the {bucket} budget")
                self.waited += delay
                await self.clock.sleep(delay)
            b.in_flight += 1
            b.last_sent = self.clock.time()

    def release(self, bucket: str) -> None:
        b = self.bucket(bucket)
        b.in_flight = max(0, b.in_flight - 1)

    def observe(self, bucket: str, headers: _Headers, *, status: int) -> bool:
        """Record a response's rate-limit headers. Returns True when it is a concurrency-limit 429."""
        limit = _int_header(headers.get_list("x-rate-limit-limit"))
        remaining = _int_header(headers.get_list("x-rate-limit-remaining"))
        # Okta sends whole epoch seconds; a time-scaled emulator sends decimals (emulator/ratelimit.py).
        reset = _number_header(headers.get_list("x-rate-limit-reset"))
        self._observe_date(headers.get("date"))
        if limit is None or remaining is None or reset is None:
            return False
        if limit == 0 and remaining == 0:
            return status == 429  # concurrency 429: says nothing about the bucket (rl2-monitor)
        b = self.bucket(bucket)
        local_reset = reset - self.skew
        if not b.known or local_reset > b.reset + 0.5:
            b.limit, b.remaining, b.reset, b.known = limit, remaining, local_reset, True
        else:
            # Same window: answers can arrive out of order, the lowest Remaining is the latest truth.
            b.limit = limit
            b.remaining = min(b.remaining, remaining)
        if status == 429:
            b.remaining = 0
        return False

    def _observe_date(self, value: str | None) -> None:
        if not value:
            return
        from email.utils import parsedate_to_datetime

        try:
            server = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return
        skew = server - self.clock.time()
        # Date has one-second resolution: only a clearly wrong local clock is corrected.
        self.skew = skew if abs(skew) > 2.0 else 0.0

    def reset_wait(self, bucket: str) -> float:
        """Seconds until ``bucket`` resets (0 when unknown or past)."""
        b = self.bucket(bucket)
        return max(0.0, b.reset - self.clock.time()) if b.known else 0.0

    def states(self) -> list[RateLimitState]:
        return [
            RateLimitState(
                bucket=b.name, limit=b.limit, remaining=b.remaining, reset_epoch=b.reset + self.skew
            )
            for b in self._buckets.values()
            if b.known
        ]


class _Headers(Protocol):
    def get_list(self, key: str) -> list[str]: ...

    def get(self, key: str, default: str | None = None) -> str | None: ...
