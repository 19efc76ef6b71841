"""The emulator's Okta Management API routes: apps, their connection, features, group assignments and app
users; groups; users; the System Log (docs/emulator.md). Strict like Okta: unknown ``expand`` values, bad
paging cursors and unsupported filters are refused as Okta refuses them (docs/okta-behaviour.md).

The request pipeline (limits, faults, auth) runs before these handlers (``server.py``).
"""

from __future__ import annotations

import math
import re
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from oktasync.emulator.records import (
    API_CAPABLE,
    CUSTOM_SCIM,
    App,
    AppUser,
    Group,
    NotFound,
    User,
    parse_iso,
)
from oktasync.emulator.responses import (
    GROUP_GRANTS_ACCESS,
    OktaError,
    check_expand,
    json_list,
    json_response,
    not_found,
    page_by_id,
    parse_limit,
    read_json,
    validation_error,
)
from oktasync.emulator.store import Store
from oktasync.emulator.system_log import (
    log_cursor,
    log_cursor_position,
    parse_log_filter,
)

if TYPE_CHECKING:
    from oktasync.emulator.server import Emulator


def _prefix(value: Any, q: str) -> bool:
    return isinstance(value, str) and value.lower().startswith(q)


# --- the Management API ----------------------------------------------------------------------------------
_APPS_EXPAND = re.compile(r"user/[^/,\s]+")
_APP_GROUPS_EXPAND = frozenset({"group", "metadata"})
_APP_USERS_EXPAND = frozenset({"user"})


def _app_settings_json(app: App) -> dict[str, Any]:
    """An app's ``settings`` as Okta answers them; a SAML app's also carry its ``signOn`` block."""
    settings: dict[str, Any] = {
        "app": {},
        "notifications": {"vpn": {"network": {"connection": "DISABLED"}, "message": None, "helpUrl": None}},
        "manualProvisioning": False,
        "implicitAssignment": False,
        "notes": {"admin": None, "enduser": None},
    }
    if app.sign_on_mode == "SAML_2_0":
        settings["signOn"] = _saml_sign_on_json()
    return settings


def _saml_sign_on_json() -> dict[str, Any]:
    return {
        "defaultRelayState": "",
        "ssoAcsUrl": "https://example.invalid/sso/saml",
        "idpIssuer": "http://www.okta.com/${org.externalKey}",
        "audience": "https://example.invalid",
        "recipient": "https://example.invalid/sso/saml",
        "destination": "https://example.invalid/sso/saml",
        "subjectNameIdTemplate": "${user.userName}",
        "subjectNameIdFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        "responseSigned": True,
        "assertionSigned": True,
        "signatureAlgorithm": "RSA_SHA256",
        "digestAlgorithm": "SHA256",
        "honorForceAuthn": True,
        "authnContextClassRef": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        "requestCompressed": False,
        "allowMultipleAcsEndpoints": False,
        "acsEndpoints": [],
        "attributeStatements": [],
    }


def _app_links_json(org_url: str, app: App) -> dict[str, Any]:
    """An app's ``_links``: itself, its users and groups, deactivation, and its end-user link."""
    base = f"{org_url}/api/v1/apps/{app.id}"
    return {
        "self": {"href": base},
        "users": {"href": base + "/users"},
        "groups": {"href": base + "/groups"},
        "deactivate": {"href": base + "/lifecycle/deactivate"},
        "appLinks": [
            {"name": f"{app.name}_link", "href": f"{org_url}/home/{app.name}/{app.id}/1", "type": "text/html"}
        ],
    }


