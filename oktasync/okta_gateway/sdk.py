"""``SdkGateway``: the ``OktaGateway`` on Okta's public Management API with the official ``okta`` SDK 3.4.

How the SDK is used, and why (docs/okta-behaviour.md, Okta's Python SDK; figures in docs/gateway.md):

* We never build ``okta.client.Client``. Importing ``okta.client`` costs ~4 s here because it inherits every
  generated API class, and its ``ConfigSetter`` merges ``~/.okta/okta.yaml``, ``./okta.yaml`` and ``OKTA_*``
  variables *over* the environment. Instead the few generated API classes a call needs
  (``okta.api.application_connections_api`` …, ~0.4 s each, shared base) are imported lazily, constructed with
  an explicit settings dict that carries **no credential**, and given ``SdkExecutor`` as their request
  executor. So no ``okta.yaml`` or ``OKTA_*`` variable can change anything, the HTTPS-check bypass
  (``OKTA_TESTING_TESTINGDISABLEHTTPSCHECK``) is never needed, and the generated ``SSWS<token>`` header
  (no space) is never produced: ``OktaTransport`` sends ``SSWS <token>`` / ``Bearer <token>``.
* Typed SDK calls where the SDK's models add value — request bodies that are easy to get wrong: the ``oneOf``
  bodies of the provisioning connection and ``USER_PROVISIONING`` feature (built with ``from_dict``: keyword
  construction serializes to ``null``) and the group assignment body. Their error tuples never
  happen: the executor raises oktasync errors, translated once in ``transport.translate``.
* Raw JSON through the same transport elsewhere: every **list** (we must see every ``Link`` header line and
  fail on an error mid-list; the SDK keeps only the last ``Link`` and its paginate helpers swallow errors),
  **apps** (``features[]`` holds values the SDK's enum lacks, e.g. ``AUTO_CONFIRM_IMPORTS``), **app users**
  (strict ``AppUser`` models) and the **System Log** (``outcome.reason`` empty or > 255 characters);
  all parsed leniently by ``okta_gateway.parse`` into oktasync's models.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from oktasync.errors import NotFoundError, OktaApiError
from oktasync.models import (
    AdminProvisioningForm,
    App,
    AppUser,
    Connection,
    GroupAssignment,
    LogEvent,
    RateLimitState,
    ToAppSettings,
)
from oktasync.okta_gateway import parse
from oktasync.okta_gateway.auth import PrivateKeyJwtAuth, SswsAuth
from oktasync.okta_gateway.base import EventHook, EventHookSpec
from oktasync.okta_gateway.pacing import Clock, Pacer, RetryPolicy, shared_buckets
from oktasync.okta_gateway.transport import Authenticator, OktaTransport
from oktasync.timestamps import okta_time

if TYPE_CHECKING:
    from oktasync.config.schema import OktaConfig
    from oktasync.okta_gateway.admin import AdminChannel
    from oktasync.progress import Progress

# Okta's maximum page sizes (docs/okta-behaviour.md, Rate limits and paging).
APPS_PAGE = 200
APP_GROUPS_PAGE = 200
APP_USERS_PAGE = 500
GROUP_MEMBERS_PAGE = 1000
USER_GROUPS_PAGE = 200  # listUserGroups: limit <= 200, default 200 (Users API reference)
LOGS_PAGE = 1000


def _id(value: str) -> str:
    return quote(value, safe="")


class _SdkResponse:
    """What the generated API methods read from a response (``RESTResponse`` wraps it)."""

    def __init__(self, status: int, reason: str, headers: Any) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers


class SdkExecutor:
    """Stands in for the SDK's ``RequestExecutor`` inside generated API classes: their requests go through
    ``OktaTransport`` (auth with the space, pacing, retries, counting) and errors are raised as oktasync's."""

    def __init__(self, transport: OktaTransport) -> None:
        self.transport = transport

    async def create_request(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, Any] | None = None,
        form: Any = None,
        oauth: bool = False,
        keep_empty_params: bool = False,
    ) -> tuple[dict[str, Any], None]:
        kept = {
            k: str(v)
            for k, v in (headers or {}).items()
            if v is not None and k.lower() not in ("authorization", "user-agent")
        }
        return {"method": method, "url": url, "body": body, "headers": kept, "form": form}, None

    async def execute(self, request: dict[str, Any], response_type: Any = None) -> tuple[Any, str, None]:
        method = str(request["method"]).upper()
        idempotent = request.get("idempotent")
        response = await self.transport.request(
            method,
            str(request["url"]),
            json_body=request["body"],
            headers=request["headers"],
            idempotent=idempotent if isinstance(idempotent, bool) else None,
        )
        return (
            _SdkResponse(response.status_code, response.reason_phrase, response.headers),
            response.text,
            None,
        )


