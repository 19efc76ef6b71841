"""``oktasync emulator serve``: bad input is reported before anything is served, with the file or option
named and the fix, and the documented exit code (3 invalid input, 64 usage), never a traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from oktasync.cli import main


@pytest.fixture(autouse=True)
def _never_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every in-process case here must fail before serving: if one served, it would fail, not hang."""

    async def served(*args: object, **kwargs: object) -> None:
        raise AssertionError("the emulator was started despite bad input")

    monkeypatch.setattr("oktasync.emulator.runtime.serve_forever", served)


def _serve(*args: str, log_format: str = "text") -> tuple[int, str, str]:
    with CliRunner().isolation() as (stdout, stderr, _):
        code = main(["--log-format", log_format, "emulator", "serve", *args])
        return code, stdout.getvalue().decode(), stderr.getvalue().decode()


def _invalid(args: list[str], where: str) -> str:
    """Runs ``serve`` expecting exit 3 with ``where`` named; returns stderr."""
    code, out, err = _serve(*args)
    assert code == 3, err
    assert out == ""  # nothing was served: no URL, no token
    assert err.startswith("Error: 1 problem found:\n") and where in err
    assert "Traceback" not in err and "internal error" not in err
    return err


def test_missing_state_file_exits_3_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    err = _invalid(["--state", str(missing)], str(missing))
    assert err == (
        "Error: 1 problem found:\n"
        f"  {missing}: emulator state file not found "
        "(fix: check the path, or leave out --state to start empty)\n"
    )


def test_missing_state_file_under_json_logs(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    code, out, err = _serve("--state", str(missing), log_format="json")
    assert code == 3 and out == ""
    [line] = err.splitlines()
    record = json.loads(line)
    assert record["level"] == "error" and record["exit_code"] == 3 and record["error_type"] == "ConfigError"
    assert record["problems"][0].startswith(f"{missing}: emulator state file not found")


@pytest.mark.parametrize(
    ("name", "content", "where", "what"),
    [
        ("org.json", '{"users": [\n  {"login": "a@example.com",}\n]}', ":2:", "invalid JSON"),
        ("org.yaml", "users:\n  - login: [a@example.com\n", ":3:", "invalid YAML"),
        ("org.json", "[1, 2]", "", "a seed is a mapping at the top level"),
        ("org.json", '{"users": [{"firstName": "x"}]}', "", "login is required"),
        ("org.json", '{"groups": [{"name": "g", "members": ["nobody@example.com"]}]}', "", "invalid seed"),
        ("org.json", b"\xff\xfe{}", "", "not UTF-8"),
    ],
)
def test_invalid_state_file_exits_3(
    tmp_path: Path, name: str, content: str | bytes, where: str, what: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    err = _invalid(["--state", str(path)], f"{path}{where}")
    assert what in err and 'docs/emulator.md "Seed format"' in err


def test_a_directory_as_state_file_exits_3(tmp_path: Path) -> None:
    err = _invalid(["--state", str(tmp_path)], f"{tmp_path}: is a directory")
    assert "fix:" in err


@pytest.mark.parametrize("target", ["{tmp}/no-such-dir/out.json", "{tmp}"])
def test_an_unwritable_save_state_path_is_refused_before_serving(tmp_path: Path, target: str) -> None:
    path = target.format(tmp=tmp_path)
    err = _invalid(["--save-state", path], f"{path}: --save-state: ")
    assert "pass a writable file path" in err


def test_an_unknown_rate_limit_bucket_is_a_usage_error() -> None:
    code, out, err = _serve("--rate-limit", "apps=10")
    assert code == 64 and out == ""
    assert "unknown bucket 'apps'" in err and "/api/v1/apps" in err


def test_an_unknown_behaviour_switch_is_a_usage_error() -> None:
    code, out, err = _serve("--behaviour", "nope=1")
    assert code == 64 and out == ""
    assert "unknown behaviour 'nope'" in err and "retry_repushes_failed" in err


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield int(held.getsockname()[1])


def test_a_port_in_use_exits_3_naming_the_port_and_saves_nothing(tmp_path: Path, busy_port: int) -> None:
    # A subprocess: the bind fails inside the emulator's event loop, kept out of the test process.
    saved = tmp_path / "saved.json"
    argv = [sys.executable, "-m", "oktasync", "emulator", "serve", "--port", str(busy_port)]
    result = subprocess.run(
        [*argv, "--save-state", str(saved)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(
        "Error: 1 problem found:\n"
        f"  --port {busy_port}: cannot listen on 127.0.0.1:{busy_port}: the port is in use "
        "(fix: pick another --port, or --port 0 to let the system choose a free one)\n"
    )
    assert "Traceback" not in result.stderr
    assert not saved.exists()  # nothing was served, so no state file was written over
