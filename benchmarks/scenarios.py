"""The benchmark scenarios. Each returns its ``Run`` rows: oktasync and the baseline, same org, same run.

Every side gets a freshly seeded emulator (same seed), fresh rate-limit windows and zeroed counters, so the
two sides never share budget or state. Clients run as subprocesses, the way users run them; the emulator and
the SCIM target run in this process's threads (on this 2-core machine, the client has a core of its own).
"""

from __future__ import annotations

import math
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import orgs
from benchmarks.harness import (
    Completed,
    Run,
    Scale,
    apply_stats,
    floor_seconds,
    median_wall,
    not_measured,
    parse_json,
    run_oktasync,
    run_subprocess,
)

CLIENT_TIMEOUT = 1800.0
IDLE_TIMEOUT = 900.0
ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def emulator(seed: dict[str, Any], time_scale: float) -> Iterator[Any]:
    from oktasync.emulator.testing import run_emulator

    with run_emulator(seed, time_scale=time_scale, api_token=orgs.API_TOKEN) as em:
        yield em


def has_command(name: str) -> bool:
    from oktasync.cli import _COMMANDS

    return name in _COMMANDS


def run_baseline(module: str, em: Any, app_id: str, env: dict[str, str], inprocess: bool) -> Completed:
    """A baseline script: ``python -m benchmarks.<module>`` (or its ``run`` here, for the tiny tests)."""
    import os

    if not inprocess:
        argv = [sys.executable, "-m", f"benchmarks.{module}", "--org-url", em.url, "--token", orgs.API_TOKEN]
        argv += ["--app-id", app_id]
        return run_subprocess(argv, {**os.environ, **env}, CLIENT_TIMEOUT, cwd=str(ROOT))
    import argparse
    import asyncio
    import importlib
    import json
    import time

    from benchmarks.baseline_common import make_client
    from benchmarks.harness import patched_environ

    mod = importlib.import_module(f"benchmarks.{module}")
    with patched_environ(env):
        client = make_client(em.url, orgs.API_TOKEN)  # the 5 s import is not timed in-process
        start = time.perf_counter()
        result = asyncio.run(mod.run(client, argparse.Namespace(app_id=app_id)))
        wall = time.perf_counter() - start
    return Completed(0 if not result.get("errors") else 1, json.dumps(result), "", wall)


def _measure(run: Run, em: Any, go: Callable[[], Completed]) -> Completed:
    em.control.reset_rate_limits()
    em.control.reset_stats()
    done = go()
    apply_stats(run, em.control.stats())
    run.wall_s = done.wall_s
    run.exit_code = done.exit_code
    run.client_peak_rss_mb = done.peak_rss_mb
    return done


def _ours(args: list[str], env: dict[str, str], scale: Scale) -> Callable[[], Completed]:
    return partial(run_oktasync, args, env, inprocess=scale.inprocess, timeout=CLIENT_TIMEOUT)


def _tail(text: str, n: int = 400) -> str:
    text = text.strip()
    return text if len(text) <= n else "…" + text[-n:]


# --- resync -------------------------------------------------------------------------------------------------
def resync_min_calls(groups: int) -> dict[str, int]:
    """Snapshot listing + one DELETE and one PUT per group + verification listing, all in /api/v1/apps
    (docs/okta-behaviour.md, Rate limits and paging); *Deactivate Users* goes through the Admin Console form
    (custom SCIM app)."""
    pages = max(1, math.ceil(groups / 200))
    return {"/api/v1/apps": 2 * groups + 2 * pages, "/admin": 4}


