"""`oktasync demo`: the whole runbook on a local emulator and SCIM server, told step by step.

See docs/demo.md.
"""

from __future__ import annotations

import asyncio
import shlex
import signal
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from oktasync.cli.context import echo_err, echo_line, emit_json, json_option, json_text, status_text
from oktasync.errors import EXIT_FAILED, EXIT_OK
from oktasync.playbooks.model import Playbook, Step

_WIDTH = 100


@dataclass
class _Narration:
    """Where the demo's account goes: stdout, or stderr under --json (stdout holds the one document)."""

    err: bool = False


_narration = _Narration()


def _say(*parts: Any) -> None:
    """One line of the demo's account: plain strings and ``status_text`` parts (coloured on a terminal)."""
    if _narration.err:
        echo_err(
            "".join(getattr(part, "plain", part) for part in parts)
        )  # JSON records under --log-format json
    else:
        echo_line(*parts)


def _wrap(label: str, text: str, *, status: str | None = None) -> None:
    """``text`` wrapped under a label; with ``status``, its first word (the mark) coloured by it."""
    prefix = f"  {label:<10}"
    lines = textwrap.wrap(" ".join(text.split()), width=_WIDTH - len(prefix)) or [""]
    first = lines[0]
    if status is not None:
        mark, _, rest = first.partition(" ")
        _say(prefix, status_text(mark, status), f" {rest}" if rest else "")
    else:
        _say(prefix + first)
    for line in lines[1:]:
        _say(" " * len(prefix) + line)


def _proof(step: Step, entry: Mapping[str, Any]) -> list[str]:
    """What the step's result proves, in a sentence or two (from the workflow's own result)."""
    result: Mapping[str, Any] = entry.get("result") or {}
    if entry.get("status") == "skipped":
        return ["nothing to approve: the plan had no changes"]
    if step.action == "apply" and result.get("error"):
        return _stopped_apply_proof(result)
    if result.get("error"):
        return [f"stopped: {result['error']}"]
    if step.action in _PROOF_WITHOUT_RESULT:
        return [_PROOF_WITHOUT_RESULT[step.action]]
    prove = _PROOF_FROM_RESULT.get(step.action)
    return prove(result, entry) if prove else []


def _stopped_apply_proof(result: Mapping[str, Any]) -> list[str]:
    """An apply that stopped still proves what it wrote and read back before it stopped."""
    verified = [a["key"] for a in result.get("actions", []) if a.get("action") == "verified"]
    sent = [a["key"] for a in result.get("actions", []) if a.get("action") == "sent"]
    return [
        f"wrote {len(verified) + len(sent)} setting(s) through their channel and read "
        f"{len(verified)} back ({', '.join(verified) or 'none'})"
        + (f"; {', '.join(sent)} cannot be read back" if sent else ""),
        f"stopped: {result['error']}",
    ]


# Steps whose success proves the same thing every time.
_PROOF_WITHOUT_RESULT = {
    "validate": "the config is well-formed and follows the runbook's rules; no API was called",
    "doctor": "the token works and every setting has a channel that can write and verify it",
    "confirm": "a person would be asked here; the demo answers yes (as --yes does)",
}


def _connector_test_proof(result: Mapping[str, Any], entry: Mapping[str, Any]) -> list[str]:
    counts = result.get("counts", {})
    return [
        f"Okta's connector test would say {result.get('okta_verdict')}; "
        f"{counts.get('pass', 0)} checks passed, {counts.get('fail', 0)} failed"
    ]


def _plan_proof(result: Mapping[str, Any], entry: Mapping[str, Any]) -> list[str]:
    settings = result.get("settings", [])
    changes = [s["label"] for s in settings if s.get("status") == "change"]
    channels = sorted({s["channel"] for s in settings if s.get("channel")})
    return [f"{len(changes)} of {len(settings)} settings differ; channels: {', '.join(channels)}"]


