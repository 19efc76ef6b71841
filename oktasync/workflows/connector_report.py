"""What ``test-connector`` reports: each check's status and fix, the probe users left behind, and the
report with its exit code; plus how a check names the request it sent and the answer it got.

Apart from the checks (``connector_test.py``, ``connector_probe.py``) because the CLI renders these and
both kinds of check build them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from oktasync.errors import EXIT_FAILED, EXIT_OK
from oktasync.scim_gateway import ScimResponse


class CheckStatus(enum.StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class ConnectorCheck:
    key: str  # stable id, e.g. "okta_test", "paging_integers"
    title: str
    status: CheckStatus
    detail: str
    fix: str | None = None  # one line; set for every fail (and for warns that have one)
    request: str | None = None  # "GET /Users?…" as sent (no headers: the token never leaves the wire)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
            "request": self.request,
        }


@dataclass(frozen=True)
class Leftover:
    id: str
    user_name: str
    state: str  # "active" | "deactivated" | "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "userName": self.user_name, "state": self.state}


@dataclass(frozen=True)
class ConnectorReport:
    tenant: str
    base_url: str
    okta_verdict: CheckStatus  # PASS or FAIL: what Okta's Test Connector Configuration would say
    okta_message: str
    checks: tuple[ConnectorCheck, ...]
    write_probe: bool
    leftovers: tuple[Leftover, ...] = ()
    requests_sent: int = 0

    @property
    def exit_code(self) -> int:
        if self.okta_verdict is CheckStatus.FAIL or any(c.status is CheckStatus.FAIL for c in self.checks):
            return EXIT_FAILED
        return EXIT_OK

    def counts(self) -> dict[str, int]:
        return {s.value: sum(1 for c in self.checks if c.status is s) for s in CheckStatus}

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "base_url": self.base_url,
            "okta_verdict": self.okta_verdict.value,
            "okta_message": self.okta_message,
            "exit_code": self.exit_code,
            "write_probe": self.write_probe,
            "counts": self.counts(),
            "checks": [c.to_dict() for c in self.checks],
            "leftovers": [lo.to_dict() for lo in self.leftovers],
            "requests_sent": self.requests_sent,
        }


def request_line(response: ScimResponse) -> str:
    return f"{response.method} {response.path}"


def status_text(response: ScimResponse) -> str:
    detail = response.error_detail()
    return f"HTTP {response.status}" + (f" ({detail})" if detail and not response.ok else "")