def resync(scale: Scale, work: Path) -> list[Run]:
    runs: list[Run] = []
    for side in ("oktasync", "baseline"):
        run = Run("resync", side, time_scale=scale.time_scale)
        run.min_calls = resync_min_calls(scale.resync_groups)
        run.floor_s = floor_seconds(run.min_calls)
        with orgs.stub_target() as stub:
            seed = orgs.org_seed(users=scale.resync_users, groups=scale.resync_groups, scim_url=stub.base_url)
            with emulator(seed, scale.time_scale) as em:
                state = em.control.state()
                orgs.preload_target(stub, state)
                before = orgs.snapshot(state)
                app_id = orgs.app_state(state)["id"]
                env = orgs.client_env(work / f"state-resync-{side}")
                if side == "oktasync":
                    cfg = orgs.tenant_config(
                        work / "resync.yaml", tenant="bench", org_url=em.url, scim_url=stub.base_url
                    )
                    if has_command("resync"):
                        done = _measure(run, em, _ours(["resync", str(cfg), "--yes", "--json"], env, scale))
                    else:
                        run.notes.append("`oktasync resync` not registered yet: ran the library's run_resync")
                        done = _measure(run, em, partial(_drive_resync, cfg, env, scale.inprocess))
                else:
                    # Runbook step 3: the admin clears Deactivate Users in the console before the script ...
                    em.control.set_app_settings(app_id, deactivate_users=False)
                    done = _measure(
                        run, em, partial(run_baseline, "baseline_resync", em, app_id, env, scale.inprocess)
                    )
                    # ... and sets it again afterwards (not counted: clicks, not API calls).
                    em.control.set_app_settings(app_id, deactivate_users=True)
                idle = em.control.wait_idle(IDLE_TIMEOUT)
                after_state = em.control.state()
                problems = orgs.compare(before, orgs.snapshot(after_state))
                deactivated = orgs.scim_deactivations(after_state.get("scim_calls") or [])
                deactivated += len(stub.deactivated)
                if deactivated:
                    problems.append(f"{deactivated} SCIM user(s) deactivated")
                if not idle:
                    problems.append("provisioning queue not idle after the run")
                doc = parse_json(done.stdout) or {}
                if done.exit_code != 0:
                    problems.append(f"exit {done.exit_code}: {_tail(done.stderr or done.stdout, 200)}")
                if side == "baseline" and doc.get("errors"):
                    problems.append(f"{len(doc['errors'])} call(s) failed after the SDK's retries")
                run.ok = not problems
                run.result = (
                    f"{len(before.assignments):,} groups, {len(before.app_users):,} users: nothing lost"
                    if not problems
                    else "; ".join(problems)
                )
        runs.append(run)
    return runs


def _drive_resync(cfg: Path, env: dict[str, str], inprocess: bool) -> Completed:
    import contextlib
    import io
    import os
    import time

    if not inprocess:
        argv = [sys.executable, "-m", "benchmarks.drive_resync", str(cfg)]
        return run_subprocess(argv, {**os.environ, **env}, CLIENT_TIMEOUT, cwd=str(ROOT))
    from benchmarks.drive_resync import main
    from benchmarks.harness import patched_environ

    out = io.StringIO()
    start = time.perf_counter()
    with patched_environ(env), contextlib.redirect_stdout(out):
        code = main([str(cfg)])
    return Completed(code, out.getvalue(), "", time.perf_counter() - start)


# --- tasks --------------------------------------------------------------------------------------------------
def _fail_users(em: Any, app_id: str, user_ids: list[str]) -> None:
    """Make pushes of these users fail as Okta records it: app user STAGED/ERROR without an externalId, and a
    FAILURE ``application.provision.user.push`` event with Okta's targets and reason (docs/okta-behaviour.md,
    "System Log and provisioning events")."""

    async def go() -> None:
        store = em.emulator.store
        app = store.apps[app_id]
        for uid in user_ids:
            app_user, user = app.users[uid], store.users[uid]
            app_user.status, app_user.sync_state, app_user.external_id = "STAGED", "ERROR", None
            name = user.display_name
            store.log_event(
                "application.provision.user.push",
                "Push new user to external application",
                targets=store.app_user_targets(app, user),
                result="FAILURE",
                reason=(
                    f"Automatic provisioning of user {name} to app {app.label} failed: Error while creating "
                    f"user {name}: Bad Request. Errors reported by remote server: userName is not allowed"
                ),
            )
        store.touch()

    em.thread.call(go)


