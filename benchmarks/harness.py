"""The measuring harness: scales, one measured run, the rate-limit floor, the table and the JSON.

A *run* is one side (``oktasync`` or ``baseline``) of one scenario against a freshly seeded emulator. The
harness zeroes the emulator's request counters and starts fresh rate-limit windows, times the client from
start to exit, then reads the counters back (``GET /__emulator/stats``: requests per route and bucket,
responses per status). Nothing the harness itself does through the control API is counted: the control API
is outside the Okta routes.

Time scaling (oktasync/emulator/ratelimit.py): with ``time_scale`` s a rate-limit window lasts ``60·s`` real
seconds while the headers still announce the per-minute limit, so a client that paces by the headers runs
``1/s`` times faster than against Okta. ``emulated_s = wall_s / s`` converts back to Okta time.
``X-Rate-Limit-Reset`` keeps Okta's one-second resolution in *emulated* seconds (decimals at s < 1), so a
client waiting for a reset loses the same share of a window as against Okta. What does not scale, and makes
emulated figures pessimistic: CPU time (start-up, parsing), and the SDK's backoff of ``Reset − Date + 1``
whole real seconds (the baseline's extra second is a sixth of a 6-second window at s = 0.1, a sixtieth of
Okta's minute). Scenarios whose floor is short next to their CPU time run at a slower scale
(``Scale.tasks_time_scale``).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from oktasync.emulator.ratelimit import DEFAULT_CLIENT_SHARE, client_ceiling

# Okta's per-minute org limits (Workforce column; oktasync/emulator/ratelimit.py), as the emulator enforces
# them. One API token may use only its share of each (CLIENT_SHARE, Okta's default 50%), so the floor of a
# single oktasync run is computed on the share.
CLIENT_SHARE = DEFAULT_CLIENT_SHARE
LIMITS: dict[str, int] = {
    "/api/v1/apps": 100,
    "/api/v1/apps/{id}": 500,
    "/api/v1/logs": 120,
    "/api/v1/groups": 500,
    "/api/v1/groups/{id}": 1000,
    "/api/v1/users": 600,
    "/api/v1/users/{id:.+}": 2000,
    "/api/v1": 1200,
    "/admin": 1200,
}
WINDOW_S = 60.0


@dataclass(frozen=True)
class Scale:
    name: str
    resync_groups: int
    resync_users: int
    tasks_users: int
    tasks_failures: int
    tasks_new_failures: int  # failures that happen between the first and the incremental run
    plan_tenants: int
    startup_runs: int
    time_scale: float
    inprocess: bool = False  # run clients in this process (tests: no 5 s `import okta.client` per run)
    # The tasks scan's floor is one 60 s window; scaled to 6 s it would be comparable to the CPU time of
    # reading 50,000 app users, which does not scale. Run slower (real time in "full") so that its ratio to
    # the floor measures Okta's limits, not this machine's parsing speed (docs/benchmarks.md, "Time scaling").
    tasks_time_scale: float | None = None

    @property
    def tasks_scale(self) -> float:
        return self.tasks_time_scale or self.time_scale


SCALES: dict[str, Scale] = {
    # The sizes. s = 0.1: a 60 s window lasts 6 s, so the 20-emulated-minute resync takes ~2 min.
    # tasks runs in real time (s = 1): its floor is one window, so it finishes in minutes unscaled.
    "full": Scale("full", 1000, 20000, 50000, 500, 10, 25, 5, 0.1, tasks_time_scale=1.0),
    "quick": Scale("quick", 200, 4000, 10000, 100, 5, 5, 3, 0.05),
    # Tests: seconds, limits never bind.
    "tiny": Scale("tiny", 6, 60, 150, 4, 2, 2, 1, 0.01, inprocess=True),
}


def floor_seconds(
    min_calls: Mapping[str, int], limits: Mapping[str, int] | None = None, share: float = CLIENT_SHARE
) -> float:
    """The least (emulated) time Okta's limits allow one API token for ``min_calls`` requests per bucket.

    Okta's windows are fixed 60 s counters (rl2-monitor: "typically reset every 60 seconds"), and one token
    may use ``share`` of each bucket (rl2-token-oauth: 50% by default), so its ceiling is
    ``c = floor(limit × share)``. Starting on a fresh window, ``n`` requests need ``ceil(n / c)`` windows and
    the last one can be used the moment it opens: ``(ceil(n / c) - 1) · 60 s``. Zero means the limits do not
    bind (the job fits in the first window); buckets are independent, so the slowest one decides.
    """
    limits = limits or LIMITS
    worst = 0.0
    for bucket, n in min_calls.items():
        if n <= 0:
            continue
        ceiling = client_ceiling(limits.get(bucket, LIMITS["/api/v1"]), share)
        worst = max(worst, (math.ceil(n / ceiling) - 1) * WINDOW_S)
    return worst


@dataclass
class Run:
    """One measured side of one scenario. ``status``: measured | not measured | error."""

    scenario: str
    side: str
    status: str = "measured"
    wall_s: float | None = None
    time_scale: float = 1.0
    calls: int | None = None
    calls_by_bucket: dict[str, int] = field(default_factory=dict)
    calls_by_route: dict[str, int] = field(default_factory=dict)
    http_429: int | None = None
    min_calls: dict[str, int] = field(default_factory=dict)
    floor_s: float | None = None  # emulated seconds
    ok: bool | None = None  # did the job's result check pass (nothing lost, everything found)
    result: str = ""
    exit_code: int | None = None
    # The client's own peak resident memory (a subprocess measured apart from the emulator); None in process.
    client_peak_rss_mb: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def emulated_s(self) -> float | None:
        return None if self.wall_s is None else self.wall_s / self.time_scale

    @property
    def floor_wall_s(self) -> float | None:
        return None if self.floor_s is None else self.floor_s * self.time_scale

    @property
    def floor_ratio(self) -> float | None:
        if self.emulated_s is None or not self.floor_s:
            return None
        return self.emulated_s / self.floor_s

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["emulated_s"] = self.emulated_s
        doc["floor_wall_s"] = self.floor_wall_s
        doc["floor_ratio"] = self.floor_ratio
        return doc


def apply_stats(run: Run, stats: Mapping[str, Any]) -> None:
    run.calls = int(stats.get("total", 0))
    run.calls_by_bucket = {str(k): int(v) for k, v in (stats.get("by_bucket") or {}).items()}
    run.http_429 = int((stats.get("by_status") or {}).get("429", 0))
    run.calls_by_route = {str(k): int(v) for k, v in (stats.get("by_route") or {}).items()}


def not_measured(scenario: str, side: str, why: str) -> Run:
    return Run(scenario, side, status="not measured", result=why)


# --- running clients ------------------------------------------------------------------------------------
@dataclass
class Completed:
    exit_code: int
    stdout: str
    stderr: str
    wall_s: float
    peak_rss_mb: float | None = None


def run_subprocess(
    argv: Sequence[str], env: Mapping[str, str], timeout: float, cwd: str | None = None
) -> Completed:
    """Run a client to completion and measure its own peak memory.

    The peak is the child's ``VmHWM`` (the high-water mark of the memory image ``exec`` gave it), read while
    it runs. Its rusage ``ru_maxrss`` would not do: Linux carries the parent's peak into a forked child, and
    the parent here hosts the emulator and its org."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(argv), env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd
    )
    with ThreadPoolExecutor(2) as readers:
        stdout = readers.submit(proc.stdout.read)  # type: ignore[union-attr]
        stderr = readers.submit(proc.stderr.read)  # type: ignore[union-attr]
        status, peak_kb = _wait_with_peak(proc, timeout)
        out, err = stdout.result(), stderr.result()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak_mb = None if peak_kb is None else peak_kb / 1024
    return Completed(proc.returncode, out, err, time.perf_counter() - start, peak_mb)


