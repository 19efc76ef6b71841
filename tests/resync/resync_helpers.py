"""Shared pieces of the resync and safety tests: a tenant config and a FakeGateway that remembers what Okta
would do; an emulator org pushing to a real scim2-server, driven by the real CLI in process or as a
subprocess (``EmulatorOrg``)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from click.testing import CliRunner

from oktasync.cli import main
from oktasync.config.schema import TenantConfig
from oktasync.models import App, AppKind, GroupAssignment
from oktasync.okta_gateway.fake import FakeGateway

if TYPE_CHECKING:
    from oktasync.emulator.scim_target import ScimServer
    from oktasync.emulator.testing import RunningEmulator


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

    async def assign_group(
        self, app_id: str, group_id: str, priority: int | None, profile: dict[str, Any]
    ) -> GroupAssignment:
        """As the fake, and the app users it creates are pushed at once when Create Users is on (Okta's
        job and its push, without the delay), so that a run can prove every user was re-pushed."""
        state = self.state(app_id)
        before = set(state.users)
        assignment = await super().assign_group(app_id, group_id, priority, profile)
        if state.create_users:
            for uid in set(state.users) - before:
                state.users[uid] = replace(
                    state.users[uid],
                    status="PROVISIONED",
                    sync_state="SYNCHRONIZED",
                    external_id=f"ext-{uid}",
                    status_changed=datetime.now(UTC).isoformat(),
                )
        return assignment


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
        state.groups[gid] = GroupAssignment(group_id=gid, priority=priority, profile=profile)
        for uid in gateway.groups[gid][1]:
            gateway.add_app_user(app.id, uid, scope="GROUP", external_id=f"ext-{uid}")
    gateway.add_app_user(app.id, "direct@example.com", scope="USER", external_id="ext-direct")
    return app


def assignments(gateway: FakeGateway, app_id: str) -> dict[str, tuple[int | None, dict[str, Any]]]:
    return {gid: (a.priority, a.profile) for gid, a in gateway.state(app_id).groups.items()}


# --- emulator org for the end-to-end and crash tests ------------------------------------------------------

E2E_API_TOKEN = "api-tok-SECRET-resync-4c1d"
E2E_ADMIN_SID = "sid-SECRET-resync-8e2f"
E2E_SCIM_TOKEN = "scim-test-token"  # what the scim_server fixture accepts
SECRETS = (E2E_API_TOKEN, E2E_ADMIN_SID, E2E_SCIM_TOKEN)
# Rate limits out of the way for the end-to-end and crash tests (every bucket the resync uses): they test
# correctness, not pacing.
NO_LIMITS = {
    bucket: 100_000
    for bucket in (
        "/api/v1/apps",
        "/api/v1/apps/{id}",
        "/api/v1/groups",
        "/api/v1/users",
        "/api/v1",
        "/admin",
    )
}

CONFIG = """\
tenant: {tenant}
okta:
  org_url: {org_url}
  token: "{{{{ env.E2E_OKTA_TOKEN }}}}"
  admin_session: "{{{{ env.E2E_ADMIN_SESSION | default('') }}}}"
app:
  label: {label}
scim:
  base_url: "{base_url}"
  unique_identifier: email
  auth:
    bearer_token: "{{{{ env.E2E_SCIM_TOKEN }}}}"
resync:
  max_affected_users: {limit}
