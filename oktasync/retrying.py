"""The one retry policy of every HTTP channel oktasync drives: the Okta Management API (its OAuth token
endpoint included), the Admin Console page and the SCIM target.

``RetryPolicy`` decides, for all three:

* **Which answers are retried**: ``RETRYABLE_STATUSES`` (429 and 500/502/503/504) and transport errors
  (timeouts, dropped or refused connections). Any other status is the caller's to report.
* **For which requests**: a 429 means the server did not process the request, so it is retried for every
  method. A 5xx or a transport error is retried only for an idempotent request (GET, HEAD, OPTIONS, PUT,
  DELETE, or a request the caller declares idempotent): a POST that may have been processed is never sent
  twice. A request that never reached the server (``request_never_sent``: the connection could not be
  opened, or no pooled connection came free) is retried for every method.
* **How long to wait**: a bounded, jittered exponential backoff (attempt n waits between c/2 and c,
  c = min(``cap``, ``base``·2ⁿ)); a server's ``Retry-After`` (delta-seconds or an HTTP date, RFC 9110
  section 10.2.3) when it sends one; for Okta's 429, the bucket's ``X-Rate-Limit-Reset`` that the Okta
  pacer knows (``reset_wait``), plus a little jitter so that waiting requests do not all wake at once.
* **When to stop**: 5xx and transport errors after ``max_attempts`` attempts; 429s and ``Retry-After`` waits
  by *time*: a request keeps waiting while its total wait on the server's word stays within
  ``max_429_wait`` seconds (Okta's guidance is to wait for the reset and retry, so a fixed count would give
  up on a burst of 429s that a few more resets absorb). A wait that would go past that budget is not
  started: the request gives up at once.

Each channel keeps only what is its own: the Okta pacer (``okta_gateway/pacing.py``: X-Rate-Limit-* buckets
shared by the gateways of one API client, the concurrency bound) and the Admin Console's per-endpoint pacer.

Why hand-written rather than tenacity or stamina (both well kept, neither a dependency yet): the waits here
come from the server (the Okta bucket's reset learned by the pacer, ``Retry-After``), the two budgets differ
in kind (a count for 5xx, a time for 429), and every sleep must go through the injected clock that the
fault tests drive. tenacity expresses that only through custom ``retry``/``wait``/``stop`` callables that
would hold this same logic, and stamina's timeouts run on the real monotonic clock and cannot be given a
per-status budget. The decision logic stays in this one small class (its only dependency is httpx, for the
transport errors ``request_never_sent`` names); the request loops that call it live with each channel.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is no answer
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


def request_never_sent(error: BaseException) -> bool:
    """True when a transport error means the request never reached the server.

    httpx raises these before a byte of the request is written: the connection could not be opened (refused,
    DNS, TLS handshake: ``ConnectError``), opening it timed out (``ConnectTimeout``), or no pooled connection
    came free in time (``PoolTimeout``). The server cannot have acted on such a request, so even a
    non-idempotent one (a ``POST`` that creates a user) is safe to send again. Any other transport error
    (a read or write that failed or timed out, a dropped connection) may come after the server processed the
    request, so only an idempotent request is retried after it.
    """
    return isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


@dataclass
class RetryPolicy:
    """The retry policy of every request (see the module docstring). One instance per gateway is shared by
    its channels; tests shrink ``base``/``cap`` or inject ``rng``."""

    max_attempts: int = 6  # per request, for 5xx / transport errors
    max_429_wait: float = 300.0  # per request: total seconds it may spend on 429s and Retry-After waits
    base: float = 0.25
    cap: float = 20.0
    rng: random.Random = field(default_factory=random.Random)

    def retryable(self, status: int) -> bool:
        return status in RETRYABLE_STATUSES

    def backoff(self, attempt: int) -> float:
        """The jittered wait before retry ``attempt`` (0-based): between c/2 and c, c = min(cap, base·2ⁿ)."""
        ceiling = min(self.cap, self.base * (2**attempt))
        return float(ceiling / 2 + self.rng.uniform(0, ceiling / 2))

    def start(self, *, idempotent: bool) -> RetryState:
        """The state of one logical request under this policy."""
        return RetryState(self, idempotent)


@dataclass
class RetryState:
    """One logical request's way through the policy: ``attempt`` is the attempt being made (1-based)."""

    policy: RetryPolicy
    idempotent: bool
    attempt: int = 1
    failures: int = 0  # 5xx / transport errors retried
    limited: int = 0  # 429s seen (grows their backoff when the server gives no wait)
    waited: float = 0.0  # seconds spent on 429s and Retry-After waits
    over_budget: float | None = None  # the wait that was refused for the time budget, when one was

    def after_error(self, *, never_sent: bool = False) -> float | None:
        """The wait before retrying a transport error, or None to give up."""
        if not (self.idempotent or never_sent) or self.failures + 1 >= self.policy.max_attempts:
            return None
        wait = self.policy.backoff(self.failures)
        self.failures += 1
        self.attempt += 1
        return wait

    def after_status(
        self,
        status: int,
        headers: Mapping[str, str] | None = None,
        *,
        now: float = 0.0,
        reset_wait: float = 0.0,
        concurrency: bool = False,
    ) -> float | None:
        """The wait before retrying an answer with ``status``, or None to return it to the caller.

        ``headers`` give ``Retry-After`` (``now`` is the epoch time its HTTP-date form is measured from);
        ``reset_wait`` is the seconds until the Okta bucket's reset (0 when unknown), ``concurrency`` marks
        Okta's concurrency 429, whose reset is only a suggestion.
        """
        if not self.policy.retryable(status):
            return None
        retry_after = parse_retry_after(headers.get("retry-after") if headers else None, now)
        if status == 429:
            self.limited += 1
            if reset_wait > 0 and not concurrency:
                wait = reset_wait + self.policy.rng.uniform(0.05, 0.5)
            else:
                wait = max(reset_wait, self.policy.backoff(min(self.limited, 16)))
            if retry_after is not None:
                wait = max(wait, retry_after)
            if self._timed(wait) is None:
                return None
            self.attempt += 1
            return wait
        if not self.idempotent or self.failures + 1 >= self.policy.max_attempts:
            return None
        wait = self.policy.backoff(self.failures)
        if retry_after is not None:
            if self._timed(retry_after) is None:
                return None
            wait = retry_after
        self.failures += 1
        self.attempt += 1
        return wait

    def _timed(self, wait: float) -> float | None:
        """``wait`` charged to the time budget, or None (and ``over_budget`` set) when it does not fit."""
        if self.waited + wait > self.policy.max_429_wait:
            self.over_budget = wait
            return None
        self.waited += wait
        return wait
