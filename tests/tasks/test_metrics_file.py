"""The metrics file written by prometheus_client's write_to_textfile: the exposition parses, the file is
replaced whole, readable by node_exporter's user whatever the umask, and no planted link is written to."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from oktasync.state import StateFileError
from oktasync.workflows.tasks.metrics import AppMetrics, render, write_metrics_file
from tests.tasks.tasks_helpers import parse_prometheus


def _metrics(tenant: str = "acme", last_success: float | None = 1764912345.5) -> AppMetrics:
    return AppMetrics(
        tenant=tenant,
        app="Chronosphere",
        app_id="0oa1",
        failed={"create": 2, "deactivate": 1},
        retried_total=3,
        recovered_total=1,
        retry_exhausted=0,
        notifications_pending=0,
        notifications_failed_total=4,
        last_success=last_success,
        api_calls=17,
    )


def test_file_is_replaced_whole_and_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "collector" / "oktasync.prom"
    old_umask = os.umask(0o077)
    try:
        write_metrics_file(path, [_metrics()])
        write_metrics_file(path, [_metrics(), _metrics("globex", last_success=None)])
    finally:
        os.umask(old_umask)
    assert path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["oktasync.prom"]  # no temporary leftovers
    text = path.read_text()
    assert text == render([_metrics(), _metrics("globex", last_success=None)])
    samples = parse_prometheus(text)
    failed = {
        (labels["tenant"], labels["operation"]): value
        for labels, value in samples["oktasync_tasks_failed_assignments"]
    }
    assert failed[("acme", "create")] == 2 and failed[("globex", "deactivate")] == 1
    assert failed[("acme", "update")] == 0
    # A run with no last success has no sample for it, for that tenant only.
    assert [labels["tenant"] for labels, _ in samples["oktasync_tasks_last_success_timestamp_seconds"]] == [
        "acme"
    ]
    assert samples["oktasync_tasks_last_success_timestamp_seconds"][0][1] == 1764912345.5


def test_prometheus_own_parser_reads_the_types_and_labels() -> None:
    families = {f.name: f for f in text_string_to_metric_families(render([_metrics('we"ird\\te\nnant')]))}
    assert families["oktasync_tasks_retried"].type == "counter"
    assert families["oktasync_tasks_api_calls"].type == "gauge"
    [sample] = families["oktasync_tasks_retried"].samples
    assert sample.labels == {"tenant": 'we"ird\\te\nnant', "app": "Chronosphere", "app_id": "0oa1"}
    assert sample.value == 3
    assert not [s for f in families.values() for s in f.samples if s.name.endswith("_created")]


def test_a_link_at_the_libraries_temporary_name_is_not_written_through(tmp_path: Path) -> None:
    path = tmp_path / "oktasync.prom"
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    # write_to_textfile's default temporary name; the private directory makes it irrelevant.
    planted = Path(f"{path}.{os.getpid()}.{threading.current_thread().ident}")
    planted.symlink_to(victim)
    write_metrics_file(path, [_metrics()])
    assert victim.read_text() == "untouched"
    assert "oktasync_tasks_api_calls" in path.read_text()


def test_a_link_at_the_metrics_path_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    path = tmp_path / "oktasync.prom"
    path.symlink_to(victim)
    with pytest.raises(StateFileError, match="symbolic link"):
        write_metrics_file(path, [_metrics()])
    assert victim.read_text() == "untouched"
