"""``oktasync snapshot``: a read-only copy of what the runbook touches, for ``oktasync rehearse``.

Every Okta read goes through the Okta gateway (so through its pacer: the snapshot never takes more of a
bucket than any other command). What it reads, in order, and why:

1. the app (``resolve_app``), its kind (the same probe as ``plan``) and its readable provisioning settings:
   the Admin Console form for custom SCIM apps when the config has an admin session, else the connection
   and the ``USER_PROVISIONING`` feature (API-capable apps);
2. its group assignments (priority, profile);
3. its app users with their Okta user (scope, status, syncState, whether an externalId is set, userName,
   login, email, names): every member of an assigned group is one of them, so this is "the groups' members
   as far as they are entitled to the app";
4. each assigned group's member ids (to know which users each group entitles);
5. the System Log's push failures of the last 30 days for the app (which users the target refused and why);
6. with ``target``: the SCIM target's users, paged as Okta's connector test reads them (GET only).

The rate limits Okta announced per bucket (``X-Rate-Limit-Limit``, as the gateway's pacer recorded them) and
the observed latency per request go into the snapshot too.

Resumable: the raw reads are checkpointed in the state dir (``<state>/<tenant>/<app>/snapshot.partial.json``)
after each phase and every few groups; a re-run continues from there and deletes it once the snapshot is
written. The checkpoint holds real values (it never leaves the admin's machine) and never a secret; the
pseudonyms are computed at the end, with a key that is never written anywhere.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from oktasync.progress import Progress
from oktasync.rehearsal import FORMAT_VERSION, SNAPSHOT_KIND
from oktasync.rehearsal.pseudonym import Pseudonymiser
from oktasync.state import atomic_write_json, read_json
from oktasync.timestamps import okta_time, utc_seconds
from oktasync.workflows.session import TenantSession, app_state_dir, org_app_dirs

if TYPE_CHECKING:
    from oktasync.config.schema import TenantConfig
    from oktasync.models import AppUser
    from oktasync.okta_gateway.base import OktaGateway

T = TypeVar("T")

FAILURE_LOOKBACK_DAYS = 30
PUSH_FAILURES = 'eventType eq "application.provision.user.push" and outcome.result eq "FAILURE"'
_CHECKPOINT_EVERY = 25  # groups between checkpoints
_PAGE_APP_USERS = 500
_PAGE_MEMBERS = 1000


@dataclass(frozen=True)
class SnapshotResult:
    path: Path
    document: dict[str, Any]
    calls: int
    resumed: bool
    estimate: int

    def to_dict(self) -> dict[str, Any]:
        doc = self.document
        return {
            "path": str(self.path),
            "pseudonymised": doc["pseudonymised"],
            "resumed": self.resumed,
            "estimated_calls": self.estimate,
            "calls": self.calls,
            "groups": len(doc["groups"]),
            "app_users": len(doc["app_users"]),
            "push_failures": len(doc["push_failures"]),
            "target_users": None if doc["target"] is None else len(doc["target"]["users"]),
            "rate_limits": doc["rate_limits"],
        }


class _Timer:
    """Observed latency per Okta request: a call's time divided by the requests it made."""

    def __init__(self, gateway: OktaGateway, samples: list[float]) -> None:
        self.gateway = gateway
        self.samples = samples

    async def __call__(self, make: Callable[[], Awaitable[T]]) -> T:
        before = self.gateway.request_count()
        started = time.perf_counter()
        result = await make()
        requests = self.gateway.request_count() - before
        if requests > 0:
            self.samples.append(1000.0 * (time.perf_counter() - started) / requests)
        return result


CHECKPOINT_NAME = "snapshot.partial.json"


async def _checkpoint_path(session: TenantSession, timer: _Timer) -> Path:
    """Where the snapshot of the session's app is checkpointed: in the app's state directory. An existing
    checkpoint is found without asking Okta (a resumed snapshot reads nothing twice): by ``app.id``, or by
    the label the checkpoint recorded; otherwise the app is resolved."""
    config = session.config
    if config.app.id:
        candidates = [app_state_dir(session.state_dir, config, config.app.id, config.app.label)]
    else:
        label = config.app.label
        candidates = [d for d in org_app_dirs(session.state_dir, config) if _checkpoint_of(d, label)]
    found = [d / CHECKPOINT_NAME for d in candidates if (d / CHECKPOINT_NAME).is_file()]
    if len(found) == 1:
        return found[0]
    return await timer(session.app_dir) / CHECKPOINT_NAME


