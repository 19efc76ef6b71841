"""One debug line per HTTP attempt, for every channel (Okta API, Admin Console, SCIM target): ``-vv``.

Each line says the channel, method, path (query values of secret-looking parameters masked), the status or
the transport error, Okta's rate-limit headers when the answer has them, the time taken and the attempt
number. The same fields ride on the log record as ``http`` (a dict), so ``--log-format json`` gives them as
a structured object. Headers and bodies are never logged: no token, cookie, DPoP proof or SCIM Bearer
token can reach a trace line, and the CLI's log filter scrubs any revealed secret on top of that.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

# Query parameters whose value is a credential or may carry one.
_SECRET_PARAM = re.compile(
    r"token|secret|password|passwd|assertion|key|code|sig|session|sid|auth|cookie|credential|nonce|state",
    re.IGNORECASE,
)
MASK = "***"
RATE_LIMIT_HEADERS = (
    ("limit", "x-rate-limit-limit"),
    ("remaining", "x-rate-limit-remaining"),
    ("reset", "x-rate-limit-reset"),
)


def masked_path(url: str) -> str:
    """The path and query of ``url`` (absolute or relative), secret-looking query values masked."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if not parts.query:
        return path
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = "&".join(
        f"{quote(name, safe='')}={MASK if _SECRET_PARAM.search(name) else quote(value, safe='')}"
        for name, value in pairs
    )
    return f"{path}?{query}"


def rate_limit(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Okta's ``X-Rate-Limit-*`` values of an answer (only those present)."""
    if headers is None:
        return {}
    found = {}
    for name, header in RATE_LIMIT_HEADERS:
        value = headers.get(header)
        if value is not None:
            found[name] = value
    return found


def trace(
    log: logging.Logger,
    channel: str,
    method: str,
    url: str,
    *,
    attempt: int,
    elapsed: float,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    error: BaseException | None = None,
) -> None:
    """Log one attempt at DEBUG (``elapsed`` in seconds)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    path = masked_path(url)
    limits = rate_limit(headers)
    outcome = str(status) if error is None else type(error).__name__
    fields: dict[str, Any] = {
        "channel": channel,
        "method": method,
        "path": path,
        "status": status,
        "error": None if error is None else type(error).__name__,
        "elapsed_ms": round(elapsed * 1000, 1),
        "attempt": attempt,
        "rate_limit": limits,
    }
    limit_text = ""
    if limits:
        remaining, limit, reset = (limits.get(name, "?") for name in ("remaining", "limit", "reset"))
        limit_text = f"; rate limit {remaining}/{limit} reset {reset}"
    log.debug(
        "%s %s %s -> %s in %.0f ms (attempt %d%s)",
        channel,
        method,
        path,
        outcome,
        elapsed * 1000,
        attempt,
        limit_text,
        extra={"http": fields},
    )