def _high_water_kb(pid: int) -> int | None:
    """The process's VmHWM in kB, None once it is gone (or off Linux)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _wait_with_peak(proc: subprocess.Popen[str], timeout: float) -> tuple[int, int | None]:
    """Poll until the child exits (reaping it here), keeping the highest VmHWM seen. A zombie's status no
    longer shows VmHWM, so the last reading is taken from the living process, at most 10 ms before exit."""
    deadline = time.monotonic() + timeout
    peak: int | None = None
    while True:
        reading = _high_water_kb(proc.pid)
        if reading is not None:
            peak = max(peak or 0, reading)
        pid, status = os.waitpid(proc.pid, os.WNOHANG)
        if pid:
            return status, peak
        if time.monotonic() > deadline:
            proc.kill()
            os.waitpid(proc.pid, 0)
            proc.returncode = -9
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(0.01)


@contextlib.contextmanager
def patched_environ(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_oktasync(
    args: Sequence[str], env: Mapping[str, str], *, inprocess: bool, timeout: float
) -> Completed:
    """The real CLI: a subprocess (what users run), or ``oktasync.cli.main`` in this process (tests)."""
    if not inprocess:
        return run_subprocess([sys.executable, "-m", "oktasync", *args], {**os.environ, **env}, timeout)
    from oktasync.cli import main

    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with patched_environ(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return Completed(code, out.getvalue(), err.getvalue(), time.perf_counter() - start)


def parse_json(text: str) -> Any:
    """The one JSON document a ``--json`` command prints (None if there is none)."""
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        start = text.find("{")
        if start >= 0:
            try:
                return json.loads(text[start:])
            except ValueError:
                return None
        return None


def median_wall(fn: Callable[[], float], n: int) -> float:
    return statistics.median(fn() for _ in range(max(1, n)))


# --- rendering --------------------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds >= 120:
        return f"{seconds / 60:,.1f} min"
    return f"{seconds:,.1f} s"


def markdown_table(runs: Sequence[Run]) -> str:
    head = (
        "| scenario | side | API calls | `/apps` bucket | 429s | wall | emulated (Okta) time | "
        "rate-limit floor | × floor | client peak RSS | result |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    rows = [head]
    for r in runs:
        if r.status != "measured":
            rows.append(
                f"| {r.scenario} | {r.side} | – | – | – | – | – | – | – | – | {r.status}: {r.result} |"
            )
            continue
        apps_n = r.calls_by_bucket.get("/api/v1/apps")
        apps = "–" if apps_n is None else f"{apps_n:,}"
        n429 = "–" if r.http_429 is None else f"{r.http_429:,}"
        ratio = r.floor_ratio
        mark = "" if r.ok is None else ("✅ " if r.ok else "❌ ")
        rows.append(
            f"| {r.scenario} | {r.side} | {_fmt(r.calls, 0) if r.calls is not None else '–'} | "
            f"{apps} | {n429} | "
            f"{_fmt(r.wall_s, 2)} s | {_duration(r.emulated_s) if r.time_scale != 1.0 else '–'} | "
            f"{_duration(r.floor_s) if r.floor_s is not None else '–'} | "
            f"{'–' if ratio is None else f'{ratio:.2f}×'} | "
            f"{'–' if r.client_peak_rss_mb is None else f'{r.client_peak_rss_mb:.0f} MB'} | "
            f"{mark}{r.result} |"
        )
    return "\n".join(rows)


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
