"""How a resync runs: the options the CLI (or a playbook) passes to ``run_resync``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

DEFAULT_BATCH = 20  # groups per batch: Deactivate Users is re-read before each batch of unassignments
DEFAULT_JOB_TIMEOUT = 900.0  # seconds each wait for Okta's group jobs may last

WaitForPerson = Callable[[list[str]], Awaitable[None] | None]


@dataclass(frozen=True)
class ResyncOptions:
    resume: bool = False
    max_affected_users: int | None = None  # overrides resync.max_affected_users when given
    batch_size: int = DEFAULT_BATCH
    concurrency: int | None = None  # default: okta.max_concurrency
    resume_command: str | None = None  # shown when the run stops before the end
    wait_for_person: WaitForPerson | None = None
    poll_interval: float = 5.0
    manual_timeout: float = 900.0
    # Okta's background jobs (docs/resync.md "Waiting for Okta's background jobs"): the longest each wait
    # lasts, and how often the app users are read meanwhile (the first poll is at once, then every
    # job_poll_first seconds, growing by half each time up to job_poll_max).
    job_timeout: float = DEFAULT_JOB_TIMEOUT
    job_poll_first: float = 0.25
    job_poll_max: float = 30.0
    # The roster is taken from the snapshot's app-user listing when that listing ended at most this many
    # seconds before the roster step (about what a listing of 20,000 app users takes at the default share
    # of the rate limit, so the roster is no older than a listing of its own would be); else it is listed.
    roster_max_age: float = 60.0
