"""Out-of-range and contradictory options are usage errors (exit 64) with click's message, never an
internal error or a silently ignored flag (audit)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from oktasync.cli import main


def _run(*args: str) -> tuple[int, str, str]:
    with CliRunner().isolation() as (stdout, stderr, _):
        code = main(list(args))
        return code, stdout.getvalue().decode(), stderr.getvalue().decode()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["emulator", "serve", "--port", "-1"], "--port"),
        (["emulator", "serve", "--port", "65536"], "--port"),
        (["emulator", "serve", "--time-scale", "0"], "--time-scale"),
        (["emulator", "serve", "--time-scale", "-2"], "--time-scale"),
        (["emulator", "serve", "--workers", "0"], "--workers"),
        (["apply", "x.yaml", "--wait", "--wait-interval", "0"], "--wait-interval"),
        (["apply", "x.yaml", "--wait", "--wait-timeout", "-1"], "--wait-timeout"),
        (["tasks", "x.yaml", "--interval", "60"], "--interval"),  # without --watch it would run once
    ],
)
def test_bad_option_values_are_usage_errors(args: list[str], option: str) -> None:
    code, out, err = _run(*args)
    assert code == 64, err
    assert option in err and "internal error" not in err and out == ""


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "{dir}"],
        ["plan", "{dir}"],
        ["apply", "{dir}", "--yes"],
        ["doctor", "{dir}"],
        ["test-connector", "{dir}"],
        ["resync", "{dir}", "--dry-run"],
        ["tasks", "{dir}"],
        ["report", "unmanaged", "{dir}"],
        ["playbook", "run", "verify", "--config", "{dir}"],
        ["playbook", "status", "verify", "--config", "{dir}"],
        ["playbook", "run", "{dir}", "--config", "{dir}"],
    ],
)
def test_a_directory_instead_of_a_config_is_an_invalid_config_like_a_missing_file(
    args: list[str], tmp_path: Path
) -> None:
    directory = str(tmp_path)
    code, out, err = _run(*(a.replace("{dir}", directory) for a in args))
    assert code == 3, err
    assert f"{directory}: cannot read" in out + err and "Is a directory" in out + err
    code, _, _ = _run(*(a.replace("{dir}", directory + "/missing.yaml") for a in args))
    assert code == 3
