"""`oktasync demo`: the whole runbook, end to end, against a local emulator and a real SCIM server.

What it sets up (all on loopback, free ports, throwaway tokens):

* a scim2-server standing in for Chronosphere, already holding the users an SSO-only integration created
  over the years: most current employees (same email as in Okta), a few former employees nobody
  deactivated, and a few people whose email changed since (old address on the target); it rejects the
  writes of a few users, so their pushes really fail;
* an Okta emulator with ~200 users in 12 groups, and the Chronosphere custom SCIM app as an SSO-only
  customer has it: the 12 groups assigned with their priorities, provisioning not configured yet; plus an
  Admin Console session so oktasync can write the provisioning form;
* a tenant config (``<workdir>/chronosphere-demo.yaml``) shaped like configs/chronosphere.yaml, whose
  secrets come from environment variables that only this process (and its workflows) sees.

Then it runs the shipped chronosphere-onboarding playbook with the playbook engine (the same code as
``oktasync playbook run``), and reads the emulator's and the target's final state to show what changed.

The emulator's Admin Console serves its default page, the one public evidence shows (docs/admin-console-
channel.md): it has no field for the unique identifier, the authentication mode or the connector's push
actions, and nothing reads the Bearer token back. So the apply step writes what the page offers and stops
(exit 5) with console steps for the rest, as it would on a real org. The demo then plays the admin: it makes
exactly those changes in the emulator (``person_does``, as a person in the Admin Console would), confirms them
with ``apply --confirm-manual``, and resumes the playbook (``--resume``), which goes on from the apply step.
The library never prints: ``run_demo`` reports through the playbook ``RunReporter`` and returns a
``DemoResult``; ``oktasync.cli.demo`` renders it.
"""

from __future__ import annotations

import contextlib
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oktasync.config.environ import environ_overlay
from oktasync.errors import EXIT_FAILED, EXIT_MANUAL, EXIT_OK
from oktasync.playbooks.context import AlwaysYes, RunReporter
from oktasync.playbooks.results import PlaybookResult
from oktasync.state import StateDir

if TYPE_CHECKING:
    from oktasync.emulator.scim_target import ScimServer
    from oktasync.emulator.testing import RunningEmulator

APP_LABEL = "Chronosphere"
APP_NAME = "chronosphere_scim"
DOMAIN = "example.com"
OLD_DOMAIN = "corp.example.com"  # the address some people had before the company's email change
CONFIG_NAME = "chronosphere-demo.yaml"
PLAYBOOK = "chronosphere-onboarding"
ENV_NAMES = ("OKTA_API_TOKEN", "CHRONOSPHERE_SCIM_TOKEN", "OKTA_ADMIN_SESSION")

# 12 groups, in the priority order they are assigned to the app (0 = highest).
GROUPS = (
    "Observability Admins",
    "SRE",
    "Platform Engineering",
    "Backend Engineering",
    "Frontend Engineering",
    "Data Engineering",
    "Security",
    "Customer Support",
    "Sales Engineering",
    "Product Management",
    "Finance",
    "Contractors",
)
_FIRST = (
    "Ava Ben Chloe Daniel Elena Farid Grace Hiro Isla Jonas Kira Liam Maya Noah Olga Priya Quinn "
    "Rafael Sofia Tariq Uma Viktor Wen Ximena Yusuf Zoe Amara Bruno Carmen Dmitri Esther Felix Gita "
    "Hugo Ines Jae Kofi Lena"
).split()
_LAST = (
    "Nguyen Smith Okafor Rossi Tanaka Müller Garcia Kowalski Haddad Larsen Patel Silva Novak Dubois Kim "
    "Andersen Costa Ivanova Mensah Schmidt Yamamoto Fischer Romero Berg"
).split()


@dataclass(frozen=True)
class DemoOrg:
    """The seeded world, and what the demo expects to find at the end."""

    seed: dict[str, Any]
    target_users: tuple[dict[str, Any], ...]  # created on the SCIM server before Okta pushes anything
    rejected: tuple[str, ...]  # userNames whose writes the target refuses
    former_employees: tuple[str, ...]  # on the target only: nobody in Okta
    email_changed: tuple[tuple[str, str], ...]  # (old address on the target, current address in Okta)


