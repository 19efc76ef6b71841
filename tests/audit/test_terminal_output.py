"""What a person at a terminal sees: status words coloured on a TTY and never anywhere else (--no-color,
NO_COLOR, TERM=dumb, a pipe), progress lines without log-source suffixes and log records above the bars,
"did you mean" for command typos in every group, and shell completion (scripts and playbook names)."""

from __future__ import annotations

import io
import logging
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_cli_contract import CONFIG

from oktasync.cli import main
from oktasync.emulator.scim_target import ScimServer
from oktasync.emulator.testing import RunningEmulator

ANSI = "\x1b["


def _environment(**changes: str | None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OKTA_", "NO_COLOR", "FORCE_COLOR", "CI"))
    }
    env["TERM"] = "xterm-256color"
    env.pop("COLUMNS", None)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _on_a_terminal(args: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """Run oktasync with stdout on a pseudo-terminal (as a person's shell runs it); its exit code and what
    the terminal received."""
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "oktasync", *args], stdout=follower, stderr=subprocess.DEVNULL, env=env
    ) as proc:
        os.close(follower)
        received = bytearray()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the child closed the terminal (Linux reports EIO)
                    break
                if not chunk:
                    break
                received += chunk
            elif proc.poll() is not None:
                break
        os.close(leader)
        code = proc.wait(timeout=30)
    return code, received.decode("utf-8", errors="replace")


