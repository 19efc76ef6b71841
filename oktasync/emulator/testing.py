"""In-process emulator for tests, benchmarks and the demo.

::

    with run_scim_server("scim-token") as scim, run_emulator(seed=build_org(users=10, groups=2)) as em:
        em.control.set_app_settings(app_id, scim_base_url=scim.base_url, bearer_token=scim.token)
        httpx.put(f"{em.url}/api/v1/apps/{app_id}/groups/{gid}", headers=em.headers)
        assert em.control.wait_idle(10)

The control client talks to the control API over HTTP (``control.py``), so it works the same against an
``oktasync emulator serve`` process: ``Control("http://127.0.0.1:PORT", TOKEN)``, with the control token
the process prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from oktasync.emulator.behaviour import Behaviour
from oktasync.emulator.control import TOKEN_HEADER
from oktasync.emulator.runtime import EmulatorThread
from oktasync.emulator.server import Emulator

DEFAULT_API_TOKEN = "emulator-token"


class ControlError(RuntimeError):
    pass


class Control:
    """Client of the control API (``/__emulator/``). ``token`` is the emulator's control token
    (``Emulator.control_token``; ``emulator serve`` prints it): calls that change something need it."""

    def __init__(self, url: str, token: str = "", timeout: float = 60.0) -> None:
        self.url = url.rstrip("/") + "/__emulator"
        self._http = httpx.Client(
            timeout=timeout,
            verify=False,  # loopback http: skip loading CA certs (~50 ms)
            headers={TOKEN_HEADER: token} if token else {},
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        resp = self._http.request(method, self.url + path, json=json, params=params)
        if resp.status_code >= 400 and not (path == "/idle" and resp.status_code == 408):
            raise ControlError(f"{method} {path}: {resp.status_code} {resp.text}")
        return resp.json()

    # state
    def seed(self, state: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", "/state", json=state)
        return result

    def state(self, *, secrets: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/state", params={"secrets": "true"} if secrets else None)
        return result

    # stats and faults
    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/stats")
        return result

    def reset_stats(self) -> None:
        self._call("POST", "/stats/reset")

    def faults(self, **faults: Any) -> None:
        """Replace the fault set (keys in ``oktasync.emulator.faults``)."""
        self._call("PUT", "/faults", json=faults)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def behaviour(self, **changes: Any) -> dict[str, Any]:
        """Change switches of ``oktasync.emulator.behaviour`` (none given: read them); returns them all."""
        if not changes:
            return dict(self._call("GET", "/behaviour"))
        return dict(self._call("PATCH", "/behaviour", json=changes))

    def set_rate_limits(self, **limits: int) -> None:
        """Per-minute limits by bucket name, e.g. ``{"/api/v1/apps": 10}`` (pass via ``**{...}``)."""
        self._call("PUT", "/rate-limits", json=limits)

    def reset_rate_limits(self) -> None:
        self._call("POST", "/rate-limits/reset")

    def exhaust_bucket(self, bucket: str) -> None:
        self._call("POST", "/rate-limits/exhaust", params={"bucket": bucket})

    # provisioning
    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until the provisioning queue is empty; False on timeout."""
        doc = self._call("POST", "/idle", params={"timeout": timeout})
        return bool(doc["idle"])

    def scim_calls(self, *, app_id: str | None = None, user_id: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("app_id", app_id), ("user_id", user_id)) if v}
        result: list[dict[str, Any]] = self._call("GET", "/scim-calls", params=params)
        return result

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "GET", "/events", params={"event_type": event_type} if event_type else None
        )
        return result

    # out-of-band changes
    def set_app_settings(self, app_id: str, **settings: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/apps/{app_id}/settings", json=settings)
        return result

    def settings_history(self, app_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/apps/{app_id}/settings-history")
        return result

    def assign_group(self, app_id: str, group: str, priority: int | None = None) -> None:
        self._call("PUT", f"/apps/{app_id}/groups/{group}", json={"priority": priority})

    def unassign_group(self, app_id: str, group: str) -> None:
        self._call("DELETE", f"/apps/{app_id}/groups/{group}")

    def add_member(self, group: str, user: str) -> None:
        self._call("PUT", f"/groups/{group}/users/{user}")

    def remove_member(self, group: str, user: str) -> None:
        self._call("DELETE", f"/groups/{group}/users/{user}")

    def create_user(self, login: str, first: str = "New", last: str = "User", **profile: Any) -> str:
        doc = self._call(
            "POST", "/users", json={"login": login, "firstName": first, "lastName": last, **profile}
        )
        return str(doc["id"])

    def update_user(self, user: str, **profile: Any) -> None:
        self._call("PATCH", f"/users/{user}", json=profile)

    def expire_admin_session(self, session_id: str) -> None:
        self._call("DELETE", f"/admin-sessions/{session_id}")

    # lookups over the dump (convenience for tests)
    def app_id(self, label: str) -> str:
        for app in self.state()["apps"]:
            if app["label"] == label:
                return str(app["id"])
        raise ControlError(f"no app labelled {label!r}")

    def group_id(self, name: str) -> str:
        for group in self.state()["groups"]:
            if group["name"] == name:
                return str(group["id"])
        raise ControlError(f"no group named {name!r}")

    def user_id(self, login: str) -> str:
        for user in self.state()["users"]:
            if user["login"].lower() == login.lower():
                return str(user["id"])
        raise ControlError(f"no user with login {login!r}")


@dataclass
class RunningEmulator:
    """What ``run_emulator`` yields.

    ``http`` is an ``httpx.Client`` with ``base_url=url``, the SSWS ``headers`` and the control token preset
    (reuse it: creating an httpx client costs ~50 ms).
    """

    url: str
    api_token: str
    control: Control
    emulator: Emulator
    thread: EmulatorThread
    http: httpx.Client

    @property
    def headers(self) -> dict[str, str]:
        """``Authorization: SSWS <token>`` headers for raw httpx calls."""
        return {"Authorization": f"SSWS {self.api_token}", "Accept": "application/json"}

    def assign(self, app_id: str, *, groups: Iterable[str] = (), users: Iterable[str] = ()) -> None:
        """Assign ``groups`` (names or ids, control API) and ``users`` (logins, directly, through the API as
        an admin would: ``POST /api/v1/apps/{id}/users`` with scope USER)."""
        for group in groups:
            self.control.assign_group(app_id, group)
        for login in users:
            response = self.http.post(
                f"/api/v1/apps/{app_id}/users",
                json={"id": self.control.user_id(login), "scope": "USER", "credentials": {"userName": login}},
            )
            if response.status_code != 200:
                raise ControlError(f"assigning {login} to {app_id}: {response.status_code} {response.text}")


@contextmanager
def run_emulator(
    seed: dict[str, Any] | None = None,
    *,
    time_scale: float = 1.0,
    api_token: str = DEFAULT_API_TOKEN,
    rate_limits: dict[str, int] | None = None,
    concurrency_limit: int = 75,
    workers: int = 4,
    host: str = "127.0.0.1",
    port: int = 0,
    behaviour: dict[str, Any] | None = None,
) -> Iterator[RunningEmulator]:
    """Run an emulator on a free loopback port in a background thread; stop it (no thread or port left)."""
    emulator = Emulator(
        seed,
        time_scale=time_scale,
        rate_limits=rate_limits,
        concurrency_limit=concurrency_limit,
        api_tokens=[api_token],
        workers=workers,
        behaviour=Behaviour().updated(behaviour or {}),
    )
    thread = EmulatorThread(emulator, host, port).start()
    control = Control(thread.url, emulator.control_token)
    http = httpx.Client(
        base_url=thread.url,
        headers={
            "Authorization": f"SSWS {api_token}",
            "Accept": "application/json",
            TOKEN_HEADER: emulator.control_token,
        },
        timeout=60,
        verify=False,
    )
    try:
        yield RunningEmulator(thread.url, api_token, control, emulator, thread, http)
    finally:
        http.close()
        control.close()
        thread.stop()


# --- the standard test org (tests/conftest.py) -------------------------------------------------------
API_TOKEN = DEFAULT_API_TOKEN


def standard_config(emulator_url: str, more: str = "") -> str:
    """A tenant config (YAML) for the standard org's custom SCIM app: tenant ``acme``, tokens from
    ``$OKTA_API_TOKEN`` and ``$SCIM_TOKEN``, then ``more`` (top-level blocks such as ``tasks:``)."""
    return (
        f"""tenant: acme
okta:
  org_url: {emulator_url}
  token: "{{{{ env.OKTA_API_TOKEN }}}}"
app:
  label: Chronosphere
scim:
  base_url: https://acme.chronosphere.io/api/scim/v2
  auth:
    bearer_token: "{{{{ env.SCIM_TOKEN }}}}"
"""
        + more
    )


SCIM_TOKEN = "scim-test-token"
ADMIN_SESSION = "admin-session"
ADMIN_XSRF = "xsrf-admin-session"
CUSTOM_APP_ID = "0oachronosphere00001"
API_APP_ID = "0oazscaler0000000001"


def standard_seed(*, scim_base_url: str | None = None, scim_token: str | None = SCIM_TOKEN) -> dict[str, Any]:
    """The standard test org.

    * users ``alice``, ``bob``, ``carol``, ``dave``, ``erin``, ``frank`` ``@example.com`` (first names
      capitalised, last name ``Example``);
    * groups ``engineering`` (alice, bob, carol), ``sales`` (carol, dave), ``everyone`` (all six);
    * app ``Chronosphere`` (id ``CUSTOM_APP_ID``, name ``chronosphere_scim``, custom SCIM app): unique
      identifier email, Push New Users + Push Profile Updates, Create Users + Update User Attributes +
      Deactivate Users on, SCIM base URL/token from the arguments; no groups assigned yet;
    * app ``Zscaler`` (id ``API_APP_ID``, name ``zscalerbyz``, API-capable): connection ENABLED to the same
      target, Create Users + Update User Attributes on, Deactivate Users off; no assignments;
    * API token ``API_TOKEN``; admin session ``ADMIN_SESSION`` with XSRF token ``ADMIN_XSRF``.
    """
    names = ["alice", "bob", "carol", "dave", "erin", "frank"]
    users = [
        {
            "login": f"{n}@example.com",
            "email": f"{n}@example.com",
            "firstName": n.capitalize(),
            "lastName": "Example",
        }
        for n in names
    ]
    return {
        "api_tokens": [API_TOKEN],
        "admin_sessions": [{"id": ADMIN_SESSION, "xsrf_token": ADMIN_XSRF}],
        "users": users,
        "groups": [
            {"name": "engineering", "members": ["alice@example.com", "bob@example.com", "carol@example.com"]},
            {"name": "sales", "members": ["carol@example.com", "dave@example.com"]},
            {"name": "everyone", "members": [u["login"] for u in users]},
        ],
        "apps": [_chronosphere_app(scim_base_url, scim_token), _zscaler_app(scim_base_url, scim_token)],
    }


def _chronosphere_app(scim_base_url: str | None, scim_token: str | None) -> dict[str, Any]:
    """The standard org's custom SCIM app: every provisioning switch on, unique identifier email."""
    return {
        "id": CUSTOM_APP_ID,
        "name": "chronosphere_scim",
        "label": "Chronosphere",
        "kind": "custom_scim",
        "settings": {
            "scim_base_url": scim_base_url,
            "unique_identifier": "email",
            "push_new_users": True,
            "push_profile_updates": True,
            "auth_mode": "header",
            "bearer_token": scim_token,
            "create_users": True,
            "update_user_attributes": True,
            "deactivate_users": True,
        },
    }


def _zscaler_app(scim_base_url: str | None, scim_token: str | None) -> dict[str, Any]:
    """The standard org's API-capable app: its connection enabled when there is a target, Deactivate Users
    off."""
    return {
        "id": API_APP_ID,
        "name": "zscalerbyz",
        "label": "Zscaler",
        "kind": "api",
        "connection_status": "ENABLED" if scim_base_url else None,
        "settings": {
            "scim_base_url": scim_base_url,
            "unique_identifier": "userName",
            "bearer_token": scim_token,
            "create_users": True,
            "update_user_attributes": True,
            "deactivate_users": False,
        },
    }
