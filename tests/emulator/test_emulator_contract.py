"""Contract: every JSON body the emulator returns for SDK-covered endpoints parses with the okta SDK's
generated models (Okta's official OpenAPI spec), except the deliberate traps, which fail as real Okta's do.

Only ``okta.models.<module>`` is imported (not ``okta.client``), so this stays fast.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from oktasync.emulator.scim_target import ScimServer
from oktasync.emulator.testing import API_APP_ID, CUSTOM_APP_ID, RunningEmulator

APP = f"/api/v1/apps/{CUSTOM_APP_ID}"
API_APP = f"/api/v1/apps/{API_APP_ID}"


def _json(em: RunningEmulator, path: str, **params: Any) -> Any:
    resp = em.http.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture
def populated(emulator: RunningEmulator, scim_server: ScimServer) -> RunningEmulator:
    scim_server.reject(["bob@example.com"], detail="short reason")
    for group in ("engineering", "sales"):
        emulator.http.put(f"{APP}/groups/{emulator.control.group_id(group)}", json={"priority": 1})
        emulator.http.put(f"{API_APP}/groups/{emulator.control.group_id(group)}")
    assert emulator.control.wait_idle(10)
    return emulator


def test_api_app_parses_as_saml_application(populated: RunningEmulator) -> None:
    from okta.models.application import Application
    from okta.models.saml_application import SamlApplication

    for doc in [_json(populated, API_APP), *_json(populated, "/api/v1/apps", q="Zscaler")]:
        app = Application.from_dict(doc)
        assert isinstance(app, SamlApplication)
        assert app.id == API_APP_ID


def test_custom_scim_app_trips_the_strict_model_like_real_okta(populated: RunningEmulator) -> None:
    """okta-sdk-python#574: AUTO_CONFIRM_IMPORTS is not in the SDK's features enum."""
    from okta.models.application import Application

    doc = _json(populated, APP)
    assert "AUTO_CONFIRM_IMPORTS" in doc["features"]
    with pytest.raises(ValidationError, match="features"):
        Application.from_dict(doc)
    doc["features"] = [f for f in doc["features"] if f != "AUTO_CONFIRM_IMPORTS"]
    assert Application.from_dict(doc) is not None  # everything else in the shape is valid


def test_group_assignments_parse(populated: RunningEmulator) -> None:
    from okta.models.application_group_assignment import ApplicationGroupAssignment

    for doc in _json(populated, f"{APP}/groups", expand="group"):
        parsed = ApplicationGroupAssignment.from_dict(doc)
        assert parsed is not None and parsed.priority == 1 and parsed.embedded
    gid = populated.control.group_id("sales")
    assert ApplicationGroupAssignment.from_dict(_json(populated, f"{APP}/groups/{gid}")) is not None


def test_app_users_parse_including_error_state(populated: RunningEmulator) -> None:
    from okta.models.app_user import AppUser

    docs = _json(populated, f"{APP}/users", expand="user")
    states = set()
    for doc in docs:
        parsed = AppUser.from_dict(doc)
        assert parsed is not None and parsed.id == doc["id"]
        states.add(doc["syncState"])
    assert states == {"SYNCHRONIZED", "ERROR"}
    assert AppUser.from_dict(_json(populated, f"{APP}/users/{docs[0]['id']}")) is not None


def test_groups_and_users_parse(populated: RunningEmulator) -> None:
    from okta.models.group import Group
    from okta.models.user import User

    for doc in _json(populated, "/api/v1/groups"):
        assert Group.from_dict(doc) is not None
    gid = populated.control.group_id("sales")
    assert Group.from_dict(_json(populated, f"/api/v1/groups/{gid}")) is not None
    for doc in _json(populated, f"/api/v1/groups/{gid}/users") + _json(populated, "/api/v1/users"):
        assert User.from_dict(doc) is not None


def test_groups_of_a_user_parse(populated: RunningEmulator) -> None:
    """``GET /api/v1/users/{id}/groups`` (listUserGroups) answers ``List[Group]`` in the SDK's spec."""
    from okta.models.group import Group

    carol = populated.control.user_id("carol@example.com")
    docs = _json(populated, f"/api/v1/users/{carol}/groups")
    parsed = [Group.from_dict(doc) for doc in docs]
    assert all(g is not None for g in parsed)
    assert sorted(g.profile.actual_instance.name for g in parsed if g is not None) == [
        "engineering",
        "everyone",
        "sales",
    ]


