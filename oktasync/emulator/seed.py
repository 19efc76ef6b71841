"""Seed format: load, dump and generate emulated orgs (docs/emulator.md "Seed format").

A seed is one JSON/YAML document; every key is optional::

    api_tokens: [tok]                                  # SSWS tokens (all scopes)
    admin_sessions: [{id: sid, xsrf_token: x}]         # or plain session-id strings; optional cookies: {name:
                                                       # value} required besides sid, network (where it was
                                                       # signed in; "local" = here), idle_timeout_seconds,
                                                       # idle_seconds (already idle this long)
    service_apps: [{client_id, scopes: [...], public_jwk: {...} | public_key_pem: "...",
                    dpop_bound_access_tokens: bool}]
    users:  [{id?, login, email?, firstName, lastName, status?}]
    groups: [{id?, name, description?, members: [login-or-id, ...]}]
    apps:   [{id?, name, label, kind: custom_scim|api, sign_on_mode?, settings: {...},
              connection_status?: ENABLED|DISABLED,     # api apps only
              groups: [{group: name-or-id, priority?, profile?}],
              users: [login-or-id, ...],               # direct assignments
              app_users: [{user, scope?, status, sync_state, external_id, user_name?, profile?, last_sync?}]}]
    events: [...]                                      # System Log events, as dumped

Assignments in a seed do **not** go through the provisioning engine: app users are created as listed in
``app_users`` (pre-provisioned state for benchmarks), and every other entitled user gets an app user that is
``PROVISIONED``/``SYNCHRONIZED`` if ``preprovisioned: true`` is set on the app, else ``ACTIVE``/``DISABLED``
(not pushed). ``dump_state`` writes the same format, so a dump loads back.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from oktasync.emulator.records import (
    API_CAPABLE,
    CUSTOM_SCIM,
    AdminSession,
    App,
    AppSettings,
    AppUser,
    GroupAssignment,
    NotFound,
    ServiceApp,
    iso,
    parse_iso,
)
from oktasync.emulator.store import Store


class SeedError(ValueError):
    """The seed document is malformed (the message names the offending entry)."""


MAX_STATE_BYTES = 256 * 1024 * 1024  # a 100k-user org with its SCIM call log stays well under this


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a seed/state file: a regular file (never a FIFO or a device), UTF-8 JSON or YAML, bounded in
    size. Raises ``OSError`` (missing, unreadable), ``ConfigError`` (not a regular file, too large, binary,
    bad YAML: with the file and line), ``ValueError`` (bad JSON) or ``SeedError`` (not a mapping)."""
    from oktasync.yamlsource import load_yaml_document, read_bounded_text

    if stat.S_ISDIR(os.stat(path).st_mode):  # missing, unreadable, a directory: OSErrors, as callers expect
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
    text = read_bounded_text(path, what="state file", max_bytes=MAX_STATE_BYTES)
    if not text.strip():
        return {}
    if str(path).endswith((".yaml", ".yml")):
        # Bounded like a config (aliases, depth, tags): a large org is better saved as JSON.
        data = load_yaml_document(path, what="state file").data
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise SeedError(f"{path}: a seed is a mapping at the top level")
    return data


