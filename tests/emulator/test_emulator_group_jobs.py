"""Group assignment changes as Okta's background jobs (``group_*_delay_seconds``, ``group_job_late_seconds``).

The API call answers at once; the app users follow after the delay, with System Log events of
``transaction.type: JOB``. No sleeps: a delay long enough that nothing can have run between the answer and the
next read, then ``wait_idle`` (bounded) for the job.
"""

from __future__ import annotations

from typing import Any

from oktasync.emulator.scim_target import ScimServer
from oktasync.emulator.testing import CUSTOM_APP_ID, RunningEmulator, run_emulator, standard_seed

APP = f"/api/v1/apps/{CUSTOM_APP_ID}"
LONG = 2.0  # emulated seconds: far longer than a loopback round trip


def _logins(em: RunningEmulator) -> set[str]:
    resp = em.http.get(f"{APP}/users", params={"limit": 500, "expand": "user"})
    assert resp.status_code == 200
    return {u["_embedded"]["user"]["profile"]["login"] for u in resp.json()}


def _membership(em: RunningEmulator, kind: str) -> list[dict[str, Any]]:
    return list(em.control.events(f"application.user_membership.{kind}"))


def test_assignment_and_unassignment_answer_at_once_and_a_job_follows(emulator: RunningEmulator) -> None:
    c = emulator.control
    c.behaviour(group_assign_delay_seconds=LONG, group_unassign_delay_seconds=LONG)
    eng = c.group_id("engineering")
    put = emulator.http.put(f"{APP}/groups/{eng}", json={"priority": 0})
    assert put.status_code == 200 and put.json()["id"] == eng
    assert emulator.http.get(f"{APP}/groups/{eng}").status_code == 200  # the assignment exists at once
    assert _logins(emulator) == set() and not _membership(emulator, "add")  # its app users do not yet
    assert c.stats()["group_jobs"]["pending"] == 1
    assert c.wait_idle(LONG + 10)
    assert _logins(emulator) == {"alice@example.com", "bob@example.com", "carol@example.com"}
    added = _membership(emulator, "add")
    assert len(added) == 3 and all(e["transaction"]["type"] == "JOB" for e in added)

    delete = emulator.http.delete(f"{APP}/groups/{eng}")
    assert delete.status_code == 204
    assert emulator.http.get(f"{APP}/groups/{eng}").status_code == 404  # gone from the listing at once
    assert len(_logins(emulator)) == 3 and not _membership(emulator, "remove")  # its users are not
    assert c.wait_idle(LONG + 10)
    assert _logins(emulator) == set()
    removed = _membership(emulator, "remove")
    assert len(removed) == 3 and all(e["transaction"]["type"] == "JOB" for e in removed)


def test_a_job_acts_on_the_state_when_it_runs(emulator: RunningEmulator, scim_server: ScimServer) -> None:
    """Reassigned before the removal job ran: nobody removed. Deactivate Users switched on before the job
    ran: the job deactivates in the target, as Okta's would."""
    c = emulator.control
    eng = c.group_id("engineering")
    assert emulator.http.put(f"{APP}/groups/{eng}").status_code == 200
    assert c.wait_idle(30)
    c.set_app_settings(CUSTOM_APP_ID, deactivate_users=False)
    c.behaviour(group_unassign_delay_seconds=LONG)
    assert emulator.http.delete(f"{APP}/groups/{eng}").status_code == 204
    assert emulator.http.put(f"{APP}/groups/{eng}").status_code == 200
    assert c.wait_idle(LONG + 10)
    assert len(_logins(emulator)) == 3 and not _membership(emulator, "remove")

    assert emulator.http.delete(f"{APP}/groups/{eng}").status_code == 204
    c.set_app_settings(CUSTOM_APP_ID, deactivate_users=True)  # on again before the job runs
    assert c.wait_idle(LONG + 10)
    assert _logins(emulator) == set()
    deactivated = [x for x in c.scim_calls() if x["active"] is False]
    assert len(deactivated) == 3


def test_every_third_job_runs_late(scim_server: ScimServer) -> None:
    seed = standard_seed(scim_base_url=scim_server.base_url, scim_token=scim_server.token)
    behaviour = {"group_assign_delay_seconds": 0.0, "group_job_late_seconds": LONG}
    with run_emulator(seed, behaviour=behaviour) as em:
        c = em.control
        for name in ("engineering", "sales", "everyone"):
            assert em.http.put(f"{APP}/groups/{c.group_id(name)}").status_code == 200
        # The first two jobs ran as their PUTs answered; the third (everyone) is late.
        assert _logins(em) == {f"{n}@example.com" for n in ("alice", "bob", "carol", "dave")}
        assert c.stats()["group_jobs"]["pending"] == 1
        assert c.wait_idle(LONG + 10)
        assert len(_logins(em)) == 6


def test_replacing_the_state_drops_pending_jobs(emulator: RunningEmulator) -> None:
    c = emulator.control
    c.behaviour(group_assign_delay_seconds=600)
    assert emulator.http.put(f"{APP}/groups/{c.group_id('everyone')}").status_code == 200
    assert c.stats()["group_jobs"]["pending"] == 1
    c.seed(standard_seed())
    assert c.stats()["group_jobs"]["pending"] == 0 and c.wait_idle(5)