def _apply_proof(result: Mapping[str, Any], entry: Mapping[str, Any]) -> list[str]:
    after = (result.get("after") or {}).get("summary", {})
    written = [a["key"] for a in result.get("actions", []) if a.get("action") == "written"]
    return [
        f"wrote {len(written)} setting(s), then read every one back: "
        f"{after.get('in_sync', '?')} in sync, {after.get('change', '?')} still different"
    ]


def _resync_proof(result: Mapping[str, Any], entry: Mapping[str, Any]) -> list[str]:
    users = result.get("app_users", {})
    before = (users.get("before") or {}).get("total", "?")
    after = (users.get("after") or {}).get("total", "?")
    deactivate = result.get("deactivate_users", {})
    final = deactivate.get("final")
    restored = _on_off(final) if isinstance(final, bool) else "its recorded state"
    return [
        f"{result.get('groups_cycled')} groups unassigned and reassigned with their priorities; "
        f"app users {before} → {after}; Deactivate Users was off during the cycle and is back "
        f"{restored} (read back through the "
        f"{deactivate.get('restored_channel', '?')} channel); nobody was deprovisioned"
    ]


def _tasks_proof(result: Mapping[str, Any], entry: Mapping[str, Any]) -> list[str]:
    failures = result.get("failures", [])
    lines = [
        f"{result.get('failed', 0)} assignment(s) failed after {entry.get('attempts', 1)} check(s); "
        f"{result.get('pending_pushes', 0)} push(es) still in progress"
    ]
    for failure in failures[:5]:
        reason = (failure.get("reason") or {}).get("target") or (failure.get("reason") or {}).get("full")
        lines.append(f"  · {failure['user']['login']}: {reason}")
    if failures:
        lines.append("these need a person (the target refuses them): expected in this demo")
    return lines


def _report_proof(result: Mapping[str, Any], entry: Mapping[str, Any]) -> list[str]:
    summary = result.get("summary", {})
    return [
        f"{summary.get('target_users')} target users: {summary.get('managed', 0)} managed by Okta, "
        f"{summary.get('action_deactivate', 0)} to deactivate (nobody in Okta), "
        f"{summary.get('action_change_email', 0)} whose email changed, "
        f"{summary.get('inactive', 0)} already inactive"
    ]


# Steps whose proof is read from their result (and, for tasks, how many checks it took).
_PROOF_FROM_RESULT: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]] = {
    "test-connector": _connector_test_proof,
    "plan": _plan_proof,
    "apply": _apply_proof,
    "resync": _resync_proof,
    "tasks": _tasks_proof,
    "report": _report_proof,
}