def _checkpoint_of(app_dir: Path, label: str | None) -> bool:
    """Whether ``app_dir`` holds a checkpoint of the app labelled ``label``."""
    if not (app_dir / CHECKPOINT_NAME).is_file():
        return False
    raw = read_json(app_dir / CHECKPOINT_NAME)
    app = raw.get("app") if isinstance(raw, dict) else None
    return isinstance(app, dict) and app.get("label") == label


def estimate_calls(groups: int, app_users: int) -> int:
    """Requests still to make once the app users are read: one page of members per group (more for
    groups over 1,000 members, bounded by the app users), plus the System Log query."""
    extra_pages = app_users // _PAGE_MEMBERS
    return groups + extra_pages + 1


@dataclass
class _Checkpoint:
    """The snapshot's reads so far, kept in the checkpoint file as each one is done: a resumed snapshot
    makes none of them twice."""

    path: Path
    raw: dict[str, Any]
    timer: _Timer
    resumed: bool  # an earlier run had read something

    def save(self) -> None:
        atomic_write_json(self.path, self.raw)

    async def part(self, key: str, read: Callable[[], Awaitable[Any]]) -> Any:
        """``raw[key]``: read (and checkpointed) unless an earlier run already did."""
        if key not in self.raw:
            self.raw[key] = await read()
            self.save()
        return self.raw[key]


async def _open_checkpoint(session: TenantSession, gateway: OktaGateway) -> _Checkpoint:
    latency: list[float] = []  # the app's resolution, when finding the checkpoint needed it
    path = await _checkpoint_path(session, _Timer(gateway, latency))
    raw: dict[str, Any] = read_json(path) or {}
    if raw:
        session.progress.note(f"resuming the snapshot recorded in {path}")
    resumed = bool(raw)
    raw["latency_ms"] = [*raw.get("latency_ms", []), *latency]
    return _Checkpoint(path, raw, _Timer(gateway, raw["latency_ms"]), resumed)


async def take_snapshot(
    session: TenantSession,
    *,
    out: Path,
    pseudonymise: bool = True,
    target: bool = False,
    scim_factory: Callable[[TenantConfig], Any] | None = None,
    announce: Callable[[str], None] | None = None,
) -> SnapshotResult:
    """Read the session's org (resuming a checkpoint), write the snapshot to ``out``, delete the checkpoint.

    ``announce`` gets the estimate of the requests still to make, once the app users are read (the CLI
    prints it on stderr); it defaults to the progress display's notes."""
    config, progress = session.config, session.progress
    gateway = await session.gateway()
    start_count = gateway.request_count()
    checkpoint = await _open_checkpoint(session, gateway)
    raw, timer = checkpoint.raw, checkpoint.timer
    app = await checkpoint.part("app", lambda: _read_app(session, timer))
    await checkpoint.part("assignments", lambda: _read_assignments(gateway, timer, app["id"]))
    await checkpoint.part("app_users", lambda: _read_app_users(gateway, timer, app, progress))
    estimate = await _read_all_members(gateway, checkpoint, progress, announce or progress.note, target)
    await checkpoint.part("failures", lambda: _read_failures(gateway, timer, app["id"]))
    if target:
        await checkpoint.part("target", lambda: _read_target(config, progress, scim_factory))
    _record_totals(raw, gateway, start_count)
    checkpoint.save()
    document = build_document(raw, config, Pseudonymiser(enabled=pseudonymise))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, document)
    checkpoint.path.unlink(missing_ok=True)
    return SnapshotResult(out, document, raw["calls"], checkpoint.resumed, estimate)


async def _read_assignments(gateway: OktaGateway, timer: _Timer, app_id: str) -> list[dict[str, Any]]:
    assignments = await timer(lambda: gateway.list_group_assignments(app_id))
    return [
        {"id": a.group_id, "name": a.group_name, "priority": a.priority, "profile": a.profile}
        for a in assignments
    ]