def test_connections_parse(populated: RunningEmulator) -> None:
    from okta.models.provisioning_connection_response import ProvisioningConnectionResponse

    custom = ProvisioningConnectionResponse.from_dict(_json(populated, f"{APP}/connections/default"))
    api = ProvisioningConnectionResponse.from_dict(_json(populated, f"{API_APP}/connections/default"))
    assert custom is not None and custom.status.value == "UNKNOWN"
    assert api is not None and api.status.value == "ENABLED"


def test_features_parse(populated: RunningEmulator) -> None:
    from okta.models.application_feature import ApplicationFeature
    from okta.models.user_provisioning_application_feature import UserProvisioningApplicationFeature

    listed = _json(populated, f"{API_APP}/features")
    single = _json(populated, f"{API_APP}/features/USER_PROVISIONING")
    for doc in [*listed, single]:
        assert isinstance(ApplicationFeature.from_dict(doc), UserProvisioningApplicationFeature)
    put = populated.http.put(
        f"{API_APP}/features/USER_PROVISIONING",
        json={"update": {"lifecycleDeactivate": {"status": "ENABLED"}}},
    )
    assert isinstance(ApplicationFeature.from_dict(put.json()), UserProvisioningApplicationFeature)


def test_log_events_parse(populated: RunningEmulator) -> None:
    from okta.models.log_event import LogEvent

    events = _json(populated, "/api/v1/logs", since="2000-01-01T00:00:00Z", limit=1000)
    assert {e["outcome"]["result"] for e in events} >= {"SUCCESS", "FAILURE"}
    for doc in events:
        assert LogEvent.from_dict(doc) is not None


def test_long_failure_reason_trips_the_strict_model(
    emulator: RunningEmulator, scim_server: ScimServer
) -> None:
    """LogOutcome.reason has max_length 255 in the SDK; Okta's reasons embed the target's text."""
    from okta.models.log_event import LogEvent

    scim_server.reject(["dave@example.com"], detail="d" * 300)
    emulator.http.put(f"{APP}/groups/{emulator.control.group_id('sales')}")
    assert emulator.control.wait_idle(10)
    failure = _json(emulator, "/api/v1/logs", filter='outcome.result eq "FAILURE"')[0]
    assert len(failure["outcome"]["reason"]) > 255
    with pytest.raises(ValidationError, match="reason"):
        LogEvent.from_dict(failure)


def test_error_bodies_parse(emulator: RunningEmulator) -> None:
    from okta.models.error import Error

    for resp in (
        emulator.http.get("/api/v1/apps", headers={"Authorization": "SSWS nope"}),
        emulator.http.get(f"{APP}/features"),
        emulator.http.get("/api/v1/apps/0oanope"),
    ):
        parsed = Error.from_dict(resp.json())
        assert parsed is not None and parsed.error_code and parsed.error_summary


def test_sdk_lists_group_assignments_over_loopback(populated: RunningEmulator, okta_sdk_env: None) -> None:
    """The SDK's ApplicationGroupsApi against the emulator (SSWS fixed to carry its space;
    docs/okta-behaviour.md, Okta's Python SDK)."""
    import asyncio

    from okta.api.application_groups_api import ApplicationGroupsApi
    from okta.cache.no_op_cache import NoOpCache
    from okta.config.config_setter import ConfigSetter
    from okta.request_executor import RequestExecutor

    class _GroupsClient(ApplicationGroupsApi):
        """What okta.client.Client does for its API mixins, for this one API (Client takes ~5 s to import)."""

        def __init__(self, user_config: dict[str, Any]) -> None:
            setter = ConfigSetter()  # type: ignore[no-untyped-call]
            setter._apply_config({"client": user_config})
            config = setter._prune_config(setter.get_config())  # type: ignore[no-untyped-call]
            super().__init__(configuration=config)
            self._request_executor = RequestExecutor(config, NoOpCache(), None)  # type: ignore[no-untyped-call]

    async def run() -> tuple[list[str], list[str]]:
        api = _GroupsClient(
            {"orgUrl": populated.url, "token": populated.api_token, "rateLimit": {"maxRetries": 0}}
        )
        api.configuration.authorization_mode = "SSWS "
        groups, _, err = await api.list_application_group_assignments(CUSTOM_APP_ID, limit=20)
        assert err is None, err
        # Unfixed, the SDK sends "SSWS<token>" and the emulator answers 401 as Okta does.
        api.configuration.authorization_mode = "SSWS"
        _, _, unfixed_err = await api.list_application_group_assignments(CUSTOM_APP_ID, limit=20)
        return [g.id for g in groups], [str(unfixed_err)]

    ids, errors = asyncio.run(run())
    assert sorted(ids) == sorted(populated.control.group_id(g) for g in ("engineering", "sales"))
    assert "E0000011" in errors[0] or "401" in errors[0]
