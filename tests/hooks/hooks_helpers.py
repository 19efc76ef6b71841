"""Helpers for the hooks tests: a tenant config with an event hook, and `oktasync hooks serve` as a real
process (so it can be killed and restarted).

(A module of its own, imported by name: pytest puts this directory on sys.path.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from oktasync.emulator.testing import CUSTOM_APP_ID, RunningEmulator, standard_config

SECRET = "hook-secret-4c1f9a7e2b"


def write_config(tmp_path: Path, emulator: RunningEmulator) -> Path:
    """The standard test tenant with an event hook and a JSON notification webhook ($HOOK_URL)."""
    path = tmp_path / "acme.yaml"
    more = """event_hook:
  secret: "{{ env.OKTA_EVENT_HOOK_SECRET }}"
tasks:
  notify:
    - webhook: "{{ env.HOOK_URL }}"
      kind: json
"""
    path.write_text(standard_config(emulator.url, more))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something truthy (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class HooksProcess:
    """`python -m oktasync hooks serve CONFIG --port PORT` with its stderr collected line by line."""

    def __init__(self, config: Path, port: int, *more: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oktasync",
                "hooks",
                "serve",
                str(config),
                *map(str, more),
                "--port",
                str(port),
            ],
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for(self._listening, 60, "the receiver to listen")

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def _listening(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("receiver exited: " + "\n".join(self.lines))
        return any("listening on" in line for line in self.lines)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush — what a crash or an OOM kill does."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(5)
        self._close_pipe()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(20)
        self._reader.join(5)
        self._close_pipe()
        return code

    def _close_pipe(self) -> None:
        if self.proc.stderr is not None and not self._reader.is_alive():
            self.proc.stderr.close()


@contextmanager
def serve_hooks(config: Path, port: int, *more: Path) -> Iterator[HooksProcess]:
    process = HooksProcess(config, port, *more)
    try:
        yield process
    finally:
        if process.proc.poll() is None:
            process.stop()


def assign(emulator: RunningEmulator, *, groups: tuple[str, ...] = (), users: tuple[str, ...] = ()) -> None:
    emulator.assign(CUSTOM_APP_ID, groups=groups, users=users)


def hook_state(emulator: RunningEmulator) -> dict[str, Any]:
    """The emulator's event hooks, deliveries and verifications (control route)."""
    response = httpx.get(f"{emulator.url}/__emulator/event-hooks")
    response.raise_for_status()
    doc: dict[str, Any] = response.json()
    return doc