async def _read_app_users(
    gateway: OktaGateway, timer: _Timer, app: Mapping[str, Any], progress: Progress
) -> list[dict[str, Any]]:
    progress.note(f"reading the app users of {app['label']} (500 per request)")
    app_users = await timer(lambda: gateway.list_app_users(app["id"], with_user=True))
    return [_app_user_record(u) for u in app_users]


async def _read_all_members(
    gateway: OktaGateway,
    checkpoint: _Checkpoint,
    progress: Progress,
    announce: Callable[[str], None],
    target: bool,
) -> int:
    """Announce the requests still to make, then read the members of every assigned group not read yet.
    Returns the estimate."""
    raw = checkpoint.raw
    members: dict[str, list[str]] = raw.setdefault("members", {})
    todo = [a["id"] for a in raw["assignments"] if a["id"] not in members]
    estimate = estimate_calls(len(todo), len(raw["app_users"]))
    announce(
        f"about {estimate} more Okta requests: the members of {len(todo)} group(s), then the System Log"
        + (", then the SCIM target's users (100 per request)" if target else "")
    )
    total = len(raw["assignments"])
    await _read_members(gateway, checkpoint.timer, members, todo, total, progress, checkpoint.save)
    return estimate


async def _read_failures(gateway: OktaGateway, timer: _Timer, app_id: str) -> list[dict[str, Any]]:
    since = okta_time(datetime.now(UTC) - timedelta(days=FAILURE_LOOKBACK_DAYS))
    events = await timer(lambda: gateway.list_log_events(since=since, filter=PUSH_FAILURES))
    return _latest_failures(events, app_id)


def _record_totals(raw: dict[str, Any], gateway: OktaGateway, start_count: int) -> None:
    """The rate limits Okta announced and the requests made, added to what earlier runs recorded."""
    raw["rate_limits"] = {
        **raw.get("rate_limits", {}),
        **{state.bucket: state.limit for state in gateway.rate_limits() if state.limit > 0},
    }
    raw["calls"] = raw.get("calls", 0) + gateway.request_count() - start_count


def _app_user_record(u: AppUser) -> dict[str, Any]:
    """One app user as the checkpoint keeps it (pseudonymised later, in ``build_document``)."""
    return {
        "user": u.id,
        "scope": u.scope,
        "status": u.status,
        "sync_state": u.sync_state,
        "external_id_present": bool(u.external_id),
        "user_name": u.user_name,
        "login": u.login,
        "email": u.email,
        "given_name": u.profile.get("givenName"),
        "family_name": u.profile.get("familyName"),
    }


async def _read_members(
    gateway: OktaGateway,
    timer: _Timer,
    members: dict[str, list[str]],
    todo: list[str],
    total: int,
    progress: Progress,
    save: Callable[[], None],
) -> None:
    """The members of each group in ``todo`` into ``members``, saved every few groups and on any exit."""
    progress.start("groups", total=total)
    progress.advance("groups", total - len(todo))
    try:
        for index, group_id in enumerate(todo, 1):
            members[group_id] = await timer(lambda gid=group_id: gateway.list_group_member_ids(gid))  # type: ignore[misc]
            progress.advance("groups")
            if index % _CHECKPOINT_EVERY == 0:
                save()
    finally:
        save()  # an error or Ctrl-C keeps every group read so far
    progress.finish("groups")


async def _read_app(session: TenantSession, timer: _Timer) -> dict[str, Any]:
    from oktasync.models import AppKind
    from oktasync.workflows.channels import probe

    gateway = await session.gateway()
    app = await timer(session.app)
    kind, reads = await timer(lambda: probe(gateway, app))
    settings: dict[str, Any] = {}
    source = "unreadable"
    if kind is AppKind.CUSTOM_SCIM and gateway.has_admin_session():
        form = await timer(lambda: gateway.read_admin_form(app))
        settings = {
            "scim_base_url_set": bool(form.scim_base_url),
            "unique_identifier": form.unique_identifier,
            "push_new_users": form.push_new_users,
            "push_profile_updates": form.push_profile_updates,
            "auth_mode": form.auth_mode,
            "bearer_token_set": form.bearer_token_set,
            "create_users": form.create_users,
            "update_user_attributes": form.update_user_attributes,
            "deactivate_users": form.deactivate_users,
        }
        source = "admin"
    elif kind is AppKind.API_CAPABLE:
        settings = {
            "scim_base_url_set": bool(reads.connection.base_url),
            "connection_status": reads.connection.status,
            "bearer_token_set": reads.connection.status == "ENABLED",
        }
        if reads.to_app is not None:
            settings.update(
                create_users=reads.to_app.create_users,
                update_user_attributes=reads.to_app.update_user_attributes,
                deactivate_users=reads.to_app.deactivate_users,
            )
        source = "api"
    return {
        "id": app.id,
        "name": app.name,
        "label": app.label,
        "status": app.status,
        "sign_on_mode": app.sign_on_mode,
        "features": list(app.features),
        "kind": str(kind),
        "settings": settings,
        "settings_source": source,
    }


