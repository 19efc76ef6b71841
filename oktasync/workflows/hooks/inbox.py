"""The receiver's durable inbox: one file per accepted delivery, in the tenant+app's state dir.

A delivery is answered 200 only after its events are on disk (written atomically and fsynced,
``state.atomic_write_json``), so a receiver killed at any moment loses no delivery it accepted; Okta retries
the ones it did not answer. A file leaves the inbox only after the state write that applied its events, and
applying an event twice is harmless (the failure state remembers event uuids), so a crash between the two
steps costs nothing but a repeated read.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oktasync.state import atomic_write_json

INBOX_DIR = "hooks-inbox"


@dataclass(frozen=True)
class InboxItem:
    path: Path
    received_at: float  # epoch seconds
    events: list[dict[str, Any]]


class Inbox:
    def __init__(self, app_dir: Path) -> None:
        self.dir = app_dir / INBOX_DIR

    def put(self, events: list[dict[str, Any]], *, received_at: float | None = None) -> Path:
        """Store one delivery's events durably; the name sorts in arrival order."""
        at = time.time() if received_at is None else received_at
        path = self.dir / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        atomic_write_json(path, {"received_at": at, "events": events})
        return path

    def items(self) -> list[InboxItem]:
        """Every stored delivery, oldest first. A file that is not valid JSON cannot be a complete write
        (writes are atomic); it is skipped."""
        if not self.dir.is_dir():
            return []
        out = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            events = doc.get("events") if isinstance(doc, dict) else None
            if isinstance(events, list):
                out.append(InboxItem(path, float(doc.get("received_at") or 0), events))
        return out

    def pending(self) -> int:
        return len(list(self.dir.glob("*.json"))) if self.dir.is_dir() else 0

    def remove(self, items: list[InboxItem]) -> None:
        for item in items:
            try:
                os.unlink(item.path)
            except FileNotFoundError:
                pass