class _DemoReporter:
    """A readable account of each playbook step: the runbook step, what oktasync did, what it proved."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}

    def run_started(self, playbook: Playbook, tenant: str, run_id: str, resumed: bool) -> None:
        verb = "Resuming" if resumed else "Running"
        _say(f"{verb} playbook {playbook.name} ({len(playbook.steps)} steps), run {run_id}")
        _say()

    def step_started(self, step: Step, index: int, total: int, attempt: int) -> None:
        if attempt == 1:
            self.started[step.id] = time.monotonic()
            _say(f"── Step {index}/{total} · {step.name} ({step.action})")
            if step.description:
                _wrap("runbook", step.description)
        else:
            _say(f"  {'':<10}check {attempt}…")

    def step_finished(
        self, step: Step, index: int, total: int, entry: Mapping[str, Any], reused: bool
    ) -> None:
        status = str(entry.get("status"))
        if reused:  # finished in the run this one resumes: already told above
            _say(f"── Step {index}/{total} · {step.name}: done before")
            return
        if status == "skipped":
            _say(f"── Step {index}/{total} · {step.name}: skipped")
        mark = {"ok": "✓", "failed": "✗", "skipped": "–", "declined": "✗"}.get(status, "?")
        seconds = entry.get("seconds")
        took = f" ({seconds:.1f}s)" if isinstance(seconds, int | float) else ""
        note = " — allowed by the playbook (on_failure: continue)" if entry.get("continued") else ""
        _wrap("oktasync", f"{mark} {entry.get('summary')}{took}{note}", status=status)
        for number, line in enumerate(_proof(step, entry)):
            _wrap("proved" if number == 0 else "", line)
        _say()

    def note(self, message: str) -> None:
        _say(f"  {'':<10}{message}")


def _on_off(value: Any) -> str:
    return "on" if value is True else "off" if value is False else str(value)


def _summary(result: Any) -> None:
    facts = result.facts
    _say("═" * 60)
    _say("Final state, read from the emulator and the SCIM server:")
    settings = facts["settings"]
    _say(
        f"  Provisioning: base URL {settings.get('scim_base_url')}, unique identifier "
        f"{settings.get('unique_identifier')}, Push New Users {_on_off(settings.get('push_new_users'))}, "
        f"Push Profile Updates {_on_off(settings.get('push_profile_updates'))}, "
        f"Bearer token {'set' if facts['bearer_token_set'] else 'not set'}"
    )
    _say(
        f"  To App: Create Users {_on_off(settings.get('create_users'))}, Update User Attributes "
        f"{_on_off(settings.get('update_user_attributes'))}, "
        f"Deactivate Users {_on_off(settings.get('deactivate_users'))}"
    )
    switches = " → ".join(_on_off(h["value"]) for h in facts["deactivate_users_history"])
    _say(f"  Deactivate Users over time: {switches}")
    groups = ", ".join(f"{g['group']} ({g['priority']})" for g in facts["group_assignments"])
    _say(f"  {len(facts['group_assignments'])} groups assigned (priority): {groups}")
    states = ", ".join(f"{n} {s}" for s, n in sorted(facts["sync_states"].items()))
    _say(f"  {facts['app_users']} app users: {states}")
    _say(
        f"  SCIM target: {facts['target_users_before']} users before, {facts['target_users']} after; "
        f"{facts['scim_pushes']} pushes, {facts['scim_deactivations']} deactivations"
    )
    if facts["push_errors"]:
        _say(f"  Need attention: {', '.join(facts['push_errors'])} (the target refuses them)")
    retries = _retry_summary(result)
    if retries:
        counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in retries.items())
        _say(f"  Retries of the failed pushes, each read back: {counts}")
        if retries.get("not_taken"):
            _say(
                "    Okta did not re-push them after the profile update (this emulator's default, "
                "retry_repushes_failed=false): retry them by hand in Admin Console > Dashboard > Tasks"
            )
    _say()
    if result.ok:
        how = (
            "settings applied (what the Admin Console page offers through its form, read back; the rest by "
            "the admin's console steps, confirmed)"
            if result.person is not None
            else "settings applied and verified"
        )
        _say(
            status_text("The runbook ran end to end", "ok"),
            f": {how}, every group resynced without deprovisioning anyone, "
            "failed pushes found and each retry read back, unmanaged target users listed.",
        )
    else:
        _say(status_text("The demo did not complete", "failed"), ": see the steps above.")


def _retry_summary(result: Any) -> dict[str, int]:
    """What came of the settle step's last retry attempts (recovered, not taken, ...)."""
    runs = result.playbook.runs
    steps = runs[0].steps if runs else []
    settle = next((s for s in steps if s.get("id") == "settle"), None)
    summary = ((settle or {}).get("result") or {}).get("retry_summary")
    return dict(summary) if isinstance(summary, dict) else {}


