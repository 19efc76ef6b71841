"""The Dockerfile, checked statically (no Docker engine runs here): two python:3.11-slim stages, the wheel
built in the first, the final stage runs as an unprivileged user with the CLI as its exec-form entrypoint,
nothing secret is set in the image, and everything it copies exists and is not excluded by .dockerignore."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|SESSION|PRIVATE|API_?KEY|CREDENTIAL", re.IGNORECASE)


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    kept = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    logical = re.sub(r"\\\n", " ", "\n".join(kept))
    result = []
    for line in logical.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def test_two_small_stages_the_first_builds_the_wheel() -> None:
    froms = [args for keyword, args in _instructions() if keyword == "FROM"]
    assert froms == ["python:3.11-slim AS build", "python:3.11-slim"]
    runs = " ".join(args for keyword, args in _instructions() if keyword == "RUN")
    assert "python -m build --wheel" in runs
    final_runs = " ".join(args for keyword, args in _final_stage() if keyword == "RUN")
    assert "from=build" in final_runs and "pip install /dist/oktasync-*.whl" in final_runs
    assert "apt-get" not in final_runs  # every dependency installs from a wheel: no compiler in the image


def test_runs_as_an_unprivileged_user_with_the_cli_as_entrypoint() -> None:
    final = _final_stage()
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, "the final stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users
    final_runs = " ".join(args for keyword, args in final if keyword == "RUN")
    assert "useradd" in final_runs and f"--uid {user}" in final_runs
    [entrypoint] = [args for keyword, args in final if keyword == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["oktasync"]  # exec form: signals reach the CLI (Ctrl-C, docker stop)
    keywords = [keyword for keyword, _ in final]
    last_run = max(i for i, keyword in enumerate(keywords) if keyword == "RUN")
    assert keywords.index("USER") > last_run  # nothing runs as root once the user is set


def test_no_secret_is_baked_into_the_image() -> None:
    for keyword, args in _instructions():
        if keyword in ("ENV", "ARG", "LABEL"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split()[0]]
            assert not [n for n in names if SECRET_NAME.search(n)], f"{keyword} {args}"
        if keyword in ("COPY", "ADD"):
            assert not re.search(r"\.env\b|\.pem\b|\.key\b|secret|token", args, re.IGNORECASE), args
    ignored = _dockerignore()
    for pattern in (".env", "*.pem", "*.key", ".git", ".venv", ".oktasync-state"):
        assert pattern in ignored, f".dockerignore must exclude {pattern}"


def test_what_it_copies_exists_and_is_not_dockerignored() -> None:
    ignored = _dockerignore()
    copied = []
    for keyword, args in _instructions():
        if keyword == "COPY" and "--from" not in args:
            *sources, _destination = args.split()
            copied += sources
    assert copied == ["pyproject.toml", "README.md", "LICENSE", "oktasync"]
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not [p for p in ignored if fnmatch.fnmatch(source, p.rstrip("/"))], source
    # The wheel's package data must reach the build stage.
    assert not [p for p in ignored if fnmatch.fnmatch("oktasync/data/playbooks/verify.yaml", p)]


def test_state_dir_is_a_volume_owned_by_the_user() -> None:
    final = _final_stage()
    assert ("ENV", "OKTASYNC_STATE_DIR=/state") in final
    assert ("VOLUME", '["/state"]') in final
    assert "chown oktasync:oktasync /state" in " ".join(args for keyword, args in final if keyword == "RUN")
