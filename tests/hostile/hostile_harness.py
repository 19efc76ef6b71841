"""Run the real CLI on hostile input under resource limits, and look for secrets in everything it left.

``run_cli`` starts ``python -m oktasync`` in a subprocess whose address space is capped (``RLIMIT_AS``,
``MEMORY_LIMIT``) and which is killed after ``TIME_LIMIT`` seconds: a case that needs more memory dies
(MemoryError: an internal error, not the expected exit code) and one that needs more time fails the test.

``leaks`` looks for every secret in the output and in every file below a directory, in the forms a filter
or an encoder could give it: raw, reversed, upper and lower case, base64 (standard and URL-safe), hex and
URL-encoded.
"""

from __future__ import annotations

import base64
import binascii
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

MEMORY_LIMIT = 512 * 1024 * 1024
TIME_LIMIT = 10.0


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str
    seconds: float
    peak_rss_bytes: int  # the largest resident set of any CLI subprocess of this test process so far

    @property
    def output(self) -> str:
        return self.out + self.err


def _limit_resources() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_cli(args: Iterable[str], *, env: Mapping[str, str], cwd: Path, timeout: float = TIME_LIMIT) -> CliRun:
    """``oktasync ARGS`` in a subprocess with at most ``MEMORY_LIMIT`` of address space and ``timeout`` s."""
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "oktasync", *args],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "COLUMNS": "200", **env},
        cwd=cwd,
        capture_output=True,
        timeout=timeout,  # raises TimeoutExpired (the test fails) after killing the process
        preexec_fn=_limit_resources,  # noqa: PLW1509 - no threads in the test process fork path matter here
        check=False,
    )
    return CliRun(
        completed.returncode,
        completed.stdout.decode("utf-8", "replace"),
        completed.stderr.decode("utf-8", "replace"),
        time.monotonic() - started,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,  # Linux reports KiB
    )


def secret_forms(secret: str) -> set[bytes]:
    """The byte strings that would reveal ``secret``: as is and through the usual encodings."""
    raw = secret.encode()
    forms = {
        raw,
        raw[::-1],
        secret.upper().encode(),
        secret.lower().encode(),
        base64.b64encode(raw).rstrip(b"="),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
        binascii.hexlify(raw),
        binascii.hexlify(raw).upper(),
        quote(secret, safe="").encode(),
    }
    # A secret embedded at another offset has a different base64: check the three alignments' cores.
    for shift in (1, 2):
        forms.add(base64.b64encode(b"x" * shift + raw)[4:-4])
    return {form for form in forms if len(form) >= 8}


def leaks(secrets: Iterable[str], texts: Iterable[str] = (), directories: Iterable[Path] = ()) -> list[str]:
    """Where any form of any secret appears: 'output' or a file path (file names are checked too)."""
    forms = {form: secret for secret in secrets for form in secret_forms(secret)}
    found: list[str] = []

    def scan(blob: bytes, where: str) -> None:
        for form in forms:
            if form in blob:
                found.append(f"{where}: a form of a secret ({form[:4]!r}…)")

    for text in texts:
        scan(text.encode("utf-8", "replace"), "output")
    for directory in directories:
        for path in sorted(directory.rglob("*")):
            scan(str(path.relative_to(directory)).encode(), f"name {path}")
            if path.is_file() and not path.is_symlink():
                scan(path.read_bytes(), str(path))
    return found
