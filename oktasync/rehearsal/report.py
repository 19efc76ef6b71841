"""The rehearsal report: what the run did to the copy of the org, and what that predicts for the real one.

Everything is read from the emulator's control API and the local SCIM target after the run, never from
oktasync's own results, and every list is sorted, so the same snapshot and playbook give the same report
apart from the fields under ``timings`` and the ``*_seconds`` figures.

Predicted wall time is a model, per step, at the org's real limits: the longest of

* the rate-limit bound: for each bucket, a step that needs more requests than the usable share of a minute
  (limit minus the config's ``rate_limit_headroom``) waits for ``ceil(requests / usable) - 1`` window resets
  of 60 s; the step's bound is its slowest bucket;
* the latency bound: its requests one after another at the snapshot's median latency;
* the step's own time in the rehearsal (the playbook's own waits between attempts are not scaled).

Okta's own background work (pushing users to the target) is not modelled beyond what the rehearsal shows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oktasync.rehearsal.rehearse import RehearsalEnvironment, RehearsalRun, StepMeasure

from oktasync.rehearsal.snapshot import event_user
from oktasync.timestamps import parse_time

REPORT_VERSION = 1


def parse_iso(value: str) -> float:
    """Epoch seconds of an Okta timestamp (``2026-12-05T01:02:03.456Z``)."""
    return parse_time(value).timestamp()


def _usable(limit: int, headroom: float) -> int:
    return max(1, limit - math.ceil(limit * headroom))


def predict_step_seconds(
    step: StepMeasure, limits: dict[str, int], latency_ms: float | None, headroom: float
) -> float:
    rate_bound = 0.0
    for bucket, calls in step.calls_by_bucket.items():
        limit = limits.get(bucket)
        if not limit or calls <= 0:
            continue
        rate_bound = max(rate_bound, 60.0 * (math.ceil(calls / _usable(limit, headroom)) - 1))
    latency_bound = sum(step.calls_by_bucket.values()) * (latency_ms or 0.0) / 1000.0
    return max(rate_bound, latency_bound, step.seconds)


def build_report(env: RehearsalEnvironment, run: RehearsalRun) -> dict[str, Any]:
    """The report of one run, read from the emulator and the target after it (see the module docstring)."""
    snapshot = env.snapshot
    state = env.emulator.control.state()
    app = next(a for a in state["apps"] if a["id"] == snapshot["app"]["id"])
    limits = {str(k): int(v) for k, v in (snapshot.get("rate_limits") or {}).items()}
    latency = (snapshot.get("latency") or {}).get("median_ms")
    headroom = float(snapshot["config"]["okta"].get("rate_limit_headroom", 0.1))
    logins = {u["id"]: u.get("login") or u["id"] for u in snapshot["users"]}
    totals = _step_totals(run, limits, latency, headroom)
    scaled = run.finished - run.started
    waits = [{"step": c["step"], "kind": "confirm", "detail": c["message"]} for c in run.confirms]
    waits += run.waits
    return {
        "report_version": REPORT_VERSION,
        "snapshot": _snapshot_summary(snapshot),
        "run": {"kind": run.kind, "name": run.name, "status": run.status, "exit_code": run.exit_code},
        "calls": {
            "total": sum(totals.calls.values()),
            "by_bucket": dict(sorted(totals.calls.items())),
            # Steps that wait for Okta's background work (an `until` step polling for the pushes, a resync
            # listing app users until Okta's group jobs are done) make as many requests as that work takes
            # time: this part of the total is a timing figure, the rest is reproducible.
            "polling": totals.polling_calls,
        },
        "rate_limits": dict(sorted(limits.items())),
        "steps": totals.rows,
        "timings": {
            "predicted_seconds": round(totals.predicted, 1),
            "rehearsal_seconds": round(scaled, 2),
            "time_scale": env.time_scale,
            "latency_median_ms": latency,
        },
        "unassigned": _unassigned(env, run, state, app["id"], totals),
        "failures": _failures(state, app, logins, snapshot),
        "not_linked": _not_linked(env, state, app, logins),
        "waits_for_person": waits,
        "final_vs_snapshot": _final_vs_snapshot(snapshot, app, env),
    }


# --- pieces ---------------------------------------------------------------------------------------------
@dataclass
class _StepTotals:
    """The report's row for each step, and the sums over all of them."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    polling_calls: int = 0
    predicted: float = 0.0


