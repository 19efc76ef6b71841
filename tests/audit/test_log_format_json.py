"""``--log-format json``: everything oktasync writes to stderr is a JSON log record, one per line (the shape
of ``configure_logging``'s records: time, level, logger, message), on every path: an invalid config (3), a
usage error (64, also one click raises before the root command runs), Ctrl-C (130), an unexpected bug (1),
a successful command that logs, playbook progress under ``--json``, and other libraries' log records. Text
mode prints exactly what it did before; ``--json`` still prints exactly one document on stdout; secrets are
masked in both modes. All through the real CLI (``oktasync.cli.main``)."""

from __future__ import annotations

import gc
import io
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from oktasync.cli import main
from oktasync.config.secret import remember_secret
from oktasync.emulator.scim_target import ScimServer
from oktasync.emulator.testing import API_TOKEN, SCIM_TOKEN, RunningEmulator

SECRET = 'logfmt-SECRET-"quoted"-7d1e'  # a quote: masked before JSON escapes it, not after


def _run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    # Earlier tests' garbage (an asyncio task of a stopped loop) must be collected, and reported, before
    # stderr is captured: what is captured here is this command's stderr only.
    gc.collect()
    with CliRunner().isolation(input=stdin) as (stdout, stderr, _):
        code = main(list(args))
        return code, stdout.getvalue().decode(), stderr.getvalue().decode()


def _records(err: str) -> list[dict[str, Any]]:
    """Every stderr line parsed as one JSON log record (fails on any line that is not one)."""
    assert err.endswith("\n"), repr(err)
    records = []
    for line in err.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"stderr line is not JSON: {line!r}\n--- stderr:\n{err}") from None
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= set(record), record
        records.append(record)
    return records


def _errors(err: str) -> list[dict[str, Any]]:
    return [record for record in _records(err) if record["level"] == "error"]


# --- (a) invalid config, exit 3 ------------------------------------------------------------------------