def _ascii(text: str) -> str:
    return text.replace("ü", "ue").lower()


def build_demo_org(
    *,
    users: int = 200,
    api_token: str,
    admin_session: str,
    admin_xsrf: str,
    seed_value: int = 7,
) -> DemoOrg:
    """A believable org, deterministic for a given ``seed_value``."""
    rng = random.Random(seed_value)
    names = [(first, last) for last in _LAST for first in _FIRST]
    rng.shuffle(names)
    okta_users = [
        {
            "login": f"{_ascii(first)}.{_ascii(last)}@{DOMAIN}",
            "email": f"{_ascii(first)}.{_ascii(last)}@{DOMAIN}",
            "firstName": first,
            "lastName": last,
        }
        for first, last in names[:users]
    ]
    members = _memberships(rng, okta_users)
    logins = [u["login"] for u in okta_users]
    # Positions scale with the org size (17, 88, 143 and 5, 61, 120 for 200 users).
    rejected = tuple(logins[int(users * f)] for f in (0.085, 0.44, 0.715))
    changed = [okta_users[int(users * f)] for f in (0.025, 0.305, 0.6)]
    email_changed = tuple(
        (f"{_ascii(u['firstName'])}.{_ascii(u['lastName'])}@{OLD_DOMAIN}", u["email"]) for u in changed
    )
    target_users, former_names = _target_users(rng, okta_users, rejected, changed, email_changed)
    return DemoOrg(
        seed=_seed(api_token, admin_session, admin_xsrf, okta_users, members),
        target_users=tuple(target_users),
        rejected=rejected,
        former_employees=former_names,
        email_changed=email_changed,
    )


def _memberships(rng: random.Random, okta_users: list[dict[str, str]]) -> dict[str, list[str]]:
    """Engineering-heavy, like an observability vendor's customer; everyone is in one or two groups."""
    members: dict[str, list[str]] = {name: [] for name in GROUPS}
    weights = (2, 4, 6, 10, 8, 6, 4, 8, 5, 5, 3, 4)
    for user in okta_users:
        primary = rng.choices(GROUPS, weights=weights)[0]
        members[primary].append(user["login"])
        if rng.random() < 0.25:
            extra = rng.choice(GROUPS)
            if user["login"] not in members[extra]:
                members[extra].append(user["login"])
    return members


_FORMER = (
    ("Marta", "Lindqvist"),
    ("Owen", "Price"),
    ("Sana", "Qureshi"),
    ("Theo", "Walsh"),
    ("Iris", "Baptiste"),
)


