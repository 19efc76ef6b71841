"""Every JSON document the CLI prints carries ``format_version`` (its first key) and the top-level keys and
types docs/json-output.md lists for it: each command runs with ``--json`` against the emulator and a real
scim2-server, and its document is checked against the table below (the pin)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from test_cli_contract import CONFIG, OKTA_TOKEN, SCIM_TOKEN, _seed

from oktasync.cli import main
from oktasync.emulator.scim_target import ScimServer, run_scim_server
from oktasync.emulator.testing import RunningEmulator, run_emulator

HOOK_SECRET = "json-output-hook-secret-0123456789"
CONFIG_WITH_HOOK = CONFIG + 'event_hook:\n  secret: "{{{{ env.AUDIT_HOOK_SECRET }}}}"\n'

NULL = type(None)

# name -> (command line, {top-level key: type}). ``{config}``, ``{snapshot}`` and ``{out}`` are filled in.
# The order matters: snapshot before rehearse, playbook run before playbook status.
DOCUMENTS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "doctor": (
        ["doctor", "{config}", "--json"],
        {
            "command": str,
            "tenant": str,
            "org_url": str,
            "auth_method": str,
            "exit_code": int,
            "app": dict,
            "kind": str,
            "admin_session": bool,
            "checks": list,
            "scopes": dict,
            "channels": list,
            "rate_limits": list,
        },
    ),
    "test-connector": (["test-connector", "{config}", "--json"], {"exit_code": int, "tenants": list}),
    "tasks": (["tasks", "{config}", "--json"], {"exit_code": int, "tenants": list}),
    "report unmanaged --json": (
        ["report", "unmanaged", "{config}", "--json"],
        {
            "tenant": str,
            "app": dict,
            "base_url": str,
            "complete": bool,
            "exit_code": int,
            "summary": dict,
            "paging": dict,
            "warnings": list,
            "columns": list,
            "rows": list,
        },
    ),
    "playbook run": (
        ["playbook", "run", "verify", "--config", "{config}", "--json"],
        {"playbook": str, "file": str, "dry_run": bool, "inputs": dict, "exit_code": int, "runs": list},
    ),
    "playbook status": (
        ["playbook", "status", "verify", "--config", "{config}", "--json"],
        {"playbook": str, "runs": list},
    ),
    "playbook list": (["playbook", "list", "--json"], {"playbooks": list}),
    "hooks status": (["hooks", "status", "{config}", "--json"], {"exit_code": int, "tenants": list}),
    "hooks register --dry-run": (
        ["hooks", "register", "{config}", "--url", "https://hooks.example.com", "--dry-run", "--json"],
        {
            "exit_code": int,
            "tenant": str,
            "name": str,
            "uri": str,
            "dry_run": bool,
            "changes": list,
            "actions": list,
            "hook": (dict, NULL),
            "verified": bool,
            "error": (str, NULL),
        },
    ),
    "snapshot": (
        ["snapshot", "{config}", "--out", "{snapshot}", "--json"],
        {
            "path": str,
            "pseudonymised": bool,
            "resumed": bool,
            "estimated_calls": int,
            "calls": int,
            "groups": int,
            "app_users": int,
            "push_failures": int,
            "target_users": (int, NULL),
            "rate_limits": dict,
        },
    ),
    "rehearse": (
        ["rehearse", "--time-scale", "0.01", "--json", "--out", "{out}", "{snapshot}", "verify"],
        {
            "report_version": int,
            "snapshot": dict,
            "run": dict,
            "calls": dict,
            "rate_limits": dict,
            "steps": list,
            "timings": dict,
            "unassigned": list,
            "failures": list,
            "not_linked": list,
            "waits_for_person": list,
            "final_vs_snapshot": dict,
        },
    ),
    "error document": (
        ["doctor", "{missing}", "--json"],
        {"command": str, "exit_code": int, "error": dict},
    ),
}

# Commands other helpers' documents are specified for (docs/plan-json.md and the commands' own docs): here
# only the keys every version keeps, and format_version, are pinned.
OTHER_DOCUMENTS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "validate": (["validate", "{config}", "--json"], {"configs": list}),
    "report unmanaged --format json": (
        ["report", "unmanaged", "{config}", "--format", "json"],
        {"rows": list},
    ),
    "plan": (
        ["plan", "{config}", "--json"],
        {"command": str, "exit_code": int, "summary": dict, "tenants": list},
    ),
    "resync --dry-run": (["resync", "{config}", "--json", "--dry-run"], {"dry_run": bool, "tenant": str}),
}


def _run(args: list[str], state_dir: Path) -> tuple[int, str, str]:
    with CliRunner().isolation() as (stdout, stderr, _):
        code = main(["--state-dir", str(state_dir), *args])
        return code, stdout.getvalue().decode(), stderr.getvalue().decode()


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[int, str, str]]]:
    """Every command of both tables run once, in order, against one org: name -> (exit code, stdout,
    stderr)."""
    tmp = tmp_path_factory.mktemp("json-output")
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("OKTA_")]:
            env.delenv(name)
        env.chdir(tmp)
        env.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
        env.setenv("AUDIT_OKTA_TOKEN", OKTA_TOKEN)
        env.setenv("AUDIT_SCIM_TOKEN", SCIM_TOKEN)
        env.setenv("AUDIT_ADMIN_SESSION", "")
        env.setenv("AUDIT_WEBHOOK", "http://127.0.0.1:9/json-output-hook")
        env.setenv("AUDIT_HOOK_SECRET", HOOK_SECRET)
        with (
            run_scim_server(SCIM_TOKEN) as scim,
            run_emulator(_seed(scim.base_url), api_token=OKTA_TOKEN) as em,
        ):
            config = tmp / "audit.yaml"
            config.write_text(CONFIG_WITH_HOOK.format(org_url=em.url, base_url=scim.base_url))
            places = {
                "{config}": str(config),
                "{snapshot}": str(tmp / "snapshot.json"),
                "{out}": str(tmp / "rehearsal.json"),
                "{missing}": str(tmp / "missing.yaml"),
            }
            results = {}
            for name, (args, _) in {**OTHER_DOCUMENTS, **DOCUMENTS}.items():
                filled = [places.get(arg, arg) for arg in args]
                results[name] = _run(filled, tmp / "state")
            results["rehearse --out"] = (0, (tmp / "rehearsal.json").read_text(), "")
            yield results


def _document(printed: dict[str, tuple[int, str, str]], name: str) -> dict[str, Any]:
    code, out, err = printed[name]
    try:
        document = json.loads(out)  # exactly one document on stdout
    except json.JSONDecodeError as error:
        message = f"{name} (exit {code}): stdout is not one JSON document ({error})"
        raise AssertionError(f"{message}:\n{out[:500]}\n{err[-2000:]}") from None
    assert isinstance(document, dict), name
    return document


def _check_types(name: str, document: dict[str, Any], keys: dict[str, Any]) -> None:
    for key, kind in keys.items():
        assert key in document, f"{name}: no {key!r}"
        assert isinstance(document[key], kind), f"{name}: {key!r} is {type(document[key]).__name__}"


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_each_document_is_versioned_with_the_documented_keys(
    printed: dict[str, tuple[int, str, str]], name: str
) -> None:
    document = _document(printed, name)
    assert next(iter(document)) == "format_version" and document["format_version"] == 1
    keys = DOCUMENTS[name][1]
    assert set(document) - {"format_version"} == set(keys), name
    _check_types(name, document, keys)


@pytest.mark.parametrize("name", list(OTHER_DOCUMENTS))
def test_other_commands_documents_are_versioned_too(
    printed: dict[str, tuple[int, str, str]], name: str
) -> None:
    document = _document(printed, name)
    assert next(iter(document)) == "format_version" and document["format_version"] == 1
    _check_types(name, document, OTHER_DOCUMENTS[name][1])


def test_the_error_document_says_what_failed(printed: dict[str, tuple[int, str, str]]) -> None:
    code, _, err = printed["error document"]
    document = _document(printed, "error document")
    assert code == 3 and document["exit_code"] == 3 and document["command"] == "doctor"
    assert set(document["error"]) == {"type", "message", "hint", "problems"}
    assert document["error"]["type"] == "ConfigError" and "missing.yaml" in err


def test_a_report_written_with_out_is_versioned_like_stdout(printed: dict[str, tuple[int, str, str]]) -> None:
    written = _document(printed, "rehearse --out")
    printed_document = _document(printed, "rehearse")
    assert next(iter(written)) == "format_version"
    assert set(written) == set(printed_document)


def test_report_json_flag_is_the_same_as_format_json(printed: dict[str, tuple[int, str, str]]) -> None:
    by_flag = _document(printed, "report unmanaged --json")
    by_format = _document(printed, "report unmanaged --format json")
    assert list(by_flag) == list(by_format) and by_flag["columns"] == by_format["columns"]
    assert set(by_flag["summary"]) == set(by_format["summary"])


def test_tasks_watch_prints_one_versioned_document_per_line(
    emulator: RunningEmulator,
    scim_server: ScimServer,
    okta_sdk_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUDIT_OKTA_TOKEN", emulator.api_token)
    monkeypatch.setenv("AUDIT_SCIM_TOKEN", scim_server.token)
    monkeypatch.setenv("AUDIT_ADMIN_SESSION", "")
    monkeypatch.setenv("AUDIT_WEBHOOK", "http://127.0.0.1:9/json-output-hook")
    config = tmp_path / "audit.yaml"
    config.write_text(CONFIG.format(org_url=emulator.url, base_url=scim_server.base_url))
    monkeypatch.setattr("oktasync.cli.tasks._pause", _no_pause)
    code, out, err = _run(
        ["tasks", str(config), "--json", "--watch", "--max-passes", "2", "--interval", "1"],
        tmp_path / "state",
    )
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2, (out, err)
    for line in lines:
        document = json.loads(line)
        assert (
            list(document)[:3] == ["format_version", "exit_code", "tenants"]
            and document["format_version"] == 1
        )


async def _no_pause(seconds: float) -> None:
    """The wait between passes, skipped (the clock is not what this test is about)."""


def _first_line(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    """The first line a server prints on stdout, waited for at most ``timeout`` seconds."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            return proc.stdout.readline()
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    raise AssertionError("the server printed nothing")


