"""State files planted by a pull request (links), a device node at --metrics-file, corrupt state JSON in a
multi-tenant run, and peers that trickle their answer: the real CLI and real loopback servers."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from safety_helpers import Org

from oktasync.config import Secret
from oktasync.config.schema import NotifyTarget
from oktasync.playbooks.notify import send_notifications
from oktasync.scim_gateway.client import ScimGateway, ScimTransportError
from oktasync.state import StateDir
from oktasync.workflows.tasks.notify import Notifier, deliver, new_message


def _precious(tmp_path: Path) -> Path:
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    return target


def test_a_linked_tasks_lock_is_refused(org: Org, tmp_path: Path) -> None:
    target = _precious(tmp_path)
    (_app_dir(org) / "tasks.lock").symlink_to(target)
    code, out, err = org.cli("tasks", str(org.config))
    assert code == 4 and "tasks.lock" in err and "symbolic link" in err, out + err
    assert target.read_text() == "keep me\n"


def test_a_linked_journal_is_refused(org: Org, tmp_path: Path) -> None:
    target = _precious(tmp_path)
    before = org.assignments()
    app_dir = StateDir(org.state_dir).for_okta_app("127.0.0.1", org.app_id)
    (app_dir / "resync.journal.jsonl").symlink_to(target)
    code, out, err = org.cli("resync", "--yes", str(org.config))
    assert code == 4 and "resync.journal.jsonl" in err and "symbolic link" in err, out + err
    assert target.read_text() == "keep me\n"
    assert org.assignments() == before and org.deactivate_users() is True


def test_a_linked_tenant_directory_is_refused(org: Org, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    org.state_dir.mkdir()
    (org.state_dir / "acme").symlink_to(elsewhere, target_is_directory=True)
    code, out, err = org.cli("tasks", str(org.config))
    assert code == 4 and "state directory" in err, out + err
    assert list(elsewhere.iterdir()) == []  # nothing written through the link


@pytest.mark.parametrize("kind", ["device", "link", "directory"])
def test_metrics_file_must_be_a_regular_file(org: Org, tmp_path: Path, kind: str) -> None:
    if kind == "device":
        path = Path("/dev/null")
    elif kind == "link":
        path = tmp_path / "metrics.prom"
        path.symlink_to(_precious(tmp_path))
    else:
        path = tmp_path / "metrics.d"
        path.mkdir()
    code, out, err = org.cli("tasks", "--metrics-file", str(path), str(org.config))
    if kind == "directory":
        assert code == 64 and "is a directory" in err, out + err  # refused as a usage error by the option
    else:
        assert code == 4 and str(path) in err, out + err
    if kind == "device":
        assert stat.S_ISCHR(os.lstat(path).st_mode)
    elif kind == "link":
        assert path.is_symlink() and (tmp_path / "precious.txt").read_text() == "keep me\n"
    code, out, err = org.cli("tasks", "--metrics-file", str(tmp_path / "ok.prom"), str(org.config))
    assert code == 0 and "oktasync_tasks" in (tmp_path / "ok.prom").read_text(), out + err


def _app_dir(org: Org) -> Path:
    """The state directory of the org's app (``<state>/apps/<org host>/<app id>``)."""
    return StateDir(org.state_dir).app_dir(org.em.url, org.app_id)


def _other_tenant(org: Org) -> Path:
    """Tenant beta: the same Okta app reached as another org host (``localhost``), so its state is its own
    (state is kept per org host + app: two configs naming one org's app share it)."""
    path = org.write_config("beta")
    path.write_text(path.read_text().replace(org.em.url, org.em.url.replace("127.0.0.1", "localhost")))
    return path


def test_corrupt_state_fails_only_its_tenant(org: Org) -> None:
    other = _other_tenant(org)
    conflicted = _app_dir(org) / "tasks-state.json"
    conflicted.write_text('{\n<<<<<<< HEAD\n  "known": {}\n=======\n  "known": {"x": 1}\n>>>>>>> main\n}\n')
    code, out, err = org.cli("tasks", str(org.config), str(other))
    assert code == 4, out + err
    assert str(conflicted) in err and "merge conflict marker at line 2" in err and "restore" in err
    assert "tenant beta" in out  # the other tenant ran
    confirmations = _app_dir(org) / "manual-confirmations.json"
    confirmations.write_text('{"settings": ')
    code, out, err = org.cli("plan", str(org.config), str(other))
    assert code == 4 and str(confirmations) in out and "not valid JSON" in out, out + err
    assert "Tenant beta" in out and "in sync" in out


