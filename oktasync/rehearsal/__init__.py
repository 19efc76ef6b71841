"""Rehearse on a copy of your org (docs/rehearsal.md).

* ``snapshot``: a read-only, paced, resumable export of what the runbook touches, pseudonymised by default;
* ``rehearse``: that snapshot loaded into the loopback emulator and a local SCIM target, a playbook run
  against them unchanged, and a report of what would happen against the real org.
"""

from __future__ import annotations

FORMAT_VERSION = 1
SNAPSHOT_KIND = "oktasync-snapshot"