def save_file(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (it holds the org's tokens) readable by its owner only (0600), atomically."""
    target = Path(path)
    tmp = target.with_suffix(target.suffix + ".tmp")
    if str(path).endswith((".yaml", ".yml")):
        import yaml

        text = yaml.safe_dump(state, sort_keys=False)
    else:
        text = json.dumps(state)
    tmp.unlink(missing_ok=True)  # O_EXCL below: never write through a file or link left at this name
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)  # whatever the umask
    tmp.replace(target)


def _settings(raw: dict[str, Any], where: str) -> AppSettings:
    unknown = set(raw) - set(AppSettings.FIELDS)
    if unknown:
        raise SeedError(f"{where}: unknown settings {sorted(unknown)}; known: {list(AppSettings.FIELDS)}")
    return AppSettings(**raw)


def load_state(data: dict[str, Any]) -> Store:
    """Build a fresh store from a seed document. Raises SeedError."""
    store = Store()
    try:
        _load(store, data)
    except SeedError:
        raise
    except NotFound as exc:
        raise SeedError(f"invalid seed: unknown user or group {exc}") from exc
    except (KeyError, TypeError, ValueError, LookupError) as exc:
        raise SeedError(f"invalid seed: {exc!r}") from exc
    return store


def _load(store: Store, data: dict[str, Any]) -> None:
    store.api_tokens.update(str(t) for t in data.get("api_tokens") or [])
    for raw in data.get("admin_sessions") or []:
        if isinstance(raw, str):
            raw = {"id": raw}
        session = AdminSession(id=raw["id"], xsrf_token=raw.get("xsrf_token") or f"xsrf-{raw['id']}")
        if raw.get("admin_login"):
            session.admin_login = raw["admin_login"]
        session.cookies = {str(k): str(v) for k, v in (raw.get("cookies") or {}).items()}
        session.network = str(raw.get("network") or "local")
        session.idle_timeout_seconds = float(raw.get("idle_timeout_seconds", 900.0))
        session.last_seen -= float(raw.get("idle_seconds", 0.0))  # already idle this long
        store.admin_sessions[session.id] = session
    for raw in data.get("service_apps") or []:
        store.service_apps[raw["client_id"]] = ServiceApp(
            client_id=raw["client_id"],
            scopes=list(raw.get("scopes") or []),
            public_jwk=raw.get("public_jwk"),
            public_key_pem=raw.get("public_key_pem"),
            name=raw.get("name", "oktasync service app"),
            dpop_bound_access_tokens=bool(raw.get("dpop_bound_access_tokens", False)),
        )
    now = iso()
    reserved = {"id", "status", "created", "profile"}
    for raw in data.get("users") or []:
        profile = dict(raw.get("profile") or {})
        profile.update((k, v) for k, v in raw.items() if k not in reserved)
        if not profile.get("login"):
            raise SeedError(f"user {raw!r}: login is required")
        user = store.add_user(profile, user_id=raw.get("id"), status=raw.get("status", "ACTIVE"), now=now)
        if raw.get("created"):
            user.created = raw["created"]
    for raw in data.get("groups") or []:
        group = store.add_group(
            raw["name"], group_id=raw.get("id"), description=raw.get("description", ""), now=now
        )
        users, by_login, user_groups = store.users, store.users_by_login, store.user_groups
        for ref in raw.get("members") or []:
            user_id = ref if ref in users else by_login.get(ref.lower()) or store.resolve_user(ref)
            group.members[user_id] = None
            if user_id in user_groups:
                user_groups[user_id].add(group.id)
            else:
                user_groups[user_id] = {group.id}
    for raw in data.get("apps") or []:
        _load_app(store, raw)
    events = data.get("events") or []
    for event in events:
        store.events.append(event)
        store.event_times.append(parse_iso(event["published"]))
    # Keep the log sorted by time (bisect relies on it).
    if any(a > b for a, b in zip(store.event_times, store.event_times[1:], strict=False)):
        order = sorted(range(len(store.events)), key=store.event_times.__getitem__)
        store.events = [store.events[i] for i in order]
        store.event_times = [store.event_times[i] for i in order]
    store.touch()


def _load_app(store: Store, raw: dict[str, Any]) -> None:
    kind = raw.get("kind", CUSTOM_SCIM)
    where = f"app {raw.get('label') or raw.get('name')!r}"
    settings = _settings(dict(raw.get("settings") or {}), where)
    app = store.add_app(
        raw["name"],
        raw.get("label", raw["name"]),
        kind,
        settings,
        app_id=raw.get("id"),
        sign_on_mode=raw.get("sign_on_mode", "SAML_2_0"),
        connection_status=raw.get("connection_status") if kind == API_CAPABLE else None,
    )
    if raw.get("status"):
        app.status = raw["status"]
    if raw.get("settings_history"):
        app.settings_history = list(raw["settings_history"])
    now = iso()
    _load_group_assignments(store, app, raw, now)
    entitled, listed = _entitlements(store, app, raw)
    _load_app_users(store, app, entitled, listed, preprovisioned=bool(raw.get("preprovisioned")), now=now)


def _load_group_assignments(store: Store, app: App, raw: dict[str, Any], now: str) -> None:
    for index, assignment in enumerate(raw.get("groups") or []):
        if isinstance(assignment, str):
            assignment = {"group": assignment}
        gid = store.resolve_group(assignment.get("group") or assignment["id"])
        priority = assignment.get("priority")
        app.groups[gid] = GroupAssignment(
            gid, index if priority is None else int(priority), dict(assignment.get("profile") or {}), now
        )


def _entitlements(
    store: Store, app: App, raw: dict[str, Any]
) -> tuple[dict[str, bool], dict[str, dict[str, Any]]]:
    """Every entitled user (True: assigned directly) and the seed's ``app_users`` entries by user id."""
    direct = {store.resolve_user(ref) for ref in raw.get("users") or []}
    listed: dict[str, dict[str, Any]] = {}
    for entry in raw.get("app_users") or []:
        listed[store.resolve_user(entry["user"])] = entry
    entitled: dict[str, bool] = {}
    for gid in app.groups:
        for uid in store.groups[gid].members:
            entitled.setdefault(uid, False)
    for uid in direct:
        entitled[uid] = True
    for uid in listed:
        if uid not in entitled:
            entitled[uid] = listed[uid].get("scope", "USER") == "USER"
    return entitled, listed


def _load_app_users(
    store: Store,
    app: App,
    entitled: dict[str, bool],
    listed: dict[str, dict[str, Any]],
    *,
    preprovisioned: bool,
    now: str,
) -> None:
    s = app.settings
    for uid, is_direct in entitled.items():
        user = store.users[uid]
        entry = listed.get(uid, {})
        user_name = entry.get("user_name") or str(
            user.profile.get("email") if s.unique_identifier == "email" else user.login
        )
        profile = (
            entry["profile"]
            if isinstance(entry.get("profile"), dict)
            else {
                "email": user.profile.get("email"),
                "givenName": user.profile.get("firstName"),
                "familyName": user.profile.get("lastName"),
                "displayName": user.display_name,
            }
        )
        if entry:
            status, sync, ext = (
                entry.get("status", "PROVISIONED"),
                entry.get("sync_state", "SYNCHRONIZED"),
                entry.get("external_id"),
            )
        elif preprovisioned:
            status, sync, ext = "PROVISIONED", "SYNCHRONIZED", f"scim-{uid}"
        else:
            status, sync, ext = "ACTIVE", "DISABLED", None
        app.users[uid] = AppUser(
            user_id=uid,
            direct=is_direct if not entry.get("scope") else entry["scope"] == "USER",
            user_name=user_name,
            profile=dict(profile),
            status=status,
            sync_state=sync,
            external_id=ext,
            created=now,
            last_updated=now,
            status_changed=now,
            last_sync=entry.get("last_sync") or (now if ext else None),
        )


def dump_state(store: Store, *, secrets: bool = False) -> dict[str, Any]:
    """Whole org in seed format, plus ``scim_calls`` (ignored on load); tokens masked unless ``secrets``."""

    def mask(value: str) -> str:
        return value if secrets else "(sensitive)"

    return {
        "api_tokens": [mask(t) for t in sorted(store.api_tokens)],
        "admin_sessions": [
            {"id": mask(s.id), "xsrf_token": mask(s.xsrf_token), "admin_login": s.admin_login}
            for s in store.admin_sessions.values()
        ],
        "service_apps": [_dump_service_app(sa) for sa in store.service_apps.values()],
        "users": [
            {"id": u.id, "status": u.status, "created": u.created, **u.profile} for u in store.users.values()
        ],
        "groups": [
            {"id": g.id, "name": g.name, "description": g.description, "members": list(g.members)}
            for g in store.groups.values()
        ],
        "apps": [_dump_app(app, secrets=secrets) for app in store.apps.values()],
        "events": store.events,
        "scim_calls": store.scim_calls,
    }


# A service app's fields in the order a seed lists them: its public key only, so nothing here is secret.
_SERVICE_APP_SEED_KEYS = (
    "client_id",
    "name",
    "scopes",
    "public_jwk",
    "public_key_pem",
    "dpop_bound_access_tokens",
)


def _dump_service_app(service_app: ServiceApp) -> dict[str, Any]:
    return {key: getattr(service_app, key) for key in _SERVICE_APP_SEED_KEYS}


def _dump_app(app: App, *, secrets: bool) -> dict[str, Any]:
    """An app in seed format, with its group assignments, app users and settings history."""
    return {
        "id": app.id,
        "name": app.name,
        "label": app.label,
        "kind": app.kind,
        "status": app.status,
        "sign_on_mode": app.sign_on_mode,
        "settings": app.settings.to_dict(secrets=secrets),
        "connection_status": app.connection_status,
        "features": app.features(),
        "groups": [
            {"group": a.group_id, "priority": a.priority, "profile": a.profile} for a in app.groups.values()
        ],
        "app_users": [
            {
                "user": u.user_id,
                "scope": u.scope,
                "status": u.status,
                "sync_state": u.sync_state,
                "external_id": u.external_id,
                "user_name": u.user_name,
                "profile": u.profile,
                "last_sync": u.last_sync,
            }
            for u in app.users.values()
        ],
        "settings_history": app.settings_history,
    }


def build_org(
    *,
    users: int = 100,
    groups: int = 10,
    memberships_per_user: int = 1,
    apps: list[dict[str, Any]] | None = None,
    assign_groups: int | None = None,
    preprovisioned: bool = False,
    domain: str = "example.com",
    api_tokens: tuple[str, ...] = ("emulator-token",),
    admin_sessions: tuple[str, ...] = ("admin-session",),
) -> dict[str, Any]:
    """Generate a big org quickly (a seed document; ids are assigned on load).

    Users are ``user{i}@{domain}``; user ``i`` joins groups ``(i + k) % groups`` for k < memberships_per_user.
    ``apps`` defaults to one custom SCIM app, "Chronosphere" (``chronosphere_scim``), fully configured to
    push (target URL empty: set it with ``settings`` overrides). The first ``assign_groups`` groups (default:
    all) are assigned to every app; with ``preprovisioned`` the resulting app users start PROVISIONED with
    externalIds ``scim-<user id>``, without going through the engine (for benchmarks).
    """
    user_docs = [
        {"login": f"user{i}@{domain}", "firstName": "User", "lastName": f"N{i}"} for i in range(users)
    ]
    members: list[list[str]] = [[] for _ in range(groups)]
    if groups:
        for i in range(users):
            for k in range(memberships_per_user):
                members[(i + k) % groups].append(f"user{i}@{domain}")
    group_docs = [{"name": f"group-{g:05d}", "members": members[g]} for g in range(groups)]
    if apps is None:
        apps = [
            {
                "name": "chronosphere_scim",
                "label": "Chronosphere",
                "kind": CUSTOM_SCIM,
                "settings": {
                    "unique_identifier": "email",
                    "push_new_users": True,
                    "push_profile_updates": True,
                    "create_users": True,
                    "update_user_attributes": True,
                    "deactivate_users": True,
                },
            }
        ]
    n_assign = groups if assign_groups is None else assign_groups
    for app in apps:
        app.setdefault("groups", [{"group": f"group-{g:05d}", "priority": g} for g in range(n_assign)])
        if preprovisioned:
            app["preprovisioned"] = True
    return {
        "api_tokens": list(api_tokens),
        "admin_sessions": list(admin_sessions),
        "users": user_docs,
        "groups": group_docs,
        "apps": apps,
    }


__all__ = ["SeedError", "build_org", "dump_state", "load_file", "load_state", "save_file", "App"]
