"""Cross-command audit of the CLI contract (docs/architecture.md, Command-line contract), driving the real CLI
against the emulator and a
real scim2-server:

* ``--json`` prints exactly one JSON document on stdout and nothing else — on success and on every failure
  path (invalid config, missing env var, token refused, org unreachable, Ctrl-C); usage errors (exit 64)
  leave stdout empty;
* no secret (Okta API token, SCIM Bearer token, admin session, webhook URL) appears in stdout, stderr (at
  ``-vv`` and with ``--log-format json``) or any file of the state dir, after a full run and on error paths;
* environment problems (an unusable ``--state-dir``) are reported as such, not as "a bug in oktasync".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from oktasync.cli import main
from oktasync.emulator.scim_target import ScimServer, run_scim_server
from oktasync.emulator.testing import RunningEmulator, run_emulator, standard_seed

OKTA_TOKEN = "audit-okta-SECRET-4f9c2d71"
SCIM_TOKEN = "audit-scim-SECRET-8a1e77b0"
ADMIN_SID = "audit-sid-SECRET-c0ffee12"
WEBHOOK = "http://127.0.0.1:9/services/T000/B000/audit-hook-SECRET-5e6f"
SECRETS = (OKTA_TOKEN, SCIM_TOKEN, ADMIN_SID, WEBHOOK, "audit-hook-SECRET-5e6f")

CONFIG = """\
tenant: audit
okta:
  org_url: {org_url}
  token: "{{{{ env.AUDIT_OKTA_TOKEN }}}}"
  admin_session: "{{{{ env.AUDIT_ADMIN_SESSION | default('') }}}}"
app:
  label: Chronosphere
scim:
  base_url: "{base_url}"
  unique_identifier: email
  push_new_users: true
  push_profile_updates: true
  auth:
    mode: http_header
    bearer_token: "{{{{ env.AUDIT_SCIM_TOKEN }}}}"
to_app:
  create_users: true
  update_user_attributes: true
  deactivate_users: true
tasks:
  retry: {{max_attempts: 1, settle_timeout_seconds: 5}}
  notify:
    - webhook: "{{{{ env.AUDIT_WEBHOOK }}}}"
      kind: json