def tasks_min_calls(users: int, new_failures: int | None) -> dict[str, int]:
    """First run: every app user at 500 per page (docs/okta-behaviour.md, Rate limits and paging) + resolving
    the app by label; one System
    Log page for the reasons. Incremental: the log page, the label lookup and one read per new failure."""
    if new_failures is None:
        return {"/api/v1/apps": math.ceil(users / 500) + 1, "/api/v1/logs": 1}
    return {"/api/v1/apps": 1 + new_failures, "/api/v1/logs": 1}


def tasks(scale: Scale, work: Path) -> list[Run]:
    results: dict[str, list[Run]] = {"first": [], "incremental": []}
    for side in ("oktasync", "baseline"):
        seed = orgs.org_seed(
            users=scale.tasks_users,
            groups=max(1, scale.tasks_users // 1000),
            scim_url="http://127.0.0.1:9/v2",
        )
        with emulator(seed, scale.tasks_scale) as em:
            state = em.control.state()
            app = orgs.app_state(state)
            app_id = str(app["id"])
            user_ids = [str(u["user"]) for u in app["app_users"]]
            step = max(1, len(user_ids) // (scale.tasks_failures + scale.tasks_new_failures))
            chosen = user_ids[::step][: scale.tasks_failures + scale.tasks_new_failures]
            first, later = chosen[: scale.tasks_failures], chosen[scale.tasks_failures :]
            _fail_users(em, app_id, first)
            env = orgs.client_env(work / f"state-tasks-{side}")
            cfg = orgs.tenant_config(
                work / "tasks.yaml", tenant="bench", org_url=em.url, scim_url="http://127.0.0.1:9/v2"
            )
            for phase, expected in (("first", set(first)), ("incremental", set(first) | set(later))):
                if phase == "incremental":
                    _fail_users(em, app_id, later)
                run = Run(f"tasks ({phase} run)", side, time_scale=scale.tasks_scale)
                run.min_calls = tasks_min_calls(scale.tasks_users, None if phase == "first" else len(later))
                run.floor_s = floor_seconds(run.min_calls)
                if side == "oktasync":
                    done = _measure(run, em, _ours(["tasks", str(cfg), "--json"], env, scale))
                    doc = parse_json(done.stdout) or {}
                    raw = doc.get("tenants")
                    tenants: list[dict[str, Any]] = raw if isinstance(raw, list) else [doc]
                    found = {str(f["user"]["id"]) for t in tenants for f in t.get("failures") or []}
                    for t in tenants:
                        if isinstance(t.get("scan"), dict):
                            run.notes.append(f"scan: {t['scan']}")
                else:
                    done = _measure(
                        run, em, partial(run_baseline, "baseline_tasks", em, app_id, env, scale.inprocess)
                    )
                    doc = parse_json(done.stdout) or {}
                    found = set(doc.get("failed") or [])
                run.ok = found == expected and done.exit_code == 0
                run.result = f"{len(found & expected):,}/{len(expected):,} failures found"
                if found - expected:
                    run.result += f", {len(found - expected)} false"
                if done.exit_code != 0:
                    run.result += f"; exit {done.exit_code}: {_tail(done.stderr or done.stdout, 200)}"
                results[phase].append(run)
    return results["first"] + results["incremental"]


# --- plan -------------------------------------------------------------------------------------------------
def plan(scale: Scale, work: Path) -> list[Run]:
    n = scale.plan_tenants
    run = Run(f"plan ({n} tenant configs)", "oktasync", time_scale=scale.time_scale)
    # Per tenant: the label lookup (/api/v1/apps) and one read of the Admin Console provisioning form.
    run.min_calls = {"/api/v1/apps": n, "/admin": n}
    run.floor_s = floor_seconds(run.min_calls)
    with orgs.stub_target() as stub:
        apps = [
            orgs.app_doc(f"{orgs.LABEL} {i:02d}", stub.base_url, [{"group": f"group-{i:05d}", "priority": 0}])
            for i in range(n)
        ]
        seed = orgs.org_seed(users=20 * n, groups=n, scim_url=stub.base_url, apps=apps)
        with emulator(seed, scale.time_scale) as em:
            env = orgs.client_env(work / "state-plan")
            cfgs = [
                str(
                    orgs.tenant_config(
                        work / f"plan-{i:02d}.yaml",
                        tenant=f"tenant{i:02d}",
                        org_url=em.url,
                        scim_url=stub.base_url,
                        label=f"{orgs.LABEL} {i:02d}",
                    )
                )
                for i in range(n)
            ]
            done = _measure(run, em, _ours(["plan", *cfgs, "--json"], env, scale))
    doc = parse_json(done.stdout)
    planned = _count_tenants(doc)
    run.ok = done.exit_code in (0, 2, 5) and planned == n
    run.result = f"{planned}/{n} tenants planned, exit {done.exit_code}"
    if done.exit_code not in (0, 2, 5):
        run.result += f": {_tail(done.stderr or done.stdout, 200)}"
    baseline = not_measured(
        run.scenario,
        "baseline",
        "no SDK equivalent: a custom SCIM app's provisioning settings have no public API "
        "(docs/okta-behaviour.md, App users and sync state), "
        "and list_applications raises on AUTO_CONFIRM_IMPORTS (docs/okta-behaviour.md, Okta's Python SDK)",
    )
    return [run, baseline]


def _count_tenants(doc: Any) -> int:
    if isinstance(doc, dict):
        for key in ("tenants", "plans", "results"):
            if isinstance(doc.get(key), list):
                return len(doc[key])
        return 1 if doc else 0
    if isinstance(doc, list):
        return len(doc)
    return 0


# --- CLI start-up -------------------------------------------------------------------------------------------
def startup(scale: Scale, work: Path) -> list[Run]:
    import os

    n = scale.startup_runs
    rows: list[Run] = []
    with orgs.stub_target() as stub:
        seed = orgs.org_seed(users=20, groups=2, scim_url=stub.base_url)
        with emulator(seed, scale.time_scale) as em:
            cfg_path = orgs.tenant_config(
                work / "startup.yaml", tenant="bench", org_url=em.url, scim_url=stub.base_url
            )
            cfg = str(cfg_path)
            env = {**os.environ, **orgs.client_env(work / "state-startup")}
            commands = {
                "oktasync --help": [sys.executable, "-m", "oktasync", "--help"],
                "oktasync validate": [sys.executable, "-m", "oktasync", "validate", cfg],
                "oktasync plan": [sys.executable, "-m", "oktasync", "plan", cfg],
            }
            for name, argv in commands.items():
                codes: list[int] = []

                def once(argv: list[str] = argv, codes: list[int] = codes) -> float:
                    done = run_subprocess(argv, env, 120)
                    codes.append(done.exit_code)
                    return done.wall_s

                run = Run(f"start-up: {name.removeprefix('oktasync ')}", "oktasync")
                run.wall_s = median_wall(once, n)
                ok_codes = {0} if name != "oktasync plan" else {0, 2, 5}
                run.ok = all(c in ok_codes for c in codes)
                run.result = f"median of {n} (subprocess), exit {sorted(set(codes))}"
                rows.append(run)
    base = Run("start-up: import okta.client", "baseline")
    if scale.inprocess:
        return [*rows, not_measured(base.scenario, "baseline", "skipped at tiny scale (5 s per run)")]
    base.wall_s = median_wall(
        lambda: run_subprocess([sys.executable, "-c", "import okta.client"], dict(os.environ), 120).wall_s, n
    )
    base.result = f"median of {n}: what any SDK script pays before its first request"
    base.ok = True
    return [*rows, base]


SCENARIOS: dict[str, Callable[[Scale, Path], list[Run]]] = {
    "resync": resync,
    "tasks": tasks,
    "plan": plan,
    "startup": startup,
}


def workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="oktasync-bench-")
