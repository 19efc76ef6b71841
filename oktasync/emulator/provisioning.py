"""The provisioning engine: pushes app users to the app's SCIM target over real HTTP, asynchronously.

Okta's behaviour (docs/emulator.md; evidence in docs/okta-behaviour.md):

* create (``application.provision.user.push``): first the existence check (``…user.verify_exists``),
  ``GET /Users?filter=userName eq "<v>"&startIndex=1&count=100``; a hit is linked with a ``PUT`` of the
  whole user, a miss is ``POST``ed with Okta's ``password`` placeholder ("Okta sends the password parameter
  in a create user request, even if password sync isn't enabled", developer.okta.com/docs/reference/scim/
  scim-20/). Success sets ``externalId`` (the SCIM id),
  ``PROVISIONED``, ``SYNCHRONIZED`` and ``lastSync``.
  The filter attribute is always ``userName``: Okta documents that with unique identifier ``email`` it sends
  ``userName eq "<email>"``, and scim2-server rejects ``email eq``. The value is the app user's
  ``credentials.userName`` (the email for unique identifier ``email``, else the Okta login).
* profile update (``application.provision.user.push_profile``): ``GET /Users/{id}`` then ``PUT`` the
  whole user.
* deactivation (``application.provision.user.deactivate``): ``GET`` then ``PUT`` with ``active: false``;
  AIW apps always PUT, never PATCH, and Okta never DELETEs.

Every push writes one System Log event, SUCCESS or FAILURE, whose targets are the ``AppUser`` (its own ``0ua``
id), the ``AppInstance`` and the ``User`` (the Okta user id). A failure's ``outcome.reason`` is worded as Okta
words it on the Tasks page, ``<Okta message>: <status phrase>. Errors reported by remote server: <target's
message>``, never truncated; the failure of an assigned user is followed by an
``application.provision.user.sync`` FAILURE whose reason is null, and the app user is left
``syncState: ERROR``.

Jobs are sharded by (app, user) over N worker queues, so one user's pushes stay in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import string
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

import aiohttp

from oktasync.emulator.records import App, AppUser, Job, User, iso
from oktasync.emulator.store import Store

log = logging.getLogger("oktasync.emulator.provisioning")

USER_AGENT = "Okta SCIM Client 1.0.0"
SCIM_USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
_MAX_429_RETRIES = 3


PUSH = "application.provision.user.push"
VERIFY_EXISTS = "application.provision.user.verify_exists"
PUSH_PROFILE = "application.provision.user.push_profile"
DEACTIVATE = "application.provision.user.deactivate"
SYNC = "application.provision.user.sync"
DISPLAY_MESSAGES = {  # as Okta's System Log shows them
    PUSH: "Push new user to external application",
    VERIFY_EXISTS: "Verify user exists in external application",
    PUSH_PROFILE: "Push users profile to external application",
    DEACTIVATE: "Deactivate user in external application",
    SYNC: "Sync user in external application",
}


class PushError(Exception):
    """A push failed; ``okta`` is Okta's part of the reason, ``remote`` its account of the target's answer."""

    def __init__(self, okta: str, remote: str) -> None:
        super().__init__(f"{okta}: {remote}")
        self.okta = okta
        self.remote = remote


def password_placeholder() -> str:
    """A value for the ``password`` Okta puts in every SCIM create (a placeholder, not a credential)."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def _scim_headers(bearer_token: str | None, *, has_body: bool) -> dict[str, str]:
    """The headers Okta's SCIM client sends (a body is SCIM JSON in UTF-8)."""
    headers = {
        "Authorization": f"Bearer {bearer_token or ''}",
        "Accept": "application/scim+json",
        "Accept-Charset": "utf-8",
        "User-Agent": USER_AGENT,
    }
    if has_body:
        headers["Content-Type"] = "application/scim+json; charset=utf-8"
    return headers