def _keep_running(env: Any) -> None:
    _say()
    _say("The emulator and the SCIM server keep running. In another shell:")
    _say()
    for name, value in env.env.items():
        _say(f"  export {name}={shlex.quote(value)}")
    _say(f"  export OKTASYNC_STATE_DIR={shlex.quote(str(env.state_dir))}")
    config = shlex.quote(str(env.config_path))
    _say()
    _say(f"  oktasync plan {config}")
    _say(f"  oktasync tasks {config}")
    _say(f"  oktasync report unmanaged {config}")
    _say(f"  oktasync playbook run verify --config {config}")
    _say()
    _say(f"Okta emulator: {env.emulator.url} (control API: {env.emulator.url}/__emulator/state)")
    _say(f"SCIM server:   {env.scim.base_url}")
    _say("These tokens are throwaway loopback values. Press Ctrl-C to stop.")
    stop = threading.Event()
    # Ctrl-C or SIGTERM (e.g. `kill`, a process manager) end the wait; the servers then stop cleanly.
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(3600):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _say()
    _say("Stopping.")


@click.command("demo")
@click.option("--keep-running", is_flag=True, help="Leave the emulator up and print how to use it.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    help="Where to write the demo config and state (default: a temporary directory, removed at the end).",
)
@click.option(
    "--state-out",
    type=click.Path(dir_okay=False),
    help="Also write the playbook result and the final emulator state as JSON to this file.",
)
@json_option(
    "Print the playbook result and the final state as one JSON document (the account goes to stderr)."
)
@click.option("--users", type=click.IntRange(20, 2000), default=200, show_default=True, hidden=True)
def command(keep_running: bool, workdir: str | None, state_out: str | None, as_json: bool, users: int) -> int:
    """Run the whole Chronosphere runbook end to end on a local Okta emulator and SCIM server.

    Starts both on free loopback ports, seeds a believable org (~200 users, 12 groups, a Chronosphere
    custom SCIM app; a target with unmanaged, email-changed and rejected users), writes a tenant config
    and runs playbooks/chronosphere-onboarding.yaml, explaining each step. Takes well under a minute and
    leaves nothing running, unless --keep-running.
    """
    from oktasync.demo import demo_environment, run_demo

    _narration.err = as_json
    began = time.monotonic()
    with contextlib_dir(workdir, keep=keep_running) as directory:
        _say("Starting a local Okta emulator and a SCIM server (standing in for Chronosphere)…")
        with demo_environment(directory, users=users) as env:
            org = env.org
            _say(
                f"Seeded {len(org.seed['users'])} Okta users in {len(org.seed['groups'])} groups; the "
                f"Chronosphere app is SSO-only (provisioning not set up). The target already holds "
                f"{len(org.target_users)} users, including {len(org.former_employees)} former employees and "
                f"{len(org.email_changed)} people under an old email; it refuses {len(org.rejected)} users."
            )
            _say(
                "The emulator's Admin Console serves the page public evidence shows: no field for the unique "
                "identifier, the authentication mode or the push actions, so those are console steps."
            )
            _say(f"Tenant config: {env.config_path} (secrets come from environment variables)")
            _say()
            result = asyncio.run(run_demo(env, reporter=_DemoReporter()))
            _summary(result)
            _say()
            _say(f"Done in {time.monotonic() - began:.1f}s.")
            if state_out:
                Path(state_out).write_text(json_text(result.to_dict()), encoding="utf-8")
            if as_json:
                emit_json({"exit_code": EXIT_OK if result.ok else EXIT_FAILED, **result.to_dict()})
            if keep_running:
                _keep_running(env)
    return EXIT_OK if result.ok else EXIT_FAILED


class contextlib_dir:  # noqa: N801 - used like a contextlib helper
    """The given directory, or a temporary one removed on exit (kept with ``keep``)."""

    def __init__(self, path: str | None, *, keep: bool) -> None:
        self._given = Path(path) if path else None
        self._keep = keep
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Path:
        if self._given is not None:
            self._given.mkdir(parents=True, exist_ok=True)
            return self._given
        if self._keep:
            return Path(tempfile.mkdtemp(prefix="oktasync-demo-"))
        self._tmp = tempfile.TemporaryDirectory(prefix="oktasync-demo-")
        return Path(self._tmp.name)

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
