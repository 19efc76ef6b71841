"""Shared pieces of the safety tests: an emulator org pushing to a real scim2-server, the real CLI in process,
as a subprocess and on a pseudo-terminal (``pty``), and bounded polling."""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "resync"))  # the resync tests' org builders

from resync_helpers import (  # noqa: E402
    E2E_API_TOKEN,
    E2E_SCIM_TOKEN,
    NO_LIMITS,
    SECRETS,
    EmulatorOrg,
    assign_all,
    emulator_org,
)

from oktasync.emulator.scim_target import ScimServer  # noqa: E402
from oktasync.emulator.testing import RunningEmulator  # noqa: E402

__all__ = [
    "GROUPS",
    "USERS",
    "E2E_API_TOKEN",
    "E2E_SCIM_TOKEN",
    "NO_LIMITS",
    "SECRETS",
    "Org",
    "Pty",
    "assign_all",
    "emulator_org",
    "wait_for",
]

GROUPS, USERS = 6, 12


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Org(EmulatorOrg):
    """One emulator org (custom SCIM app, admin session, Deactivate Users on, every group assigned)."""

    def __init__(self, em: RunningEmulator, scim: ScimServer, tmp_path: Path) -> None:
        super().__init__(em, scim, tmp_path)
        self.config = self.write_config("acme")

    def spawn(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "oktasync", *self.argv(*args)],
            env={**self.env(), **(extra_env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def pty(self, *args: str, extra_env: dict[str, str] | None = None) -> Pty:
        return Pty([sys.executable, "-m", "oktasync", *self.argv(*args)], {**self.env(), **(extra_env or {})})

    # --- what Okta and the SCIM target look like ---------------------------------------------------
    def deactivate_users(self) -> bool:
        app = next(a for a in self.em.control.state()["apps"] if a["id"] == self.app_id)
        return bool(app["settings"]["deactivate_users"])

    def deactivations(self) -> list[dict[str, Any]]:
        """SCIM calls that set ``active: false`` (a user deprovisioned in the target)."""
        return [c for c in self.em.control.scim_calls(app_id=self.app_id) if c.get("active") is False]

    def journal(self) -> Path | None:
        found = list(self.state_dir.rglob("resync.journal.jsonl"))
        return found[0] if found else None

    def journal_text(self) -> str:
        path = self.journal()
        return path.read_text() if path else ""


class Pty:
    """The CLI on a pseudo-terminal: stdin, stdout and stderr are a terminal, Ctrl-C is a typed ``\\x03``
    (the terminal's line discipline turns it into SIGINT for the foreground process group)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        import pty

        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            argv,
            env={**env, "TERM": "dumb"},
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,  # its own session, whose controlling terminal is the pty:
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # noqa: PLW1509 - a typed ^C is SIGINT
        )
        os.close(slave)
        self.output = ""

    def read(self, timeout: float = 0.1) -> str:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            try:
                chunk = os.read(self.master, 65536).decode(errors="replace")
            except OSError:  # the child closed the terminal
                chunk = ""
            self.output += chunk
            return chunk
        return ""

    def expect(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > deadline or (self.proc.poll() is not None and not self.read(0.2)):
                raise AssertionError(f"{text!r} never appeared; output so far:\n{self.output}")
            self.read()

    def send(self, data: str) -> None:
        os.write(self.master, data.encode())

    def ctrl_c(self) -> None:
        """Ctrl-C typed on the terminal (its line discipline sends SIGINT to the foreground process group)."""
        self.send("\x03")

    def wait(self, timeout: float = 120.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.read()
        while self.read(0.05):
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            os.close(self.master)
            raise AssertionError(f"still running after {timeout:g}s; output:\n{self.output}")
        os.close(self.master)
        return self.proc.returncode
