"""`hooks`: an Okta event hook receiver beside the `tasks` poller (docs/event-hooks.md).

Public API (used by the CLI)::

    receiver = Receiver([TenantReceiver(config, gateway, app, app_dir), ...])
    web.run_app(receiver.build_app(), ...)
    result = await register(config, gateway, app_dir, "https://hooks.example.com", dry_run=False)
    found = await status(config, gateway)
"""

from oktasync.workflows.hooks.events import SUBSCRIBED_EVENTS
from oktasync.workflows.hooks.receiver import Receiver, TenantReceiver, hook_path
from oktasync.workflows.hooks.register import HookStatus, Registration, doctor_check, register, status

__all__ = [
    "SUBSCRIBED_EVENTS",
    "HookStatus",
    "Receiver",
    "Registration",
    "TenantReceiver",
    "doctor_check",
    "hook_path",
    "register",
    "status",
]
