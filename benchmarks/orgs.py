"""Seeds for the benchmark orgs, the tenant configs that point oktasync at them, and the result checks.

Every org has the app the vendor runbook creates: a custom (App Integration Wizard) SCIM app labelled
"Chronosphere", fully configured to push, whose users are already provisioned (``preprovisioned``: app users
``PROVISIONED``/``SYNCHRONIZED`` with an ``externalId``, and the same users present on the SCIM target).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.scim_stub import ScimStub

API_TOKEN = "bench-okta-token"
ADMIN_SESSION = "bench-admin-session"
SCIM_TOKEN = "bench-scim-token"
LABEL = "Chronosphere"
# okta.rate_limit_headroom for the generated configs; None = oktasync's default (``--headroom`` changes it).
HEADROOM: float | None = None


def app_doc(label: str, scim_url: str, groups: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "chronosphere_scim",
        "label": label,
        "kind": "custom_scim",
        "settings": {
            "scim_base_url": scim_url,
            "bearer_token": SCIM_TOKEN,
            "unique_identifier": "email",
            "push_new_users": True,
            "push_profile_updates": True,
            "create_users": True,
            "update_user_attributes": True,
            "deactivate_users": True,
        },
        "preprovisioned": True,
    }
    if groups is not None:
        doc["groups"] = groups
    return doc


def org_seed(
    *, users: int, groups: int, scim_url: str, apps: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``users`` users spread evenly over ``groups`` groups, every group assigned to the app.

    Each group keeps its own priority (its index) and every fifth one an assignment profile, so that a
    resync that re-sends them wrong, or not at all, is caught by :func:`assignments`.
    """
    from oktasync.emulator.seed import build_org

    assigned = [
        {
            "group": f"group-{g:05d}",
            "priority": g,
            **({"profile": {"role": f"role-{g}"}} if g % 5 == 0 else {}),
        }
        for g in range(groups)
    ]
    seed = build_org(
        users=users,
        groups=groups,
        apps=apps if apps is not None else [app_doc(LABEL, scim_url, assigned)],
        api_tokens=(API_TOKEN,),
        admin_sessions=(ADMIN_SESSION,),
    )
    return seed


def preload_target(stub: ScimStub, state: dict[str, Any]) -> None:
    """Put every provisioned app user on the SCIM target, as the seed says Okta already did."""
    pairs = []
    for app in state["apps"]:
        for au in app["app_users"]:
            if au.get("external_id"):
                pairs.append((str(au["user_name"]), str(au["external_id"])))
    stub.preload(pairs)


@contextmanager
def stub_target() -> Iterator[ScimStub]:
    stub = ScimStub(SCIM_TOKEN).start()
    try:
        yield stub
    finally:
        stub.stop()


def tenant_config(path: Path, *, tenant: str, org_url: str, scim_url: str, label: str = LABEL) -> Path:
    """A tenant config as docs/config.md shows it; secrets from the environment (``client_env``)."""
    doc = {
        "tenant": tenant,
        "okta": {
            "org_url": org_url,
            "token": "{{ env.OKTA_API_TOKEN }}",
            "admin_session": "{{ env.OKTA_ADMIN_SESSION }}",
            **({} if HEADROOM is None else {"rate_limit_headroom": HEADROOM}),
        },
        "app": {"label": label},
        "scim": {
            "base_url": scim_url,
            "unique_identifier": "email",
            "push_new_users": True,
            "push_profile_updates": True,
            "auth": {"mode": "http_header", "bearer_token": "{{ env.CHRONOSPHERE_SCIM_TOKEN }}"},
        },
        "to_app": {"create_users": True, "update_user_attributes": True, "deactivate_users": True},
        # The resync affects 20,000 users: the default safety limit (10,000) would refuse it.
        "resync": {"groups": "all", "max_affected_users": 1_000_000},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def client_env(state_dir: Path) -> dict[str, str]:
    return {
        "OKTA_API_TOKEN": API_TOKEN,
        "OKTA_ADMIN_SESSION": ADMIN_SESSION,
        "CHRONOSPHERE_SCIM_TOKEN": SCIM_TOKEN,
        "OKTASYNC_STATE_DIR": str(state_dir),
        # Loopback http only (docs/okta-behaviour.md, Okta's Python SDK): the SDK refuses http otherwise. Not
        # needed against Okta.
        "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK": "true",
        "NO_COLOR": "1",
    }


# --- result checks -----------------------------------------------------------------------------------------
@dataclass
class AppSnapshot:
    """What must survive a resync: assignments with priority and profile, app users, Deactivate Users."""

    assignments: dict[str, tuple[int, dict[str, Any]]]
    app_users: dict[str, str]  # user id -> scope
    deactivate_users: bool
    extra: dict[str, Any] = field(default_factory=dict)


def app_state(state: dict[str, Any], label: str = LABEL) -> dict[str, Any]:
    for app in state["apps"]:
        if app["label"] == label:
            return dict(app)
    raise LookupError(label)


def snapshot(state: dict[str, Any], label: str = LABEL) -> AppSnapshot:
    app = app_state(state, label)
    return AppSnapshot(
        assignments={g["group"]: (int(g["priority"]), dict(g.get("profile") or {})) for g in app["groups"]},
        app_users={u["user"]: str(u["scope"]) for u in app["app_users"]},
        deactivate_users=bool(app["settings"]["deactivate_users"]),
    )


def compare(before: AppSnapshot, after: AppSnapshot) -> list[str]:
    """Everything lost or changed between two snapshots (empty = nothing lost)."""
    problems: list[str] = []
    missing = set(before.assignments) - set(after.assignments)
    if missing:
        problems.append(f"{len(missing)} group assignment(s) lost")
    changed = [
        g
        for g in before.assignments
        if g in after.assignments and before.assignments[g] != after.assignments[g]
    ]
    if changed:
        problems.append(f"{len(changed)} assignment(s) changed priority or profile")
    lost_users = set(before.app_users) - set(after.app_users)
    if lost_users:
        problems.append(f"{len(lost_users)} app user(s) lost")
    if before.deactivate_users != after.deactivate_users:
        problems.append(f"Deactivate Users is {after.deactivate_users}, was {before.deactivate_users}")
    return problems


def scim_deactivations(calls: list[dict[str, Any]]) -> int:
    """SCIM writes with ``active: false`` in the emulator's SCIM call history."""
    return sum(1 for c in calls if c.get("active") is False)