class ApiRoutes:
    def __init__(self, em: Emulator) -> None:
        self.em = em

    @property
    def store(self) -> Store:
        return self.em.store

    def add_routes(self, app: web.Application) -> None:
        a = "/api/v1/apps/{app_id}"
        app.router.add_get("/api/v1/apps", self.list_apps)
        app.router.add_get(a, self.get_app)
        app.router.add_get(a + "/connections/default", self.get_connection)
        app.router.add_post(a + "/connections/default", self.set_connection)
        app.router.add_post(a + "/connections/default/lifecycle/activate", self.activate_connection)
        app.router.add_post(a + "/connections/default/lifecycle/deactivate", self.deactivate_connection)
        app.router.add_get(a + "/features", self.list_features)
        app.router.add_get(a + "/features/{name}", self.get_feature)
        app.router.add_put(a + "/features/{name}", self.put_feature)
        app.router.add_get(a + "/groups", self.list_app_groups)
        app.router.add_get(a + "/groups/{group_id}", self.get_app_group)
        app.router.add_put(a + "/groups/{group_id}", self.put_app_group)
        app.router.add_delete(a + "/groups/{group_id}", self.delete_app_group)
        app.router.add_get(a + "/users", self.list_app_users)
        app.router.add_post(a + "/users", self.assign_app_user)
        app.router.add_get(a + "/users/{user_id}", self.get_app_user)
        app.router.add_post(a + "/users/{user_id}", self.update_app_user)
        app.router.add_delete(a + "/users/{user_id}", self.delete_app_user)
        app.router.add_get("/api/v1/groups", self.list_groups)
        app.router.add_get("/api/v1/groups/{group_id}", self.get_group)
        app.router.add_get("/api/v1/groups/{group_id}/users", self.list_group_users)
        app.router.add_get("/api/v1/users", self.list_users)
        app.router.add_get("/api/v1/users/{user_id}", self.get_user)
        app.router.add_get("/api/v1/users/{user_id}/groups", self.list_user_groups)
        app.router.add_get("/api/v1/logs", self.list_logs)

    # --- renderers -----------------------------------------------------------------------------------
    def base(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    def app_json(self, request: web.Request, app: App) -> dict[str, Any]:
        return {
            "id": app.id,
            "name": app.name,
            "label": app.label,
            "status": app.status,
            "created": app.created,
            "lastUpdated": app.last_updated,
            "accessibility": {"selfService": False, "errorRedirectUrl": None, "loginRedirectUrl": None},
            "visibility": {
                "autoSubmitToolbar": False,
                "hide": {"iOS": False, "web": False},
                "appLinks": {f"{app.name}_link": True},
            },
            "features": app.features(),
            "signOnMode": app.sign_on_mode,
            "credentials": {
                "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"},
                "signing": {"kid": "emulator-signing-key"},
            },
            "settings": _app_settings_json(app),
            "_links": _app_links_json(self.base(request), app),
        }

    def group_json(self, request: web.Request, group: Group) -> dict[str, Any]:
        href = f"{self.base(request)}/api/v1/groups/{group.id}"
        return {
            "id": group.id,
            "created": group.created,
            "lastUpdated": group.last_updated,
            "lastMembershipUpdated": group.last_membership_updated,
            "objectClass": ["okta:user_group"],
            "type": "OKTA_GROUP",
            "profile": {"name": group.name, "description": group.description},
            "_links": {
                "self": {"href": href},
                "users": {"href": href + "/users"},
                "apps": {"href": href + "/apps"},
            },
        }

    def user_json(self, request: web.Request, user: User) -> dict[str, Any]:
        return {
            "id": user.id,
            "status": user.status,
            "created": user.created,
            "activated": user.created,
            "statusChanged": None,
            "lastLogin": None,
            "lastUpdated": user.last_updated,
            "passwordChanged": None,
            "type": {"id": "oty1default000000001"},
            "profile": dict(user.profile),
            "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
            "_links": {"self": {"href": f"{self.base(request)}/api/v1/users/{user.id}"}},
        }

    def assignment_json(self, request: web.Request, app: App, gid: str, expand: bool) -> dict[str, Any]:
        assignment = app.groups[gid]
        base = self.base(request)
        doc: dict[str, Any] = {
            "id": gid,
            "lastUpdated": assignment.last_updated,
            "priority": assignment.priority,
            "profile": assignment.profile,
            "_links": {
                "app": {"href": f"{base}/api/v1/apps/{app.id}"},
                "self": {"href": f"{base}/api/v1/apps/{app.id}/groups/{gid}"},
                "group": {"href": f"{base}/api/v1/groups/{gid}"},
            },
        }
        if expand:
            doc["_embedded"] = {"group": self.group_json(request, self.store.groups[gid])}
        return doc

    def app_user_json(
        self, request: web.Request, app: App, app_user: AppUser, expand: bool
    ) -> dict[str, Any]:
        base = self.base(request)
        doc: dict[str, Any] = {
            "id": app_user.user_id,
            "externalId": app_user.external_id,
            "created": app_user.created,
            "lastUpdated": app_user.last_updated,
            "scope": app_user.scope,
            "status": app_user.status,
            "statusChanged": app_user.status_changed,
            "passwordChanged": None,
            "syncState": app_user.sync_state,
            "lastSync": app_user.last_sync,
            "credentials": {"userName": app_user.user_name},
            "profile": dict(app_user.profile),
            "_links": {
                "app": {"href": f"{base}/api/v1/apps/{app.id}"},
                "user": {"href": f"{base}/api/v1/users/{app_user.user_id}"},
            },
        }
        if expand:
            doc["_embedded"] = {"user": self.user_json(request, self.store.users[app_user.user_id])}
        return doc

    def connection_json(self, request: web.Request, app: App) -> dict[str, Any]:
        href = f"{self.base(request)}/api/v1/apps/{app.id}/connections/default"
        if app.kind == CUSTOM_SCIM:
            # AIW apps: 200 UNKNOWN, never an error. Shape as recorded on bookmark apps (okta-sdk-python): no
            # top-level authScheme (the spec's enum there is TOKEN only), profile.authScheme UNKNOWN.
            return {
                "status": "UNKNOWN",
                "profile": {"authScheme": "UNKNOWN"},
                "_links": {"self": {"href": href, "hints": {"allow": ["GET", "POST"]}}},
            }
        status = app.connection_status or "DISABLED"
        links: dict[str, Any] = {"self": {"href": href, "hints": {"allow": ["GET", "POST"]}}}
        if status == "ENABLED":
            links["deactivate"] = {"href": href + "/lifecycle/deactivate", "hints": {"allow": ["POST"]}}
        else:
            links["activate"] = {"href": href + "/lifecycle/activate", "hints": {"allow": ["POST"]}}
        doc: dict[str, Any] = {
            "authScheme": "TOKEN",
            "status": status,
            "profile": {"authScheme": "TOKEN"},
            "_links": links,
        }
        if app.settings.scim_base_url:
            doc["baseUrl"] = app.settings.scim_base_url
        return doc

    def feature_json(self, request: web.Request, app: App) -> dict[str, Any]:
        s = app.settings

        def st(flag: bool) -> dict[str, str]:
            return {"status": "ENABLED" if flag else "DISABLED"}

        href = f"{self.base(request)}/api/v1/apps/{app.id}/features/USER_PROVISIONING"
        return {
            "name": "USER_PROVISIONING",
            "status": "ENABLED",
            "description": "User provisioning settings from Okta to a downstream app",
            "capabilities": {
                "create": {"lifecycleCreate": st(s.create_users)},
                "update": {
                    "lifecycleDeactivate": st(s.deactivate_users),
                    "profile": st(s.update_user_attributes),
                    "password": {"status": "DISABLED", "seed": "RANDOM", "change": "KEEP_EXISTING"},
                },
            },
            "_links": {"self": {"href": href, "hints": {"allow": ["GET", "PUT"]}}},
        }

    # --- apps -----------------------------------------------------------------------------------------
    async def list_apps(self, request: web.Request) -> web.Response:
        limit = parse_limit(request, 20, 1, 200)
        check_expand(request, _APPS_EXPAND)
        q = (request.query.get("q") or "").lower()
        apps = self.store.apps

        def matches(key: str) -> bool:
            return not q or _prefix(apps[key].label, q) or _prefix(apps[key].name, q)

        keys, nxt = page_by_id(request, self.store.sorted_keys("apps", apps), limit, matches)
        return json_list(request, [self.app_json(request, apps[k]) for k in keys], nxt, limit)

    async def get_app(self, request: web.Request) -> web.Response:
        return json_response(self.app_json(request, self._app(request)))

    def _app(self, request: web.Request) -> App:
        app = self.store.apps.get(request.match_info["app_id"])
        if app is None:
            raise not_found(f"{request.match_info['app_id']} (AppInstance)")
        return app

    # --- connection ---------------------------------------------------------------------------------------
    async def get_connection(self, request: web.Request) -> web.Response:
        return json_response(self.connection_json(request, self._app(request)))

    async def set_connection(self, request: web.Request) -> web.Response:
        app = self._app(request)
        body = await read_json(request)
        if app.kind == CUSTOM_SCIM:
            return json_response(self.connection_json(request, app))  # accepted, nothing changes
        profile = body.get("profile")
        if not isinstance(profile, dict) or profile.get("authScheme") != "TOKEN":
            raise validation_error("profile.authScheme: must be TOKEN", "profile")
        changes: dict[str, Any] = {}
        if isinstance(body.get("baseUrl"), str):
            changes["scim_base_url"] = body["baseUrl"]
        if isinstance(profile.get("token"), str) and profile["token"]:
            changes["bearer_token"] = profile["token"]
        self.store.update_settings(app, changes, "api")
        if app.connection_status is None:
            app.connection_status = "DISABLED"
        if request.query.get("activate", "").lower() == "true":
            app.connection_status = "ENABLED"
        self._lifecycle_event(app, "Update application")
        return json_response(self.connection_json(request, app))

    async def activate_connection(self, request: web.Request) -> web.Response:
        app = self._app(request)
        if app.kind == API_CAPABLE:
            app.connection_status = "ENABLED"
        return web.Response(status=204)

    async def deactivate_connection(self, request: web.Request) -> web.Response:
        app = self._app(request)
        if app.kind == API_CAPABLE:
            app.connection_status = "DISABLED"
        return web.Response(status=204)

    # --- features ----------------------------------------------------------------------------------------
    def _check_features(self, app: App) -> None:
        if app.kind == CUSTOM_SCIM:
            raise validation_error("Provisioning is not supported.", "feature")
        if app.connection_status != "ENABLED":
            raise validation_error("Provisioning is not enabled for the app instance.", "feature")

    async def list_features(self, request: web.Request) -> web.Response:
        app = self._app(request)
        self._check_features(app)
        return json_response([self.feature_json(request, app)])

    async def get_feature(self, request: web.Request) -> web.Response:
        app = self._app(request)
        self._check_features(app)
        if request.match_info["name"] != "USER_PROVISIONING":
            raise not_found(f"{request.match_info['name']} (ApplicationFeature)")
        return json_response(self.feature_json(request, app))

    async def put_feature(self, request: web.Request) -> web.Response:
        app = self._app(request)
        body = await read_json(request)  # empty body -> 400 E0000003 (recorded; docs/okta-behaviour.md)
        self._check_features(app)
        if request.match_info["name"] != "USER_PROVISIONING":
            raise not_found(f"{request.match_info['name']} (ApplicationFeature)")
        changes: dict[str, Any] = {}
        paths = {
            ("create", "lifecycleCreate"): "create_users",
            ("update", "profile"): "update_user_attributes",
            ("update", "lifecycleDeactivate"): "deactivate_users",
        }
        for key in body:
            if key not in ("create", "update"):
                raise validation_error(f"{key}: unknown capability", "capabilities")
        for (section, cap), setting in paths.items():
            block = body.get(section)
            if not isinstance(block, dict) or cap not in block:
                continue
            status = block[cap].get("status") if isinstance(block[cap], dict) else None
            if status not in ("ENABLED", "DISABLED"):
                raise validation_error(f"{section}.{cap}.status: must be ENABLED or DISABLED", "capabilities")
            changes[setting] = status == "ENABLED"
        if self.store.update_settings(app, changes, "api"):
            self._lifecycle_event(app, "Update application")
        return json_response(self.feature_json(request, app))

    def _lifecycle_event(self, app: App, message: str) -> None:
        self.store.log_event("application.lifecycle.update", message, targets=[self.store.app_target(app)])

    # --- app groups ---------------------------------------------------------------------------------------
    async def list_app_groups(self, request: web.Request) -> web.Response:
        app = self._app(request)
        limit = parse_limit(request, 20, 20, 200)  # max 200 (spec); min and default 20 assumed
        expand = "group" in check_expand(request, _APP_GROUPS_EXPAND).split(",")
        q = (request.query.get("q") or "").lower()
        groups = self.store.groups
        matches = (lambda k: _prefix(groups[k].name, q)) if q else None
        keys, nxt = page_by_id(request, self.store.sorted_keys(f"ag:{app.id}", app.groups), limit, matches)
        return json_list(request, [self.assignment_json(request, app, k, expand) for k in keys], nxt, limit)

    async def get_app_group(self, request: web.Request) -> web.Response:
        app = self._app(request)
        gid = request.match_info["group_id"]
        if gid not in app.groups:
            raise not_found(f"{gid} (ApplicationGroupAssignment)")
        expand = "group" in check_expand(request, _APP_GROUPS_EXPAND).split(",")
        return json_response(self.assignment_json(request, app, gid, expand))

    async def put_app_group(self, request: web.Request) -> web.Response:
        app = self._app(request)
        gid = request.match_info["group_id"]
        group = self.store.groups.get(gid)
        if group is None:
            raise not_found(f"{gid} (UserGroup)")
        # body is optional (docs/okta-behaviour.md, Group assignments and background jobs)
        body = await read_json(request, optional=True)
        priority = body.get("priority")
        if priority is not None and (
            not isinstance(priority, int) or isinstance(priority, bool) or priority < 0
        ):
            raise validation_error("priority: must be a non-negative integer", "priority")
        profile = body.get("profile")
        if profile is not None and not isinstance(profile, dict):
            raise validation_error("profile: must be an object", "profile")
        self.em.assign_group(app, group, priority, profile)
        return json_response(self.assignment_json(request, app, gid, False))

    async def delete_app_group(self, request: web.Request) -> web.Response:
        app = self._app(request)
        gid = request.match_info["group_id"]
        group = self.store.groups.get(gid)
        if group is None or gid not in app.groups:
            raise not_found(f"{gid} (ApplicationGroupAssignment)")
        self.em.unassign_group(app, group)
        return web.Response(status=204)

    # --- app users -----------------------------------------------------------------------------------------
    async def list_app_users(self, request: web.Request) -> web.Response:
        app = self._app(request)
        limit = parse_limit(request, 50, 1, 500)  # max 500 (spec); default 50
        expand = check_expand(request, _APP_USERS_EXPAND) == "user"
        q = (request.query.get("q") or "").lower()
        users = self.store.users

        def matches(key: str) -> bool:
            au = app.users[key]
            p = users[key].profile
            return (
                _prefix(au.user_name, q)
                or _prefix(p.get("firstName"), q)
                or _prefix(p.get("lastName"), q)
                or _prefix(p.get("email"), q)
            )

        keys, nxt = page_by_id(
            request, self.store.sorted_keys(f"au:{app.id}", app.users), limit, matches if q else None
        )
        return json_list(
            request, [self.app_user_json(request, app, app.users[k], expand) for k in keys], nxt, limit
        )

    async def get_app_user(self, request: web.Request) -> web.Response:
        app = self._app(request)
        uid = request.match_info["user_id"]
        app_user = app.users.get(uid)
        if app_user is None:
            raise not_found(f"{uid} (AppUser)")
        expand = check_expand(request, _APP_USERS_EXPAND) == "user"
        return json_response(self.app_user_json(request, app, app_user, expand))

    async def assign_app_user(self, request: web.Request) -> web.Response:
        app = self._app(request)
        body = await read_json(request)
        uid = body.get("id")
        if not isinstance(uid, str):
            raise validation_error("id: The field cannot be left blank", "id")
        user = self.store.users.get(uid)
        if user is None:
            raise not_found(f"{uid} (User)")
        profile = body.get("profile") if isinstance(body.get("profile"), dict) else None
        app_user, jobs = self.store.assign_user(app, user, profile)
        creds = body.get("credentials")
        if (
            isinstance(creds, dict)
            and isinstance(creds.get("userName"), str)
            and app_user.external_id is None
        ):
            app_user.user_name = creds["userName"]
        self.em.submit(jobs)
        return json_response(self.app_user_json(request, app, app_user, False))

    async def update_app_user(self, request: web.Request) -> web.Response:
        app = self._app(request)
        uid = request.match_info["user_id"]
        body = await read_json(request)
        if uid not in app.users:
            raise not_found(f"{uid} (AppUser)")
        failed = app.users[uid].sync_state == "ERROR"
        app_user, jobs = self.store.update_app_user(app, uid, body)
        if failed and not self.em.behaviour.retry_repushes_failed:
            # Nothing public says a profile update re-pushes a failed user (Okta's remedy is Dashboard >
            # Tasks > Retry): under this switch the profile is saved and the user stays in ERROR.
            app_user.sync_state, jobs = "ERROR", []
        self.em.submit(jobs)
        return json_response(self.app_user_json(request, app, app_user, False))

    async def delete_app_user(self, request: web.Request) -> web.Response:
        app = self._app(request)
        uid = request.match_info["user_id"]
        if uid not in app.users:
            raise not_found(f"{uid} (AppUser)")
        groups = self.store.groups
        if any(uid in groups[gid].members for gid in app.groups if gid in groups):
            # A user a group entitles cannot be unassigned, even if also assigned directly: 403 E0000046,
            # worded as Okta answered a direct + group user (articulate/terraform-provider-okta#120;
            # docs/okta-behaviour.md "Authentication and errors").
            raise OktaError(
                403,
                "E0000046",
                "Deactivate application for user forbidden.",
                [GROUP_GRANTS_ACCESS],
            )
        self.em.submit(self.store.unassign_user(app, uid))
        return web.Response(status=204)

    # --- groups and users -----------------------------------------------------------------------------------
    async def list_groups(self, request: web.Request) -> web.Response:
        limit = parse_limit(request, 10000, 1, 10000)
        q = (request.query.get("q") or "").lower()
        groups = self.store.groups
        matches = (lambda k: _prefix(groups[k].name, q)) if q else None
        keys, nxt = page_by_id(request, self.store.sorted_keys("groups", groups), limit, matches)
        return json_list(request, [self.group_json(request, groups[k]) for k in keys], nxt, limit)

    async def get_group(self, request: web.Request) -> web.Response:
        gid = request.match_info["group_id"]
        group = self.store.groups.get(gid)
        if group is None:
            raise not_found(f"{gid} (UserGroup)")
        return json_response(self.group_json(request, group))

    async def list_group_users(self, request: web.Request) -> web.Response:
        gid = request.match_info["group_id"]
        group = self.store.groups.get(gid)
        if group is None:
            raise not_found(f"{gid} (UserGroup)")
        limit = parse_limit(request, 1000, 1, 1000)
        keys, nxt = page_by_id(request, sorted(group.members), limit)
        users = self.store.users
        return json_list(request, [self.user_json(request, users[k]) for k in keys], nxt, limit)

    async def list_users(self, request: web.Request) -> web.Response:
        limit = parse_limit(request, 200, 1, 200)
        q = (request.query.get("q") or "").lower()
        users = self.store.users

        def matches(key: str) -> bool:
            p = users[key].profile
            return any(_prefix(p.get(f), q) for f in ("login", "email", "firstName", "lastName"))

        keys, nxt = page_by_id(request, self.store.sorted_keys("users", users), limit, matches if q else None)
        return json_list(request, [self.user_json(request, users[k]) for k in keys], nxt, limit)

    async def get_user(self, request: web.Request) -> web.Response:
        ref = request.match_info["user_id"]
        try:
            user = self.store.users[self.store.resolve_user(ref)]
        except NotFound:
            raise not_found(f"{ref} (User)") from None
        return json_response(self.user_json(request, user))

    async def list_user_groups(self, request: web.Request) -> web.Response:
        """Users API "List all groups of a user" (listUserGroups): id or login in the path, a JSON array of
        Group objects, ``limit`` up to 200 (default 200), ``after`` cursor in the Link header. Scope
        okta.users.read (the ``/api/v1/users`` prefix in ``_SCOPES``). Counted in the ``/api/v1/users``
        bucket, as Okta's route map has it (``rate_limit_lines.go``: ``/api/v1/users/ID/groups GET
        /api/v1/users``; ratelimit.py)."""
        ref = request.match_info["user_id"]
        try:
            user_id = self.store.resolve_user(ref)
        except NotFound:
            raise not_found(f"{ref} (User)") from None
        limit = parse_limit(request, 200, 1, 200)
        keys, nxt = page_by_id(request, self.store.user_group_ids(user_id), limit)
        groups = self.store.groups
        return json_list(request, [self.group_json(request, groups[k]) for k in keys], nxt, limit)

    # --- system log --------------------------------------------------------------------------------------
    async def list_logs(self, request: web.Request) -> web.Response:
        """since/until/filter/after/limit/sortOrder (syslog-query); polling queries always have a next link,
        also on an empty page (recorded; docs/okta-behaviour.md "Rate limits and paging")."""
        limit = parse_limit(request, 100, 0, 1000)
        query = request.query
        now = time.time()
        try:
            until = parse_iso(query["until"]) if query.get("until") else now + 1.0
            since = parse_iso(query["since"]) if query.get("since") else until - 7 * 86400
        except ValueError:
            raise validation_error("since/until: invalid date", "since") from None
        polling = not query.get("until")
        descending = (query.get("sortOrder") or "ASCENDING").upper() == "DESCENDING"
        predicate = parse_log_filter(query.get("filter"))
        store = self.store
        lo, hi = store.events_between(since, until)
        after_raw = query.get("after")
        after_index: int | None = None
        if after_raw:
            after_index = log_cursor_position(store.event_times, after_raw) - 1
        out: list[dict[str, Any]] = []
        last_index = after_index
        more = False
        if descending:
            indices = range(min(hi, after_index if after_index is not None else hi) - 1, lo - 1, -1)
        else:
            start = max(lo, after_index + 1) if after_index is not None else lo
            indices = range(start, hi)
        for index in indices:
            event = store.events[index]
            if not predicate(event):
                continue
            if len(out) >= limit:
                more = True
                break
            out.append(event)
            last_index = index
        times = store.event_times
        if polling and not descending:
            # A polling query always has a next link (syslog-query); resume after the last event seen.
            if last_index is not None and last_index >= 0:
                nxt: str | None = log_cursor(times, last_index)
            else:
                nxt = f"{math.ceil(since * 1000)}_0"
        else:
            nxt = log_cursor(times, last_index) if more and last_index is not None else None
        return json_list(request, out, nxt, limit)