class SdkGateway:
    """The production ``OktaGateway``. Create with ``from_config``; ``close()`` when done."""

    def __init__(
        self,
        org_url: str,
        auth: Authenticator,
        *,
        max_concurrency: int = 8,
        headroom: float = 0.1,
        progress: Progress | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        admin_session: str | None = None,
        client_key: str | None = None,
    ) -> None:
        note = progress.note if progress is not None else None
        buckets = shared_buckets(f"{org_url} {client_key}") if client_key else None
        self.pacer = Pacer(
            max_concurrency=max_concurrency, headroom=headroom, clock=clock, note=note, buckets=buckets
        )
        self.transport = OktaTransport(org_url, auth, self.pacer, retry=retry)
        self.org_url = self.transport.org_url
        self._executor = SdkExecutor(self.transport)
        self._apis: dict[str, Any] = {}
        self.admin: AdminChannel | None = None
        if admin_session:
            from oktasync.okta_gateway.admin import AdminChannel

            self.admin = AdminChannel(self.org_url, admin_session, self.pacer, retry=self.transport.retry)

    @classmethod
    def from_config(cls, okta: OktaConfig, *, progress: Progress | None = None) -> SdkGateway:
        auth: Authenticator
        if okta.oauth is not None:
            auth = PrivateKeyJwtAuth.from_config(okta.oauth)
            client_key = f"oauth {okta.oauth.client_id}"
        elif okta.token is not None and okta.token.reveal():
            auth = SswsAuth(okta.token.reveal())
            # Identifies the token's rate-limit share without keeping the token itself as a key.
            client_key = "ssws " + hashlib.sha256(okta.token.reveal().encode()).hexdigest()
        else:
            from oktasync.errors import ConfigError, Problem

            raise ConfigError(
                [
                    Problem(
                        "(config)",
                        None,
                        None,
                        "okta needs `token` or `oauth`",
                        'token: "{{ env.OKTA_API_TOKEN }}"',
                    )
                ]
            )
        session = okta.admin_session.reveal() if okta.admin_session is not None else None
        return cls(
            okta.org_url,
            auth,
            max_concurrency=okta.max_concurrency,
            headroom=okta.rate_limit_headroom,
            progress=progress,
            # The one policy of every request (API, token, Admin Console); only the 429 budget is tunable.
            retry=RetryPolicy(max_429_wait=okta.max_rate_limit_wait_seconds),
            admin_session=session or None,
            client_key=client_key,
        )

    # --- SDK plumbing ------------------------------------------------------------------------------
    def _api(self, module: str, name: str) -> Any:
        """A generated API class, imported on first use and wired to our executor."""
        api = self._apis.get(name)
        if api is None:
            cls = getattr(importlib.import_module(f"okta.api.{module}"), name)
            # Deliberately no token here: the generated client would send "SSWS<token>" (no space).
            api = cls({"client": {"orgUrl": self.org_url, "authorizationMode": "SSWS"}})
            api._request_executor = self._executor
            self._apis[name] = api
        return api

    @staticmethod
    def _body(result: tuple[Any, ...]) -> Any:
        """The raw JSON of a typed call's response (parsed leniently by us, not by the SDK's models)."""
        resp = result[1] if len(result) == 3 else None
        raw = getattr(resp, "raw_data", None)
        if not raw:
            return None
        return json.loads(raw)

    # --- apps --------------------------------------------------------------------------------------
    async def find_apps(self, label: str) -> list[App]:
        # q is a startsWith match on name and label; keep exact label matches only.
        items = await self.transport.get_all("/api/v1/apps", {"q": label, "limit": APPS_PAGE})
        apps = [parse.app(item) for item in items]
        return [a for a in apps if a.label == label]

    async def get_app(self, app_id: str) -> App:
        return parse.app(await self.transport.json("GET", f"/api/v1/apps/{_id(app_id)}"))

    # --- connection and features -------------------------------------------------------------------
    async def get_connection(self, app_id: str) -> Connection:
        return parse.connection(
            await self.transport.json("GET", f"/api/v1/apps/{_id(app_id)}/connections/default")
        )

    async def set_connection(self, app_id: str, base_url: str | None, token: str | None) -> None:
        from okta.models.update_default_provisioning_connection_for_application_request import (
            UpdateDefaultProvisioningConnectionForApplicationRequest as Body,
        )

        profile: dict[str, Any] = {"authScheme": "TOKEN"}
        if token is not None:
            profile["token"] = token
        doc: dict[str, Any] = {"profile": profile}
        if base_url is not None:
            doc["baseUrl"] = base_url
        api = self._api("application_connections_api", "ApplicationConnectionsApi")
        # from_dict, not keyword arguments: the oneOf wrapper built from kwargs serializes to null
        # (docs/okta-behaviour.md, Okta's Python SDK).
        await api.update_default_provisioning_connection_for_application(app_id, Body.from_dict(doc))

    async def activate_connection(self, app_id: str) -> None:
        api = self._api("application_connections_api", "ApplicationConnectionsApi")
        await api.activate_default_provisioning_connection_for_application(app_id)  # 204, no content type

    async def get_to_app_settings(self, app_id: str) -> ToAppSettings | None:
        try:
            doc = await self.transport.json("GET", f"/api/v1/apps/{_id(app_id)}/features/USER_PROVISIONING")
        except OktaApiError as exc:
            # 400 E0000001 "Provisioning is not supported." / "...not enabled for the app instance."
            # (docs/okta-behaviour.md, Authentication and errors)
            if exc.status == 400 and exc.error_code == "E0000001":
                return None
            raise
        return parse.to_app_settings(doc)

    async def update_to_app_settings(
        self,
        app_id: str,
        *,
        create_users: bool | None = None,
        update_user_attributes: bool | None = None,
        deactivate_users: bool | None = None,
    ) -> None:
        from okta.models.update_feature_for_application_request import (
            UpdateFeatureForApplicationRequest as Body,
        )

        def status(flag: bool) -> dict[str, str]:
            return {"status": "ENABLED" if flag else "DISABLED"}

        doc: dict[str, Any] = {}
        if create_users is not None:
            doc["create"] = {"lifecycleCreate": status(create_users)}
        update: dict[str, Any] = {}
        if update_user_attributes is not None:
            update["profile"] = status(update_user_attributes)
        if deactivate_users is not None:
            update["lifecycleDeactivate"] = status(deactivate_users)
        if update:
            doc["update"] = update
        if not doc:
            raise ValueError("update_to_app_settings needs at least one setting (an empty body is a 400)")
        api = self._api("application_features_api", "ApplicationFeaturesApi")
        await api.update_feature_for_application(app_id, "USER_PROVISIONING", Body.from_dict(doc))

    # --- admin channel -----------------------------------------------------------------------------
    def has_admin_session(self) -> bool:
        return self.admin is not None

    def _admin(self) -> AdminChannel:
        if self.admin is None:
            from oktasync.errors import AdminSessionError

            raise AdminSessionError(
                "the admin channel needs an Admin Console session",
                hint="set okta.admin_session (the -admin host's cookies, docs/admin-console-channel.md)",
            )
        return self.admin

    async def read_admin_form(self, app: App) -> AdminProvisioningForm:
        return await self._admin().read_form(app)

    async def write_admin_form(
        self, app: App, changes: dict[str, Any], *, bearer_token: str | None = None
    ) -> None:
        await self._admin().write_form(app, changes, bearer_token=bearer_token)

    # --- assignments -------------------------------------------------------------------------------
    async def list_group_assignments(self, app_id: str) -> list[GroupAssignment]:
        items = await self.transport.get_all(
            f"/api/v1/apps/{_id(app_id)}/groups", {"limit": APP_GROUPS_PAGE, "expand": "group"}
        )
        return [parse.group_assignment(item) for item in items]

    async def get_group_assignment(self, app_id: str, group_id: str) -> GroupAssignment | None:
        try:
            doc = await self.transport.json(
                "GET", f"/api/v1/apps/{_id(app_id)}/groups/{_id(group_id)}", params={"expand": "group"}
            )
        except NotFoundError:
            return None
        return parse.group_assignment(doc)

    async def assign_group(
        self, app_id: str, group_id: str, priority: int | None, profile: dict[str, Any]
    ) -> GroupAssignment:
        from okta.models.application_group_assignment import ApplicationGroupAssignment

        # Send priority and profile explicitly: a PUT without them gets a default priority
        # (docs/okta-behaviour.md, Group assignments and background jobs).
        body = ApplicationGroupAssignment(priority=priority, profile=dict(profile))
        api = self._api("application_groups_api", "ApplicationGroupsApi")
        result = await api.assign_group_to_application(app_id, group_id, body)
        return parse.group_assignment(self._body(result))

    async def unassign_group(self, app_id: str, group_id: str) -> None:
        try:
            await self.transport.request("DELETE", f"/api/v1/apps/{_id(app_id)}/groups/{_id(group_id)}")
        except NotFoundError:
            return  # already unassigned: a resumed run may repeat this step

    async def list_app_users(self, app_id: str, *, with_user: bool = True) -> list[AppUser]:
        params: dict[str, str | int] = {"limit": APP_USERS_PAGE}
        if with_user:
            params["expand"] = "user"
        return await self.transport.get_all(
            f"/api/v1/apps/{_id(app_id)}/users", params, parse_item=parse.app_user
        )

    async def first_app_users(self, app_id: str, limit: int) -> list[AppUser]:
        page = await self.transport.json(
            "GET", f"/api/v1/apps/{_id(app_id)}/users", params={"limit": max(1, min(limit, APP_USERS_PAGE))}
        )
        return [parse.app_user(item) for item in page] if isinstance(page, list) else []

    async def get_app_user(self, app_id: str, user_id: str) -> AppUser | None:
        try:
            doc = await self.transport.json(
                "GET", f"/api/v1/apps/{_id(app_id)}/users/{_id(user_id)}", params={"expand": "user"}
            )
        except NotFoundError:
            return None
        return parse.app_user(doc)

    async def update_app_user(self, app_id: str, user_id: str, profile: dict[str, Any]) -> AppUser:
        # A POST, but an update that sets the same values again: safe to retry.
        doc = await self.transport.json(
            "POST",
            f"/api/v1/apps/{_id(app_id)}/users/{_id(user_id)}",
            json_body={"profile": profile},
            idempotent=True,
        )
        return parse.app_user(doc)

    async def list_group_member_ids(self, group_id: str) -> list[str]:
        items = await self.transport.get_all(
            f"/api/v1/groups/{_id(group_id)}/users", {"limit": GROUP_MEMBERS_PAGE}
        )
        return [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]

    async def list_user_group_ids(self, user_id: str) -> list[str]:
        # "List all groups of a user" (Users API, listUserGroups; scope okta.users.read): a JSON array of
        # Group objects, paged with `after` from the Link header, `limit` up to 200. Raw JSON like every
        # list (all Link lines, errors raise); the SDK 3.4 method exposes neither `limit` nor `after`.
        items = await self.transport.get_all(
            f"/api/v1/users/{_id(user_id)}/groups", {"limit": USER_GROUPS_PAGE}
        )
        return [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]

    # --- system log --------------------------------------------------------------------------------
    async def list_log_events(
        self, *, since: str, until: str | None = None, filter: str | None = None
    ) -> list[LogEvent]:
        # Always bounded (since + until): a polling query's next link never ends (docs/okta-behaviour.md, Rate
        # limits and paging).
        params: dict[str, str | int] = {
            "since": since,
            "until": until or okta_time(),
            "limit": LOGS_PAGE,
            "sortOrder": "ASCENDING",
        }
        if filter:
            params["filter"] = filter
        items = await self.transport.get_all("/api/v1/logs", params)
        return [parse.log_event(item) for item in items]

    # --- event hooks -------------------------------------------------------------------------------
    # Raw JSON through the transport like every other call: the SDK's EventHook model parses strictly, and the
    # request body is small (docs/okta-behaviour.md "Event hooks").
    async def list_event_hooks(self) -> list[EventHook]:
        doc = await self.transport.json("GET", "/api/v1/eventHooks")
        return [event_hook(item) for item in doc if isinstance(item, dict)] if isinstance(doc, list) else []

    async def create_event_hook(self, spec: EventHookSpec) -> EventHook:
        return event_hook(
            await self.transport.json("POST", "/api/v1/eventHooks", json_body=event_hook_body(spec))
        )

    async def replace_event_hook(self, hook_id: str, spec: EventHookSpec) -> EventHook:
        path = f"/api/v1/eventHooks/{_id(hook_id)}"
        return event_hook(
            await self.transport.json("PUT", path, json_body=event_hook_body(spec), idempotent=True)
        )

    async def activate_event_hook(self, hook_id: str) -> EventHook:
        path = f"/api/v1/eventHooks/{_id(hook_id)}/lifecycle/activate"
        return event_hook(await self.transport.json("POST", path, idempotent=True))

    async def verify_event_hook(self, hook_id: str) -> EventHook:
        path = f"/api/v1/eventHooks/{_id(hook_id)}/lifecycle/verify"
        return event_hook(await self.transport.json("POST", path, idempotent=True))

    # --- introspection -----------------------------------------------------------------------------
    def rate_limits(self) -> Sequence[RateLimitState]:
        return self.pacer.states()

    def request_count(self) -> int:
        return self.transport.sent + (self.admin.sent if self.admin is not None else 0)

    async def close(self) -> None:
        await self.transport.aclose()
        if self.admin is not None:
            await self.admin.aclose()


def event_hook_body(spec: EventHookSpec) -> dict[str, Any]:
    """The EventHook object of the spec: an HTTP channel 1.0.0 with a HEADER auth scheme."""
    return {
        "name": spec.name,
        "events": {"type": "EVENT_TYPE", "items": list(spec.events)},
        "channel": {
            "type": "HTTP",
            "version": "1.0.0",
            "config": {
                "uri": spec.uri,
                "headers": [],
                "authScheme": {"type": "HEADER", "key": spec.auth_header, "value": spec.secret},
            },
        },
    }


def event_hook(doc: Any) -> EventHook:
    """An EventHook response, read leniently (absent fields become empty)."""
    doc = doc if isinstance(doc, dict) else {}
    config = ((doc.get("channel") or {}).get("config")) or {}
    scheme = config.get("authScheme") or {}
    items = (doc.get("events") or {}).get("items") or []
    return EventHook(
        id=str(doc.get("id") or ""),
        name=str(doc.get("name") or ""),
        status=str(doc.get("status") or ""),
        verification_status=str(doc.get("verificationStatus") or ""),
        uri=str(config.get("uri") or ""),
        events=tuple(str(i) for i in items),
        auth_header=scheme.get("key"),
    )
