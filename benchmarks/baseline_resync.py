"""Baseline: the runbook's resync (vendor runbook step 3) as an admin would script it with the ``okta`` SDK.

    1. clear *Deactivate Users*            -> by hand in the Admin Console (no public API for a custom SCIM
                                              app: docs/okta-behaviour.md); the harness does it for the script
    2. remove every group assigned to the app
    3. reassign them all
    4. set *Deactivate Users* again         -> by hand, as 1.

Choices, and why an admin would make them:

* List the assignments with ``paginate_all(client.list_application_group_assignments, app_id=…)`` — the
  README's pagination helper; its default ``limit=200`` is the API's maximum for app groups.
* Reassign each group with the very object the list returned (``assign_group_to_application(app_id, g.id,
  g)``), so priority and profile are re-sent: the obvious way to "put it back as it was".
* Sequential ``for … await`` loops, the shape of every runbook script: the SDK's own 429 handling (wait until
  ``X-Rate-Limit-Reset`` + 1 s, ``maxRetries`` 2) then paces it to the bucket, so it runs at close to the
  rate-limit floor. ``asyncio.gather`` over 1,000 groups would be faster to write and much worse (75
  concurrent requests, then 429s beyond two retries): we deliberately do not sandbag the baseline with it.
* Errors are checked (``if err``) and counted, and the script carries on, as a careful admin's would.
* No verification re-read and no journal: the runbook has neither. ``paginate_all`` ends the list silently
  on an error (docs/okta-behaviour.md, Okta's Python SDK), which the script cannot notice.
"""

from __future__ import annotations

import argparse
from typing import Any

from benchmarks.baseline_common import cli


async def run(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    from okta.pagination import paginate_all

    app_id = args.app_id
    groups = [g async for g in paginate_all(client.list_application_group_assignments, app_id=app_id)]
    errors: list[str] = []
    for g in groups:
        _, _, err = await client.unassign_application_from_group(app_id, g.id)
        if err:
            errors.append(f"unassign {g.id}: {err}")
    for g in groups:
        _, _, err = await client.assign_group_to_application(app_id, g.id, g)
        if err:
            errors.append(f"assign {g.id}: {err}")
    return {"groups": len(groups), "errors": errors}


def main() -> int:
    return cli("Runbook resync with the okta SDK (baseline).", run)


if __name__ == "__main__":
    raise SystemExit(main())