def event_user(targets: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The Okta user a System Log event is about: its ``User`` target (the ``AppUser`` target's id is the app
    user's own id on current orgs), else the ``AppUser`` target (older events carry the user id there)."""
    for kind in ("User", "AppUser"):
        found = next((t for t in targets if t.get("type") == kind and t.get("id")), None)
        if found is not None:
            return found
    return None


def _latest_failures(events: list[Any], app_id: str) -> list[dict[str, Any]]:
    """The latest push failure per user of this app (events come oldest first)."""
    latest: dict[str, dict[str, Any]] = {}
    for event in events:
        targets = event.targets
        if not any(t.get("type") == "AppInstance" and t.get("id") == app_id for t in targets):
            continue
        user = event_user(targets)
        if user is None or not user.get("id"):
            continue
        latest[str(user["id"])] = {
            "user": str(user["id"]),
            "published": event.published,
            "reason": event.reason,
            "display_name": user.get("displayName"),
        }
    return [latest[k] for k in sorted(latest)]


async def _read_target(
    config: TenantConfig, progress: Progress, scim_factory: Callable[[TenantConfig], Any] | None
) -> dict[str, Any]:
    from oktasync.scim_gateway import ScimGateway
    from oktasync.workflows.report import collect_target_users

    scim = scim_factory(config) if scim_factory else ScimGateway.from_config(config.scim)
    try:
        inventory = await collect_target_users(scim, progress=progress)
    finally:
        await scim.close()
    return {
        "users": [
            {
                "id": u.id,
                "user_name": u.user_name,
                "emails": list(u.emails),
                "active": u.active,
                "external_id_present": bool(u.external_id),
                "given_name": u.given_name,
                "family_name": u.family_name,
            }
            for u in inventory.users
        ],
        "pages": inventory.pages,
    }


# --- the document ----------------------------------------------------------------------------------------
def build_document(raw: dict[str, Any], config: TenantConfig, p: Pseudonymiser) -> dict[str, Any]:
    """The snapshot document from the raw reads: pseudonymised (unless ``p`` is disabled), sorted."""
    app = dict(raw["app"])
    app["id"] = p.id(app["id"], "0oa")
    user_ids = {au["user"] for au in raw["app_users"]}
    users, app_users, names_by_user = _users(raw, p)
    return {
        "format_version": FORMAT_VERSION,
        "kind": SNAPSHOT_KIND,
        "taken": utc_seconds(),
        "pseudonymised": p.enabled,
        "org_url": config.okta.org_url if not p.enabled else "https://org.pseudonym.invalid",
        "config": _desired(config, p),
        "app": app,
        "groups": _groups(raw, p, user_ids),
        "users": users,
        "app_users": app_users,
        "push_failures": _failures(raw, p, user_ids, names_by_user),
        "rate_limits": dict(sorted(raw.get("rate_limits", {}).items())),
        "latency": _latency(raw.get("latency_ms") or []),
        "calls": raw.get("calls", 0),
        "target": _target(raw, p),
    }


def _users(
    raw: dict[str, Any], p: Pseudonymiser
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, tuple[str | None, ...]]]:
    """The Okta users and app users, and each user's real names (to take out of failure reasons)."""
    users = []
    app_users = []
    names_by_user: dict[str, tuple[str | None, ...]] = {}
    for au in sorted(raw["app_users"], key=lambda a: a["user"]):
        uid = au["user"]
        names_by_user[uid] = (au.get("given_name"), au.get("family_name"))
        users.append(
            {
                "id": p.id(uid, "00u"),
                "login": p.address(au.get("login")),
                "email": p.address(au.get("email")),
                "firstName": p.name(au.get("given_name"), "Given"),
                "lastName": p.name(au.get("family_name"), "Family"),
            }
        )
        app_users.append(
            {
                "user": p.id(uid, "00u"),
                "scope": au["scope"],
                "status": au["status"],
                "sync_state": au["sync_state"],
                "external_id_present": au["external_id_present"],
                "user_name": p.address(au.get("user_name")),
            }
        )
    return users, app_users, names_by_user


def _groups(raw: dict[str, Any], p: Pseudonymiser, user_ids: set[str]) -> list[dict[str, Any]]:
    """The assigned groups in priority order, each with its members among the app users."""
    groups = []
    for assignment in raw["assignments"]:
        gid = assignment["id"]
        entitled = sorted(p.id(m, "00u") or m for m in raw["members"].get(gid, []) if m in user_ids)
        groups.append(
            {
                "id": p.id(gid, "00g"),
                "name": p.name(assignment.get("name") or gid, "group"),
                "priority": assignment["priority"],
                "profile": assignment.get("profile") or {},
                "members": entitled,
            }
        )
    groups.sort(key=lambda g: (g["priority"] is None, g["priority"], g["id"]))
    return groups


def _failures(
    raw: dict[str, Any],
    p: Pseudonymiser,
    user_ids: set[str],
    names_by_user: dict[str, tuple[str | None, ...]],
) -> list[dict[str, Any]]:
    """The recent push failures of app users, their reasons without the users' names."""
    failures = []
    for failure in raw.get("failures", []):
        if failure["user"] not in user_ids:
            continue
        display = failure.get("display_name")
        names = (*names_by_user.get(failure["user"], ()), display)
        failures.append(
            {
                "user": p.id(failure["user"], "00u"),
                "reason": p.text(failure.get("reason"), names),
            }
        )
    failures.sort(key=lambda f: str(f["user"]))
    return failures


def _target(raw: dict[str, Any], p: Pseudonymiser) -> dict[str, Any] | None:
    """The SCIM target's users (with ``--target``), else None."""
    if raw.get("target") is None:
        return None
    target_users = [
        {
            "id": p.id(t["id"], "tgt"),
            "user_name": p.address(t.get("user_name")),
            "emails": [p.address(e) for e in t.get("emails") or []],
            "active": t["active"],
            "external_id_present": t["external_id_present"],
            "given_name": p.name(t.get("given_name"), "Given"),
            "family_name": p.name(t.get("family_name"), "Family"),
        }
        for t in raw["target"]["users"]
    ]
    target_users.sort(key=lambda t: (str(t["user_name"]), str(t["id"])))
    return {"users": target_users, "pages": raw["target"].get("pages")}


def _latency(latency_ms: list[float]) -> dict[str, Any]:
    samples = sorted(latency_ms)
    return {
        "samples": len(samples),
        "median_ms": round(statistics.median(samples), 1) if samples else None,
        "p90_ms": round(samples[min(len(samples) - 1, math.ceil(0.9 * len(samples)) - 1)], 1)
        if samples
        else None,
    }


def _desired(config: TenantConfig, p: Pseudonymiser) -> dict[str, Any]:
    """What the config asks for, without its URLs and secrets (the rehearsal points it at loopback)."""
    groups = config.resync.groups
    return {
        "tenant": config.tenant if not p.enabled else "rehearsal",
        "okta": {
            "max_concurrency": config.okta.max_concurrency,
            "rate_limit_headroom": config.okta.rate_limit_headroom,
            "max_rate_limit_wait_seconds": config.okta.max_rate_limit_wait_seconds,
            "admin_session": config.okta.admin_session is not None
            and bool(config.okta.admin_session.reveal()),
            "oauth": config.okta.oauth is not None,
        },
        "scim": {
            "unique_identifier": config.scim.unique_identifier,
            "push_new_users": config.scim.push_new_users,
            "push_profile_updates": config.scim.push_profile_updates,
        },
        "to_app": config.to_app.model_dump(),
        "resync": {
            "groups": groups if groups == "all" else [p.name(g, "group") for g in groups],
            "max_affected_users": config.resync.max_affected_users,
        },
        "tasks": {"retry": config.tasks.retry.model_dump()},
    }
