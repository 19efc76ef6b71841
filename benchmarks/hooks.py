"""``python -m benchmarks hooks``: deliveries per second the event hook receiver sustains, and its memory.

The receiver runs as a real process (``oktasync hooks serve``) against the in-process emulator (for the app
lookup at start); a load generator POSTs Okta-shaped deliveries with the right secret from 16 concurrent
connections, as Okta's delivery workers would. Each delivery carries provisioning events of the app (the
receiver keeps, stores durably and applies them), so every answer includes an fsynced inbox write. Reported:

* accepted deliveries per second (200s over the wall time of the load), and the answer latency (p50/p99/max)
  against Okta's 3-second limit;
* how long after the last answer the worker had applied everything (inbox empty);
* the receiver's peak resident memory (VmHWM from /proc).

Takes well under two minutes. ``--deliveries N --batch K --concurrency C`` change the load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from oktasync.emulator.testing import API_TOKEN, CUSTOM_APP_ID, run_emulator, standard_seed
from oktasync.workflows.hooks.inbox import Inbox

SECRET = "benchmark-hook-secret-6f1d0c"


def _config(directory: Path, org_url: str) -> Path:
    path = directory / "bench.yaml"
    path.write_text(
        f"""tenant: bench
okta:
  org_url: {org_url}
  token: "{{{{ env.OKTA_API_TOKEN }}}}"
app:
  id: {CUSTOM_APP_ID}
scim:
  base_url: https://bench.example.com/scim/v2
  auth:
    bearer_token: "{{{{ env.OKTA_API_TOKEN }}}}"
event_hook:
  secret: "{{{{ env.OKTA_EVENT_HOOK_SECRET }}}}"
"""
    )
    return path


def _event(index: int) -> dict[str, Any]:
    user = f"00ubench{index:012d}"
    return {
        "uuid": str(uuid.uuid4()),
        "published": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "eventType": "application.provision.user.push",
        "outcome": {"result": "SUCCESS", "reason": None},
        "target": [
            {"id": user, "type": "User", "alternateId": f"user{index}@example.com"},
            {"id": CUSTOM_APP_ID, "type": "AppInstance", "alternateId": "Chronosphere"},
        ],
    }


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _load(url: str, deliveries: int, batch: int, concurrency: int) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(deliveries):
        queue.put_nowait(index)
    headers = {"Authorization": SECRET, "Content-Type": "application/json"}

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while not queue.empty():
            index = queue.get_nowait()
            body = {
                "eventType": "com.okta.event_hook",
                "data": {"events": [_event(index * batch + k) for k in range(batch)]},
            }
            started = time.perf_counter()
            response = await client.post(url, content=json.dumps(body), headers=headers)
            latencies.append(time.perf_counter() - started)
            failures += response.status_code != 200

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=3.0, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, failures, wall


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(deliveries: int, batch: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, run_emulator(standard_seed(), api_token=API_TOKEN) as em:
        directory = Path(tmp)
        config = _config(directory, em.url)
        env = {
            **os.environ,
            "OKTA_API_TOKEN": API_TOKEN,
            "OKTA_EVENT_HOOK_SECRET": SECRET,
            "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK": "true",
            "OKTASYNC_STATE_DIR": str(directory / "state"),
        }
        port = 18000 + os.getpid() % 1000
        proc = subprocess.Popen(
            [sys.executable, "-m", "oktasync", "hooks", "serve", str(config), "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the receiver did not start")
                time.sleep(0.1)
            rss_idle = _peak_rss_mb(proc.pid)
            latencies, failures, wall = asyncio.run(
                _load(base + "/okta/event-hooks/bench", deliveries, batch, concurrency)
            )
            answered = time.perf_counter()
            inbox = Inbox(directory / "state" / "bench" / CUSTOM_APP_ID)
            while inbox.pending():
                time.sleep(0.05)
            drain = time.perf_counter() - answered
            rss_peak = _peak_rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    return {
        "deliveries": deliveries,
        "events_per_delivery": batch,
        "concurrency": concurrency,
        "non_200": failures,
        "wall_s": round(wall, 2),
        "deliveries_per_s": round(deliveries / wall, 1),
        "events_per_s": round(deliveries * batch / wall, 1),
        "latency_ms": {
            "p50": round(_percentile(latencies, 0.5) * 1000, 1),
            "p99": round(_percentile(latencies, 0.99) * 1000, 1),
            "max": round(max(latencies) * 1000, 1),
        },
        "applied_after_last_answer_s": round(drain, 2),
        "rss_mb": {"idle": round(rss_idle, 1), "peak": round(rss_peak, 1)},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks hooks", description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, action="append", help="events per delivery (repeatable)")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    results = [run(args.deliveries, batch, args.concurrency) for batch in (args.batch or [1, 50])]
    print(
        "| events/delivery | deliveries/s | events/s | answer p50 / p99 / max (ms) | non-200 "
        "| applied after last answer | peak RSS |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        lat = r["latency_ms"]
        print(
            f"| {r['events_per_delivery']} | {r['deliveries_per_s']} | {r['events_per_s']} "
            f"| {lat['p50']} / {lat['p99']} / {lat['max']} | {r['non_200']} "
            f"| {r['applied_after_last_answer_s']} s | {r['rss_mb']['peak']} MB |"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r["non_200"] == 0 for r in results) else 1