"""


def emulator_org(scim_base_url: str, *, users: int, groups: int, kind: str) -> dict[str, Any]:
    """A seed (emulator seed builder) with one app of ``kind`` ("custom_scim" or "api") pushing to the SCIM
    target, Deactivate Users on, and no group assigned yet (``assign_all`` assigns them through the engine,
    so every user really is provisioned)."""
    from oktasync.emulator.seed import build_org

    settings = {
        "scim_base_url": scim_base_url,
        "unique_identifier": "email",
        "push_new_users": True,
        "push_profile_updates": True,
        "auth_mode": "header",
        "bearer_token": E2E_SCIM_TOKEN,
        "create_users": True,
        "update_user_attributes": True,
        "deactivate_users": True,
    }
    app: dict[str, Any] = {
        "name": "chronosphere_scim" if kind == "custom_scim" else "zscalerbyz",
        "label": "Chronosphere",
        "kind": kind,
        "settings": settings,
        "groups": [],
    }
    if kind == "api":
        app["connection_status"] = "ENABLED"
    seed = build_org(users=users, groups=groups, memberships_per_user=2, apps=[app])
    seed["api_tokens"] = [E2E_API_TOKEN]
    seed["admin_sessions"] = [{"id": E2E_ADMIN_SID, "xsrf_token": "xsrf-SECRET-resync"}]
    return seed


def varied(index: int, groups: int) -> tuple[int, dict[str, Any]]:
    """A priority (a permutation of 0..groups-1, not the listing order) and a profile (some empty)."""
    priority = (index * 7 + 3) % groups if groups % 7 else (groups - 1 - index)
    profile: dict[str, Any] = (
        {} if index % 3 == 0 else {"role": f"role-{index % 4}", "costCenter": 100 + index}
    )
    return priority, profile


def assign_all(http: Any, app_id: str, groups: int) -> dict[str, tuple[int, dict[str, Any]]]:
    """Assign every group (control API: no rate limit, the engine provisions its members)."""
    wanted: dict[str, tuple[int, dict[str, Any]]] = {}
    for index in range(groups):
        name = f"group-{index:05d}"
        priority, profile = varied(index, groups)
        response = http.put(
            f"/__emulator/apps/{app_id}/groups/{name}", json={"priority": priority, "profile": profile}
        )
        response.raise_for_status()
        wanted[name] = (priority, profile)
    return wanted


def emulator_assignments(state: dict[str, Any], app_id: str) -> dict[str, tuple[int, dict[str, Any]]]:
    names = {g["id"]: g["name"] for g in state["groups"]}
    app = next(a for a in state["apps"] if a["id"] == app_id)
    return {names[g["group"]]: (g["priority"], g["profile"]) for g in app["groups"]}


class EmulatorOrg:
    """One emulator org with the app labelled Chronosphere, its config files and state dir, and the real CLI
    run against it (every output kept, to check that no secret ever appears)."""

    def __init__(self, em: RunningEmulator, scim: ScimServer, tmp_path: Path) -> None:
        self.em, self.scim, self.tmp_path = em, scim, tmp_path
        self.app_id = em.control.app_id("Chronosphere")
        self.state_dir = tmp_path / "state"
        self.outputs: list[str] = []

    def write_config(self, tenant: str = "acme", *, limit: int = 1000) -> Path:
        path = self.tmp_path / f"{tenant}.yaml"
        path.write_text(
            CONFIG.format(
                tenant=tenant,
                org_url=self.em.url,
                label="Chronosphere",
                base_url=self.scim.base_url,
                limit=limit,
            )
        )
        return path

    def env(self) -> dict[str, str]:
        """This process's environment without Okta or oktasync settings, plus the test org's secrets."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OKTA_", "OKTASYNC_"))}
        env.update(
            OKTA_TESTING_TESTINGDISABLEHTTPSCHECK="true",
            E2E_OKTA_TOKEN=E2E_API_TOKEN,
            E2E_SCIM_TOKEN=E2E_SCIM_TOKEN,
            E2E_ADMIN_SESSION=E2E_ADMIN_SID,
        )
        return env

    def argv(self, *args: str, state_dir: Path | None = None) -> list[str]:
        return ["--state-dir", str(state_dir or self.state_dir), *args]

    def cli(
        self, *args: str, state_dir: Path | None = None, env: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        """The real CLI in this process (``main``), stdin not a terminal; ``env`` defaults to ``env()``."""
        with CliRunner().isolation(env=self.env() if env is None else env) as (stdout, stderr, _):
            code = main(self.argv(*args, state_dir=state_dir))
            out, err = stdout.getvalue().decode(), stderr.getvalue().decode()
        self.outputs += [out, err]
        return code, out, err

    def run_process(
        self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """The real CLI as a subprocess (``python -m oktasync``), run to its end."""
        done = subprocess.run(
            [sys.executable, "-m", "oktasync", *self.argv(*args)],
            env={**self.env(), **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.outputs += [done.stdout, done.stderr]
        return done

    def assignments(self) -> dict[str, tuple[int, dict[str, Any]]]:
        return emulator_assignments(self.em.control.state(), self.app_id)

    def assert_no_secrets(self) -> None:
        """No secret in any output of the CLI nor in any file of the state dir."""
        files = [p for p in self.state_dir.rglob("*") if p.is_file()]
        texts = self.outputs + [p.read_text(errors="replace") for p in files]
        for secret in SECRETS:
            assert not any(secret in text for text in texts), secret
