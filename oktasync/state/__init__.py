"""The state dir: locks, journals, cursors and run records. Nothing secret is ever written here.

Layout: ``<state_dir>/<tenant>/<app key>/…`` (app key = app id once resolved, else a slug of the label), so
one GitOps repository may keep the state dir of many tenants; and ``<state_dir>/apps/<org host>/<app id>/``
for what belongs to the Okta app itself whatever the tenant is called (its write lock, the resync journal).
"""

from oktasync.state.files import (
    Journal,
    StateDir,
    StateFileError,
    StateWriteError,
    atomic_write_json,
    exclusive_lock,
    read_json,
)

__all__ = [
    "Journal",
    "StateDir",
    "StateFileError",
    "StateWriteError",
    "atomic_write_json",
    "exclusive_lock",
    "read_json",
]
