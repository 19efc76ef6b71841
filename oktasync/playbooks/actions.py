"""The implementation of each playbook action: a thin adapter over the workflow library functions.

Each adapter calls the same async function the CLI command calls (never the CLI), and turns its result into
a ``StepOutcome``: the result's ``to_dict()``, its exit code and a one-line summary. Workflows are imported
inside the adapters, so a playbook that only validates never imports the okta SDK.

``--dry-run`` (``context.dry_run``): read-only actions run as usual; ``apply`` runs ``plan`` instead and
reports what it would change; ``resync`` and ``tasks`` use their own dry-run / list-only modes; ``confirm``
is not asked; ``notify`` sends nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from oktasync.errors import EXIT_CHANGES
from oktasync.playbooks.context import ActionContext, ActionImpl, StepOutcome


async def _validate(context: ActionContext, args: dict[str, Any]) -> StepOutcome:
    # The runner loaded (and so validated) every config before the first step; load again so this step
    # proves the file as it is now, and reports what it found.
    from oktasync.config import load_tenant

    config = load_tenant(context.config_path)
    app = config.app.label or config.app.id
    result = {
        "file": context.config_path,
        "valid": True,
        "tenant": config.tenant,
        "app": app,
        "org_url": config.okta.org_url,
        "scim_base_url": config.scim.base_url,
        "admin_session": config.okta.admin_session is not None,
    }
    return StepOutcome(0, result, f"config valid: tenant {config.tenant}, app {app}")


async def _confirm(context: ActionContext, args: dict[str, Any]) -> StepOutcome:
    message = str(args["message"])
    if context.dry_run:
        return StepOutcome(0, {"message": message, "confirmed": None}, "dry run: would ask for confirmation")
    confirmed = context.interaction.confirm(message)
    if not confirmed:
        return StepOutcome(4, {"message": message, "confirmed": False}, "declined", declined=True)
    return StepOutcome(0, {"message": message, "confirmed": True}, "confirmed")


async def _notify(context: ActionContext, args: dict[str, Any]) -> StepOutcome:
    from oktasync.playbooks.notify import send_notifications

    message = str(args["message"])
    level = str(args.get("level") or "info")
    targets = context.config.tasks.notify
    if not targets:
        return StepOutcome(
            0, {"sent": 0, "targets": 0}, "no notification targets in the config (tasks.notify)"
        )
    if context.dry_run:
        return StepOutcome(
            0,
            {"sent": 0, "targets": len(targets), "message": message},
            f"dry run: would notify {len(targets)}",
        )
    sent, failures = await send_notifications(targets, message, level=level, tenant=context.config.tenant)
    result = {"sent": sent, "targets": len(targets), "failures": failures, "message": message}
    if failures:
        return StepOutcome(1, result, f"notified {sent} of {len(targets)} targets; {len(failures)} failed")
    return StepOutcome(0, result, f"notified {sent} target{'s' if sent != 1 else ''}")


async def _plan_of(context: ActionContext) -> Any:
    from oktasync.workflows.plan import plan_tenant

    plan = await plan_tenant(context.session)
    return replace(plan, source=context.config_path)


def _plan_summary(plan: Any) -> str:
    if plan.error:
        return str(plan.error)
    people = sum(1 for s in plan.settings if s.needs_person)
    changes = [s.label for s in plan.changes]
    text = f"{len(changes)} setting(s) to change" + (f": {', '.join(changes)}" if changes else "")
    if people:
        text += f"; {people} need a person in the Admin Console"
    if not changes and not people:
        text = f"all {len(plan.settings)} settings in sync"
    return text


async def _plan(context: ActionContext, args: dict[str, Any]) -> StepOutcome:
    plan = await _plan_of(context)
    # For a plan step, drift (2) is a finding, not a failure; errors keep their code.
    code = 0 if plan.exit_code == EXIT_CHANGES else plan.exit_code
    return StepOutcome(code, plan.to_dict(), _plan_summary(plan))


async def _apply(context: ActionContext, args: dict[str, Any]) -> StepOutcome:
    from oktasync.workflows.apply import ApplyOptions, apply_tenant

    plan = await _plan_of(context)
    if context.dry_run:
        preview = {"dry_run": True, "plan": plan.to_dict(), "would_change": [s.key for s in plan.changes]}
        code = 0 if plan.exit_code == EXIT_CHANGES else plan.exit_code
        return StepOutcome(code, preview, "dry run: would apply: " + _plan_summary(plan))
    options = ApplyOptions(confirm_manual=bool(args.get("confirm_manual")), wait=bool(args.get("wait")))
    result = await apply_tenant(context.session, plan, options=options)
    document = result.to_dict()
    written = [a.key for a in result.actions if a.action == "written"]
    if result.exit_code == 0:
        summary = (
            f"wrote and verified {len(written)} setting(s): {', '.join(written)}"
            if written
            else "nothing to change: every setting already as desired"
        )
    else:
        summary = result.error or f"apply failed (exit {result.exit_code})"
    return StepOutcome(result.exit_code, document, summary)


async def _resync(context: ActionContext, args: dict[str, Any]) -> StepOutcome:
    from oktasync.workflows.resync.engine import ResyncOptions, plan_resync, run_resync
    from oktasync.workflows.resync.journal import ResyncJournal

    gateway = await context.session.gateway()
    app = await context.session.app()
    if context.dry_run:
        plan = await plan_resync(context.config, gateway, app, state_dir=context.state_dir)
        return StepOutcome(
            plan.exit_code,
            {"dry_run": True, "plan": plan.to_dict()},
            f"dry run: would cycle {len(plan.targets)} group(s)",
        )
    # A playbook run that died inside this step left the resync's own journal unfinished: finish that
    # resync (it knows exactly where it stopped). An unfinished journal from anywhere else is refused by
    # run_resync itself (exit 4), as for `oktasync resync`.
    resume = False
    if context.resumed:
        journal = ResyncJournal(await context.session.app_dir())
        resume = journal.exists() and journal.state().finished is None
    options = ResyncOptions(resume=resume, resume_command=context.resume_command)
    result = await run_resync(
        context.config, gateway, app, state_dir=context.state_dir, options=options, progress=context.progress
    )
    document = result.to_dict()
    summary = (
        f"cycled {len(result.groups_cycled)} group(s){' (resumed)' if resume else ''}; app users "
        f"{result.app_users_before.get('total', '?')} before, "
        f"{result.app_users_after.get('total', '?')} after; "
        f"{result.push_failures} push failure(s)"
    )
    return StepOutcome(result.exit_code, document, summary)


async def _app_user_states(context: ActionContext) -> dict[str, Any]:
    gateway = await context.session.gateway()
    app = await context.session.app()
    users = await gateway.list_app_users(app.id, with_user=False)
    states: dict[str, int] = {}
    for user in users:
        key = user.sync_state or "NONE"
        states[key] = states.get(key, 0) + 1
    pending = sum(n for state, n in states.items() if state in _PENDING_SYNC_STATES)
    return {"app_users": len(users), "sync_states": states, "pending_pushes": pending}


# Pushes Okta has not finished: "tasks until settled" waits for none of these to remain.
_PENDING_SYNC_STATES = ("SYNCING",)


async def _tasks(context: ActionContext, args: dict[str, Any]) -> StepOutcome:
    if context.dry_run:
        # run_tasks records what it saw and notifies about new failures: a dry run only reads app users.
        states = await _app_user_states(context)
        errors = states["sync_states"].get("ERROR", 0)
        listing = {"dry_run": True, "failed": errors, **states}
        return StepOutcome(0, listing, f"dry run: {errors} app user(s) in sync state ERROR; nothing retried")
    from oktasync.workflows.tasks.run import TasksOptions, run_tasks, tasks_lock

    gateway = await context.session.gateway()
    app = await context.session.app()
    app_dir = await context.session.app_dir()
    retry = bool(args.get("retry"))
    # Pushes still in flight when the scan starts may fail after it read them: only a run that began with
    # none in flight has seen every failure. So "settled" (pending_pushes == 0) needs both counts at zero.
    before = await _app_user_states(context)
    with tasks_lock(app_dir, context.config.tenant, app.label):
        result = await run_tasks(
            context.config,
            gateway,
            app,
            app_dir=app_dir,
            options=TasksOptions(retry=retry),
            progress=context.progress,
        )
    after = await _app_user_states(context)
    pending = max(before["pending_pushes"], after["pending_pushes"])
    document = {**result.to_dict(), **after, "pending_pushes": pending}
    summary = f"{len(result.failures)} failed assignment(s)"
    if retry and result.retries:
        # Each retry is an attempt read back (syncState, System Log): say what came of it, never "retried".
        outcomes = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in result.retry_summary().items())
        summary += f"; retry attempts read back: {outcomes}"
        if result.retry_summary().get("not_taken"):
            summary += f" (retry those by hand: Admin Console > Dashboard > Tasks, {result.console_url})"
        if result.exhausted:
            summary += f"; {len(result.exhausted)} out of retries"
    if document["pending_pushes"]:
        summary += f"; {document['pending_pushes']} push(es) still in progress"
    return StepOutcome(result.exit_code(), document, summary)


async def _report(context: ActionContext, args: dict[str, Any]) -> StepOutcome:
    from oktasync.scim_gateway import ScimGateway
    from oktasync.workflows.report import report_unmanaged

    gateway = await context.session.gateway()
    app = await context.session.app()
    async with ScimGateway.from_config(context.config.scim) as scim:
        report = await report_unmanaged(
            context.config.tenant, context.config.scim.base_url, app, gateway, scim, progress=context.progress
        )
    summary_counts = report.summary()
    actions = {
        key.removeprefix("action_"): n for key, n in summary_counts.items() if key.startswith("action_") and n
    }
    listing = ", ".join(f"{n} {action}" for action, n in actions.items() if action != "none")
    summary = f"{summary_counts['target_users']} target user(s); suggested: {listing or 'nothing to do'}"
    if not report.complete:
        summary += " (INCOMPLETE: the target's paging lost users)"
    return StepOutcome(report.exit_code, report.to_dict(), summary)


async def _test_connector(context: ActionContext, args: dict[str, Any]) -> StepOutcome:
    from oktasync.workflows.connector_test import test_connector

    report = await test_connector(
        context.config, write_probe=bool(args.get("write_probe")), progress=context.progress
    )
    counts = report.counts()
    summary = f"Okta's test: {report.okta_verdict.value}; checks: " + ", ".join(
        f"{n} {status}" for status, n in counts.items() if n
    )
    return StepOutcome(report.exit_code, report.to_dict(), summary)


async def _doctor(context: ActionContext, args: dict[str, Any]) -> StepOutcome:
    from oktasync.workflows.doctor import doctor

    result = await doctor(context.session)
    failed = [c.name for c in result.checks if c.ok is False]
    kind = result.kind.value if result.kind else "unknown kind"
    channels = sorted({str(c.get("write")) for c in result.channels if c.get("write")})
    summary = (
        f"{len(result.checks) - len(failed)} of {len(result.checks)} checks ok; app {kind}; "
        f"channels: {', '.join(channels) or 'none'}"
    )
    if failed:
        summary += f"; failed: {', '.join(failed)}"
    return StepOutcome(result.exit_code, result.to_dict(), summary)


IMPLEMENTATIONS: dict[str, ActionImpl] = {
    "validate": _validate,
    "doctor": _doctor,
    "test-connector": _test_connector,
    "plan": _plan,
    "apply": _apply,
    "resync": _resync,
    "tasks": _tasks,
    "report": _report,
    "confirm": _confirm,
    "notify": _notify,
}