def _step_totals(
    run: RehearsalRun, limits: dict[str, int], latency: float | None, headroom: float
) -> _StepTotals:
    totals = _StepTotals()
    for step in run.steps:
        for bucket, n in step.calls_by_bucket.items():
            totals.calls[bucket] += n
        step_predicted = predict_step_seconds(step, limits, latency, headroom)
        # Waits for Okta's background work: an `until` step's attempts, a resync's job polls.
        waits_for_okta = step.polls or step.job_polls > 0
        if waits_for_okta:
            totals.polling_calls += sum(step.calls_by_bucket.values())
        totals.predicted += step_predicted
        totals.rows.append(
            {
                "id": step.id,
                "action": step.action,
                "status": step.status,
                "calls": sum(step.calls_by_bucket.values()),
                "polls": waits_for_okta,
                "attempts": step.attempts,
                "job_polls": step.job_polls,
                "calls_by_bucket": dict(sorted(step.calls_by_bucket.items())),
                "predicted_seconds": round(step_predicted, 1),
                "rehearsal_seconds": round(step.seconds, 2),
            }
        )
    return totals


def _snapshot_summary(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "taken": snapshot.get("taken"),
        "pseudonymised": snapshot.get("pseudonymised"),
        "app": snapshot["app"]["label"],
        "groups": len(snapshot["groups"]),
        "app_users": len(snapshot["app_users"]),
        "target_users": None if snapshot.get("target") is None else len(snapshot["target"]["users"]),
    }


def _unassigned(
    env: RehearsalEnvironment, run: RehearsalRun, state: dict[str, Any], app_id: str, totals: _StepTotals
) -> list[dict[str, Any]]:
    """Per assigned group, how long its users were without the app, rehearsed and predicted."""
    scaled = run.finished - run.started
    events = _membership_events(state, app_id, run.started)
    # A group's users are without the app during the resync: its predicted / rehearsed time is the
    # lower scale; the upper one takes every rehearsed second of the gap as a scaled rate-limit wait.
    resync = [s for s in totals.rows if s["action"] == "resync" and s["rehearsal_seconds"] > 0]
    if resync:
        ratio = resync[0]["predicted_seconds"] / resync[0]["rehearsal_seconds"]
    else:
        ratio = totals.predicted / scaled if scaled else 1.0
    return _unassigned_by_group(
        env.snapshot, events, run.finished, ratio=max(1.0, ratio), upper=1.0 / env.time_scale
    )


def _membership_events(state: dict[str, Any], app_id: str, since: float) -> list[tuple[float, str, str]]:
    """(time, user id, add|remove) of the app's membership changes during the run, oldest first."""
    out = []
    for event in state.get("events") or []:
        kind = event.get("eventType")
        if kind not in ("application.user_membership.add", "application.user_membership.remove"):
            continue
        at = parse_iso(event["published"])
        if at < since - 1:
            continue
        targets = event.get("target") or []
        if not any(t.get("type") == "AppInstance" and t.get("id") == app_id for t in targets):
            continue
        user = event_user(targets)
        if user:
            out.append((at, str(user["id"]), "add" if kind.endswith(".add") else "remove"))
    out.sort()
    return out


