"""Every error oktasync raises, and the exit code each one maps to.

The library raises; only ``oktasync.cli`` catches and turns an error into an exit code (docs/architecture.md,
Command-line contract)::

    OktasyncError                 1  the operation failed
    ├─ ConfigError                3  invalid tenant config or playbook; lists every problem with file:line
    ├─ SafetyError                4  refused by a safety guard (unconfirmed setting, run in progress, limit)
    │   ├─ LockedError               another run holds the lock for this tenant+app
    │   └─ ResumeRequiredError       an unfinished journal exists; run with --resume
    ├─ ManualActionRequired       5  a setting needs a person in the Admin Console; carries the steps
    ├─ VerificationError          1  a write's read-back disagrees with what was written
    ├─ OktaApiError               1  .status .error_code .summary .causes .request_id
    │   ├─ AuthError                 401/403
    │   ├─ NotFoundError             404
    │   └─ TransientApiError         429, 5xx, timeouts, dropped connections (the only retried class)
    ├─ AdminSessionError          1  the admin-console session is missing, expired or rejected
    ├─ ScimError                  1  the SCIM target answered something unusable
    └─ Interrupted              130  Ctrl-C reached a safe point; carries the resume command

Usage errors exit 64 and Ctrl-C exits 130 (handled by the CLI, not here).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CHANGES = 2
EXIT_INVALID = 3
EXIT_REFUSED = 4
EXIT_MANUAL = 5
EXIT_USAGE = 64
EXIT_INTERRUPTED = 130


class OktasyncError(Exception):
    """Base class. ``hint`` is a one-line fix shown under the message."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Problem:
    """One problem in a file: where it is and how to fix it.

    ``key`` is the dotted path of the value (``okta.token``, ``steps[2].with.retry``) when known. A
    ``warning`` does not make the file invalid (``validate --strict`` counts it as an error).
    """

    file: str
    line: int | None
    column: int | None
    message: str
    fix: str | None = None
    key: str | None = None
    severity: Literal["error", "warning"] = "error"

    def as_dict(self) -> dict[str, Any]:
        """The structured form ``validate --json`` prints (docs/config.md "validate --json")."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "key": self.key,
            "message": self.message,
            "fix": self.fix,
            "severity": self.severity,
        }

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.message}"
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


class ConfigError(OktasyncError):
    """Invalid config or playbook. Carries every problem found, not just the first."""

    exit_code = EXIT_INVALID

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} found"
        super().__init__(header + ":\n" + "\n".join(f"  {p}" for p in self.problems))


class SafetyError(OktasyncError):
    exit_code = EXIT_REFUSED


class LockedError(SafetyError):
    pass


class ResumeRequiredError(SafetyError):
    pass


class ManualActionRequired(OktasyncError):
    """Some settings can only be changed by a person; ``steps`` are the console steps, values filled in."""

    exit_code = EXIT_MANUAL

    def __init__(self, message: str, steps: Sequence[str], *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.steps = list(steps)


class VerificationError(OktasyncError):
    pass


@dataclass
class ApiErrorDetails:
    status: int | None = None
    error_code: str | None = None
    summary: str | None = None
    causes: list[str] = field(default_factory=list)
    request_id: str | None = None
    method: str | None = None
    url: str | None = None


class OktaApiError(OktasyncError):
    """An error answer (or no answer) from Okta, with what support needs to trace it."""

    def __init__(self, message: str, details: ApiErrorDetails | None = None, *, hint: str | None = None):
        self.details = details or ApiErrorDetails()
        d = self.details
        parts = [message]
        if d.status is not None:
            parts.append(f"HTTP {d.status}")
        if d.error_code:
            parts.append(d.error_code)
        if d.summary:
            parts.append(d.summary)
        if d.causes:
            parts.append("causes: " + "; ".join(d.causes))
        if d.request_id:
            parts.append(f"X-Okta-Request-Id {d.request_id}")
        super().__init__(" — ".join(parts), hint=hint)

    @property
    def status(self) -> int | None:
        return self.details.status

    @property
    def error_code(self) -> str | None:
        return self.details.error_code


class AuthError(OktaApiError):
    pass


class NotFoundError(OktaApiError):
    pass


class TransientApiError(OktaApiError):
    pass


class AdminSessionError(OktasyncError):
    pass


class ScimError(OktasyncError):
    pass


class Interrupted(OktasyncError):
    """Ctrl-C reached a safe point; ``resume_command`` finishes the run."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str, resume_command: str | None = None) -> None:
        super().__init__(message, hint=f"resume with: {resume_command}" if resume_command else None)
        self.resume_command = resume_command


# Exit codes ordered from best to worst: the aggregate of many tenants (or of a tenant's parts) is the worst.
EXIT_SEVERITY: tuple[int, ...] = (
    EXIT_OK,
    EXIT_CHANGES,
    EXIT_MANUAL,
    EXIT_REFUSED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
)


def worst_exit_code(codes: Iterable[int]) -> int:
    """The aggregate exit code: 130 > 1 > 4 > 5 > 2 > 0 (unknown codes rank as 1)."""

    def rank(code: int) -> int:
        return EXIT_SEVERITY.index(code) if code in EXIT_SEVERITY else EXIT_SEVERITY.index(EXIT_FAILED)

    return max(codes, key=rank, default=EXIT_OK)
