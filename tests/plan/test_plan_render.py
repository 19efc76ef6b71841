"""The plan for people and pull requests: a coloured table on a terminal (a real pseudo-terminal), stable
plain lines in a pipe, `--format json` the same as `--json`, and Markdown safe to post as a PR comment."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from test_plan_e2e_cli import SECRETS, Harness

from oktasync.cli.plan_render import md, render_markdown
from oktasync.models import App, AppKind, Channel
from oktasync.workflows.plan import PlanResult, SettingPlan, Status, TenantPlan

ESC = "\x1b["


def _on_a_terminal(h: Harness, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """The CLI as a subprocess whose stdout is a pseudo-terminal; returns (exit code, what it showed)."""
    leader, follower = pty.openpty()
    environ = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "200", **(env or {})}
    environ.pop("NO_COLOR", None) if "NO_COLOR" not in (env or {}) else None
    command = [sys.executable, "-m", "oktasync", "--state-dir", str(h.state_dir), *args]
    process = subprocess.Popen(command, stdout=follower, stderr=subprocess.PIPE, env=environ)
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    code = process.wait(timeout=120)
    assert process.stderr is not None
    process.stderr.close()
    return code, b"".join(chunks).decode("utf-8", errors="replace")


def test_terminal_plan_is_a_coloured_aligned_table(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("cm", "Chronosphere", admin=False, monkeypatch=monkeypatch)
    code, shown = _on_a_terminal(h, "plan", "--detailed-exitcode", config)
    assert code == 2, shown
    assert ESC in shown  # coloured
    assert "current → desired" in shown and "Plan: " in shown
    base_url_line = next(line for line in shown.splitlines() if "SCIM connector base URL" in line)
    assert "?" in base_url_line and h.scim.base_url in base_url_line  # unreadable: a person checks it
    assert "Needs a person in the Admin Console" in shown
    for secret in SECRETS:
        assert secret not in shown

    code, plain_on_tty = _on_a_terminal(h, "plan", config, env={"NO_COLOR": "1"})
    assert code == 0 and ESC not in plain_on_tty and "current → desired" in plain_on_tty


def test_piped_plan_stays_plain_lines(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    code, out, _ = h.run("plan", config)
    assert code == 0
    assert ESC not in out and "→" not in out
    assert "Legend: ~ change, = in sync" in out and "  ~ SCIM connector base URL" in out


def test_format_json_is_json(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    code, by_format, _ = h.run("plan", "--format", "json", config)
    code_json, by_flag, _ = h.run("plan", "--json", config)
    assert code == code_json == 0
    assert json.loads(by_format) == json.loads(by_flag)
    code, out, err = h.run("plan", "--json", "--format", "markdown", config)
    assert code == 64 and out == "" and "--json is --format json" in err


def test_markdown_for_a_pull_request(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    manual = h.config("cm", "Chronosphere", admin=False, monkeypatch=monkeypatch)
    api = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    code, out, _ = h.run("plan", "--format", "markdown", manual, api)
    assert code == 0
    assert out.startswith("## oktasync plan\n") and "2 tenants: 2 with changes." in out
    assert "### cm — " in out and "### zs — " in out
    assert out.count("<details><summary>All ") == 2 and " settings</summary>" in out
    assert out.count("</details>") == 2
    assert "| + | SCIM connector base URL |" in out  # the API app: set through the API (none yet)
    checklist = [line for line in out.splitlines() if line.startswith("- [ ] ")]
    assert checklist and any("SCIM connector base URL" in line for line in checklist)
    assert "E2E\\_SCIM\\_TOKEN" in out  # where the token comes from, never the token
    for secret in SECRETS:
        assert secret not in out
    assert ESC not in out


def _hostile_plan() -> PlanResult:
    label = "Evil | `x` <img src=x onerror=alert(1)> [link](https://e.example) @org/team"
    setting = SettingPlan(
        "scim.base_url",
        "SCIM connector base URL",
        "https://a.example/scim?x=|`<!-- -->`",
        None,
        Status.UNVERIFIABLE,
        Channel.MANUAL,
        None,
        "line one\nline two </details>",
    )
    tenant = TenantPlan(
        tenant="t<1>",
        org_url="https://t.example",
        app=App(id="0oa1", name="x", label=label, status="ACTIVE", sign_on_mode=None, features=()),
        kind=AppKind.CUSTOM_SCIM,
        settings=(setting,),
        manual_steps=("Enter `|` then </details><script>x</script>",),
    )
    return PlanResult((tenant,))


def test_markdown_is_safe_against_injection_from_config_and_okta_values() -> None:
    out = render_markdown(_hostile_plan())
    row = next(line for line in out.splitlines() if line.startswith("| ?"))
    assert row.count(" | ") == 5  # still six cells: no value added a column
    for raw in ("<img", "<!--", "</details> ", "<script>", "`x`", "@org", "[link](https"):
        assert raw not in out.replace("</details>\n", "")
    assert out.count("</details>") == 1  # only ours
    assert "&lt;img src=x onerror=alert(1)&gt;" in out and "\\|" in out and "\\`" in out
    assert "line one line two" in out  # a line break cannot end the table row
    assert md("a|b`c<d") == "a\\|b\\`c&lt;d"


def test_markdown_of_a_tenant_that_failed() -> None:
    failed = TenantPlan(tenant="acme", org_url="https://acme.example", error="Okta said 401 <bad>")
    out = render_markdown(PlanResult((failed,)))
    assert "1 could not be planned" in out and "**Could not be planned:** Okta said 401 &lt;bad&gt;" in out


def test_markdown_file_can_be_written_from_a_pipe(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    target = h.tmp_path / "comment.md"
    code, out, _ = h.run("plan", "--format", "markdown", config)
    target.write_text(out)
    assert code == 0 and Path(target).read_text().endswith("not applicable.\n")


def test_apply_on_a_terminal_shows_the_table(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    code, shown = _on_a_terminal(h, "apply", "--yes", config)
    assert code == 0, shown
    assert "current → desired" in shown and ESC in shown
    assert "Done: every setting verified" in shown
    for secret in SECRETS:
        assert secret not in shown