def _target_users(
    rng: random.Random,
    okta_users: list[dict[str, str]],
    rejected: tuple[str, ...],
    changed: list[dict[str, str]],
    email_changed: tuple[tuple[str, str], ...],
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """The target's users from the SSO-only years, and the former employees' user names among them."""
    # ~60 % of today's staff with their current address...
    existing = [
        u for u in okta_users if rng.random() < 0.6 and u["login"] not in rejected and u not in changed
    ]
    target_users: list[dict[str, Any]] = [
        {"user_name": u["email"], "given": u["firstName"], "family": u["lastName"], "active": True}
        for u in existing
    ]
    # ...the people whose address changed, under the old one...
    target_users += [
        {"user_name": old, "given": u["firstName"], "family": u["lastName"], "active": True}
        for (old, _), u in zip(email_changed, changed, strict=True)
    ]
    # ...and former employees nobody removed (one of them already deactivated by hand).
    former_names = tuple(f"{_ascii(f)}.{_ascii(last)}@{DOMAIN}" for f, last in _FORMER)
    target_users += [
        {"user_name": name, "given": f, "family": last, "active": index != 4}
        for index, (name, (f, last)) in enumerate(zip(former_names, _FORMER, strict=True))
    ]
    return target_users, former_names


def _seed(
    api_token: str,
    admin_session: str,
    admin_xsrf: str,
    okta_users: list[dict[str, str]],
    members: dict[str, list[str]],
) -> dict[str, Any]:
    return {
        "api_tokens": [api_token],
        "admin_sessions": [{"id": admin_session, "xsrf_token": admin_xsrf}],
        "users": okta_users,
        "groups": [
            {"name": name, "description": f"{name} team", "members": members[name]} for name in GROUPS
        ],
        "apps": [
            {
                "name": APP_NAME,
                "label": APP_LABEL,
                "kind": "custom_scim",
                # SSO-only so far: provisioning not configured (the runbook's starting point).
                "settings": {
                    "scim_base_url": None,
                    "unique_identifier": "userName",
                    "push_new_users": False,
                    "push_profile_updates": False,
                    "auth_mode": "header",
                    "bearer_token": None,
                    "create_users": False,
                    "update_user_attributes": False,
                    "deactivate_users": False,
                },
                "groups": [{"group": name, "priority": priority} for priority, name in enumerate(GROUPS)],
            }
        ],
    }


def demo_config(org_url: str, scim_base_url: str) -> str:
    """The demo's tenant config: configs/chronosphere.yaml pointed at loopback (secrets from env)."""
    return f"""# yaml-language-server: $schema=../docs/tenant-config.schema.json
# Written by `oktasync demo`: configs/chronosphere.yaml pointed at a local Okta emulator and SCIM server.
# Its secrets come from the environment: {", ".join(ENV_NAMES)}.
tenant: demo
okta:
  org_url: {org_url}
  token: "{{{{ env.OKTA_API_TOKEN }}}}"
  admin_session: "{{{{ env.OKTA_ADMIN_SESSION | default('') }}}}"
app:
  label: {APP_LABEL}
scim:
  base_url: {scim_base_url}
  unique_identifier: email
  push_new_users: true
  push_profile_updates: true
  auth:
    mode: http_header
    bearer_token: "{{{{ env.CHRONOSPHERE_SCIM_TOKEN }}}}"
to_app:
  create_users: true
  update_user_attributes: true
  deactivate_users: true
resync:
  groups: all
  max_affected_users: 10000
tasks:
  retry: {{max_attempts: 2, settle_timeout_seconds: 5}}
"""


@dataclass
class DemoEnvironment:
    """A running emulator + SCIM server, the config pointing at them, and the env its workflows need."""

    workdir: Path
    config_path: Path
    state_dir: Path
    org: DemoOrg
    emulator: RunningEmulator
    scim: ScimServer
    env: dict[str, str] = field(repr=False)  # the throwaway secrets: printed only by --keep-running

    @property
    def app_id(self) -> str:
        return self.emulator.control.app_id(APP_LABEL)


DEMO_TIME_SCALE = 0.1


@contextlib.contextmanager
def demo_environment(workdir: Path, *, users: int = 200) -> Iterator[DemoEnvironment]:
    """Start the SCIM server and the emulator on free loopback ports, seed both, write the config.

    Everything stops on exit (threads joined, ports closed); the process environment is restored.
    """
    from oktasync.emulator.scim_target import run_scim_server
    from oktasync.emulator.testing import run_emulator

    env = {
        "OKTA_API_TOKEN": "demo-okta-" + secrets.token_urlsafe(18),
        "CHRONOSPHERE_SCIM_TOKEN": "demo-scim-" + secrets.token_urlsafe(18),
        "OKTA_ADMIN_SESSION": "demo-sid-" + secrets.token_urlsafe(12),
    }
    org = build_demo_org(
        users=users,
        api_token=env["OKTA_API_TOKEN"],
        admin_session=env["OKTA_ADMIN_SESSION"],
        admin_xsrf="demo-xsrf-" + secrets.token_urlsafe(12),
    )
    workdir.mkdir(parents=True, exist_ok=True)
    with run_scim_server(env["CHRONOSPHERE_SCIM_TOKEN"]) as scim:
        for user in org.target_users:
            scim.create_user(
                user["user_name"], given=user["given"], family=user["family"], active=user["active"]
            )
        scim.reject(
            org.rejected,
            detail="Chronosphere rejected {userName!r}: the address is on this instance's suppression list.",
        )
        # A rate-limit window lasts 6 s instead of 60: the demo's token may use half of each bucket, as on a
        # real org, and the demo should not sit out a real minute for it.
        with run_emulator(org.seed, api_token=env["OKTA_API_TOKEN"], time_scale=DEMO_TIME_SCALE) as emulator:
            config_path = workdir / CONFIG_NAME
            config_path.write_text(demo_config(emulator.url, scim.base_url), encoding="utf-8")
            with environ_overlay(env):
                yield DemoEnvironment(
                    workdir=workdir,
                    config_path=config_path,
                    state_dir=workdir / "state",
                    org=org,
                    emulator=emulator,
                    scim=scim,
                    env=env,
                )


def demo_playbook_path() -> Path:
    from oktasync.playbooks.loader import shipped_playbook

    path = shipped_playbook(PLAYBOOK)
    if path is None:
        from oktasync.errors import OktasyncError

        raise OktasyncError(
            f"the shipped playbook {PLAYBOOK}.yaml was not found",
            hint="the install is incomplete (the playbooks ship inside the package): reinstall oktasync",
        )
    return path


@dataclass(frozen=True)
class PersonTurn:
    """What the demo's admin did when the apply step stopped for a person."""

    steps: tuple[str, ...]  # the console steps apply printed
    settings: tuple[str, ...]  # the setting keys the person changed or checked
    confirm_exit_code: int  # of `apply --confirm-manual` afterwards

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": list(self.steps),
            "settings": list(self.settings),
            "confirm_exit_code": self.confirm_exit_code,
        }


