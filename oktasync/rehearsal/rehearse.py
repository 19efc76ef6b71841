"""``oktasync rehearse``: a snapshot loaded into the emulator and a local SCIM target, a playbook run on it.

``rehearsal_environment`` starts, on loopback with throwaway tokens (as ``oktasync demo`` does):

* a scim2-server holding the snapshot's target users (when the snapshot was taken with ``--target``); it
  refuses the writes of the users the real target refused in the snapshot's push failures, with the same
  HTTP status, so those pushes fail again;
* an Okta emulator seeded with the snapshot's app, group assignments, entitled users and app users, at the
  org's own per-bucket rate limits and median latency, with time scaled by ``time_scale`` (a rate-limit
  window of 60 s lasts ``60 * time_scale`` s);
* a tenant config with the snapshot's desired settings, pointed at both.

``rehearse_playbook`` runs a playbook unchanged against them (confirm steps are answered yes and recorded
as "waits for a person"); ``measure_command`` wraps any other oktasync command run by the CLI. Then
``build_report`` reads the emulator's and the target's final state (control API and SCIM, not oktasync's
own view) and compares it with the snapshot (``report.py`` renders it).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from oktasync.config.environ import environ_overlay
from oktasync.errors import EXIT_MANUAL, ConfigError, Problem
from oktasync.rehearsal import FORMAT_VERSION, SNAPSHOT_KIND

if TYPE_CHECKING:
    from oktasync.emulator.scim_target import ScimServer
    from oktasync.emulator.testing import RunningEmulator
    from oktasync.playbooks.model import Step

ENV_OKTA = "OKTASYNC_REHEARSAL_OKTA_TOKEN"
ENV_SCIM = "OKTASYNC_REHEARSAL_SCIM_TOKEN"
ENV_ADMIN = "OKTASYNC_REHEARSAL_ADMIN_SESSION"
CONFIG_NAME = "rehearsal.yaml"
DEFAULT_TIME_SCALE = 0.05
_STATUS = re.compile(r"\((\d{3})\)")
_REMOTE = "Errors reported by remote server:"
_REJECTED_DETAIL = "The target refused {userName!r} when Okta last pushed it (the snapshot's push failures)."


# --- loading -------------------------------------------------------------------------------------------
def load_snapshot(path: Path) -> dict[str, Any]:
    """Read and check a snapshot file (ConfigError naming the file and the fix otherwise)."""
    import json

    def bad(message: str, fix: str) -> ConfigError:
        return ConfigError([Problem(str(path), None, None, message, fix)])

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise bad("no such snapshot file", "take one with `oktasync snapshot CONFIG --out FILE`") from exc
    except ValueError as exc:
        raise bad(f"not JSON: {exc}", "pass the file `oktasync snapshot` wrote") from exc
    if not isinstance(doc, dict) or doc.get("kind") != SNAPSHOT_KIND:
        raise bad("not an oktasync snapshot", "pass the file `oktasync snapshot` wrote")
    if doc.get("format_version") != FORMAT_VERSION:
        raise bad(
            f"snapshot format_version {doc.get('format_version')!r}; this oktasync reads {FORMAT_VERSION}",
            "take the snapshot again with this version of oktasync",
        )
    return doc


# --- the environment ----------------------------------------------------------------------------------
@dataclass
class RehearsalEnvironment:
    workdir: Path
    config_path: Path
    state_dir: Path
    snapshot: dict[str, Any]
    emulator: RunningEmulator
    scim: ScimServer
    time_scale: float
    target_ids: dict[str, str]  # lower-cased userName -> SCIM id on the local target, before the run
    rejected: tuple[str, ...]  # userNames the local target refuses
    env: dict[str, str] = field(repr=False)


def _remote_status(text: str) -> int:
    """The target's HTTP status in the Okta half of a push failure's reason: ``Bad Request (400)`` or just
    ``Bad Request`` (the phrase, as current orgs write it); 0 when there is none."""
    found = _STATUS.findall(text)
    if found:
        return int(found[-1])
    phrases = {status.phrase.lower(): int(status) for status in HTTPStatus}
    for part in reversed(re.split(r"[:;.]\s*", text)):
        code = phrases.get(part.strip().lower())
        if code:
            return code
    return 0


def _rejections(snapshot: Mapping[str, Any]) -> dict[str, int]:
    """userName -> HTTP status, for users whose last push failed with the target's own 4xx answer."""
    user_names = {au["user"]: au.get("user_name") for au in snapshot["app_users"]}
    out: dict[str, int] = {}
    for failure in snapshot.get("push_failures") or []:
        reason = failure.get("reason") or ""
        remote = reason.partition(_REMOTE)[0] if _REMOTE in reason else reason
        status = _remote_status(remote)
        name = user_names.get(failure["user"])
        if name and 400 <= status < 500 and status not in (401, 403, 429):
            out[str(name)] = status
    return out


