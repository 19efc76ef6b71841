"""doctor proves okta.users.read (the scope `tasks` reads a failed user's groups with) by reading one user's
groups; refused, it is a warning (tasks falls back to group member listings), not a failure.

Unit tests run doctor over ``FakeGateway``; the end-to-end tests drive ``oktasync doctor`` against the
emulator, whose OAuth tokens carry only the scopes granted to the service app (``_SCOPES`` in
emulator/server.py maps ``/api/v1/users`` to okta.users.read)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from oktasync.cli import cli
from oktasync.cli.doctor import render
from oktasync.config import TenantConfig, load_tenant
from oktasync.emulator.testing import API_TOKEN, RunningEmulator, standard_seed
from oktasync.errors import ApiErrorDetails, AuthError, TransientApiError
from oktasync.okta_gateway.fake import FakeGateway
from oktasync.workflows.doctor import DoctorResult, doctor
from oktasync.workflows.session import TenantSession

CLIENT_ID = "0oadoctorservice0001"
WITHOUT_USERS_READ = ["okta.apps.read", "okta.apps.manage", "okta.groups.read", "okta.logs.read"]


def _write_config(tmp_path: Path, org_url: str, okta_auth: str, label: str = "Chronosphere") -> Path:
    path = tmp_path / "acme.yaml"
    path.write_text(
        f"tenant: acme\nokta:\n  org_url: {org_url}\n{okta_auth}"
        f"app:\n  label: {label}\n"
        "scim:\n  base_url: https://acme.chronosphere.io/api/scim/v2\n"
        '  auth:\n    bearer_token: "{{ env.SCIM_TOKEN }}"\n'
    )
    return path


SSWS = '  token: "{{ env.OKTA_TOKEN }}"\n'


def _oauth(scopes: list[str], key: str = "key.pem") -> str:
    listed = ", ".join(scopes)
    return f"  oauth:\n    client_id: {CLIENT_ID}\n    private_key_file: {key}\n    scopes: [{listed}]\n"


def _config(tmp_path: Path, okta_auth: str = SSWS) -> TenantConfig:
    (tmp_path / "key.pem").write_text("unused")
    path = _write_config(tmp_path, "https://acme.okta.com", okta_auth)
    return load_tenant(path, environ={"SCIM_TOKEN": "t", "OKTA_TOKEN": "o"})


def _forbidden() -> AuthError:
    return AuthError("Okta refused GET", ApiErrorDetails(status=403, error_code="E0000006"))


def _org(*, members: tuple[str, ...] = ("alice@example.com",), app_users: bool = True) -> FakeGateway:
    gw = FakeGateway()
    app = gw.add_app("Chronosphere")
    gid = gw.add_group("engineering", list(members))
    asyncio.run(gw.assign_group(app.id, gid, None, {}))
    if app_users:
        for uid in gw.groups[gid][1]:
            gw.add_app_user(app.id, uid, scope="GROUP")
    return gw


def _run(config: TenantConfig, gw: FakeGateway) -> DoctorResult:
    # doctor reads only: it never creates the state dir the session is given.
    return asyncio.run(doctor(TenantSession(config, Path("unused-state-dir"), gateway=gw)))


def _check(result: DoctorResult, name: str = "user groups") -> Any:
    return next(c for c in result.checks if c.name == name)


def test_users_read_is_proven_by_one_read_of_an_app_users_groups(tmp_path: Path) -> None:
    gw = _org()
    result = _run(_config(tmp_path), gw)
    check = _check(result)
    assert check.ok is True and check.warning is False and "1 for user" in check.detail
    assert result.scopes["okta.users.read"] == "ok" and result.exit_code == 0
    reads = [args for name, args in gw.calls if name == "list_user_group_ids"]
    assert len(reads) == 1  # one request, for a user an earlier read returned
    assert reads[0][0] in gw.users


def test_a_403_is_a_warning_naming_the_scope_and_what_degrades(tmp_path: Path) -> None:
    gw = _org()
    gw.fail_next("list_user_group_ids", _forbidden())
    result = _run(_config(tmp_path), gw)
    check = _check(result)
    assert check.ok is None and check.warning is True
    assert "okta.users.read" in check.detail and "admin role" in check.detail  # SSWS: the role's permission
    assert "tasks still works" in check.detail and "members of every assigned group" in check.detail
    assert result.scopes["okta.users.read"] == "missing"
    assert result.exit_code == 0  # a warning: tasks works without it
    assert check.to_dict() == {"name": "user groups", "ok": None, "warning": True, "detail": check.detail}
    assert "  warn  user groups" in render(result)


def test_oauth_without_users_read_requested_says_so(tmp_path: Path) -> None:
    gw = _org()
    gw.fail_next("list_user_group_ids", _forbidden())
    result = _run(_config(tmp_path, _oauth(WITHOUT_USERS_READ)), gw)
    check = _check(result)
    assert check.warning is True and "okta.users.read is not requested" in check.detail
    assert "okta.oauth.scopes" in check.detail
    assert result.scopes["okta.users.read"] == "missing" and result.exit_code == 0


def test_oauth_requested_but_refused_names_the_grant(tmp_path: Path) -> None:
    gw = _org()
    gw.fail_next("list_user_group_ids", _forbidden())
    result = _run(_config(tmp_path, _oauth([*WITHOUT_USERS_READ, "okta.users.read"])), gw)
    check = _check(result)
    assert check.warning is True and "service app lacks the scope okta.users.read" in check.detail


def test_other_errors_on_the_read_still_fail(tmp_path: Path) -> None:
    gw = _org()
    gw.fail_next("list_user_group_ids", TransientApiError("no answer from Okta", ApiErrorDetails(status=503)))
    result = _run(_config(tmp_path), gw)
    check = _check(result)
    assert check.ok is False and check.warning is False and result.exit_code == 1
    assert "okta.users.read" not in result.scopes


def test_a_group_member_is_read_when_app_users_cannot_be(tmp_path: Path) -> None:
    gw = _org()
    gw.fail_next("first_app_users", _forbidden())
    result = _run(_config(tmp_path), gw)
    assert _check(result).ok is True and _check(result, "app users").ok is False
    member = gw.groups[next(iter(gw.groups))][1][0]
    assert ("list_user_group_ids", (member,)) in gw.calls


def test_no_user_no_request(tmp_path: Path) -> None:
    gw = _org(members=(), app_users=False)
    result = _run(_config(tmp_path, _oauth([*WITHOUT_USERS_READ, "okta.users.read"])), gw)
    check = _check(result)
    assert check.ok is None and check.warning is False and "not exercised" in check.detail
    assert not any(name == "list_user_group_ids" for name, _ in gw.calls)
    assert result.scopes["okta.users.read"] == "requested (not exercised)"


# --- end to end: `oktasync doctor` against the emulator ------------------------------------------------
@pytest.fixture
def emulator_seed(key_file: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    seed = standard_seed(scim_base_url="https://scim.example.test/scim/v2")
    seed["service_apps"] = [{"client_id": CLIENT_ID, "scopes": WITHOUT_USERS_READ, "public_jwk": key_file[1]}]
    for app in seed["apps"]:
        if app["label"] == "Chronosphere":
            # Assigned in the seed and pre-provisioned: app users exist, and no SCIM push is attempted.
            app["groups"] = [{"group": "engineering"}]
            app["preprovisioned"] = True
    return seed


def _doctor_json(config: Path) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        cli,
        ["doctor", "--json", str(config)],
        env={"OKTA_TOKEN": API_TOKEN, "SCIM_TOKEN": "scim-token"},
        standalone_mode=False,
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return int(result.return_value), json.loads(result.stdout)


def test_doctor_cli_warns_when_the_service_app_lacks_users_read(
    emulator: RunningEmulator, key_file: tuple[Path, Any], tmp_path: Path
) -> None:
    config = _write_config(tmp_path, emulator.url, _oauth(WITHOUT_USERS_READ, key=str(key_file[0])))
    emulator.control.reset_stats()
    code, document = _doctor_json(config)
    check = next(c for c in document["checks"] if c["name"] == "user groups")
    assert code == 0 and document["exit_code"] == 0
    assert check["ok"] is None and check["warning"] is True
    assert "okta.users.read is not requested" in check["detail"] and "tasks still works" in check["detail"]
    assert document["scopes"]["okta.users.read"] == "missing"
    stats = emulator.control.stats()
    assert stats["by_status"].get("403") == 1  # the one users read; every other check passed


def test_doctor_cli_request_count_with_users_read(emulator: RunningEmulator, tmp_path: Path) -> None:
    config = _write_config(tmp_path, emulator.url, SSWS)
    emulator.control.reset_stats()
    code, document = _doctor_json(config)
    check = next(c for c in document["checks"] if c["name"] == "user groups")
    assert code == 0 and check["ok"] is True and check["warning"] is False
    assert document["scopes"]["okta.users.read"] == "ok"
    stats = emulator.control.stats()
    # find the app, kind probe, group assignments, group members, app users, the user's groups, system log
    # (7 before the users read was added, 8 now)
    assert sum(stats["by_status"].values()) == 8
    assert sum(n for route, n in stats["by_route"].items() if route.endswith("/users/{user_id}/groups")) == 1


def test_app_users_are_probed_with_one_page_not_listed(tmp_path: Path) -> None:
    # doctor is a cheap probe: on a big app it reads one page of app users, never all of them.
    gw = _org(members=tuple(f"user{i}@example.com" for i in range(250)))
    result = _run(_config(tmp_path), gw)
    check = _check(result, "app users")
    assert (
        check.ok is True
        and check.detail == "app users readable: 200 (the first page), 0 with syncState ERROR"
    )
    names = [name for name, _ in gw.calls]
    assert names.count("first_app_users") == 1 and "list_app_users" not in names
    small = _run(_config(tmp_path), _org(members=("a@example.com", "b@example.com")))
    assert _check(small, "app users").detail == "app users readable: 2, 0 with syncState ERROR"