"""

# Every command that takes --json (or --format json), with the arguments after the config path.
JSON_COMMANDS: dict[str, list[str]] = {
    "validate": ["validate", "{config}", "--json"],
    "doctor": ["doctor", "{config}", "--json"],
    "plan": ["plan", "{config}", "--json", "--detailed-exitcode"],
    "apply": ["apply", "{config}", "--json", "--yes"],
    "test-connector": ["test-connector", "{config}", "--json"],
    "resync-dry-run": ["resync", "{config}", "--json", "--dry-run"],
    "resync": ["resync", "{config}", "--json", "--yes"],
    "tasks": ["tasks", "{config}", "--json", "--detailed-exitcode"],
    "report": ["report", "unmanaged", "{config}", "--format", "json"],
    "playbook-run": ["playbook", "run", "verify", "--config", "{config}", "--json"],
    "playbook-status": ["playbook", "status", "verify", "--config", "{config}", "--json"],
}
NEEDS_ORG = set(JSON_COMMANDS) - {"validate", "playbook-status"}


def _seed(scim_url: str) -> dict[str, Any]:
    seed = standard_seed(scim_base_url=scim_url, scim_token=SCIM_TOKEN)
    seed["api_tokens"] = [OKTA_TOKEN]
    seed["admin_sessions"] = [{"id": ADMIN_SID, "xsrf_token": "audit-xsrf-SECRET-77"}]
    seed["apps"][0]["groups"] = [{"group": "engineering", "priority": 0}, {"group": "sales", "priority": 1}]
    return seed


@pytest.fixture
def org() -> Iterator[tuple[RunningEmulator, ScimServer]]:
    with run_scim_server(SCIM_TOKEN) as scim, run_emulator(_seed(scim.base_url), api_token=OKTA_TOKEN) as em:
        yield em, scim


class Cli:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.state_dir = tmp_path / "state"
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
        monkeypatch.setenv("AUDIT_OKTA_TOKEN", OKTA_TOKEN)
        monkeypatch.setenv("AUDIT_SCIM_TOKEN", SCIM_TOKEN)
        monkeypatch.setenv("AUDIT_ADMIN_SESSION", ADMIN_SID)
        monkeypatch.setenv("AUDIT_WEBHOOK", WEBHOOK)
        self.outputs: list[str] = []

    def config(self, org_url: str, base_url: str, name: str = "audit.yaml") -> str:
        path = self.tmp_path / name
        path.write_text(CONFIG.format(org_url=org_url, base_url=base_url))
        return str(path)

    def run(self, *args: str, verbose: bool = True) -> tuple[int, str, str]:
        flags = ["-vv", "--log-format", "json"] if verbose else []
        with CliRunner().isolation() as (stdout, stderr, _):
            code = main(["--state-dir", str(self.state_dir), *flags, *args])
            out, err = stdout.getvalue().decode(), stderr.getvalue().decode()
        self.outputs += [out, err]
        return code, out, err

    def run_json(self, name: str, config: str) -> tuple[int, Any, str]:
        code, out, err = self.run(*(a.replace("{config}", config) for a in JSON_COMMANDS[name]))
        try:
            document = json.loads(out)  # raises on zero or several documents, or any stray text
        except json.JSONDecodeError as error:
            raise AssertionError(
                f"{name}: stdout is not one JSON document ({error}):\n{out[:2000]}"
            ) from None
        return code, document, err

    def assert_no_secrets(self) -> None:
        for text in self.outputs:
            for secret in SECRETS:
                assert secret not in text
        if self.state_dir.exists():
            for file in self.state_dir.rglob("*"):
                if file.is_file():
                    content = file.read_text(errors="replace")
                    for secret in SECRETS:
                        assert secret not in content, f"{secret!r} in {file}"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(tmp_path, monkeypatch)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreachable org is retried with backoff; only the sleeps are shortened (the retries still run)."""
    from oktasync.okta_gateway.pacing import RetryPolicy

    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt: 0.0)


def test_every_json_command_prints_one_document_and_no_secret_after_a_full_run(
    org: tuple[RunningEmulator, ScimServer], cli: Cli
) -> None:
    em, scim = org
    config = cli.config(em.url, scim.base_url)
    codes = {}
    for name in JSON_COMMANDS:
        code, document, _ = cli.run_json(name, config)
        assert isinstance(document, dict) and "error" not in document, (name, document)
        codes[name] = code
    assert codes["validate"] == 0 and codes["doctor"] == 0
    # The emulator's default Admin Console page has fields only for what public evidence shows, and nothing
    # reads the Bearer token back: apply writes what it can, then needs a person for the rest (exit 5).
    assert codes["apply"] == 5
    assert codes["resync"] == 0 and codes["report"] == 0
    cli.assert_no_secrets()


def test_invalid_config_gives_one_json_error_document(cli: Cli) -> None:
    bad = cli.tmp_path / "bad.yaml"
    bad.write_text("tenant: x\nokta:\n  org_url: http://127.0.0.1:9\n  token: inline-token-SECRET\n")
    for name in JSON_COMMANDS:
        code, document, err = cli.run_json(name, str(bad))
        assert code == 3, name
        if name == "validate":  # its own document lists the problems
            assert document["configs"][0]["valid"] is False
            continue
        assert document["exit_code"] == 3 and document["error"]["type"] == "ConfigError", name
        assert any("bad.yaml:" in problem for problem in document["error"]["problems"]), name
        assert "bad.yaml:" in err  # the human message still goes to stderr


