"""Test hook: kill the process (SIGKILL) at a named step boundary of the resync.

Set ``OKTASYNC_TEST_CRASH_AT=<boundary>[:<n>]`` to SIGKILL the process the ``n``-th time (default: the first)
it reaches ``<boundary>``. Unset, it does nothing. It exists so that tests can prove a resync killed at any
point finishes with ``--resume`` (docs/resync.md "Crash test hook"); it is not a user feature.

Boundaries, in the order a run reaches them (``BOUNDARIES``)::

    snapshot             begin + snapshot journaled; nothing changed yet
    deactivate_off.before / .after    intent journaled / switched off and confirmed, "done" not yet journaled
    unassign.before / .after          per group: intent journaled / DELETE answered, "done" not yet journaled
    unassign.phase_done  every target unassigned and journaled
    removal_wait.polling after a listing, while waiting for Okta's jobs to remove the app users
    assign.before / .after            per group: intent journaled / PUT answered, "done" not yet journaled
    return_wait.polling  after a listing, while waiting for Okta's jobs to re-create the app users
    verify.before / .after            before the verification listing / after its record
    restore.before / .after           intent journaled / restored and confirmed, "done" not yet journaled
    finish               report journaled, journal not yet archived
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV_VAR = "OKTASYNC_TEST_CRASH_AT"

BOUNDARIES: tuple[str, ...] = (
    "snapshot",
    "deactivate_off.before",
    "deactivate_off.after",
    "unassign.before",
    "unassign.after",
    "unassign.phase_done",
    "removal_wait.polling",
    "assign.before",
    "assign.after",
    "return_wait.polling",
    "verify.before",
    "verify.after",
    "restore.before",
    "restore.after",
    "finish",
)

_seen: Counter[str] = Counter()


def _target() -> tuple[str, int] | None:
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return None
    name, _, count = raw.partition(":")
    return name, int(count) if count else 1


def crashpoint(name: str) -> None:
    """SIGKILL this process if ``OKTASYNC_TEST_CRASH_AT`` names this boundary (and occurrence)."""
    target = _target()
    if target is None:
        return
    _seen[name] += 1
    if target[0] == name and _seen[name] == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)


def reset() -> None:
    """Forget the occurrence counts (in-process tests)."""
    _seen.clear()