def _app_settings(
    app: Mapping[str, Any], desired: Mapping[str, Any], scim_url: str, scim_token: str
) -> dict[str, Any]:
    """The app's provisioning settings in the emulator, pointed at the local target.

    Settings the snapshot could not read (a custom SCIM app without an admin session in the config) are
    taken as the config asks for them: the report then cannot show the settings changes a run would make.
    """
    # What could not be read (no admin session; a field the console page does not show) is taken as the
    # config asks for it.
    assumed = {"scim_base_url_set": True, "bearer_token_set": True, **desired["scim"], **desired["to_app"]}
    settings = dict(app.get("settings") or {})
    if app.get("settings_source") == "unreadable":
        settings.update(assumed)
    for name, value in assumed.items():
        if settings.get(name) is None:
            settings[name] = value

    def flag(name: str) -> bool:
        return settings.get(name) is True

    custom = app["kind"] == "custom_scim"
    return {
        "scim_base_url": scim_url if settings.get("scim_base_url_set") else None,
        "unique_identifier": (settings.get("unique_identifier") or desired["scim"]["unique_identifier"])
        if custom
        else "userName",
        "push_new_users": flag("push_new_users"),
        "push_profile_updates": flag("push_profile_updates"),
        "auth_mode": "header",
        "bearer_token": scim_token if settings.get("bearer_token_set") else None,
        "create_users": flag("create_users"),
        "update_user_attributes": flag("update_user_attributes"),
        "deactivate_users": flag("deactivate_users"),
    }