def test_emulator_serve_json_prints_one_ready_document(tmp_path: Path) -> None:
    token = "serve-json-token"
    command = [sys.executable, "-m", "oktasync", "emulator", "serve", "--json", "--api-token", token]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    ) as proc:
        try:
            document = json.loads(_first_line(proc))
            assert list(document) == ["format_version", "url", "control_url", "api_tokens", "control_token"]
            assert document["format_version"] == 1 and document["url"].startswith("http://127.0.0.1:")
            assert document["api_tokens"] == [token]
            users = httpx.get(
                document["url"] + "/api/v1/users", headers={"Authorization": f"SSWS {token}"}, timeout=10
            )
            assert users.status_code == 200  # the document's URL and token are the ones that work
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.mark.slow
def test_demo_json_prints_one_document_and_tells_the_story_on_stderr(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OKTA_", "CHRONOSPHERE_"))}
    state_out = tmp_path / "demo.json"
    done = subprocess.run(
        [sys.executable, "-m", "oktasync", "demo", "--json", "--users", "20", "--state-out", str(state_out)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(done.stdout)  # nothing else on stdout
    keys = {"exit_code": int, "ok": bool, "playbook": dict, "facts": dict, "person": (dict, NULL)}
    assert list(document)[0] == "format_version" and document["format_version"] == 1
    assert set(document) - {"format_version"} == set(keys)
    _check_types("demo", document, keys)
    assert document["ok"] is True and document["exit_code"] == 0
    assert "Step 1/" in done.stderr and "The runbook ran end to end" in done.stderr
    written = json.loads(state_out.read_text())
    assert list(written)[0] == "format_version" and written["facts"] == document["facts"]
