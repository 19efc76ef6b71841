"""Helpers for the tasks tests: a loopback webhook receiver and a strict Prometheus text parser.

(A module of its own, imported by name: pytest puts this directory on sys.path.)
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    """A tiny webhook receiver on 127.0.0.1. ``status`` is what it answers (set 503 to make it fail)."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, event: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [b for b in self.received if event is None or _event_of(b) == event]


def _event_of(body: dict[str, Any]) -> str | None:
    if "type" in body:
        return str(body["type"]).rsplit(".", 1)[-1]
    if "event" in body:
        return str(body["event"])
    text = str(body.get("text", ""))
    return "failure" if "failed" in text else "recovery" if text else None


@contextmanager
def run_receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            rec = state["r"]
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            status = rec.status
            if status < 300:
                with rec.lock:
                    rec.received.append(body)
                    rec.headers.append(dict(self.headers))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/B000/secret-token-xyz")
    state["r"] = rec
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def real_targets(app_id: str, user_id: str, login: str) -> list[dict[str, Any]]:
    """A provisioning event's targets as Okta writes them: the AppUser (its own ``0ua`` id, never the user
    id), the AppInstance, the User (docs/okta-behaviour.md, "System Log and provisioning events")."""
    return [
        {"id": "0ua" + user_id[3:], "type": "AppUser", "alternateId": login, "displayName": login},
        {"id": app_id, "type": "AppInstance", "alternateId": "Chronosphere"},
        {"id": user_id, "type": "User", "alternateId": login, "displayName": login},
    ]


# Prometheus text exposition format 0.0.4, strictly: HELP/TYPE lines, then samples of declared metrics.
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
_SAMPLE = re.compile(rf"^({_NAME})(\{{{_LABEL}(?:,{_LABEL})*\}})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$")
_HELP = re.compile(rf"^# HELP ({_NAME}) .*$")
_TYPE = re.compile(rf"^# TYPE ({_NAME}) (counter|gauge|histogram|summary|untyped)$")


def parse_prometheus(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Parse the exposition text or raise AssertionError on the first line that breaks the format."""
    assert text.endswith("\n"), "the file must end with a newline"
    types: dict[str, str] = {}
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if match := _HELP.match(line):
            continue
        if match := _TYPE.match(line):
            assert match.group(1) not in types, f"line {number}: second TYPE for {match.group(1)}"
            types[match.group(1)] = match.group(2)
            continue
        match = _SAMPLE.match(line)
        assert match, f"line {number} is not a valid sample: {line!r}"
        name = match.group(1)
        assert name in types, f"line {number}: sample of {name} before its TYPE line"
        if types[name] == "counter":
            assert name.endswith("_total"), f"counter {name} must end in _total"
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        samples.setdefault(name, []).append((labels, float(match.group(3))))
    return samples
