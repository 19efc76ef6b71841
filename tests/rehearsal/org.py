"""An org about to be resynced, and its SCIM target, for the rehearsal tests.

* ``users`` users ``person{i}@example.com`` (login = email) spread over ``groups`` groups; every group but
  the last is assigned to the Chronosphere app (priority = index, every fifth with a profile), provisioning
  configured; their users are already on the target and linked (PROVISIONED, SYNCHRONIZED);
* the last group, "new hires", is assigned by ``provision_new_hires`` once the org runs: its users are
  pushed for real and the target refuses ``rejected`` of them (real 400s, real System Log failures);
* one user whose email changed: the target still has the old address;
* one user assigned directly (in no group), on the target.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks import orgs
from oktasync.emulator.scim_target import ScimServer, run_scim_server
from oktasync.emulator.testing import RunningEmulator, run_emulator

API_TOKEN = "rehearsal-test-okta-token-7f3a"
SCIM_TOKEN = "rehearsal-test-scim-token-91bc"
ADMIN_SESSION = "rehearsal-test-admin-sid-55d2"
LABEL = "Chronosphere"
DOMAIN = "example.com"


@dataclass(frozen=True)
class Org:
    seed: dict[str, Any]
    logins: tuple[str, ...]
    rejected: tuple[str, ...]  # logins (= emails) the target refuses
    changed: tuple[str, str]  # (old address on the target, current email in Okta)
    direct: str  # the directly assigned user's login
    new_hires_group: str
    on_target: tuple[tuple[str, str, str], ...]  # (userName, given, family) to preload


def build(users: int, groups: int, *, rejected: int = 3) -> Org:
    logins = [f"person{i:05d}@{DOMAIN}" for i in range(users)]
    people = [
        {"login": login, "email": login, "firstName": f"Given{i}", "lastName": f"Family{i}"}
        for i, login in enumerate(logins)
    ]
    direct = logins[-1]
    members: list[list[str]] = [[] for _ in range(groups)]
    for i, login in enumerate(logins[:-1]):
        members[i % groups].append(login)
    new_hires = f"group-{groups - 1:05d}"
    refused = tuple(members[groups - 1][:rejected])
    changed_login = logins[1]
    changed_old = f"person00001@old.{DOMAIN}"
    assigned = [
        {
            "group": f"group-{g:05d}",
            "priority": g,
            **({"profile": {"role": f"role-{g}"}} if g % 5 == 0 else {}),
        }
        for g in range(groups - 1)
    ]
    app = {
        "name": "chronosphere_scim",
        "label": LABEL,
        "kind": "custom_scim",
        "settings": {
            "scim_base_url": None,  # set once the target runs
            "bearer_token": SCIM_TOKEN,
            "unique_identifier": "email",
            "push_new_users": True,
            "push_profile_updates": True,
            "create_users": True,
            "update_user_attributes": True,
            "deactivate_users": True,
        },
        "groups": assigned,
        "users": [direct],
    }
    seed = {
        "api_tokens": [API_TOKEN],
        "admin_sessions": [{"id": ADMIN_SESSION, "xsrf_token": "xsrf-" + ADMIN_SESSION}],
        "users": people,
        "groups": [{"name": f"group-{g:05d}", "members": members[g]} for g in range(groups)],
        "apps": [app],
    }
    hires = set(members[groups - 1])
    on_target = tuple(
        (changed_old if login == changed_login else login, f"Given{i}", f"Family{i}")
        for i, login in enumerate(logins)
        if login not in hires
    )
    return Org(seed, tuple(logins), refused, (changed_old, changed_login), direct, new_hires, on_target)


@contextmanager
def running(org: Org, *, time_scale: float) -> Iterator[tuple[RunningEmulator, ScimServer]]:
    """The org and its target, running; app users of the target's users linked (PROVISIONED)."""
    with run_scim_server(SCIM_TOKEN) as scim:
        ids = {}
        for user_name, given, family in org.on_target:
            ids[user_name.lower()] = scim.create_user(user_name, given=given, family=family)["id"]
        scim.reject(org.rejected, detail="Chronosphere rejected {userName!r}: the address is suppressed.")
        seed = _linked(org, scim.base_url, ids)
        with run_emulator(seed, api_token=API_TOKEN, time_scale=time_scale) as emulator:
            yield emulator, scim


def _linked(org: Org, scim_url: str, ids: dict[str, str]) -> dict[str, Any]:
    import copy

    seed = copy.deepcopy(org.seed)
    app = seed["apps"][0]
    app["settings"]["scim_base_url"] = scim_url
    in_groups = {m for g in seed["groups"][:-1] for m in g["members"]}
    old, current = org.changed
    app_users = []
    for login in sorted(in_groups | {org.direct}):
        target_name = old if login == current else login
        app_users.append(
            {
                "user": login,
                "scope": "USER" if login == org.direct else "GROUP",
                "status": "PROVISIONED",
                "sync_state": "SYNCHRONIZED",
                "external_id": ids[target_name.lower()],
                "user_name": login,
            }
        )
    app["app_users"] = app_users
    return seed


def provision_new_hires(emulator: RunningEmulator, org: Org) -> None:
    """Assign the new-hires group as an admin did last week: real pushes, some refused by the target."""
    app_id = emulator.control.app_id(LABEL)
    emulator.control.assign_group(app_id, emulator.control.group_id(org.new_hires_group))
    assert emulator.control.wait_idle(120)


def write_config(path: Path, org_url: str, scim_url: str) -> Path:
    """The benchmarks' tenant config (``benchmarks.orgs.tenant_config``) for tenant ``acme``, with the
    rehearsal's resync limit and a short retry read-back."""
    orgs.tenant_config(path, tenant="acme", org_url=org_url, scim_url=scim_url, label=LABEL)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["resync"]["max_affected_users"] = 100000
    doc["tasks"] = {"retry": {"max_attempts": 2, "settle_timeout_seconds": 20}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def client_env(state_dir: Path) -> dict[str, str]:
    return {
        "OKTA_API_TOKEN": API_TOKEN,
        "OKTA_ADMIN_SESSION": ADMIN_SESSION,
        "CHRONOSPHERE_SCIM_TOKEN": SCIM_TOKEN,
        "OKTASYNC_STATE_DIR": str(state_dir),
        "NO_COLOR": "1",
    }