def _unassigned_by_group(
    snapshot: dict[str, Any],
    events: list[tuple[float, str, str]],
    end: float,
    *,
    ratio: float,
    upper: float,
) -> list[dict[str, Any]]:
    """Per assigned group: how many of its users lost the app during the run, and for how long at most."""
    gaps: dict[str, float] = {}
    still: set[str] = set()
    open_since: dict[str, float] = {}
    for at, user, kind in events:
        if kind == "remove":
            open_since[user] = at
        elif user in open_since:
            gaps[user] = max(gaps.get(user, 0.0), at - open_since.pop(user))
    for user, since in open_since.items():
        still.add(user)
        gaps[user] = max(gaps.get(user, 0.0), end - since)
    rows = []
    for group in snapshot["groups"]:
        members = [m for m in group["members"] if m in gaps]
        longest = max((gaps[m] for m in members), default=0.0)
        rows.append(
            {
                "group": group["name"],
                "priority": group["priority"],
                "users": len(group["members"]),
                "users_without_app": len(members),
                "still_without_app": sum(1 for m in members if m in still),
                "longest_rehearsal_seconds": round(longest, 2),
                "longest_predicted_seconds": round(longest * ratio, 1),
                "longest_predicted_upper_seconds": round(longest * max(ratio, upper), 1),
            }
        )
    return rows


def _last_failure_reasons(state: dict[str, Any], app_id: str) -> dict[str, str]:
    reasons: dict[str, str] = {}
    for event in state.get("events") or []:
        if not str(event.get("eventType", "")).startswith("application.provision.user."):
            continue
        targets = event.get("target") or []
        if not any(t.get("type") == "AppInstance" and t.get("id") == app_id for t in targets):
            continue
        user = event_user(targets)
        if user is None:
            continue
        outcome = event.get("outcome") or {}
        if outcome.get("result") == "FAILURE":
            # A failed push is followed by a sync event that may carry no reason: keep the push's.
            if outcome.get("reason") or str(user["id"]) not in reasons:
                reasons[str(user["id"])] = str(outcome.get("reason") or "")
        else:
            reasons.pop(str(user["id"]), None)
    return reasons


def _failures(
    state: dict[str, Any], app: dict[str, Any], logins: dict[str, str], snapshot: dict[str, Any]
) -> list[dict[str, Any]]:
    """App users whose push failed at the end of the run, with Okta's reason (target's half included)."""
    reasons = _last_failure_reasons(state, app["id"])
    known = {f["user"] for f in snapshot.get("push_failures") or []}
    rows = []
    for au in app.get("app_users") or []:
        if au.get("sync_state") != "ERROR":
            continue
        uid = au["user"]
        rows.append(
            {
                "user": logins.get(uid, uid),
                "user_name": au.get("user_name"),
                "status": au.get("status"),
                "reason": reasons.get(uid, "sync state ERROR (no System Log reason)"),
                "failed_before": uid in known,
            }
        )
    return sorted(rows, key=lambda r: str(r["user"]))


def _not_linked(
    env: RehearsalEnvironment, state: dict[str, Any], app: dict[str, Any], logins: dict[str, str]
) -> list[dict[str, Any]]:
    """Users whose push created a new target user instead of linking to an existing one, and why."""
    snapshot = env.snapshot
    if snapshot.get("target") is None:
        return []
    by_name: dict[tuple[str, str], list[str]] = defaultdict(list)
    for t in snapshot["target"]["users"]:
        by_name[(str(t.get("given_name")), str(t.get("family_name")))].append(str(t.get("user_name")))
    names = {u["id"]: (str(u.get("firstName")), str(u.get("lastName"))) for u in snapshot["users"]}
    rows = {}
    for call in state.get("scim_calls") or []:
        if call.get("app_id") != app["id"] or call.get("method") != "POST" or call.get("path") != "/Users":
            continue
        uid = str(call["user_id"])
        user_name = call.get("userName")
        why = f"no target user has userName {user_name}: Okta creates a new one"
        namesakes = [n for n in by_name.get(names.get(uid, ("", "")), []) if n != user_name]
        if namesakes:
            why += f"; a target user of the same name is {', '.join(sorted(namesakes))} (email changed?)"
        ok = isinstance(call.get("status"), int) and 200 <= int(call["status"]) < 300
        rows[uid] = {
            "user": logins.get(uid, uid),
            "user_name": user_name,
            "why": why,
            "created": ok,
        }
    return sorted(rows.values(), key=lambda r: str(r["user"]))


