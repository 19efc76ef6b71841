"""``python -m benchmarks soak --rounds N``: resync and tasks under faults, N times, checking nothing is lost.

One org, one real SCIM target (scim2-server, oktasync/emulator/scim_target.py) that rejects a few users, so
real pushes really fail. Every round:

1. faults on (every Okta route): 5 % ``503``, 2 % dropped connections, latency 0–60 ms with rare spikes
   (``jitter``), and a 429 storm (the next ``storm`` requests all get ``429 E0000047``);
2. ``oktasync resync CONFIG --yes --json``; while it exits non-zero, the operator's recovery (faults still
   on, at most ``MAX_RECOVERIES`` times), counted per round: ``--resume`` when it left a journal, else (it
   stopped before changing anything) the same command again;
3. faults off, provisioning queue drained, then the checks, from the emulator's state dump and its SCIM call
   history: every group assignment back with its priority and profile; no app user lost; *Deactivate Users*
   restored (on); no SCIM write with ``active: false`` this round and no inactive user on the target;
4. faults on again (a fresh storm), ``oktasync tasks CONFIG --json``: it must report exactly the app users
   whose ``syncState`` is ``ERROR`` in the state dump (the rejected users).

Exit 0 when every round passed.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import orgs
from benchmarks.harness import Completed, parse_json, run_oktasync, write_json
from benchmarks.scenarios import CLIENT_TIMEOUT, _drive_resync, emulator, has_command

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "soak.json"
MAX_RECOVERIES = 5  # --resume / re-run attempts per round before the round fails


@dataclass
class Round:
    number: int
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    resync_exit: int | None = None
    resumes: int = 0
    reruns: int = 0
    errors: list[str] = field(default_factory=list)
    tasks_exit: int | None = None
    failures_expected: int = 0
    failures_found: int = 0
    api_calls: int = 0
    http_429: int = 0
    faults_injected: int = 0
    wall_s: float = 0.0

    def fail(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)


STORM_SECONDS = 0.0  # > 0: a time-based 429 storm (every request for this many real seconds) instead


def faults(round_no: int, storm: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "error_rate": 0.05,
        "error_status": 503,
        "drop_connection_rate": 0.02,
        "latency_ms": 30,
        "jitter_ms": 30,
        "storm_429_requests": storm,
        "seed": round_no,
    }
    if STORM_SECONDS and storm:
        doc["storm_429_requests"] = 0
        doc["storm_429_seconds"] = STORM_SECONDS
    return doc


def _resync(cfg: Path, env: dict[str, str], resume: bool = False) -> Completed:
    if has_command("resync"):
        args = ["resync", str(cfg), "--yes", "--json", *(["--resume"] if resume else [])]
        return run_oktasync(args, env, inprocess=False, timeout=CLIENT_TIMEOUT)
    if resume:
        return Completed(64, "", "resume needs the `oktasync resync` command", 0.0)
    return _drive_resync(cfg, env, inprocess=False)


def run_soak(rounds: int, groups: int, users: int, rejected: int, time_scale: float, out: Path | None) -> int:
    import tempfile

    from oktasync.emulator.scim_target import run_scim_server

    results: list[Round] = []
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="oktasync-soak-") as tmp,
        run_scim_server(orgs.SCIM_TOKEN) as scim,
    ):
        seed = orgs.org_seed(users=users, groups=groups, scim_url=scim.base_url)
        with emulator(seed, time_scale) as em:
            state = em.control.state()
            app = orgs.app_state(state)
            app_id = str(app["id"])
            names = [str(u["user_name"]) for u in app["app_users"]]
            for name in names:  # the target already has every provisioned user, as in the seed
                scim.create_user(name)
            scim.reject(names[:: max(1, len(names) // max(1, rejected))][:rejected])
            before = orgs.snapshot(state)
            env = orgs.client_env(Path(tmp) / "state")
            cfg = orgs.tenant_config(
                Path(tmp) / "soak.yaml", tenant="soak", org_url=em.url, scim_url=scim.base_url
            )
            for number in range(1, rounds + 1):
                r = Round(number)
                t0 = time.perf_counter()
                calls_before = len(em.control.scim_calls())
                em.control.reset_stats()
                em.control.faults(**faults(number, storm=25))
                done = _resync(cfg, env)
                r.resync_exit = done.exit_code
                retry = done
                attempt = 0
                while retry.exit_code != 0 and attempt < MAX_RECOVERIES:
                    # What an operator does, faults still on: --resume while the run left a journal; when
                    # there is nothing to resume (it stopped before changing anything, exit 4), start again.
                    attempt += 1
                    r.errors.append(retry.stderr.strip()[-600:])
                    em.control.faults(**faults(1000 * attempt + number, storm=0))
                    retry = _resync(cfg, env, resume=True)
                    if retry.exit_code == 4 and "no unfinished resync" in retry.stderr:
                        r.reruns += 1
                        retry = _resync(cfg, env)
                    else:
                        r.resumes += 1
                if retry.exit_code != 0:
                    r.fail(
                        f"resync still exit {retry.exit_code} after {attempt} recoveries: "
                        f"{retry.stderr.strip()[-300:]}"
                    )
                em.control.clear_faults()
                if not em.control.wait_idle(300):
                    r.fail("provisioning queue not idle")
                after = em.control.state()
                for problem in orgs.compare(before, orgs.snapshot(after)):
                    r.fail(problem)
                new_calls = (after.get("scim_calls") or [])[calls_before:]
                deactivations = orgs.scim_deactivations(new_calls)
                if deactivations:
                    r.fail(f"{deactivations} SCIM write(s) with active=false")
                inactive = [u for u in scim.users() if u.get("active") is False]
                if inactive:
                    r.fail(f"{len(inactive)} user(s) inactive on the SCIM target")
                history = em.control.settings_history(app_id)
                if history and history[-1].get("value") is not True:
                    r.fail("last Deactivate Users change did not restore it")
                expected = {
                    str(u["user"]) for u in orgs.app_state(after)["app_users"] if u["sync_state"] == "ERROR"
                }
                em.control.faults(**faults(2000 + number, storm=10))
                tasks = run_oktasync(
                    ["tasks", str(cfg), "--json"], env, inprocess=False, timeout=CLIENT_TIMEOUT
                )
                em.control.clear_faults()
                r.tasks_exit = tasks.exit_code
                doc = parse_json(tasks.stdout) or {}
                raw = doc.get("tenants")
                tenants: list[dict[str, Any]] = raw if isinstance(raw, list) else [doc]
                found = {str(f["user"]["id"]) for t in tenants for f in t.get("failures") or []}
                r.failures_expected, r.failures_found = len(expected), len(found & expected)
                if tasks.exit_code != 0:
                    r.fail(f"tasks exit {tasks.exit_code}: {tasks.stderr[-300:]}")
                elif found != expected:
                    r.fail(
                        f"tasks found {len(found & expected)}/{len(expected)} failures, "
                        f"{len(found - expected)} extra"
                    )
                stats = em.control.stats()
                r.api_calls = int(stats.get("total", 0))
                r.http_429 = int((stats.get("by_status") or {}).get("429", 0))
                r.faults_injected = int(stats.get("faults_injected", 0))
                r.wall_s = time.perf_counter() - t0
                results.append(r)
                status = "PASS" if r.ok else "FAIL: " + "; ".join(r.problems)
                print(
                    f"round {number}/{rounds}: {status} (resync exit {r.resync_exit}"
                    f"{f', {r.resumes} --resume' if r.resumes else ''}"
                    f"{f', {r.reruns} re-run' if r.reruns else ''}, "
                    f"tasks {r.failures_found}/{r.failures_expected}, "
                    f"{r.api_calls} calls, {r.faults_injected} faults, {r.http_429} 429s, {r.wall_s:.1f} s)",
                    flush=True,
                )
    passed = sum(1 for r in results if r.ok)
    print(f"soak: {passed}/{rounds} rounds passed in {time.perf_counter() - started:.0f} s")
    if out is not None:
        write_json(
            out,
            {
                "rounds": rounds,
                "passed": passed,
                "org": {"groups": groups, "users": users, "rejected_users": rejected},
                "time_scale": time_scale,
                "faults": faults(0, 25),
                "results": [r.__dict__ for r in results],
            },
        )
    return 0 if passed == rounds else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks soak", description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument(
        "--rejected", type=int, default=5, help="Users the SCIM target rejects (real failures)."
    )
    parser.add_argument("--time-scale", type=float, default=0.05)
    parser.add_argument(
        "--storm-seconds",
        type=float,
        default=0.0,
        help="Time-based 429 storm (real s) instead of 25 requests.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ns = parser.parse_args(argv)
    global STORM_SECONDS
    STORM_SECONDS = ns.storm_seconds
    return run_soak(ns.rounds, ns.groups, ns.users, ns.rejected, ns.time_scale, ns.out)


if __name__ == "__main__":
    sys.exit(main())
