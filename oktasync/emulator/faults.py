"""Injected faults for the Okta API routes (never the control API).

Set through ``PUT /__emulator/faults`` (a JSON object; every key optional)::

    error_rate: 0.1, error_status: 503     # random errors (seeded RNG: ``seed``), Okta error body
    latency_ms: 50, jitter_ms: 20          # added delay per request (uniform jitter)
    drop_connection_rate: 0.05             # close the connection without answering
    path_pattern: "^/api/v1/apps"          # restrict the three random faults above to matching paths
    storm_429_requests: 10                 # the next N API requests get 429 E0000047
    storm_429_seconds: 2.5                 # ...or every API request for T (real) seconds
    targeted: [{path_pattern: "/groups$", method: "GET", nth: 2, status: 500, times: 1}]
        # fail the nth matching request (counted from when the fault is set) with ``status``;
        # ``times`` consecutive matches from the nth on (default 1); status 0 = drop the connection

PUT replaces the whole fault set; ``DELETE /__emulator/faults`` clears it.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Targeted:
    pattern: re.Pattern[str]
    method: str | None
    nth: int
    status: int
    times: int = 1
    seen: int = 0


@dataclass
class Verdict:
    """What to do with one request: nothing, delay, fail with a status, drop, or a 429."""

    delay: float = 0.0
    status: int | None = None
    drop: bool = False
    rate_limited: bool = False


@dataclass
class Faults:
    error_rate: float = 0.0
    error_status: int = 503
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    drop_connection_rate: float = 0.0
    path_pattern: re.Pattern[str] | None = None
    storm_429_requests: int = 0
    storm_429_until: float = 0.0
    targeted: list[Targeted] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    raw: dict[str, Any] = field(default_factory=dict)

    KEYS = frozenset(
        {
            "error_rate",
            "error_status",
            "latency_ms",
            "jitter_ms",
            "drop_connection_rate",
            "path_pattern",
            "storm_429_requests",
            "storm_429_seconds",
            "targeted",
            "seed",
        }
    )

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Faults:
        unknown = set(raw) - cls.KEYS
        if unknown:
            raise ValueError(f"unknown fault keys {sorted(unknown)}; known: {sorted(cls.KEYS)}")
        faults = cls(raw=dict(raw))
        faults.error_rate = float(raw.get("error_rate", 0.0))
        faults.error_status = int(raw.get("error_status", 503))
        faults.latency_ms = float(raw.get("latency_ms", 0.0))
        faults.jitter_ms = float(raw.get("jitter_ms", 0.0))
        faults.drop_connection_rate = float(raw.get("drop_connection_rate", 0.0))
        if raw.get("path_pattern"):
            faults.path_pattern = re.compile(str(raw["path_pattern"]))
        faults.storm_429_requests = int(raw.get("storm_429_requests", 0))
        if raw.get("storm_429_seconds"):
            faults.storm_429_until = time.time() + float(raw["storm_429_seconds"])
        for item in raw.get("targeted") or []:
            faults.targeted.append(
                Targeted(
                    pattern=re.compile(str(item["path_pattern"])),
                    method=str(item["method"]).upper() if item.get("method") else None,
                    nth=int(item.get("nth", 1)),
                    status=int(item.get("status", 500)),
                    times=int(item.get("times", 1)),
                )
            )
        faults.rng = random.Random(raw.get("seed", 0))
        return faults

    @property
    def active(self) -> bool:
        return bool(
            self.error_rate
            or self.latency_ms
            or self.jitter_ms
            or self.drop_connection_rate
            or self.storm_429_requests
            or self.storm_429_until
            or self.targeted
        )

    def decide(self, method: str, path: str) -> Verdict:
        verdict = Verdict()
        for fault in self.targeted:
            if fault.pattern.search(path) and (fault.method is None or fault.method == method):
                fault.seen += 1
                if fault.nth <= fault.seen < fault.nth + fault.times:
                    if fault.status == 0:
                        verdict.drop = True
                    else:
                        verdict.status = fault.status
                    return verdict
        if self.storm_429_requests > 0:
            self.storm_429_requests -= 1
            verdict.rate_limited = True
            return verdict
        if self.storm_429_until and time.time() < self.storm_429_until:
            verdict.rate_limited = True
            return verdict
        if self.path_pattern is not None and not self.path_pattern.search(path):
            return verdict
        if self.latency_ms or self.jitter_ms:
            verdict.delay = (
                max(0.0, self.latency_ms + self.rng.uniform(-self.jitter_ms, self.jitter_ms)) / 1000
            )
        if self.drop_connection_rate and self.rng.random() < self.drop_connection_rate:
            verdict.drop = True
        elif self.error_rate and self.rng.random() < self.error_rate:
            verdict.status = self.error_status
        return verdict
