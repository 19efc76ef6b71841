"""The implementation of each playbook action: a thin adapter over the workflow library functions.

Each adapter calls the same async function the CLI command calls (never the CLI), and turns its result into
a ``StepOutcome``: the result's ``to_dict()``, its exit code and a one-line summary. Workflows are imported
inside the adapters, so a playbook that only validates never imports the okta SDK.

``--dry-run`` (``context.dry_run``): read-only actions run as usual; ``apply`` runs ``plan`` instead and
reports what it would change; ``resync`` and ``tasks`` use their own dry-run / list-only modes; ``confirm``
is not asked; ``notify`` sends nothing.
"""

from __future__ import annotations

from typing import Any

from oktasync.errors import SafetyError
from oktasync.workflows.playbooks.runner import ActionContext, ActionImpl, StepOutcome


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
    from oktasync.workflows.playbooks.notify import send_notifications

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


async def _not_available(context: ActionContext, args: dict[str, Any]) -> StepOutcome:
    raise SafetyError(
        f"action '{context.step.action}' is not available in this build of oktasync",
        hint="update oktasync",
    )


IMPLEMENTATIONS: dict[str, ActionImpl] = {
    "validate": _validate,
    "confirm": _confirm,
    "notify": _notify,
    "doctor": _not_available,
    "test-connector": _not_available,
    "plan": _not_available,
    "apply": _not_available,
    "resync": _not_available,
    "tasks": _not_available,
    "report": _not_available,
}