def scim_user_body(
    app_user: AppUser,
    user: User,
    *,
    active: bool,
    scim_id: str | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """The Okta-shaped SCIM user; PUT bodies carry the id, the create (POST) body the password placeholder."""
    profile = app_user.profile
    given = profile.get("givenName") or user.profile.get("firstName") or ""
    family = profile.get("familyName") or user.profile.get("lastName") or ""
    email = profile.get("email") or user.profile.get("email") or app_user.user_name
    body: dict[str, Any] = {
        "schemas": [SCIM_USER_SCHEMA],
        "userName": app_user.user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": profile.get("displayName") or f"{given} {family}".strip(),
        "locale": "en-US",
        "externalId": user.id,
        "groups": [],
    }
    if password is not None:
        body["password"] = password
    body["active"] = active
    if scim_id is not None:
        body["id"] = scim_id
    return body


class ProvisioningEngine:
    def __init__(
        self, store: Store, *, workers: int = 4, timeout: float = 10.0, time_scale: float = 1.0
    ) -> None:
        self.store = store
        self.n_workers = max(1, workers)
        self.timeout = timeout
        self.time_scale = time_scale
        self._queues: list[asyncio.Queue[Job]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.pushes = 0
        self.listeners: list[Callable[[dict[str, Any]], None]] = []  # told of every event written (hooks)

    @property
    def pending(self) -> int:
        return self._pending

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            connector=aiohttp.TCPConnector(limit=32),
        )
        self._queues = [asyncio.Queue() for _ in range(self.n_workers)]
        self._tasks = [asyncio.create_task(self._worker(q)) for q in self._queues]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    def submit(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._pending += 1
            self._idle.clear()
            self._queues[hash((job.app_id, job.user_id)) % self.n_workers].put_nowait(job)

    def clear(self) -> None:
        """Drop queued jobs (state replaced by a new seed)."""
        for queue in self._queues:
            while not queue.empty():
                queue.get_nowait()
                self._done()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _done(self) -> None:
        self._pending -= 1
        if self._pending <= 0:
            self._pending = 0
            self._idle.set()

    async def _worker(self, queue: asyncio.Queue[Job]) -> None:
        while True:
            job = await queue.get()
            try:
                await self.run(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not kill the worker; the job is logged and dropped
                log.exception("provisioning job %s failed unexpectedly", job)
            finally:
                self._done()

    # --- one job -------------------------------------------------------------------------------------
    async def run(self, job: Job) -> None:
        app = self.store.apps.get(job.app_id)
        user = self.store.users.get(job.user_id)
        if app is None or user is None:
            return
        if job.kind == "deactivate":
            await self._deactivate(app, user, job.snapshot)
            return
        app_user = app.users.get(job.user_id)
        if app_user is None:
            return  # unassigned before the push ran
        if job.kind == "create" or app_user.external_id is None:
            await self._create(app, user, app_user)
        else:
            await self._push_profile(app, user, app_user)

    async def _create(self, app: App, user: User, app_user: AppUser) -> None:
        if not app.provisioning_active:
            app_user.status, app_user.sync_state = "ACTIVE", "DISABLED"
            return
        name = user.display_name
        okta_msg = f"Automatic provisioning of user {name} to app {app.label} failed"
        try:
            found = await self._lookup(app, job_user=user, user_name=app_user.user_name, okta_msg=okta_msg)
        except PushError as exc:
            self._failed(app, user, app_user, VERIFY_EXISTS, exc)
            return
        try:
            if found is not None:
                body = scim_user_body(app_user, user, active=True, scim_id=found)
                result = await self._call(
                    app,
                    user,
                    "PUT",
                    f"/Users/{found}",
                    body,
                    okta=f"{okta_msg}: Error while updating user {name}",
                )
            else:
                body = scim_user_body(app_user, user, active=True, password=password_placeholder())
                result = await self._call(
                    app, user, "POST", "/Users", body, okta=f"{okta_msg}: Error while creating user {name}"
                )
            scim_id = result.get("id") if isinstance(result, dict) else None
            if not scim_id:
                raise PushError(
                    f"{okta_msg}: Error while creating user {name}", "Create new user returned empty user"
                )
        except PushError as exc:
            self._failed(app, user, app_user, PUSH, exc)
            return
        now = iso()
        if app.users.get(user.id) is app_user:
            app_user.external_id = str(scim_id)
            app_user.status = "PROVISIONED"
            app_user.sync_state = "SYNCHRONIZED"
            app_user.last_sync = now
            app_user.last_updated = now
            app_user.status_changed = now
        self._event(app, user, PUSH, app_user.user_name)

    async def _push_profile(self, app: App, user: User, app_user: AppUser) -> None:
        if not app.profile_push_active:
            app_user.sync_state = "SYNCHRONIZED"
            return
        okta = (
            f"Automatic profile push of {user.display_name} to app {app.label} failed: "
            f"Error while trying to push profile update for {app_user.user_name}"
        )
        ext = app_user.external_id
        try:
            current = await self._call(app, user, "GET", f"/Users/{ext}", None, okta=okta)
            active = bool(current.get("active", True)) if isinstance(current, dict) else True
            await self._call(
                app,
                user,
                "PUT",
                f"/Users/{ext}",
                scim_user_body(app_user, user, active=active, scim_id=ext),
                okta=okta,
            )
        except PushError as exc:
            self._failed(app, user, app_user, PUSH_PROFILE, exc)
            return
        app_user.sync_state = "SYNCHRONIZED"
        app_user.last_sync = iso()
        self._event(app, user, PUSH_PROFILE, app_user.user_name)

    def _failed(self, app: App, user: User, app_user: AppUser, event_type: str, error: PushError) -> None:
        """An assigned user's push failed: ``ERROR``, the push's event with the reason, then the ``.sync``
        failure Okta logs beside it, whose reason is null."""
        if app.users.get(user.id) is not app_user:
            return  # unassigned while the push ran: nothing is left to be in error
        app_user.sync_state = "ERROR"
        app_user.last_updated = iso()
        self._event(app, user, event_type, app_user.user_name, failure=error)
        self._event(app, user, SYNC, app_user.user_name, failure=error, null_reason=True)

    async def _deactivate(self, app: App, user: User, snapshot: dict[str, Any]) -> None:
        ext = snapshot.get("external_id")
        if not ext:
            return  # never created on the target: nothing to deactivate
        name = user.display_name
        okta = (
            f"Automatic deactivation of user {name} in app {app.label} failed: "
            f"Error while deactivating user {name}"
        )
        shadow = AppUser(
            user_id=user.id,
            direct=False,
            user_name=snapshot.get("user_name") or user.login,
            profile=dict(snapshot.get("profile") or {}),
        )
        try:
            await self._call(app, user, "GET", f"/Users/{ext}", None, okta=okta)
            await self._call(
                app,
                user,
                "PUT",
                f"/Users/{ext}",
                scim_user_body(shadow, user, active=False, scim_id=ext),
                okta=okta,
            )
        except PushError as exc:
            self._event(app, user, DEACTIVATE, shadow.user_name, failure=exc)
            return
        self._event(app, user, DEACTIVATE, shadow.user_name)

    async def _lookup(self, app: App, *, job_user: User, user_name: str, okta_msg: str) -> str | None:
        query = f'userName eq "{user_name}"'
        result = await self._call(
            app,
            job_user,
            "GET",
            "/Users",
            None,
            params={"filter": query, "startIndex": "1", "count": "100"},
            okta=f"{okta_msg}: Error while verifying if user {job_user.display_name} exists",
            not_found_ok=True,
        )
        if isinstance(result, dict):
            resources = result.get("Resources") or []
            if resources and isinstance(resources[0], dict) and resources[0].get("id"):
                return str(resources[0]["id"])
        return None

    async def _call(
        self,
        app: App,
        user: User,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        okta: str,
        params: dict[str, str] | None = None,
        not_found_ok: bool = False,
    ) -> Any:
        """One SCIM request to the app's target, recorded in ``store.scim_calls``: the JSON answer (None when
        it is empty, or a 404 with ``not_found_ok``), else PushError with ``okta`` as Okta's part."""
        assert self._session is not None, "engine not started"
        base = (app.settings.scim_base_url or "").rstrip("/")
        headers = _scim_headers(app.settings.bearer_token, has_body=body is not None)
        data = None if body is None else json.dumps(body).encode()
        query = f"?filter={params['filter']}" if params and "filter" in params else ""
        record = self._record_call(app, user, method, path + query, body)
        status, text = await self._send(
            method, base, path, headers=headers, data=data, params=params, record=record, okta=okta
        )
        if status == 404 and not_found_ok:
            return None
        if status >= 400:
            raise PushError(okta, _remote_message(status, text))
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise PushError(okta, f"Invalid response from remote server: {text[:200]}") from exc

    def _record_call(
        self, app: App, user: User, method: str, shown_path: str, body: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Add the call to ``store.scim_calls`` (its status is filled in once answered) and count it;
        ``shown_path`` is the path with the filter, if any, as the record shows it."""
        record: dict[str, Any] = {
            "at": iso(),
            "app_id": app.id,
            "user_id": user.id,
            "method": method,
            "path": shown_path,
            "userName": body.get("userName") if body else None,
            "active": body.get("active") if body else None,
            "password_sent": bool(body and "password" in body),  # the placeholder's presence, never its value
            "status": None,
        }
        self.store.scim_calls.append(record)
        self.pushes += 1
        return record

    async def _send(
        self,
        method: str,
        base: str,
        path: str,
        *,
        headers: dict[str, str],
        data: bytes | None,
        params: dict[str, str] | None,
        record: dict[str, Any],
        okta: str,
    ) -> tuple[int, str]:
        """The target's status and body text; a 429 is retried a few times first, as Okta pauses and
        reschedules on 429 from the target (docs/okta-behaviour.md, What Okta sends to a SCIM target)."""
        assert self._session is not None, "engine not started"
        for attempt in range(_MAX_429_RETRIES + 1):
            try:
                async with self._session.request(
                    method, base + path, headers=headers, data=data, params=params
                ) as resp:
                    text = await resp.text()
                    record["status"] = resp.status
                    if resp.status == 429 and attempt < _MAX_429_RETRIES:
                        delay = float(resp.headers.get("Retry-After", "1") or 1)
                        await asyncio.sleep(min(delay, 5.0) * self.time_scale)
                        continue
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                record["status"] = "connection-error"
                raise PushError(
                    okta, f"Could not connect to {base}: {type(exc).__name__} {exc}".strip()
                ) from exc
            return resp.status, text
        raise AssertionError("unreachable")

    def _event(
        self,
        app: App,
        user: User,
        event_type: str,
        user_name: str,
        *,
        failure: PushError | None = None,
        null_reason: bool = False,
    ) -> None:
        event = self.store.log_event(
            event_type,
            DISPLAY_MESSAGES[event_type],
            targets=self.store.app_user_targets(app, user, user_name),
            result="FAILURE" if failure else "SUCCESS",
            reason=str(failure) if failure and not null_reason else None,
        )
        for listener in self.listeners:
            listener(event)


def _remote_message(status: int, text: str) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = f"HTTP {status}"
    detail = text.strip()
    try:
        doc = json.loads(text)
        if isinstance(doc, dict) and doc.get("detail"):
            detail = str(doc["detail"])
    except ValueError:
        pass
    return f"{phrase}. Errors reported by remote server: {detail}" if detail else f"{phrase}."