@pytest.fixture
def doctor_args(
    emulator: RunningEmulator, scim_server: ScimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    config = tmp_path / "audit.yaml"
    config.write_text(CONFIG.format(org_url=emulator.url, base_url=scim_server.base_url))
    monkeypatch.setenv("AUDIT_OKTA_TOKEN", emulator.api_token)
    monkeypatch.setenv("AUDIT_SCIM_TOKEN", scim_server.token)
    monkeypatch.setenv("AUDIT_ADMIN_SESSION", "")
    monkeypatch.setenv("AUDIT_WEBHOOK", "http://127.0.0.1:9/terminal-hook")
    return ["--state-dir", str(tmp_path / "state"), "doctor", str(config)]


def _env_for_doctor(**changes: str | None) -> dict[str, str]:
    names = ("AUDIT_OKTA_TOKEN", "AUDIT_SCIM_TOKEN", "AUDIT_ADMIN_SESSION", "AUDIT_WEBHOOK")
    env = _environment(OKTA_TESTING_TESTINGDISABLEHTTPSCHECK="true", **changes)
    env.update({name: os.environ[name] for name in names})
    return env


def test_status_words_are_coloured_on_a_terminal(doctor_args: list[str]) -> None:
    code, seen = _on_a_terminal(doctor_args, _env_for_doctor())
    assert code == 0, seen
    assert ANSI in seen and "Tenant audit" in seen
    ok_line = next(line for line in seen.splitlines() if "auth" in line and "ok" in line)
    assert ANSI in ok_line  # the check's mark, not only some other part of the screen


# Other commands: (arguments after the global options, with CONFIG for the config; a word of the line that
# carries a coloured status word).
COLOURED = {
    "test-connector": (["test-connector", "CONFIG"], "passed"),
    "tasks": (["tasks", "CONFIG"], "failed assignment"),
    "playbook run": (["playbook", "run", "verify", "--config", "CONFIG"], "completed"),
}


@pytest.mark.parametrize("name", list(COLOURED))
def test_other_commands_colour_their_status_words(doctor_args: list[str], name: str) -> None:
    state, config = doctor_args[:2], doctor_args[-1]
    words, marker = COLOURED[name]
    args = [*state, *(config if word == "CONFIG" else word for word in words)]
    _, seen = _on_a_terminal(args, _env_for_doctor())
    coloured = [line for line in seen.splitlines() if marker in line]
    assert coloured and all(ANSI in line for line in coloured), seen
    _, plain = _on_a_terminal(["--no-color", *args], _env_for_doctor())
    assert marker in plain and ANSI not in plain


@pytest.mark.parametrize(
    ("flags", "changes"),
    [
        (["--no-color"], {}),
        ([], {"NO_COLOR": "1"}),
        ([], {"TERM": "dumb"}),
    ],
    ids=["--no-color", "NO_COLOR", "TERM=dumb"],
)
def test_no_colour_on_a_terminal_when_asked(
    doctor_args: list[str], flags: list[str], changes: dict[str, str]
) -> None:
    code, seen = _on_a_terminal([*flags, *doctor_args], _env_for_doctor(**changes))
    assert code == 0, seen
    assert "Tenant audit" in seen and ANSI not in seen


def test_no_colour_in_a_pipe(doctor_args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "oktasync", *doctor_args],
        env=_env_for_doctor(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Tenant audit" in done.stdout and ANSI not in done.stdout + done.stderr


def test_progress_notes_have_no_source_suffix_and_logs_print_above_the_bars(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rich.console import Console

    from oktasync.cli import progress
    from oktasync.cli.context import configure_logging, reset_output

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100, color_system="standard")
    monkeypatch.setattr(progress, "terminal_console", lambda stderr=False: terminal)
    reset_output()
    configure_logging("text", 1)
    with progress.RichProgress() as bars:
        bars.start("reading app users", total=3)
        bars.advance("reading app users")
        bars.note("rate limit reached: waiting 12s")
        logging.getLogger("oktasync.test").info("a log record while the bars run")
        bars.finish("reading app users")
    drawn = screen.getvalue()
    assert "rate limit reached: waiting 12s" in drawn
    assert "progress.py" not in drawn and ".py:" not in drawn
    # The record reached the console that draws the bars (printed above them), not the raw stream under them.
    assert "a log record while the bars run" in drawn


@pytest.mark.parametrize(
    ("typed", "suggestion"),
    [
        (["plna"], "plan"),
        (["tsks"], "tasks"),
        (["playbook", "rn"], "run"),
        (["report", "unmanged"], "unmanaged"),
        (["hooks", "stauts"], "status"),
        (["emulator", "srve"], "serve"),
    ],
)
def test_a_command_typo_names_the_closest_command(typed: list[str], suggestion: str) -> None:
    with CliRunner().isolation() as (stdout, stderr, _):
        code = main(typed)
        out, err = stdout.getvalue().decode(), stderr.getvalue().decode()
    assert code == 64 and out == ""
    assert f"No such command {typed[-1]!r}. Did you mean {suggestion!r}?" in err


def test_a_word_close_to_no_command_gets_no_guess() -> None:
    with CliRunner().isolation() as (_, stderr, _):
        code = main(["xyzzy"])
        err = stderr.getvalue().decode()
    assert code == 64 and "No such command 'xyzzy'." in err and "Did you mean" not in err


@pytest.mark.parametrize(
    ("shell", "marker"), [("bash", "complete -o"), ("zsh", "#compdef"), ("fish", "complete")]
)
def test_completion_prints_the_script_for_each_shell(shell: str, marker: str) -> None:
    with CliRunner().isolation() as (stdout, _, _):
        code = main(["completion", shell])
        script = stdout.getvalue().decode()
    assert code == 0
    assert "oktasync" in script and "_OKTASYNC_COMPLETE" in script and marker in script


def test_completion_of_an_unknown_shell_is_a_usage_error() -> None:
    with CliRunner().isolation():
        assert main(["completion", "tcsh"]) == 64


def _complete(words: str, cwd: Path) -> list[str]:
    """What bash completion offers for the last of ``words`` (click's protocol: ``type,value`` lines)."""
    # COMP_CWORD: the index of the word being completed (a new, empty one after a trailing space).
    index = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = _environment(_OKTASYNC_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=str(index))
    command = [sys.executable, "-m", "oktasync"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=cwd, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_playbook_names_complete(tmp_path: Path) -> None:
    (tmp_path / "my-runbook.yaml").write_text("name: mine\nsteps: []\n")
    assert _complete("oktasync playbook run v", tmp_path) == ["plain,verify"]
    offered = _complete("oktasync playbook run ", tmp_path)
    for name in ("chronosphere-onboarding", "resync", "retry-failed-assignments", "verify"):
        assert f"plain,{name}" in offered
    assert "file,my-runbook.yaml" in offered
    assert _complete("oktasync playbook status re", tmp_path) == [
        "plain,resync",
        "plain,retry-failed-assignments",
    ]


def test_commands_complete(tmp_path: Path) -> None:
    assert "plain,completion" in _complete("oktasync com", tmp_path)