def test_corrupt_state_fails_only_its_tenant_in_apply(org: Org) -> None:
    other = _other_tenant(org)
    # Something for apply to write that the evidence-only Admin Console page offers.
    org.em.control.set_app_settings(org.app_id, update_user_attributes=False)
    broken = _app_dir(org) / "manual-confirmations.json"
    broken.write_text("{\n<<<<<<< HEAD\n}\n")
    code, out, err = org.cli("apply", "--yes", str(org.config), str(other))
    assert code == 4 and str(broken) in out + err and "merge conflict marker" in out + err, out + err
    app = next(a for a in org.em.control.state()["apps"] if a["id"] == org.app_id)
    assert app["settings"]["update_user_attributes"] is True  # tenant beta (the same app) was applied


# --- peers that trickle ------------------------------------------------------------------------------------


@contextmanager
def trickling_server(interval: float = 0.3) -> Iterator[str]:
    """A loopback HTTP server that answers every request with headers, then one body byte per ``interval``
    for a minute: each read is quick, the answer never completes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n")
            for _ in range(200):
                if stop.wait(interval):
                    return
                try:
                    conn.sendall(b" ")
                except OSError:
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()


def test_a_trickling_webhook_is_cut_at_its_deadline() -> None:
    with trickling_server() as url:
        notifier = Notifier("json", Secret(url + "/hook"))
        message = new_message("new_failure", {"tenant": "acme"}, notifier.id)
        started = time.monotonic()
        left, delivered, failures = asyncio.run(deliver([message], [notifier], timeout=1.0))
        took = time.monotonic() - started
    assert took < 3.0  # cut at the 1 s deadline, not at the 60 s the answer would take
    assert delivered == 0 and left and "deadline" in failures[0].error
    assert url not in failures[0].error


def test_a_trickling_playbook_webhook_is_cut_at_its_deadline() -> None:
    with trickling_server() as url:
        target = NotifyTarget.model_validate({"kind": "json", "webhook": url + "/hook"})
        started = time.monotonic()
        sent, failures = asyncio.run(
            send_notifications([target], "hi", level="info", tenant="acme", timeout=1.0)
        )
        took = time.monotonic() - started
    assert took < 3.0 and sent == 0 and "within 1s" in failures[0]


def test_a_trickling_scim_target_is_cut_at_its_deadline() -> None:
    async def probe(url: str) -> None:
        async with ScimGateway(url, Secret("scim-token"), timeout=1.0, max_retries=0) as scim:
            await scim.request("GET", "/Users")

    with trickling_server() as url:
        started = time.monotonic()
        with pytest.raises(ScimTransportError, match="within 1s"):
            asyncio.run(probe(url))
        assert time.monotonic() - started < 3.0


def test_a_trickling_okta_answer_is_cut_at_its_deadline() -> None:
    """Each attempt is cut at the transport's deadline and retried per policy; the request then fails."""
    from oktasync.errors import TransientApiError
    from oktasync.okta_gateway.auth import SswsAuth
    from oktasync.okta_gateway.pacing import Pacer, RetryPolicy
    from oktasync.okta_gateway.transport import OktaTransport

    async def probe(url: str) -> None:
        transport = OktaTransport(
            url,
            SswsAuth("api-token"),
            Pacer(),
            retry=RetryPolicy(max_attempts=2, base=0.01, cap=0.02),
            timeout=1.0,
        )
        try:
            await transport.request("GET", "/api/v1/apps")
        finally:
            await transport.aclose()

    with trickling_server() as url:
        started = time.monotonic()
        with pytest.raises(TransientApiError, match="within 1s"):
            asyncio.run(probe(url))
        assert time.monotonic() - started < 4.0  # two attempts of 1 s, not two of a minute