def test_missing_env_var_gives_one_json_error_document(
    org: tuple[RunningEmulator, ScimServer], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    em, scim = org
    config = cli.config(em.url, scim.base_url)
    monkeypatch.delenv("AUDIT_OKTA_TOKEN")
    for name in ("plan", "resync", "tasks", "report"):
        code, document, _ = cli.run_json(name, config)
        assert code == 3 and "AUDIT_OKTA_TOKEN" in json.dumps(document), name


def test_token_refused_gives_one_json_document_and_no_secret(
    org: tuple[RunningEmulator, ScimServer], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    em, scim = org
    config = cli.config(em.url, scim.base_url)
    monkeypatch.setenv("AUDIT_OKTA_TOKEN", "audit-wrong-SECRET-0000")
    for name in sorted(NEEDS_ORG - {"test-connector"}):
        code, document, _ = cli.run_json(name, config)
        assert code == 1, (name, document)
        text = json.dumps(document)
        assert "401" in text or "refused" in text or "auth" in text, (name, document)
    for text in cli.outputs:
        assert "audit-wrong-SECRET-0000" not in text
    cli.assert_no_secrets()


def test_unreachable_org_gives_one_json_document(
    scim_server: ScimServer, cli: Cli, fast_retries: None
) -> None:
    config = cli.config("http://127.0.0.1:9", scim_server.base_url)
    for name in sorted(NEEDS_ORG - {"test-connector"}):
        code, document, err = cli.run_json(name, config)
        assert code == 1, (name, document)
        assert "127.0.0.1:9" in json.dumps(document), name
    cli.assert_no_secrets()


def test_usage_errors_leave_stdout_empty(cli: Cli) -> None:
    for args in (
        ["plan", "--json", "--no-such-flag", "x.yaml"],
        ["tasks", "x.yaml", "--json", "--interval", "0"],
        ["resync", "x.yaml", "--json", "--dry-run", "--resume"],
        ["report", "unmanaged", "x.yaml", "--format", "xml"],
    ):
        code, out, err = cli.run(*args)  # with --log-format json: stderr is one JSON record per line
        records = [json.loads(line) for line in err.splitlines() if line.strip()]
        usage = [r for r in records if r.get("error_type") == "UsageError"]
        assert code == 64 and out == "" and usage and usage[-1]["exit_code"] == 64, args


def test_unusable_state_dir_is_an_environment_error_not_a_bug(
    org: tuple[RunningEmulator, ScimServer], cli: Cli
) -> None:
    em, scim = org
    config = cli.config(em.url, scim.base_url)
    blocker = cli.tmp_path / "a-file"
    blocker.write_text("")
    cli.state_dir = blocker / "state"  # under a regular file: every mkdir fails with ENOTDIR
    for name in ("plan", "tasks", "resync-dry-run", "playbook-run"):
        code, document, err = cli.run_json(name, config)
        assert code == 1, name
        assert "bug in oktasync" not in err and "internal error" not in err, (name, err)
        assert "a-file" in err and "Not a directory" in err, (name, err)
        assert document["error"]["type"] == "OSError", name


def test_secret_in_an_unexpected_exception_message_is_redacted(
    org: tuple[RunningEmulator, ScimServer], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library exception that quotes a URL with a token, or a header, must not reach the terminal."""
    em, scim = org
    config = cli.config(em.url, scim.base_url)
    import oktasync.workflows.plan as plan_module

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"GET {WEBHOOK}?token={SCIM_TOKEN} failed; headers: Authorization: SSWS {OKTA_TOKEN}"
        )

    from oktasync.config import Secret

    for value in (OKTA_TOKEN, SCIM_TOKEN, WEBHOOK):
        Secret(value).reveal()  # as the gateway and notifier do before any request
    monkeypatch.setattr(plan_module, "plan_configs", broken)
    monkeypatch.setattr("oktasync.cli.plan.plan_configs", broken)
    code, document, err = cli.run_json("plan", config)
    assert code == 1 and document["error"]["type"] == "InternalError"
    assert "(sensitive)" in err and "(sensitive)" in document["error"]["message"]
    cli.assert_no_secrets()  # the -vv traceback in the JSON log lines included


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "{config}", "--json"],
        ["tasks", "{config}", "--json"],
        ["report", "unmanaged", "{config}", "--format", "json"],
    ],
)
def test_ctrl_c_with_json_exits_130_with_one_document_and_no_traceback(
    org: tuple[RunningEmulator, ScimServer], cli: Cli, args: list[str]
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    em, scim = org
    config = cli.config(em.url, scim.base_url)
    em.control.faults(latency_ms=20_000)  # every Okta request hangs: Ctrl-C lands mid-request
    em.control.reset_stats()
    argv = [sys.executable, "-m", "oktasync", "--state-dir", str(cli.state_dir), "-vv"]
    argv += [a.replace("{config}", config) for a in args]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        deadline = time.monotonic() + 30
        while em.control.stats()["total"] == 0:  # wait until the first request is in flight
            assert process.poll() is None and time.monotonic() < deadline, process.stderr
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        em.control.clear_faults()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    document = json.loads(out)
    assert document["exit_code"] == 130 and document["error"]["type"] == "Interrupted"
    cli.outputs += [out, err]
    cli.assert_no_secrets()


HOOK_SECRET = "audit-hook-header-SECRET-91b3"
HOOKS_COMMANDS: dict[str, list[str]] = {
    "hooks-register-dry-run": [
        "hooks",
        "register",
        "{config}",
        "--url",
        "https://hooks.example.test",
        "--json",
    ]
    + ["--dry-run"],
    "hooks-status": ["hooks", "status", "{config}", "--json"],
}


def _hooks_config(cli: Cli, org_url: str, base_url: str) -> str:
    """The audit tenant with an event hook whose header secret comes from the environment."""
    cli.monkeypatch.setenv("AUDIT_HOOK_SECRET", HOOK_SECRET)
    path = Path(cli.config(org_url, base_url, "audit-hooks.yaml"))
    path.write_text(path.read_text() + 'event_hook:\n  secret: "{{ env.AUDIT_HOOK_SECRET }}"\n')
    return str(path)


def _run_hooks_json(cli: Cli, name: str, config: str) -> tuple[int, Any]:
    code, out, _ = cli.run(*(a.replace("{config}", config) for a in HOOKS_COMMANDS[name]))
    try:
        return code, json.loads(out)  # raises on zero or several documents, or any stray text
    except json.JSONDecodeError as error:
        raise AssertionError(f"{name}: stdout is not one JSON document ({error}):\n{out[:2000]}") from None


def test_hooks_commands_print_one_json_document_and_no_secret(
    org: tuple[RunningEmulator, ScimServer], cli: Cli
) -> None:
    em, scim = org
    config = _hooks_config(cli, em.url, scim.base_url)
    code, document = _run_hooks_json(cli, "hooks-register-dry-run", config)
    assert code == 0 and document["exit_code"] == 0 and document["error"] is None, document
    assert document["uri"] == "https://hooks.example.test/okta/event-hooks/audit" and document["changes"]
    code, document = _run_hooks_json(cli, "hooks-status", config)
    assert code == 1 and document["exit_code"] == 1, document  # nothing registered yet: not ACTIVE
    assert [(t["tenant"], t["registered"]) for t in document["tenants"]] == [("audit", False)]
    assert httpx.get(f"{em.url}/__emulator/event-hooks").json()["hooks"] == []  # --dry-run wrote nothing
    cli.assert_no_secrets()
    for text in cli.outputs:
        assert HOOK_SECRET not in text


def test_hooks_commands_on_error_paths_give_one_json_error_document(
    org: tuple[RunningEmulator, ScimServer], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    em, scim = org
    bad = cli.tmp_path / "bad.yaml"
    bad.write_text("tenant: x\nokta:\n  org_url: http://127.0.0.1:9\n  token: inline-token-SECRET\n")
    for name in HOOKS_COMMANDS:
        code, document = _run_hooks_json(cli, name, str(bad))
        assert code == 3 and document["exit_code"] == 3, (name, document)
        assert document["error"]["type"] == "ConfigError", name
    config = _hooks_config(cli, em.url, scim.base_url)
    monkeypatch.setenv("AUDIT_OKTA_TOKEN", "audit-wrong-SECRET-0000")
    for name in HOOKS_COMMANDS:
        code, document = _run_hooks_json(cli, name, config)
        assert code == 1 and "error" in json.dumps(document), (name, document)
    for text in cli.outputs:
        assert "audit-wrong-SECRET-0000" not in text and HOOK_SECRET not in text
    cli.assert_no_secrets()