@dataclass(frozen=True)
class DemoResult:
    playbook: PlaybookResult
    facts: dict[str, Any]  # what the emulator and the SCIM target show at the end
    env: DemoEnvironment
    person: PersonTurn | None = None  # the admin's turn, if the apply step needed one

    @property
    def ok(self) -> bool:
        """The demo proves the process: every step ran, and the only failures are the expected ones."""
        if not self.playbook.runs:
            return False
        run = self.playbook.runs[0]
        return run.status == "completed" and set(run.continued_failures) <= {"settle"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "playbook": self.playbook.to_dict(),
            "facts": self.facts,
            "person": self.person.to_dict() if self.person else None,
        }


async def run_demo(
    env: DemoEnvironment, *, reporter: RunReporter | None = None, progress: Any = None
) -> DemoResult:
    """Run the onboarding playbook against ``env`` (confirm steps pass: nobody is asked) and gather facts.

    When the apply step stops for a person (exit 5), the demo plays the admin (``person_does``), confirms
    with ``apply --confirm-manual`` and resumes the run.
    """
    from oktasync.config import load_tenant
    from oktasync.playbooks.loader import load_playbook
    from oktasync.playbooks.runner import run_playbook

    playbook = load_playbook(demo_playbook_path())
    config = load_tenant(env.config_path)

    async def run(resume: bool) -> PlaybookResult:
        return await run_playbook(
            playbook,
            [(str(env.config_path), config)],
            inputs={},
            state_dir=env.state_dir,
            resume=resume,
            interaction=AlwaysYes(),
            reporter=reporter,
            progress=progress,
            resume_command=f"oktasync playbook run {PLAYBOOK} --config {env.config_path} --resume",
        )

    result = await run(resume=False)
    person: PersonTurn | None = None
    stopped = next((r for r in result.runs if r.stopped_at == "apply" and r.exit_code == EXIT_MANUAL), None)
    if stopped is not None:
        person = await person_does(env, stopped, reporter)
        if person.confirm_exit_code == EXIT_OK:
            if reporter is not None:
                reporter.note("Resuming the playbook where it stopped (playbook run --resume).")
            result = await run(resume=True)
    env.emulator.control.wait_idle(30)
    return DemoResult(playbook=result, facts=final_facts(env), env=env, person=person)


# Setting key -> (emulator setting, value a person enters), for the console steps the demo's admin does.
_CONSOLE: dict[str, tuple[str, Any]] = {
    "general.provisioning": ("provisioning_enabled", True),
    "scim.unique_identifier": ("unique_identifier", "email"),
    "scim.push_new_users": ("push_new_users", True),
    "scim.push_profile_updates": ("push_profile_updates", True),
    "scim.auth.mode": ("auth_mode", "header"),
    "to_app.create_users": ("create_users", True),
    "to_app.update_user_attributes": ("update_user_attributes", True),
    "to_app.deactivate_users": ("deactivate_users", True),
}


