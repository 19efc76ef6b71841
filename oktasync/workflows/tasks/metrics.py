"""Prometheus text exposition (format 0.0.4) for node_exporter's textfile collector.

The file is written atomically (temp file in the same directory, fsync, rename), as the textfile collector
requires: it may read the directory at any moment, and a half-written file would be a scrape error. One file
holds every tenant+app of the run. Counters live in the state dir, so they only ever grow across runs.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from oktasync.state import StateFileError

OPERATION_NAMES = ("create", "update", "deactivate")


@dataclass(frozen=True)
class AppMetrics:
    tenant: str
    app: str  # the app's label
    app_id: str
    failed: dict[str, int]  # operation -> count
    retried_total: int
    recovered_total: int
    retry_exhausted: int
    notifications_pending: int
    notifications_failed_total: int
    last_success: float | None  # epoch seconds of the last run that completed
    api_calls: int
    retry_not_taken_total: int = 0


_METRICS: tuple[tuple[str, str, str], ...] = (
    (
        "oktasync_tasks_failed_assignments",
        "gauge",
        "Failed assignments (app users in ERROR, failed deactivations).",
    ),
    ("oktasync_tasks_retried_total", "counter", "Retry attempts made through the API, across runs."),
    (
        "oktasync_tasks_retry_not_taken_total",
        "counter",
        "Retry attempts that re-pushed nothing (no new push read back), across runs.",
    ),
    ("oktasync_tasks_recovered_total", "counter", "Failed assignments that recovered, across runs."),
    ("oktasync_tasks_retry_exhausted", "gauge", "Users no longer retried: tasks.retry.max_attempts reached."),
    (
        "oktasync_tasks_notifications_pending",
        "gauge",
        "Notifications waiting in the outbox (webhook failing).",
    ),
    ("oktasync_tasks_notifications_failed_total", "counter", "Failed webhook deliveries, across runs."),
    ("oktasync_tasks_last_success_timestamp_seconds", "gauge", "Unix time of the last run that completed."),
    ("oktasync_tasks_api_calls", "gauge", "Okta API requests made by the last run."),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items()) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(apps: Iterable[AppMetrics]) -> str:
    apps = list(apps)
    lines: list[str] = []
    for name, kind, help_text in _METRICS:
        samples: list[str] = []
        for m in apps:
            base = {"tenant": m.tenant, "app": m.app, "app_id": m.app_id}
            if name == "oktasync_tasks_failed_assignments":
                for op in OPERATION_NAMES:
                    samples.append(f"{name}{_labels({**base, 'operation': op})} {m.failed.get(op, 0)}")
                continue
            value: float | None = {
                "oktasync_tasks_retried_total": m.retried_total,
                "oktasync_tasks_retry_not_taken_total": m.retry_not_taken_total,
                "oktasync_tasks_recovered_total": m.recovered_total,
                "oktasync_tasks_retry_exhausted": m.retry_exhausted,
                "oktasync_tasks_notifications_pending": m.notifications_pending,
                "oktasync_tasks_notifications_failed_total": m.notifications_failed_total,
                "oktasync_tasks_last_success_timestamp_seconds": m.last_success,
                "oktasync_tasks_api_calls": m.api_calls,
            }[name]
            if value is not None:
                samples.append(f"{name}{_labels(base)} {_number(value)}")
        if samples:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]
    return "\n".join(lines) + "\n"


def check_metrics_path(path: Path) -> None:
    """Refuse (``StateFileError``, exit 4) anything at ``path`` but a regular file: a symbolic link, a device
    node, a directory, a FIFO is never written through or replaced (``--metrics-file`` may come from a
    pipeline definition someone else can change)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        raise StateFileError(
            f"--metrics-file {path} is {kind}; oktasync writes metrics only to a regular file",
            hint="point --metrics-file at a regular file (or a new name) in the collector's directory",
        )


def write_atomic(path: Path, text: str) -> None:
    """Replace the regular file at ``path`` (or create it) atomically (``check_metrics_path`` first)."""
    check_metrics_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # node_exporter usually runs as another user
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
