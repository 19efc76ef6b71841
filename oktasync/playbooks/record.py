"""Run records: what a playbook run did, step by step, in the state dir (nothing secret).

Layout, per tenant+app (``StateDir.for_app``)::

    playbooks/<playbook name>.json     the latest run of that playbook: rewritten atomically (fsynced)
                                       before and after every step
    playbooks/<playbook name>.lock     held while a run is going (flock: dies with the process)
    playbooks/history.jsonl            one line per finished run (append-only, fsynced)

A record whose ``status`` is ``running`` belongs to a run that died (SIGKILL, power loss): the lock is free
but the run never finished. ``playbook run --resume`` continues it; a plain ``playbook run`` refuses
(exit 4) until the run is resumed or discarded with ``--fresh``.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oktasync.state import Journal, StateDir, atomic_write_json, read_json

FORMAT = 1

# Run statuses
RUNNING = "running"  # in progress, or died in progress (the lock tells which)
COMPLETED = "completed"  # every step ran or was skipped (some may have failed under on_failure: continue)
STOPPED = "stopped"  # a step failed (on_failure: stop) or a person declined a confirm step

# Step statuses
STEP_RUNNING = "running"
STEP_OK = "ok"
STEP_FAILED = "failed"
STEP_SKIPPED = "skipped"
STEP_DECLINED = "declined"
DONE_STEP_STATUSES = (STEP_OK, STEP_SKIPPED)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "playbook"


def app_key(config: Any) -> str:
    """The state-dir key of the config's app before it is resolved: its id, else its label."""
    return str(config.app.id or config.app.label or "app")


class RunRecordStore:
    """Where one playbook's runs for one tenant+app are recorded."""

    def __init__(self, state_dir: Path, tenant: str, app: str, playbook_name: str) -> None:
        self.directory = StateDir(state_dir).for_app(tenant, app) / "playbooks"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / f"{_slug(playbook_name)}.json"
        self.lock_path = self.directory / f"{_slug(playbook_name)}.lock"
        self.history = Journal(self.directory / "history.jsonl")

    def read(self) -> dict[str, Any] | None:
        document = read_json(self.path)
        return document if isinstance(document, dict) else None

    def write(self, record: dict[str, Any]) -> None:
        atomic_write_json(self.path, record)

    def finish(self, record: dict[str, Any]) -> None:
        self.write(record)
        self.history.append(
            {
                "run_id": record["run_id"],
                "playbook": record["playbook"]["name"],
                "status": record["status"],
                "exit_code": record.get("exit_code"),
                "started": record["started"],
                "finished": record.get("finished"),
                "stopped_at": record.get("stopped_at"),
            }
        )