def _counts(items: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for item in items:
        out[str(item.get(key))] += 1
    return dict(sorted(out.items()))


def _final_vs_snapshot(
    snapshot: dict[str, Any], app: dict[str, Any], env: RehearsalEnvironment
) -> dict[str, Any]:
    before = {g["id"]: g for g in snapshot["groups"]}
    after = {g["group"]: g for g in app.get("groups") or []}
    names = {g["id"]: g["name"] for g in snapshot["groups"]}
    lost = sorted(names.get(g, g) for g in before if g not in after)
    added = sorted(names.get(g, g) for g in after if g not in before)
    changed = sorted(
        names.get(g, g)
        for g in before
        if g in after
        and (
            before[g]["priority"] != after[g].get("priority")
            or (before[g]["profile"] or {}) != (after[g].get("profile") or {})
        )
    )
    settings_after = {
        k: v for k, v in (app.get("settings") or {}).items() if k not in ("bearer_token", "scim_base_url")
    }
    settings_after["scim_base_url_set"] = bool((app.get("settings") or {}).get("scim_base_url"))
    settings_after["bearer_token_set"] = bool((app.get("settings") or {}).get("bearer_token"))
    settings_before = snapshot["app"].get("settings") or {}
    settings_changed = {
        k: {"before": settings_before.get(k), "after": v}
        for k, v in sorted(settings_after.items())
        if settings_before.get(k) is not None and settings_before.get(k) != v
    }
    app_users_after = app.get("app_users") or []
    target_before = len((snapshot.get("target") or {}).get("users") or [])
    return {
        "group_assignments": {
            "before": len(before),
            "after": len(after),
            "lost": lost,
            "added": added,
            "changed": changed,
        },
        "app_users": {
            "before": len(snapshot["app_users"]),
            "after": len(app_users_after),
            "status_before": _counts(snapshot["app_users"], "status"),
            "status_after": _counts(app_users_after, "status"),
            "sync_state_before": _counts(snapshot["app_users"], "sync_state"),
            "sync_state_after": _counts(app_users_after, "sync_state"),
        },
        "settings_changed": settings_changed,
        "target_users": {"before": target_before, "after": len(env.scim.users())},
    }


# --- rendering ---------------------------------------------------------------------------------------------
def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _target_phrase(count: int | None) -> str:
    return "the target was not read" if count is None else f"{count} target users"


def render_markdown(report: dict[str, Any], *, limit: int = 50) -> str:
    """The report for a change ticket (lists longer than ``limit`` are cut, with the count)."""
    snap, run, timings = report["snapshot"], report["run"], report["timings"]
    lines = [
        f"# Rehearsal: {run['name']} on {snap['app']}",
        "",
        f"Snapshot taken {snap['taken']} ({'pseudonymised' if snap['pseudonymised'] else 'real values'}): "
        f"{snap['groups']} assigned groups, {snap['app_users']} app users, "
        f"{_target_phrase(snap['target_users'])}.",
        f"Outcome: **{run['status']}** (exit code {run['exit_code']}).",
        "",
        "## API calls and time",
        "",
        f"{report['calls']['total']} Okta API calls. Predicted wall time at the org's limits: "
        f"**{_duration(timings['predicted_seconds'])}** "
        f"(the rehearsal took {timings['rehearsal_seconds']:.1f} s at time scale {timings['time_scale']}).",
        "",
        "| bucket | calls | limit/min |",
        "|---|---:|---:|",
    ]
    for bucket, n in report["calls"]["by_bucket"].items():
        # A bucket the snapshot never used has no observed limit: the emulator applies Okta's published one.
        per_minute = report["rate_limits"].get(bucket, "not seen (Okta's default)")
        lines.append(f"| `{bucket}` | {n} | {per_minute} |")
    lines += _steps_section(report)
    lines += _unassigned_section(report, limit)
    lines += _user_lists_section(report, limit)
    lines += _final_section(report)
    return "\n".join(lines)


def _steps_section(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    lines += ["", "| step | status | calls | predicted |", "|---|---|---:|---:|"]
    for step in report["steps"]:
        polls = ""
        if step["attempts"] > 1:
            polls = f" in {step['attempts']} attempts"
        elif step["job_polls"]:
            polls = f" ({step['job_polls']} listings while Okta's jobs ran)"
        lines.append(
            f"| {step['id']} ({step['action']}) | {step['status']} | {step['calls']}{polls} | "
            f"{_duration(step['predicted_seconds'])} |"
        )
    if report["calls"]["polling"]:
        per_poll = ", ".join(
            f"{s['id']} about {s['calls'] / s['attempts']:.0f} per attempt"
            for s in report["steps"]
            if s["polls"] and s["attempts"] > 1
        )
        lines += [
            "",
            f"{report['calls']['polling']} of the calls come from steps that poll until Okta's pushes are "
            "done: how often they poll follows how fast the pushes go (here, the local target's speed)"
            + (f"; each attempt costs the same ({per_poll})." if per_poll else "."),
        ]
    return lines


def _unassigned_section(report: dict[str, Any], limit: int) -> list[str]:
    lines: list[str] = []
    lines += ["", "## Users without the assignment", ""]
    hit = [g for g in report["unassigned"] if g["users_without_app"]]
    if not hit:
        lines.append("No user lost the app during the run.")
    else:
        lines += [
            "| group | users | without the app | longest (predicted range) | still without |",
            "|---|---:|---:|---:|---:|",
        ]
        for g in hit[:limit]:
            lines.append(
                f"| {g['group']} | {g['users']} | {g['users_without_app']} | "
                f"{_duration(g['longest_predicted_seconds'])} – "
                f"{_duration(g['longest_predicted_upper_seconds'])} | {g['still_without_app']} |"
            )
        if len(hit) > limit:
            lines.append(f"| … {len(hit) - limit} more groups | | | | |")
    return lines


def _user_lists_section(report: dict[str, Any], limit: int) -> list[str]:
    """The users that will fail, the users that will not link, and the steps that wait for a person."""
    lines: list[str] = []
    lines += ["", f"## Users that will fail ({len(report['failures'])})", ""]
    for row in report["failures"][:limit]:
        before = " (failed before too)" if row["failed_before"] else ""
        lines.append(f"- `{row['user']}`{before}: {row['reason']}")
    if len(report["failures"]) > limit:
        lines.append(f"- … {len(report['failures']) - limit} more")
    lines += ["", f"## Users that will not link to an existing target user ({len(report['not_linked'])})", ""]
    for row in report["not_linked"][:limit]:
        refused = "" if row["created"] else " (the target refused the new user: see above)"
        lines.append(f"- `{row['user']}`: {row['why']}{refused}")
    if len(report["not_linked"]) > limit:
        lines.append(f"- … {len(report['not_linked']) - limit} more")
    lines += ["", "## Steps that wait for a person", ""]
    for wait in report["waits_for_person"]:
        lines.append(f"- {wait['step']} ({wait['kind']}): {wait['detail']}")
    if not report["waits_for_person"]:
        lines.append("None.")
    return lines


def _final_section(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    final = report["final_vs_snapshot"]
    ga, au = final["group_assignments"], final["app_users"]
    lines += [
        "",
        "## Final state versus the snapshot",
        "",
        f"- group assignments: {ga['before']} → {ga['after']} (lost {len(ga['lost'])}, "
        f"added {len(ga['added'])}, priority or profile changed {len(ga['changed'])})",
        f"- app users: {au['before']} → {au['after']}; status {au['status_before']} → {au['status_after']}; "
        f"sync state {au['sync_state_before']} → {au['sync_state_after']}",
        f"- settings changed: {final['settings_changed'] or 'none'}",
        f"- target users: {final['target_users']['before']} → {final['target_users']['after']}",
        "",
    ]
    return lines


def render_text(report: dict[str, Any]) -> str:
    return render_markdown(report, limit=20)
