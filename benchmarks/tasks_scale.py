"""API calls of `tasks` on a big app: 50,000 users, 500 failed pushes (docs/tasks.md "Cost").

Runs the real workflow over the SDK gateway against the loopback emulator (rate limits raised so the run
measures calls, not waits). The org is seeded pre-provisioned (no pushes): ``--failures`` app users are in
``syncState: ERROR`` with a matching System Log failure event, spread over ``--groups`` assigned groups.

    /work/venv/bin/python benchmarks/tasks_scale.py [--users 50000] [--failures 500] [--groups 50]

Prints, per run, the API calls by kind (from the emulator's request stats) and the wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from oktasync.config import load_tenant
from oktasync.emulator.seed import build_org
from oktasync.emulator.testing import run_emulator
from oktasync.state import StateDir
from oktasync.timestamps import okta_time
from oktasync.workflows.session import TenantSession
from oktasync.workflows.tasks import TasksOptions, run_tasks

TOKEN = "bench-token"


def seed(users: int, failures: int, groups: int) -> dict[str, Any]:
    org = build_org(users=users, groups=groups, preprovisioned=True, api_tokens=(TOKEN,))
    app = org["apps"][0]
    app["id"] = "0oabenchchronosph001"
    step = max(1, users // failures)
    failing = [f"user{i}@example.com" for i in range(0, users, step)][:failures]
    app["app_users"] = [
        {"user": login, "scope": "GROUP", "status": "STAGED", "sync_state": "ERROR", "external_id": None}
        for login in failing
    ]
    org["users"] = [{**u, "id": f"00ubench{i:012d}"} for i, u in enumerate(org["users"])]
    base = datetime.now(UTC) - timedelta(hours=6)
    org["events"] = [
        {
            "uuid": f"bench-{n}",
            "published": okta_time(base + timedelta(seconds=n)),
            "eventType": "application.provision.user.push",
            "displayMessage": "Push new user to external application",
            "outcome": {
                "result": "FAILURE",
                "reason": f"Automatic provisioning of user User N{n} to app Chronosphere failed: Error while "
                f"creating user User N{n}: Bad Request. Errors reported by remote server: "
                f"user {login} rejected",
            },
            # As Okta writes them: the app user's own 0ua id, the app, and the Okta user.
            "target": [
                {"id": f"0uabench{_index(login):012d}", "type": "AppUser", "alternateId": login},
                {"id": app["id"], "type": "AppInstance", "alternateId": "Chronosphere"},
                {"id": f"00ubench{_index(login):012d}", "type": "User", "alternateId": login},
            ],
            "actor": {"id": "0oa1system", "type": "PublicClientApp"},
        }
        for n, login in enumerate(failing)
    ]
    return org


def _index(login: str) -> int:
    return int(login[4:].split("@")[0])


async def one_run(config_path: Path, state: StateDir, **options: Any) -> tuple[Any, float]:
    config = load_tenant(config_path)
    async with TenantSession(config, state.root) as session:
        app = await session.app()
        started = time.perf_counter()
        result = await run_tasks(
            config,
            await session.gateway(),
            app,
            app_dir=await session.app_dir(),
            options=TasksOptions(**options),
        )
        return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--failures", type=int, default=500)
    parser.add_argument("--groups", type=int, default=50)
    args = parser.parse_args()
    os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"
    os.environ["BENCH_TOKEN"] = TOKEN
    limits = {
        b: 1_000_000
        for b in (
            "/api/v1/apps",
            "/api/v1/apps/{id}",
            "/api/v1/logs",
            "/api/v1",
            "/api/v1/users",
            "/api/v1/groups",
        )
    }
    t0 = time.perf_counter()
    with run_emulator(
        seed(args.users, args.failures, args.groups), api_token=TOKEN, rate_limits=limits
    ) as em:
        print(
            f"seeded {args.users} users, {args.failures} failures, {args.groups} groups "
            f"in {time.perf_counter() - t0:.1f}s"
        )
        with tempfile.TemporaryDirectory() as tmp:
            config_path = Path(tmp) / "bench.yaml"
            config_path.write_text(
                f'tenant: bench\nokta:\n  org_url: {em.url}\n  token: "{{{{ env.BENCH_TOKEN }}}}"\n'
                "app:\n  label: Chronosphere\nscim:\n  base_url: https://bench.example/scim/v2\n"
                '  auth:\n    bearer_token: "{{ env.BENCH_TOKEN }}"\n'
            )
            state = StateDir(Path(tmp) / "state")
            runs = [
                ("first run (full scan)", {}),
                ("incremental run", {}),
                ("forced full scan", {"force_full": True}),
            ]
            for name, options in runs:
                em.control.reset_stats()
                result, seconds = asyncio.run(one_run(config_path, state, **options))
                stats = em.control.stats()
                print(
                    f"{name}: mode={result.mode} failures={len(result.failures)} "
                    f"api_calls={result.api_calls} app_users_read={result.scan['app_users_read']} "
                    f"events_read={result.scan['events_read']} "
                    f"groups_read={result.scan['groups_read']} seconds={seconds:.1f}"
                )
                print(f"    emulator request stats: {stats.get('by_route') or stats}")


if __name__ == "__main__":
    main()
