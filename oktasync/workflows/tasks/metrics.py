"""Prometheus text exposition (format 0.0.4) for node_exporter's textfile collector, by prometheus_client.

Each render builds a private ``CollectorRegistry`` (never the process-wide one: a long-running receiver and
a test suite render many times) whose one collector yields the families below; the text is prometheus_client's
``generate_latest`` and the file is written by its ``write_to_textfile``: a temporary file, then a rename over
the old one, as the textfile collector requires (it may read the directory at any moment, and a half-written
file would be a scrape error). One file holds every tenant+app of the run. Counters live in the state dir, so
they only ever grow across runs.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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


_LABELS = ("tenant", "app", "app_id")
_FAILED = "oktasync_tasks_failed_assignments"  # the one family with an operation label


def _value(m: AppMetrics, name: str) -> float | None:
    return {
        "oktasync_tasks_retried_total": m.retried_total,
        "oktasync_tasks_retry_not_taken_total": m.retry_not_taken_total,
        "oktasync_tasks_recovered_total": m.recovered_total,
        "oktasync_tasks_retry_exhausted": m.retry_exhausted,
        "oktasync_tasks_notifications_pending": m.notifications_pending,
        "oktasync_tasks_notifications_failed_total": m.notifications_failed_total,
        "oktasync_tasks_last_success_timestamp_seconds": m.last_success,
        "oktasync_tasks_api_calls": m.api_calls,
    }[name]


class _AppsCollector(Collector):
    """The families of one set of apps; a family with no sample (no app has a value) is left out."""

    def __init__(self, apps: list[AppMetrics]) -> None:
        self.apps = apps

    def collect(self) -> Iterator[Metric]:
        for name, kind, help_text in _METRICS:
            labels = (*_LABELS, "operation") if name == _FAILED else _LABELS
            family: CounterMetricFamily | GaugeMetricFamily
            if kind == "counter":
                family = CounterMetricFamily(name, help_text, labels=labels)
            else:
                family = GaugeMetricFamily(name, help_text, labels=labels)
            for m in self.apps:
                base = [m.tenant, m.app, m.app_id]
                if name == _FAILED:
                    for op in OPERATION_NAMES:
                        family.add_metric([*base, op], m.failed.get(op, 0))
                elif (value := _value(m, name)) is not None:
                    family.add_metric(base, value)
            if family.samples:
                yield family


def registry_of(apps: Iterable[AppMetrics]) -> CollectorRegistry:
    """A private registry holding the metrics of ``apps`` (nothing else: no process or platform metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_AppsCollector(list(apps)))
    return registry


def render(apps: Iterable[AppMetrics]) -> str:
    return generate_latest(registry_of(apps)).decode("utf-8")


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


def write_metrics_file(path: Path, apps: Iterable[AppMetrics]) -> None:
    """Replace the regular file at ``path`` (or create it) atomically with the metrics of ``apps``
    (``check_metrics_path`` first), readable by node_exporter's user (0644)."""
    check_metrics_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # write_to_textfile's temporary name is predictable (<path>.<pid>.<thread>): in a private directory (0700,
    # same file system, so the rename stays atomic) nobody can plant a link there for it to write through.
    private = tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        write_to_textfile(str(path), registry_of(apps), tmpdir=private)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchmod(fd, 0o644)  # node_exporter usually runs as another user, whatever this process's umask
        os.fsync(fd)
    finally:
        os.close(fd)