def _seed(
    snapshot: Mapping[str, Any],
    *,
    okta_token: str,
    scim_url: str,
    scim_token: str,
    admin: tuple[str, str] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    app = snapshot["app"]
    custom = app["kind"] == "custom_scim"
    emulator_settings = _app_settings(app, snapshot["config"], scim_url, scim_token)
    users = [
        {k: v for k, v in u.items() if v is not None}
        | {
            "login": u.get("login") or u["id"],
            "firstName": u.get("firstName") or "",
            "lastName": u.get("lastName") or "",
        }
        for u in snapshot["users"]
    ]
    app_doc: dict[str, Any] = {
        "id": app["id"],
        "name": app["name"],
        "label": app["label"],
        "kind": "custom_scim" if custom else "api",
        "status": app.get("status") or "ACTIVE",
        "sign_on_mode": app.get("sign_on_mode") or "SAML_2_0",
        "settings": emulator_settings,
        "groups": [
            {"group": g["id"], "priority": g["priority"], "profile": g["profile"]} for g in snapshot["groups"]
        ],
        "users": [au["user"] for au in snapshot["app_users"] if au["scope"] == "USER"],
        "app_users": [],
    }
    if not custom:
        app_doc["connection_status"] = (app.get("settings") or {}).get("connection_status") or "DISABLED"
    seed: dict[str, Any] = {
        "api_tokens": [okta_token],
        "users": users,
        "groups": [{"id": g["id"], "name": g["name"], "members": g["members"]} for g in snapshot["groups"]],
        "apps": [app_doc],
    }
    if admin is not None:
        seed["admin_sessions"] = [{"id": admin[0], "xsrf_token": admin[1]}]
    return seed, emulator_settings


def _env_template(name: str) -> str:
    return "{{ env." + name + " }}"


def _config_text(snapshot: Mapping[str, Any], org_url: str, scim_url: str, admin: bool) -> str:
    desired = snapshot["config"]
    okta: dict[str, Any] = {
        "org_url": org_url,
        "token": _env_template(ENV_OKTA),
        "max_concurrency": desired["okta"]["max_concurrency"],
        "rate_limit_headroom": desired["okta"]["rate_limit_headroom"],
        "max_rate_limit_wait_seconds": desired["okta"]["max_rate_limit_wait_seconds"],
    }
    if admin:
        okta["admin_session"] = _env_template(ENV_ADMIN)
    doc = {
        "tenant": desired["tenant"],
        "okta": okta,
        # The label, as the admin's config names the app (the same requests as for real); several apps with
        # that label in the real org would make the real run refuse, which the snapshot's config already
        # passed.
        "app": {"label": snapshot["app"]["label"]},
        "scim": {
            "base_url": scim_url,
            **desired["scim"],
            "auth": {"mode": "http_header", "bearer_token": _env_template(ENV_SCIM)},
        },
        "to_app": desired["to_app"],
        "resync": desired["resync"],
        "tasks": desired["tasks"],
    }
    header = (
        "# Written by `oktasync rehearse`: the snapshot's config, pointed at a local emulator and target.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False)


@contextlib.contextmanager
def rehearsal_environment(
    snapshot: dict[str, Any], workdir: Path, *, time_scale: float = DEFAULT_TIME_SCALE
) -> Iterator[RehearsalEnvironment]:
    """Start the local target and the emulator from ``snapshot``, write the config; stop both on exit."""
    from oktasync.emulator.scim_target import run_scim_server

    env = _rehearsal_secrets()
    admin_wanted = bool(snapshot["config"]["okta"].get("admin_session"))
    admin = (env[ENV_ADMIN], "rehearsal-xsrf-" + secrets.token_urlsafe(12)) if admin_wanted else None
    workdir.mkdir(parents=True, exist_ok=True)
    with run_scim_server(env[ENV_SCIM]) as scim:
        target_ids = _fill_target(scim, snapshot)
        rejections = _rejections(snapshot)
        for status in sorted(set(rejections.values())):
            scim.reject(
                [name for name, s in rejections.items() if s == status],
                status=status,
                detail=_REJECTED_DETAIL,
            )
        seed, _ = _seed(
            snapshot, okta_token=env[ENV_OKTA], scim_url=scim.base_url, scim_token=env[ENV_SCIM], admin=admin
        )
        _link_external_ids(seed, snapshot, target_ids)
        with _snapshot_emulator(snapshot, seed, env[ENV_OKTA], time_scale) as emulator:
            config_path = workdir / CONFIG_NAME
            config_path.write_text(
                _config_text(snapshot, emulator.url, scim.base_url, admin is not None), encoding="utf-8"
            )
            with environ_overlay(env):
                yield RehearsalEnvironment(
                    workdir=workdir,
                    config_path=config_path,
                    state_dir=workdir / "state",
                    snapshot=snapshot,
                    emulator=emulator,
                    scim=scim,
                    time_scale=time_scale,
                    target_ids=target_ids,
                    rejected=tuple(sorted(rejections)),
                    env=env,
                )


def _rehearsal_secrets() -> dict[str, str]:
    """Fresh tokens for the rehearsal's Okta, target and admin session, by environment variable name; each
    is remembered as a secret, so the run's output masks it like a real one."""
    from oktasync.config.secret import remember_secret

    env = {
        ENV_OKTA: "rehearsal-okta-" + secrets.token_urlsafe(18),
        ENV_SCIM: "rehearsal-scim-" + secrets.token_urlsafe(18),
        ENV_ADMIN: "rehearsal-sid-" + secrets.token_urlsafe(12),
    }
    for value in env.values():
        remember_secret(value)
    return env


def _fill_target(scim: ScimServer, snapshot: Mapping[str, Any]) -> dict[str, str]:
    """Create the snapshot's target users on the local target: their new ids by lower-cased userName."""
    target_ids: dict[str, str] = {}
    for user in (snapshot.get("target") or {}).get("users") or []:
        if not user.get("user_name"):
            continue
        created = scim.create_user(
            str(user["user_name"]),
            given=user.get("given_name") or "",
            family=user.get("family_name") or "",
            active=bool(user.get("active", True)),
        )
        target_ids[str(user["user_name"]).lower()] = str(created["id"])
    return target_ids


@contextlib.contextmanager
def _snapshot_emulator(
    snapshot: Mapping[str, Any], seed: dict[str, Any], okta_token: str, time_scale: float
) -> Iterator[RunningEmulator]:
    """The emulator seeded with the snapshot's org, at its rate limits and (scaled) median latency."""
    from oktasync.emulator.testing import run_emulator

    limits = {str(k): int(v) for k, v in (snapshot.get("rate_limits") or {}).items() if int(v) > 0}
    # The snapshot's limits are what Okta announced to this client: its share of each bucket. The
    # rehearsal's one client gets exactly that (a share of 1 of those limits).
    with run_emulator(
        seed,
        api_token=okta_token,
        time_scale=time_scale,
        rate_limits=limits,
        behaviour={"rate_limit_client_share": 1.0},
    ) as emulator:
        latency = (snapshot.get("latency") or {}).get("median_ms")
        if latency:
            emulator.control.faults(latency_ms=float(latency) * time_scale)
        yield emulator


def _link_external_ids(
    seed: dict[str, Any], snapshot: Mapping[str, Any], target_ids: Mapping[str, str]
) -> None:
    """App users as the snapshot has them; an externalId points at the target user of the same userName
    (or at nothing on the target, as a stale link does)."""
    app_doc = seed["apps"][0]
    for au in snapshot["app_users"]:
        name = str(au.get("user_name") or "")
        external = None
        if au.get("external_id_present"):
            external = target_ids.get(name.lower()) or f"rehearsal-unlinked-{au['user']}"
        app_doc["app_users"].append(
            {
                "user": au["user"],
                "scope": au["scope"],
                "status": au["status"],
                "sync_state": au["sync_state"],
                "external_id": external,
                "user_name": name or None,
            }
        )


# --- running -------------------------------------------------------------------------------------------
@dataclass
class StepMeasure:
    id: str
    action: str
    name: str
    status: str = "not run"
    summary: str | None = None
    calls_by_bucket: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # time-scaled, as it ran
    slept: float = 0.0  # unscaled seconds the playbook asked to wait between attempts
    started: float = 0.0
    manual_steps: list[str] = field(default_factory=list)
    polls: bool = False  # an `until` step: how often it polls depends on how fast the pushes go
    attempts: int = 0
    job_polls: int = 0  # app-user listings a resync made while waiting for Okta's background jobs


@dataclass
class RehearsalRun:
    kind: str  # playbook | command
    name: str
    exit_code: int
    started: float
    finished: float
    steps: list[StepMeasure]
    confirms: list[dict[str, str]]
    status: str
    waits: list[dict[str, str]] = field(default_factory=list)  # steps that stopped for a person


def _bucket_counts(env: RehearsalEnvironment) -> dict[str, int]:
    return {str(k): int(v) for k, v in env.emulator.control.stats().get("by_bucket", {}).items()}


class _Meter:
    """RunReporter that measures each step: requests per bucket (the emulator's count) and time."""

    def __init__(self, env: RehearsalEnvironment) -> None:
        self.env = env
        self.steps: dict[str, StepMeasure] = {}
        self._before: dict[str, int] = {}
        self.current: StepMeasure | None = None
        self.waits: list[dict[str, str]] = []  # steps that stopped for a person: console steps, refusals

    def run_started(self, playbook: Any, tenant: str, run_id: str, resumed: bool) -> None:
        pass

    def step_started(self, step: Step, index: int, total: int, attempt: int) -> None:
        if attempt != 1:
            return
        self._before = _bucket_counts(self.env)
        measure = StepMeasure(
            step.id, step.action, step.name, started=time.perf_counter(), polls=step.until is not None
        )
        earlier = self.steps.get(step.id)
        if earlier is not None:  # the step runs again after a person's console steps: count both runs
            measure.calls_by_bucket = dict(earlier.calls_by_bucket)
            measure.seconds = earlier.seconds
        self.steps[step.id] = measure
        self.current = measure

    def step_finished(
        self, step: Step, index: int, total: int, entry: Mapping[str, Any], reused: bool
    ) -> None:
        if reused:  # done in the run before a resume: measured then
            return
        measure = self.steps.setdefault(step.id, StepMeasure(step.id, step.action, step.name))
        measure.status = str(entry.get("status"))
        measure.summary = str(entry.get("summary")) if entry.get("summary") else None
        if measure.started:
            measure.seconds += time.perf_counter() - measure.started
            after = _bucket_counts(self.env)
            for bucket in sorted(after):
                made = after[bucket] - self._before.get(bucket, 0)
                if made:
                    measure.calls_by_bucket[bucket] = measure.calls_by_bucket.get(bucket, 0) + made
        measure.attempts = int(entry.get("attempts") or (1 if measure.started else 0))
        result = entry.get("result") or {}
        measure.job_polls = _job_polls(result)
        measure.manual_steps = [str(s) for s in result.get("manual_steps") or []]
        if measure.status == "failed" and (measure.manual_steps or result.get("error")):
            self.waits.append(self._wait(step.id, measure.manual_steps, result))
        self.current = None

    def _wait(self, step_id: str, console_steps: list[str], result: Mapping[str, Any]) -> dict[str, str]:
        if console_steps:
            kind, detail = "console steps", " / ".join(console_steps)
        else:
            kind = "stopped"
            detail = str(result.get("error")).splitlines()[0]
            if result.get("hint"):
                detail += f" (hint: {result['hint']})"
        return {"step": step_id, "kind": kind, "detail": _local_urls(self.env, detail)}

    def note(self, message: str) -> None:
        pass


def _job_polls(result: Mapping[str, Any]) -> int:
    """App-user listings a resync made while waiting for Okta's group jobs (its ``repush`` summary)."""
    repush = result.get("repush")
    if not isinstance(repush, dict):
        return 0
    total = 0
    for wait in ("removal_wait", "return_wait"):
        record = repush.get(wait)
        if isinstance(record, dict):
            total += int(record.get("polls") or 0)
    return total


def _local_urls(env: RehearsalEnvironment, text: str) -> str:
    """The rehearsal's loopback URLs (their ports change every run) as placeholders: a stable report."""
    return text.replace(env.scim.base_url, "(SCIM target)").replace(env.emulator.url, "(org)")


class _RecordingYes:
    """Confirm steps: a person would be asked; the rehearsal answers yes and records the question."""

    def __init__(self, meter: _Meter, org_url: str) -> None:
        self.meter = meter
        self.org_url = org_url
        self.asked: list[dict[str, str]] = []

    def confirm(self, message: str) -> bool:
        step = self.meter.current.id if self.meter.current else "?"
        self.asked.append({"step": step, "message": " ".join(message.replace(self.org_url, "(org)").split())})
        return True


async def rehearse_playbook(env: RehearsalEnvironment, playbook_path: Path) -> RehearsalRun:
    """Run the playbook unchanged against the rehearsal (confirm steps pass, and are recorded)."""
    from oktasync.config import load_tenant
    from oktasync.playbooks.loader import load_playbook
    from oktasync.playbooks.runner import run_playbook

    playbook = load_playbook(playbook_path)
    config = load_tenant(env.config_path)
    meter = _Meter(env)
    interaction = _RecordingYes(meter, env.emulator.url)

    async def counted_sleep(seconds: float) -> None:
        # Not scaled: these waits let Okta's background pushes progress, and those run at the target's own
        # speed in the rehearsal too; scaling them would make a polling step poll more often than for real.
        if meter.current is not None:
            meter.current.slept += seconds
        await asyncio.sleep(seconds)

    env.emulator.control.reset_stats()
    started = time.time()

    async def run(resume: bool) -> Any:
        return await run_playbook(
            playbook,
            [(str(env.config_path), config)],
            inputs={},
            state_dir=env.state_dir,
            resume=resume,
            interaction=interaction,
            reporter=meter,
            sleep=counted_sleep,
            resume_command=f"oktasync playbook run {playbook.name} --config {env.config_path} --resume",
        )

    result = await run(resume=False)
    for _ in range(3):
        if result.exit_code() != EXIT_MANUAL:
            break
        # A step printed console steps for a person (exit 5). The person does them: the rehearsal sets
        # what the config asks for in the emulator, as the console would, and the run is resumed.
        meter.steps["console"] = await _do_console_steps(env, config)
        result = await run(resume=True)
    await asyncio.to_thread(env.emulator.control.wait_idle, 120)
    finished = time.time()
    tenant_run = result.runs[0] if result.runs else None
    return RehearsalRun(
        kind="playbook",
        name=playbook.name,
        exit_code=result.exit_code(detailed=True),
        started=started,
        finished=finished,
        steps=[meter.steps.get(s.id) or StepMeasure(s.id, s.action, s.name) for s in playbook.steps]
        + ([meter.steps["console"]] if "console" in meter.steps else []),
        confirms=interaction.asked,
        status=tenant_run.status if tenant_run else "not run",
        waits=meter.waits,
    )


async def _do_console_steps(env: RehearsalEnvironment, config: Any) -> StepMeasure:
    """What a person does when oktasync prints console steps: the config's values set in the Admin
    Console (here: in the emulator), then ``oktasync apply --confirm-manual`` (docs/plan-apply.md) to record
    what nothing can read back. Measured as one more step, "console"."""
    from oktasync.state import StateDir
    from oktasync.workflows.apply import ApplyOptions, apply_configs

    measure = StepMeasure(
        "console", "apply --confirm-manual", "A person's console steps", started=time.perf_counter()
    )
    before = _bucket_counts(env)
    await asyncio.to_thread(
        env.emulator.control.set_app_settings,
        env.snapshot["app"]["id"],
        scim_base_url=config.scim.base_url,
        unique_identifier=config.scim.unique_identifier,
        push_new_users=config.scim.push_new_users,
        push_profile_updates=config.scim.push_profile_updates,
        bearer_token=config.scim.auth.bearer_token.reveal(),
        create_users=config.to_app.create_users,
        update_user_attributes=config.to_app.update_user_attributes,
        deactivate_users=config.to_app.deactivate_users,
    )

    async def approve(plan: Any, needed: bool) -> bool:
        return True

    await apply_configs(
        [(config, str(env.config_path))],
        state=StateDir(env.state_dir),
        options=ApplyOptions(confirm_manual=True),
        approve=approve,
    )
    after = _bucket_counts(env)
    measure.calls_by_bucket = {
        b: after[b] - before.get(b, 0) for b in sorted(after) if after[b] - before.get(b, 0)
    }
    measure.seconds = time.perf_counter() - measure.started
    measure.status = "ok"
    measure.attempts = 1
    return measure


def measure_command(env: RehearsalEnvironment, name: str, run: Callable[[], int]) -> RehearsalRun:
    """Run one oktasync command (``run`` returns its exit code) against the rehearsal, measured as a step."""
    env.emulator.control.reset_stats()
    started = time.time()
    step = StepMeasure("command", name.split()[0] if name else "command", name, started=time.perf_counter())
    code = run()
    env.emulator.control.wait_idle(120)
    step.seconds = time.perf_counter() - step.started
    step.calls_by_bucket = dict(sorted(_bucket_counts(env).items()))
    step.status = "ok" if code == 0 else "failed"
    step.summary = f"exit code {code}"
    return RehearsalRun("command", name, code, started, time.time(), [step], [], step.status)


AsyncRun = Callable[[], Awaitable[RehearsalRun]]