def test_config_error_is_one_json_record(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")
    code, out, err = _run("--log-format", "json", "plan", missing)
    assert code == 3 and out == ""
    [record] = _errors(err)
    assert record["exit_code"] == 3 and record["error_type"] == "ConfigError"
    assert record["logger"] == "oktasync"
    assert record["problems"] == [f"{missing}: tenant config not found (fix: check the path)"]
    assert "Error:" not in err


def test_config_error_with_json_keeps_one_document_on_stdout(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")
    code, out, err = _run("--log-format", "json", "plan", missing, "--json")
    assert code == 3
    document = json.loads(out)  # exactly one document: raises on stray text or a second document
    assert document["exit_code"] == 3 and document["error"]["type"] == "ConfigError"
    [record] = _errors(err)
    assert record["exit_code"] == 3


def test_config_error_text_mode_unchanged(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")
    code, out, err = _run("plan", missing)
    assert code == 3 and out == ""
    assert err == f"Error: 1 problem found:\n  {missing}: tenant config not found (fix: check the path)\n"


# --- (b) usage errors, exit 64 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message", "help_command"),
    [
        (["--log-format", "json", "plan", "--bogus", "x.yaml"], "No such option '--bogus'.", "oktasync plan"),
        # raised while click resolves the command name, before the root command's callback runs
        (["--log-format", "json", "no-such-command"], "No such command 'no-such-command'.", "oktasync"),
        # raised while click parses the global options themselves
        (["--log-format=json", "--bogus", "plan"], "No such option '--bogus'", "oktasync"),
        (
            ["--log-format", "json", "emulator", "serve", "--port", "70000"],
            "--port",
            "oktasync emulator serve",
        ),
        (["--log-format", "json", "tasks", "x.yaml", "--interval", "60"], "--interval", "oktasync tasks"),
    ],
)
def test_usage_error_is_one_json_record(args: list[str], message: str, help_command: str) -> None:
    code, out, err = _run(*args)
    assert code == 64 and out == ""
    [record] = _records(err)
    assert record["level"] == "error" and message in record["message"]
    assert record["exit_code"] == 64 and record["error_type"] == "UsageError"
    assert record["hint"] == f"Try '{help_command} --help' for help."
    assert record["usage"].startswith(f"Usage: {help_command} ")


def test_usage_error_text_mode_unchanged() -> None:
    # An option no real one resembles: click would add "Did you mean" for a near miss (--bogus ~ --out).
    code, out, err = _run("plan", "--qqqq", "x.yaml")
    assert code == 64 and out == ""
    assert err == (
        "Usage: oktasync plan [OPTIONS] CONFIGS...\n"
        "Try 'oktasync plan --help' for help.\n"
        "\n"
        "Error: No such option '--qqqq'.\n"
    )


def test_a_log_format_after_the_command_is_not_read_as_the_global_option() -> None:
    """``plan --log-format json`` is a usage error of ``plan``; it does not switch stderr to JSON."""
    code, _, err = _run("plan", "--log-format", "json", "x.yaml")
    assert code == 64 and err.startswith("Usage: oktasync plan")


# --- Ctrl-C (130) and unexpected bugs (1), injected where validate loads the config ---------------------


def _inject(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    def boom(path: str) -> Any:
        raise error

    monkeypatch.setattr("oktasync.cli.validate.check_tenant", boom)


def test_ctrl_c_is_a_json_record(monkeypatch: pytest.MonkeyPatch) -> None:
    _inject(monkeypatch, KeyboardInterrupt())
    code, out, err = _run("--log-format", "json", "validate", "x.yaml")
    assert code == 130 and out == ""
    [record] = _records(err)
    assert record["level"] == "error" and record["message"] == "Aborted."
    assert record["exit_code"] == 130 and record["error_type"] == "Interrupted"
    # text mode: click's blank line closes the terminal's ^C echo
    assert _run("validate", "x.yaml") == (130, "", "\nAborted.\n")


def test_unexpected_bug_is_a_json_record_with_secrets_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    remember_secret(SECRET)
    _inject(monkeypatch, RuntimeError(f"boom near {SECRET}"))
    code, out, err = _run("--log-format", "json", "-vv", "validate", "x.yaml")
    assert code == 1 and out == ""
    assert SECRET not in err and json.dumps(SECRET)[1:-1] not in err
    records = _records(err)
    [record] = [r for r in records if r["level"] == "error"]
    assert record["message"] == "unexpected internal error: RuntimeError: boom near (sensitive)"
    assert record["error_type"] == "InternalError" and "bug in oktasync" in record["hint"]
    # -vv: the traceback is a debug record (one JSON line, newlines escaped), not raw text
    assert any(r["level"] == "debug" and "Traceback" in r["message"] for r in records)

    code, _, err = _run("validate", "x.yaml")  # text mode
    assert code == 1 and err == (
        "Error: unexpected internal error: RuntimeError: boom near (sensitive)\n"
        "Hint: this is a bug in oktasync; re-run with -vv for the traceback and report it\n"
    )


def test_other_libraries_log_records_are_json_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncio/aiohttp warnings would otherwise reach Python's last-resort handler as bare text."""

    def noisy(path: str) -> Any:
        logging.getLogger("asyncio").error("Unclosed client session %s", SECRET)
        raise KeyboardInterrupt

    monkeypatch.setattr("oktasync.cli.validate.check_tenant", noisy)
    code, _, err = _run("--log-format", "json", "validate", "x.yaml")
    assert code == 130
    records = _records(err)
    assert {
        "logger": "asyncio",
        "level": "error",
        "message": "Unclosed client session (sensitive)",
    }.items() <= (records[0].items())
    assert SECRET not in err


def test_a_prompt_under_json_logs_is_a_record_and_the_answer_a_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """confirm steps and apply/resync confirmations: the question is a record, not a bare prompt."""
    from oktasync.cli.context import confirm_err, reset_output

    reset_output(log_format="json")
    with CliRunner().isolation(input="perhaps\nyes\n") as (_, stderr, _):
        assert confirm_err("Apply these changes?") is True
        err = stderr.getvalue().decode()
    records = _records(err)
    assert [r["message"] for r in records] == [
        "Apply these changes? [y/N]",
        "invalid input: answer y or n",
        "Apply these changes? [y/N]",
    ]
    assert records[0]["prompt"] is True
    reset_output()


# --- (c) a successful command that logs, against the emulator --------------------------------------------

CONFIG = """\
tenant: logfmt
okta:
  org_url: {org_url}
  token: "{{{{ env.LOGFMT_OKTA_TOKEN }}}}"
app:
  label: Chronosphere
scim:
  base_url: "{base_url}"
  unique_identifier: email
  auth:
    mode: http_header
    bearer_token: "{{{{ env.LOGFMT_SCIM_TOKEN }}}}"
"""


@pytest.fixture
def config(
    emulator: RunningEmulator, scim_server: ScimServer, okta_sdk_env: None, tmp_path: Path, monkeypatch: Any
) -> str:
    monkeypatch.setenv("LOGFMT_OKTA_TOKEN", API_TOKEN)
    monkeypatch.setenv("LOGFMT_SCIM_TOKEN", SCIM_TOKEN)
    monkeypatch.setenv("OKTASYNC_STATE_DIR", str(tmp_path / "state"))
    path = tmp_path / "logfmt.yaml"
    path.write_text(CONFIG.format(org_url=emulator.url, base_url=scim_server.base_url))
    return str(path)


def test_successful_command_logs_json_records(config: str) -> None:
    code, out, err = _run("-v", "--log-format", "json", "plan", config)
    assert code == 0 and out.startswith("Tenant logfmt")  # stdout stays human text
    records = _records(err)
    assert any(
        r["level"] == "info" and r["message"] == "logfmt: reading Chronosphere settings" for r in records
    )
    assert API_TOKEN not in err and SCIM_TOKEN not in err

    code, out, err = _run("-v", "plan", config)  # text mode
    assert code == 0 and err == "INFO oktasync: logfmt: reading Chronosphere settings\n"


def test_playbook_progress_under_json_is_json_records_and_stdout_one_document(config: str) -> None:
    code, out, err = _run("--log-format", "json", "playbook", "run", "verify", "--config", config, "--json")
    assert code == 0
    assert json.loads(out)["playbook"] == "verify"
    messages = [r["message"] for r in _records(err) if r["logger"] == "oktasync"]  # every line is JSON
    assert messages[0].startswith("playbook verify · tenant logfmt · run ")
    assert any(m.startswith("[1/") for m in messages) and any(m.startswith("ok: ") for m in messages)


def test_no_progress_bars_when_stderr_is_json_records(monkeypatch: pytest.MonkeyPatch) -> None:
    from oktasync.cli import context

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stderr", Terminal())
    try:
        context.reset_output("text")
        assert context.progress_enabled()  # a terminal, text logs: bars
        context.reset_output("json")
        assert not context.progress_enabled()  # a redrawn bar would break one-record-per-line
    finally:
        context.reset_output()
