"""The state dir: locks, journals, cursors and run records. Nothing secret is ever written here.

Layout (``state.layout``): ``<state_dir>/apps/<org host>/<app id>/…``, one directory per Okta org + app,
whatever a config calls the tenant or the app, so one GitOps repository may keep the state of many tenants
and two configs naming one app share its lock, journals and records.
"""

from oktasync.state.files import (
    Journal,
    StateFileError,
    StateWriteError,
    atomic_write_json,
    exclusive_lock,
    read_json,
)
from oktasync.state.layout import StateDir

__all__ = [
    "Journal",
    "StateDir",
    "StateFileError",
    "StateWriteError",
    "atomic_write_json",
    "exclusive_lock",
    "read_json",
]
