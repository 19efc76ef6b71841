"""The emulated org's state and the domain rules that change it (no HTTP here).

Everything runs on the emulator's event loop thread, so nothing here locks. Mutators that make Okta do
background work (assignments, profile updates) return :class:`Job` values; the server hands them to the
provisioning engine (``provisioning.py``), which pushes asynchronously as Okta does.

The records these rules change are in ``records.py``, the System Log they write in ``event_log.py``.
Shapes follow docs/okta-behaviour.md (apps, app groups, app users, System Log); the seed/dump format is
documented in docs/emulator.md and produced by ``seed.py``.
"""

from __future__ import annotations

from typing import Any

from oktasync.emulator.event_log import EventLog
from oktasync.emulator.records import (
    APP_KINDS,
    AdminSession,
    App,
    AppSettings,
    AppUser,
    Group,
    GroupAssignment,
    IdFactory,
    Job,
    NotFound,
    ServiceApp,
    SortedKeys,
    User,
    iso,
)


class Store(EventLog):
    """The whole org. Methods that mirror Okta operations keep Okta's side effects (events, jobs)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids = IdFactory()
        self.users: dict[str, User] = {}
        self.users_by_login: dict[str, str] = {}
        self.groups: dict[str, Group] = {}
        self.groups_by_name: dict[str, str] = {}
        self.user_groups: dict[str, set[str]] = {}  # user id -> group ids
        self.apps: dict[str, App] = {}
        self.api_tokens: set[str] = set()
        self.service_apps: dict[str, ServiceApp] = {}
        self.admin_sessions: dict[str, AdminSession] = {}
        self.scim_calls: list[dict[str, Any]] = []
        self.version = 0  # bumped on every mutation that changes list order/content
        self._sorted: dict[str, SortedKeys] = {}

    # --- helpers ------------------------------------------------------------------------------------
    def touch(self) -> None:
        self.version += 1

    def sorted_keys(self, name: str, mapping: dict[str, Any]) -> list[str]:
        view = self._sorted.setdefault(name, SortedKeys())
        return view.get(mapping, self.version)

    def app(self, app_id: str) -> App:
        app = self.apps.get(app_id)
        if app is None:
            raise NotFound(app_id)
        return app

    def group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            raise NotFound(group_id)
        return group

    def user(self, user_id: str) -> User:
        user = self.users.get(user_id)
        if user is None:
            raise NotFound(user_id)
        return user

    def resolve_user(self, ref: str) -> str:
        """A user id or login -> user id."""
        if ref in self.users:
            return ref
        found = self.users_by_login.get(ref.lower())
        if found is None:
            raise NotFound(ref)
        return found

    def user_group_ids(self, user_id: str) -> list[str]:
        """The groups a user is a member of, sorted by id (the order ``page_by_id`` pages in)."""
        return sorted(self.user_groups.get(user_id, ()))

    def resolve_group(self, ref: str) -> str:
        if ref in self.groups:
            return ref
        found = self.groups_by_name.get(ref)
        if found is None:
            raise NotFound(ref)
        return found

    # --- creation (seed and control) ----------------------------------------------------------------
    def add_user(
        self,
        profile: dict[str, Any],
        *,
        user_id: str | None = None,
        status: str = "ACTIVE",
        now: str | None = None,
    ) -> User:
        now = now or iso()
        prof = dict(profile)
        prof.setdefault("email", prof.get("login"))
        user = User(
            id=user_id or self.ids.new("00u"), profile=prof, status=status, created=now, last_updated=now
        )
        self.users[user.id] = user
        self.users_by_login[str(prof.get("login", "")).lower()] = user.id
        self.version += 1
        return user

    def add_group(
        self, name: str, *, group_id: str | None = None, description: str = "", now: str | None = None
    ) -> Group:
        now = now or iso()
        group = Group(
            id=group_id or self.ids.new("00g"),
            name=name,
            description=description,
            created=now,
            last_updated=now,
            last_membership_updated=now,
        )
        self.groups[group.id] = group
        self.groups_by_name.setdefault(name, group.id)
        self.touch()
        return group

    def add_app(
        self,
        name: str,
        label: str,
        kind: str,
        settings: AppSettings,
        *,
        app_id: str | None = None,
        sign_on_mode: str = "SAML_2_0",
        connection_status: str | None = None,
    ) -> App:
        if kind not in APP_KINDS:
            raise ValueError(f"app kind must be one of {APP_KINDS}, got {kind!r}")
        now = iso()
        app = App(
            id=app_id or self.ids.new("0oa"),
            name=name,
            label=label,
            kind=kind,
            settings=settings,
            sign_on_mode=sign_on_mode,
            created=now,
            last_updated=now,
            connection_status=connection_status,
        )
        app.settings_history.append(
            {"at": now, "source": "seed", "field": "deactivate_users", "value": settings.deactivate_users}
        )
        self.apps[app.id] = app
        self.touch()
        return app

    # --- settings ---------------------------------------------------------------------------------------
    def update_settings(self, app: App, changes: dict[str, Any], source: str) -> list[str]:
        """Apply setting changes; record every *Deactivate Users* change with time and source."""
        changed: list[str] = []
        for name, value in changes.items():
            if name not in AppSettings.FIELDS:
                raise ValueError(f"unknown setting {name!r}")
            if name in AppSettings.BOOL_FIELDS and not isinstance(value, bool):
                raise ValueError(f"setting {name!r} must be a boolean")
            if getattr(app.settings, name) != value:
                setattr(app.settings, name, value)
                changed.append(name)
                if name == "deactivate_users":
                    app.settings_history.append(
                        {"at": iso(), "source": source, "field": "deactivate_users", "value": value}
                    )
        if changed:
            app.last_updated = iso()
        return changed

    # --- assignments --------------------------------------------------------------------------------------
    def _entitled(self, app: App, user_id: str, *, ignore_group: str | None = None) -> bool:
        for gid in self.user_groups.get(user_id, ()):
            if gid != ignore_group and gid in app.groups:
                return True
        return False

    def _new_app_user(self, app: App, user: User, *, direct: bool) -> tuple[AppUser, list[Job]]:
        now = iso()
        s = app.settings
        user_name = str(user.profile.get("email") if s.unique_identifier == "email" else user.login)
        profile = {
            "email": user.profile.get("email"),
            "givenName": user.profile.get("firstName"),
            "familyName": user.profile.get("lastName"),
            "displayName": user.display_name,
        }
        app_user = AppUser(
            user_id=user.id,
            direct=direct,
            user_name=user_name,
            profile=profile,
            created=now,
            last_updated=now,
            status_changed=now,
        )
        jobs: list[Job] = []
        if app.provisioning_active:
            app_user.status, app_user.sync_state = "STAGED", "SYNCING"
            jobs.append(Job("create", app.id, user.id))
        else:
            # No push configured: assigned, nothing queued (docs/okta-behaviour.md, App users and sync state).
            app_user.status, app_user.sync_state = "ACTIVE", "DISABLED"
        app.users[user.id] = app_user
        return app_user, jobs

    def _membership_event(self, app: App, user: User, event_type: str, user_name: str | None = None) -> None:
        verb = "Add" if event_type.endswith(".add") else "Remove"
        self.log_event(
            event_type,
            f"{verb} user to application membership"
            if verb == "Add"
            else "Remove user's application membership",
            targets=self.app_user_targets(app, user, user_name),
        )

    def _remove_app_user(self, app: App, user_id: str) -> list[Job]:
        app_user = app.users.pop(user_id)
        self.touch()
        user = self.users[user_id]
        self._membership_event(app, user, "application.user_membership.remove", app_user.user_name)
        if app.deactivation_active:
            # Okta sets active=false with a PUT on AIW apps; it never DELETEs (docs/okta-behaviour.md, What
            # Okta sends to a SCIM target).
            return [
                Job(
                    "deactivate",
                    app.id,
                    user_id,
                    snapshot={
                        "external_id": app_user.external_id,
                        "user_name": app_user.user_name,
                        "profile": dict(app_user.profile),
                    },
                )
            ]
        return []

    def _add_entitlement(self, app: App, user_id: str, *, direct: bool) -> list[Job]:
        existing = app.users.get(user_id)
        if existing is not None:
            if direct and not existing.direct:
                existing.direct = True
                existing.last_updated = iso()
            return []
        user = self.users[user_id]
        _, jobs = self._new_app_user(app, user, direct=direct)
        self.touch()
        self._membership_event(app, user, "application.user_membership.add")
        return jobs

    def assign_group(
        self, app: App, group: Group, priority: int | None, profile: dict[str, Any] | None
    ) -> tuple[GroupAssignment, bool]:
        """PUT /apps/{id}/groups/{gid}: priority defaults to the next highest (docs/okta-behaviour.md, Group
        assignments and background jobs).

        Returns the assignment and whether it is new: a new one leaves Okta's background job to create the
        members' app users (``entitle_group_members``)."""
        now = iso()
        current = app.groups.get(group.id)
        if priority is None:
            if current is not None:
                priority = current.priority
            else:
                priority = max((a.priority for a in app.groups.values()), default=-1) + 1
        assignment = GroupAssignment(group.id, priority, dict(profile or {}), now)
        app.groups[group.id] = assignment
        self.touch()
        return assignment, current is None

    def entitle_group_members(self, app_id: str, group_id: str) -> list[Job]:
        """Okta's assignment job: an app user for every member the group entitles, if it still does."""
        app, group = self.apps.get(app_id), self.groups.get(group_id)
        if app is None or group is None or group_id not in app.groups:
            return []
        jobs: list[Job] = []
        for user_id in list(group.members):
            jobs += self._add_entitlement(app, user_id, direct=False)
        return jobs

    def unassign_group(self, app: App, group: Group) -> None:
        """DELETE /apps/{id}/groups/{gid}: the assignment goes at once; ``disentitle_group_members`` is the
        background job that removes the app users it entitled."""
        if group.id not in app.groups:
            raise NotFound(group.id)
        del app.groups[group.id]
        self.touch()
        # Okta's event type catalog lists group.application_assignment.remove ("Remove assigned application
        # from group"); the targets (the app and the group) are assumed (docs/resync.md "One writer per app").
        group_target = {
            "id": group.id,
            "type": "UserGroup",
            "alternateId": group.name,
            "displayName": group.name,
        }
        self.log_event(
            "group.application_assignment.remove",
            "Remove assigned application from group",
            targets=[self.app_target(app), group_target],
        )

    def disentitle_group_members(self, app_id: str, group_id: str) -> list[Job]:
        """Okta's unassignment job: remove the app users that nothing entitles any more, as of now."""
        app, group = self.apps.get(app_id), self.groups.get(group_id)
        if app is None or group is None:
            return []
        jobs: list[Job] = []
        for user_id in list(group.members):
            app_user = app.users.get(user_id)
            if app_user is None or app_user.direct or self._entitled(app, user_id):
                continue
            jobs += self._remove_app_user(app, user_id)
        return jobs

    def assign_user(self, app: App, user: User, profile: dict[str, Any] | None) -> tuple[AppUser, list[Job]]:
        jobs = self._add_entitlement(app, user.id, direct=True)
        app_user = app.users[user.id]
        if profile:
            app_user.profile.update(profile)
        return app_user, jobs

    def unassign_user(self, app: App, user_id: str) -> list[Job]:
        """DELETE /apps/{id}/users/{uid}. Raises PermissionError for a user only a group entitles."""
        app_user = app.users.get(user_id)
        if app_user is None:
            raise NotFound(user_id)
        if self._entitled(app, user_id):
            if not app_user.direct:
                # 403 E0000046 (docs/okta-behaviour.md, Authentication and errors)
                raise PermissionError(user_id)
            app_user.direct = False
            app_user.last_updated = iso()
            return []
        return self._remove_app_user(app, user_id)

    def update_app_user(self, app: App, user_id: str, body: dict[str, Any]) -> tuple[AppUser, list[Job]]:
        """POST /apps/{id}/users/{uid}: merge profile (and credentials.userName); may re-push."""
        app_user = app.users.get(user_id)
        if app_user is None:
            raise NotFound(user_id)
        profile = body.get("profile")
        if isinstance(profile, dict):
            app_user.profile.update(profile)
        creds = body.get("credentials")
        if isinstance(creds, dict) and isinstance(creds.get("userName"), str):
            app_user.user_name = creds["userName"]
        app_user.last_updated = iso()
        jobs: list[Job] = []
        if app_user.external_id is None:
            # Never created on the target (STAGED/ERROR): an update retries the create.
            if app.provisioning_active:
                app_user.sync_state = "SYNCING"
                jobs.append(Job("create", app.id, user_id))
        elif app.profile_push_active:
            app_user.sync_state = "SYNCING"
            jobs.append(Job("profile", app.id, user_id))
        return app_user, jobs

    def add_member(self, group: Group, user_id: str) -> list[Job]:
        if user_id in group.members:
            return []
        group.members[user_id] = None
        self.user_groups.setdefault(user_id, set()).add(group.id)
        group.last_membership_updated = iso()
        self.touch()
        jobs: list[Job] = []
        for app in self.apps.values():
            if group.id in app.groups:
                jobs += self._add_entitlement(app, user_id, direct=False)
        return jobs

    def remove_member(self, group: Group, user_id: str) -> list[Job]:
        if user_id not in group.members:
            return []
        del group.members[user_id]
        self.user_groups.get(user_id, set()).discard(group.id)
        group.last_membership_updated = iso()
        self.touch()
        jobs: list[Job] = []
        for app in self.apps.values():
            app_user = app.users.get(user_id)
            if (
                group.id in app.groups
                and app_user
                and not app_user.direct
                and not self._entitled(app, user_id)
            ):
                jobs += self._remove_app_user(app, user_id)
        return jobs

    def update_user_profile(self, user: User, changes: dict[str, Any]) -> list[Job]:
        """An Okta profile change: re-push to every app with Update User Attributes on."""
        old_login = user.login.lower()
        user.profile.update(changes)
        user.last_updated = iso()
        if user.login.lower() != old_login:
            self.users_by_login.pop(old_login, None)
            self.users_by_login[user.login.lower()] = user.id
        jobs: list[Job] = []
        for app in self.apps.values():
            app_user = app.users.get(user.id)
            if app_user is None:
                continue
            app_user.profile.update(
                {
                    "email": user.profile.get("email"),
                    "givenName": user.profile.get("firstName"),
                    "familyName": user.profile.get("lastName"),
                    "displayName": user.display_name,
                }
            )
            if app_user.external_id and app.profile_push_active:
                app_user.sync_state = "SYNCING"
                jobs.append(Job("profile", app.id, user.id))
        return jobs
