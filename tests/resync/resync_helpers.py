"""Shared pieces of the resync tests: a tenant config, and a FakeGateway that remembers what Okta would do."""

from __future__ import annotations

from typing import Any

from oktasync.config.schema import TenantConfig
from oktasync.models import App, AppKind
from oktasync.okta_gateway.fake import FakeGateway


def tenant_config(**resync: Any) -> TenantConfig:
    return TenantConfig.model_validate(
        {
            "tenant": "acme",
            "okta": {"org_url": "https://acme.okta.com", "token": "t0k3n-unit", "max_concurrency": 4},
            "app": {"label": "Chronosphere"},
            "scim": {"base_url": "https://acme.example/scim/v2", "auth": {"bearer_token": "scim-secret"}},
            "resync": resync,
        }
    )


class WatchedGateway(FakeGateway):
    """A FakeGateway that records, for every unassignment, whether Deactivate Users was on at that moment,
    and can run a hook before the n-th call of a method (another admin acting mid-run)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.unassigned_while: list[tuple[str, bool]] = []
        self.hooks: dict[tuple[str, int], Any] = {}
        self.counts: dict[str, int] = {}

    def on_call(self, method: str, n: int, hook: Any) -> None:
        self.hooks[(method, n)] = hook

    def _call(self, method: str, *args: Any) -> None:
        self.counts[method] = self.counts.get(method, 0) + 1
        hook = self.hooks.pop((method, self.counts[method]), None)
        if hook is not None:
            hook()
        super()._call(method, *args)

    async def unassign_group(self, app_id: str, group_id: str) -> None:
        self.unassigned_while.append((group_id, self.apps[app_id].deactivate_users))
        await super().unassign_group(app_id, group_id)


def seed_org(
    gateway: FakeGateway, *, kind: AppKind = AppKind.CUSTOM_SCIM, groups: int = 6, users: int = 30
) -> App:
    """An app with ``groups`` groups (varied priorities and profiles, overlapping members), Deactivate
    Users on, one directly assigned user."""
    app = gateway.add_app(
        "Chronosphere",
        kind=kind,
        scim_base_url="https://acme.example/scim/v2",
        create_users=True,
        update_user_attributes=True,
        deactivate_users=True,
        connection_status="ENABLED",
    )
    logins = [f"user{i}@example.com" for i in range(users)]
    for login in logins:
        gateway.add_user(login)
    state = gateway.state(app.id)
    for g in range(groups):
        members = [logins[i] for i in range(users) if i % groups == g or i % groups == (g + 1) % groups]
        gid = gateway.add_group(f"team-{g}", members)
        priority = (g * 7) % (groups + 3)
        profile = {"role": f"role-{g % 3}", "team": f"t{g}"} if g % 2 == 0 else {}
        from oktasync.models import GroupAssignment

        state.groups[gid] = GroupAssignment(group_id=gid, priority=priority, profile=profile)
        for uid in gateway.groups[gid][1]:
            gateway.add_app_user(app.id, uid, scope="GROUP", external_id=f"ext-{uid}")
    gateway.add_app_user(app.id, "direct@example.com", scope="USER", external_id="ext-direct")
    return app


def assignments(gateway: FakeGateway, app_id: str) -> dict[str, tuple[int | None, dict[str, Any]]]:
    return {gid: (a.priority, a.profile) for gid, a in gateway.state(app_id).groups.items()}
