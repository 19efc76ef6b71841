"""Resync at scale: wall time and API calls for N groups under a 100/minute /api/v1/apps bucket.

Runs the real CLI (`oktasync resync --yes --json`) in-process against a time-scaled emulator (a rate-limit
window lasts ``60 * time_scale`` real seconds; headers still say "per minute") and compares with

* the API-call floor: 2 x groups + list pages + 2 toggles + verification pages (docs/resync.md), and
* the rate-limit floor: (calls in the /api/v1/apps bucket) / (the API token's share of the limit, 50% by
  default) windows, in real and in Okta minutes.

Usage::

    python -m benchmarks.resync_scale [--groups 1000] [--users 2000] [--limit 100] [--time-scale 0.05]

The app is a custom SCIM app with an admin session (Deactivate Users through the admin channel, whose
requests are in the /admin bucket) and no SCIM target, so only Okta API behaviour is measured.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from oktasync.emulator.ratelimit import DEFAULT_CLIENT_SHARE, client_ceiling

TOKEN = "bench-token"
SESSION = "bench-session"

CONFIG = """\
tenant: bench
okta:
  org_url: {org_url}
  token: "{{{{ env.BENCH_OKTA_TOKEN }}}}"
  admin_session: "{{{{ env.BENCH_ADMIN_SESSION }}}}"
app:
  label: Chronosphere
scim:
  base_url: https://bench.invalid/scim/v2
  auth:
    bearer_token: "{{{{ env.BENCH_SCIM_TOKEN }}}}"
resync:
  max_affected_users: 1000000
"""


def run(groups: int, users: int, limit: int, time_scale: float) -> dict[str, Any]:
    from oktasync.cli import main
    from oktasync.emulator.seed import build_org
    from oktasync.emulator.testing import run_emulator
    from oktasync.workflows.resync import minimum_calls

    app = {
        "name": "chronosphere_scim",
        "label": "Chronosphere",
        "kind": "custom_scim",
        "settings": {
            "scim_base_url": "http://127.0.0.1:9/scim/v2",  # no token: the engine never pushes
            "create_users": True,
            "update_user_attributes": True,
            "deactivate_users": True,
        },
        "groups": [
            {"group": f"group-{g:05d}", "priority": (g * 7 + 3) % groups, "profile": {"role": f"r{g % 5}"}}
            for g in range(groups)
        ],
    }
    seed = build_org(users=users, groups=groups, apps=[app], api_tokens=(TOKEN,), admin_sessions=(SESSION,))
    os.environ.update(
        OKTA_TESTING_TESTINGDISABLEHTTPSCHECK="true",
        BENCH_OKTA_TOKEN=TOKEN,
        BENCH_ADMIN_SESSION=SESSION,
        BENCH_SCIM_TOKEN="unused",
    )
    with run_emulator(
        seed, api_token=TOKEN, time_scale=time_scale, rate_limits={"/api/v1/apps": limit}
    ) as em:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "bench.yaml"
            config.write_text(CONFIG.format(org_url=em.url))
            em.control.reset_stats()
            started = time.monotonic()
            with contextlib.redirect_stdout(io.StringIO()) as report:
                code = main(
                    ["--state-dir", str(Path(tmp) / "state"), "resync", "--yes", "--json", str(config)]
                )
            wall = time.monotonic() - started
        stats = em.control.stats()
    apps_calls = int(stats["by_bucket"].get("/api/v1/apps", 0))
    window = 60.0 * time_scale
    share = client_ceiling(limit, DEFAULT_CLIENT_SHARE)  # what one API token may use of the bucket
    floor_windows = apps_calls / share
    minimum = minimum_calls(groups)
    return {
        "exit_code": code,
        "groups": groups,
        "users": users,
        "rate_limit_per_minute": limit,
        "client_share_per_minute": share,
        "time_scale": time_scale,
        "api_calls_total": sum(int(v) for v in stats["by_bucket"].values()),
        "api_calls_apps_bucket": apps_calls,
        "api_calls_minimum": minimum,
        "overhead_calls": apps_calls - minimum,
        "rate_limited_429": stats.get("rate_limited", 0),
        "wall_seconds": round(wall, 2),
        "rate_limit_floor_seconds": round(floor_windows * window, 2),
        "wall_in_okta_minutes": round(wall / window, 2),
        "floor_in_okta_minutes": round(floor_windows, 2),
        "minimum_calls_floor_okta_minutes": round(minimum / share, 2),
        "ratio_to_floor": round(wall / (floor_windows * window), 3) if apps_calls else None,
        "by_bucket": stats["by_bucket"],
        "report": json.loads(report.getvalue()) if code in (0, 1) else None,
    }


def _main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=100, help="/api/v1/apps requests per (scaled) minute")
    parser.add_argument("--time-scale", type=float, default=0.05, help="real seconds per emulated second")
    args = parser.parse_args()
    print(json.dumps(run(args.groups, args.users, args.limit, args.time_scale), indent=2))


if __name__ == "__main__":
    _main()
