"""Okta-shaped answers for the emulator's routes: error bodies, paging (limits, cursors, ``Link`` headers),
JSON bodies, and the records the server keeps (OAuth tokens, request statistics).

The server (``server.py``) and the modules it routes to (``control.py``, ``oauth.py``, ``event_hooks.py``)
all build on this module, so none of them imports the server.
"""

from __future__ import annotations

import base64
import bisect
import json
import re
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict


# --- errors -----------------------------------------------------------------------------------------------
class OktaError(Exception):
    """Raised by handlers; rendered as Okta's error body."""

    def __init__(
        self,
        status: int,
        code: str,
        summary: str,
        causes: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(summary)
        self.status = status
        self.code = code
        self.summary = summary
        self.causes = causes or []
        self.headers = headers or {}  # e.g. WWW-Authenticate and DPoP-Nonce on a DPoP challenge


def error_body(code: str, summary: str, causes: list[str] | None = None) -> dict[str, Any]:
    return {
        "errorCode": code,
        "errorSummary": summary,
        "errorLink": code,
        "errorId": "oae" + secrets.token_urlsafe(16).replace("-", "x").replace("_", "y")[:19],
        "errorCauses": [{"errorSummary": c} for c in causes or []],
    }


def okta_error_response(
    status: int,
    code: str,
    summary: str,
    causes: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.json_response(error_body(code, summary, causes), status=status, headers=headers)


def validation_error(cause: str, what: str = "") -> OktaError:
    summary = "Api validation failed: " + what if what else "Api validation failed"
    return OktaError(400, "E0000001", summary, [cause])


def not_found(what: str) -> OktaError:
    """404 E0000007 for ``what`` = ``"<id> (<Type>)"``, worded as Okta words it (recorded, e.g.
    "Not found: Resource not found: 00g… (UserGroup)"; docs/okta-behaviour.md "Authentication and errors")."""
    return OktaError(404, "E0000007", f"Not found: Resource not found: {what}")


def invalid_cursor() -> OktaError:
    """An ``after`` value the server did not mint: 400 E0000029 (recorded on ``GET /api/v1/apps``)."""
    return OktaError(400, "E0000029", "Invalid paging request.", ["Invalid cursor."])


def malformed_expand() -> OktaError:
    """An ``expand`` the route does not support: 400 E0000001 (recorded on ``GET /api/v1/apps``)."""
    return OktaError(400, "E0000001", "Api validation failed: RequestParams", ["Expand query is malformed."])


METHOD_NOT_SUPPORTED = "The endpoint does not support the provided HTTP method"
GROUP_GRANTS_ACCESS = (
    "The application cannot be unassigned from the user while their group memberships grant them access"
)


RATE_LIMITED_SUMMARY = "API call exceeded rate limit due to too many requests."


@dataclass
class BearerToken:
    client_id: str
    scopes: frozenset[str]
    expires: float
    jkt: str | None = None  # a DPoP-bound token: the JWK SHA-256 thumbprint of its proof key (RFC 9449)


@dataclass
class Stats:
    total: int = 0
    by_route: Counter[str] = field(default_factory=Counter)
    by_bucket: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    rate_limited: int = 0
    concurrency_rejected: int = 0
    faults_injected: int = 0
    max_in_flight: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_route": dict(self.by_route),
            "by_bucket": dict(self.by_bucket),
            "by_status": {str(k): v for k, v in self.by_status.items()},
            "rate_limited": self.rate_limited,
            "concurrency_rejected": self.concurrency_rejected,
            "faults_injected": self.faults_injected,
            "max_in_flight": self.max_in_flight,
        }


def parse_limit(request: web.Request, default: int, low: int, high: int) -> int:
    raw = request.query.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation_error(
            f"limit: The value of limit must be an integer between {low} and {high}.", "limit"
        ) from None
    if not low <= value <= high:
        raise validation_error(f"limit: The value of limit must be between {low} and {high}.", "limit")
    return value


_CURSOR_MARK = "emu:"


def encode_cursor(value: str) -> str:
    """An opaque ``after`` value (the last id of the page); clients copy it from the next link."""
    return base64.urlsafe_b64encode((_CURSOR_MARK + value).encode()).decode().rstrip("=")


def decode_cursor(value: str) -> str:
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid_cursor() from None
    if not text.startswith(_CURSOR_MARK):
        raise invalid_cursor()
    return text[len(_CURSOR_MARK) :]


def check_expand(request: web.Request, allowed: frozenset[str] | re.Pattern[str]) -> str:
    """The ``expand`` parameter if the route supports it (spec: apps ``user/{userId}``, app groups ``group``
    or ``metadata``, app users ``user``); anything else is Okta's 400 "Expand query is malformed."."""
    raw = request.query.get("expand") or ""
    if not raw:
        return raw
    if isinstance(allowed, re.Pattern):
        ok = allowed.fullmatch(raw) is not None
    else:
        ok = all(part in allowed for part in raw.split(","))
    if not ok:
        raise malformed_expand()
    return raw


def page_by_id(
    request: web.Request, keys: list[str], limit: int, matches: Callable[[str], bool] | None = None
) -> tuple[list[str], str | None]:
    """Keys after the ``after`` cursor (an opaque encoding of the last id), and the next cursor."""

    after = request.query.get("after")
    start = 0
    if after:
        start = bisect.bisect_right(keys, decode_cursor(after))
    out: list[str] = []
    index = start
    while index < len(keys) and len(out) < limit:
        key = keys[index]
        index += 1
        if matches is None or matches(key):
            out.append(key)
    more = False
    if len(out) == limit:
        if matches is None:
            more = index < len(keys)
        else:
            more = any(matches(k) for k in keys[index:])
    return out, (encode_cursor(out[-1]) if more and out else None)


def link_headers(request: web.Request, next_cursor: str | None, limit: int) -> CIMultiDict[str]:
    """``Link`` for self and next as two separate header lines, self first (recorded; docs/okta-behaviour.md
    "Rate limits and paging")."""
    headers: CIMultiDict[str] = CIMultiDict()
    self_url = request.url
    headers.add("Link", f'<{self_url}>; rel="self"')
    if next_cursor is not None:
        query = dict(request.query)
        query["after"] = next_cursor
        query["limit"] = str(limit)
        headers.add("Link", f'<{self_url.with_query(query)}>; rel="next"')
    return headers


def json_list(
    request: web.Request, items: list[dict[str, Any]], next_cursor: str | None, limit: int
) -> web.Response:
    resp = web.Response(
        body=json.dumps(items).encode(),
        content_type="application/json",
        headers=link_headers(request, next_cursor, limit),
    )
    return resp


def json_response(doc: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(doc).encode(), status=status, content_type="application/json")


async def read_json(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        if optional:
            return {}
        raise OktaError(400, "E0000003", "The request body was not well-formed.")
    try:
        doc = json.loads(raw)
    except ValueError:
        raise OktaError(400, "E0000003", "The request body was not well-formed.") from None
    if not isinstance(doc, dict):
        raise OktaError(400, "E0000003", "The request body was not well-formed.")
    return doc
