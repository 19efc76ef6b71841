"""`tasks`: find, retry, report and notify failed assignments (docs/tasks.md).

Public API (used by the CLI and the playbook engine)::

    with tasks_lock(app_dir, config.tenant, app.label):
        result = await run_tasks(config, gateway, app, app_dir=app_dir, options=TasksOptions(retry=True))
    result.to_dict(); result.exit_code(detailed=True); render_metrics([result.metrics])
"""

from oktasync.workflows.tasks.metrics import AppMetrics, write_metrics_file
from oktasync.workflows.tasks.metrics import render as render_metrics
from oktasync.workflows.tasks.model import Failure, Resolution, RetryOutcome, admin_tasks_url, split_reason
from oktasync.workflows.tasks.publish import notifiers_for
from oktasync.workflows.tasks.run import TasksOptions, TasksResult, run_tasks, tasks_lock

__all__ = [
    "AppMetrics",
    "Failure",
    "Resolution",
    "RetryOutcome",
    "TasksOptions",
    "TasksResult",
    "admin_tasks_url",
    "notifiers_for",
    "render_metrics",
    "run_tasks",
    "split_reason",
    "tasks_lock",
    "write_metrics_file",
]
