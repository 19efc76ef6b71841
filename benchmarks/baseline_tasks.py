"""Baseline: "find the failed assignments" (vendor runbook step 4) as an admin would script it with the SDK.

Okta has no public API for Dashboard → Tasks (docs/okta-behaviour.md, Retrying failed provisioning); what an
admin finds in the API reference is
``syncState: ERROR`` on app users (docs/okta-behaviour.md, App users and sync state). So the script lists
every app user and keeps the ERROR ones.

Choices, and why an admin would make them:

* ``paginate_all(client.list_application_users, app_id=…)`` — the README's helper, default ``limit=200``
  (the API's default would be 50; 200 gives the baseline 4× fewer calls than a plain loop would make).
* No state between runs: a cron job runs the same full scan every time (there is no cursor to keep — the
  System Log approach needs a filter expression, bounded windows and de-duplication, which is what oktasync
  does and a runbook script does not).
* No ``expand=user``: ``credentials.userName`` already names the user for the report.
* ``paginate_all`` stops silently at the first error (docs/okta-behaviour.md, Okta's Python SDK): if a page
fails after the
  SDK's two retries, the script reports fewer failures and cannot know it.
"""

from __future__ import annotations

import argparse
from typing import Any

from benchmarks.baseline_common import cli


async def run(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    from okta.pagination import paginate_all

    seen = 0
    failed: list[str] = []
    async for app_user in paginate_all(client.list_application_users, app_id=args.app_id):
        seen += 1
        if getattr(app_user, "sync_state", None) == "ERROR":
            failed.append(str(app_user.id))
    return {"app_users": seen, "failed": failed, "errors": []}


def main() -> int:
    return cli("List failed assignments with the okta SDK (baseline).", run)


if __name__ == "__main__":
    raise SystemExit(main())