async def person_does(env: DemoEnvironment, stopped: Any, reporter: RunReporter | None) -> PersonTurn:
    """The admin's turn: do the printed console steps in the emulator, then `apply --confirm-manual`.

    The Bearer token the form took needs no typing, only its check (Test Connector Configuration), which the
    playbook's test-connector step already made against the same target.
    """
    from oktasync.workflows.apply import ApplyOptions, apply_configs

    entry = next(s for s in stopped.steps if s["id"] == "apply")
    result = entry.get("result") or {}
    steps = tuple(str(step) for step in result.get("manual_steps", []))
    pending = tuple(a["key"] for a in result.get("actions", []) if a.get("action") == "pending")
    say = reporter.note if reporter is not None else (lambda message: None)
    say("A person's turn: the demo plays the admin and does these console steps in the emulator:")
    for number, step in enumerate(steps, start=1):
        say(f"  {number}. {step}")
    changes = dict(_CONSOLE[key] for key in pending if key in _CONSOLE)
    if changes:
        env.emulator.control.set_app_settings(env.app_id, **changes)
    from oktasync.config import load_tenant

    async def approve(plan: Any, needed: bool) -> bool:
        return True

    _, applied = await apply_configs(
        [(load_tenant(env.config_path), str(env.config_path))],
        state=StateDir(env.state_dir),
        options=ApplyOptions(confirm_manual=True),
        approve=approve,
    )
    code = applied.exit_code if applied is not None else EXIT_FAILED
    say(f"Then confirmed them with `oktasync apply --confirm-manual` (exit {code}).")
    return PersonTurn(steps, pending, code)


def final_facts(env: DemoEnvironment) -> dict[str, Any]:
    """The end state, read from the emulator's control API and the SCIM server (not from oktasync)."""
    state = env.emulator.control.state()
    app = next(a for a in state["apps"] if a["label"] == APP_LABEL)
    groups_by_id = {g["id"]: g["name"] for g in state["groups"]}
    assignments = sorted(
        (
            {"group": groups_by_id.get(g["group"], g["group"]), "priority": g.get("priority")}
            for g in app["groups"]
        ),
        key=lambda g: (g["priority"] is None, g["priority"]),
    )
    statuses: dict[str, int] = {}
    sync_states: dict[str, int] = {}
    for app_user in app.get("app_users", []):
        statuses[app_user["status"]] = statuses.get(app_user["status"], 0) + 1
        sync_states[app_user["sync_state"]] = sync_states.get(app_user["sync_state"], 0) + 1
    users_by_id = {u["id"]: u["login"] for u in state["users"]}
    errors = sorted(
        users_by_id.get(a["user"], a["user"]) for a in app.get("app_users", []) if a["sync_state"] == "ERROR"
    )
    calls = [c for c in state.get("scim_calls", []) if c.get("app_id") == app["id"]]
    # Okta deprovisions with a PUT/PATCH of active=false (docs/okta-behaviour.md, What Okta sends to a SCIM
    # target); the resync must cause none.
    deactivations = [c for c in calls if c.get("method") in ("PUT", "PATCH") and c.get("active") is False]
    deactivate_switches = [
        {"source": h.get("source"), "value": h.get("value")}
        for h in app.get("settings_history", [])
        if h.get("field") == "deactivate_users"
    ]
    target = env.scim.users()
    return {
        "app_id": app["id"],
        "settings": {k: v for k, v in app["settings"].items() if k != "bearer_token"},
        "bearer_token_set": bool(app["settings"].get("bearer_token")),
        "group_assignments": assignments,
        "app_users": len(app.get("app_users", [])),
        "app_user_statuses": statuses,
        "sync_states": sync_states,
        "push_errors": errors,
        "expected_rejections": list(env.org.rejected),
        "scim_deactivations": len(deactivations),
        "deactivate_users_history": deactivate_switches,
        "target_users": len(target),
        "target_users_before": len(env.org.target_users),
        "okta_users": len(state["users"]),
        "scim_pushes": len(calls),
        "okta_api_requests": env.emulator.control.stats().get("total"),
    }
