"""Secrets reach only the wire: every command, text and JSON, finds no secret bytes (raw, reversed, upper or
lower case, base64, hex, URL-encoded) in any output or any file it writes, even when a config tries to route
each secret through each non-secret field and a filter.

Every command loads its configs with the same loader (``oktasync.config.load_tenants``) before doing
anything, so the full matrix (secret × field × filter) runs through ``validate`` (text, and JSON for a third
of the pairs, so every field and filter appears there too), and every other command, text and JSON, gets
every secret × field pair with the filters taken in turn.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hostile_harness import leaks

from oktasync.cli import main
from oktasync.emulator.scim_target import ScimServer, run_scim_server
from oktasync.emulator.testing import RunningEmulator, run_emulator, standard_seed

OKTA_TOKEN = f"okta-{secrets.token_hex(12)}"
SCIM_TOKEN = f"scim-{secrets.token_hex(12)}"
ADMIN_SID = f"sid-{secrets.token_hex(12)}"
WEBHOOK_TOKEN = f"hook-{secrets.token_hex(12)}"
WEBHOOK = f"http://127.0.0.1:9/services/T000/B000/{WEBHOOK_TOKEN}"  # nothing listens: delivery fails
FILE_SECRET = f"file-{secrets.token_hex(12)}"
SECRETS = (OKTA_TOKEN, SCIM_TOKEN, ADMIN_SID, WEBHOOK, WEBHOOK_TOKEN, FILE_SECRET)
ENV = {
    "FLOW_OKTA_TOKEN": OKTA_TOKEN,
    "FLOW_SCIM_TOKEN": SCIM_TOKEN,
    "FLOW_ADMIN_SESSION": ADMIN_SID,
    "FLOW_WEBHOOK": WEBHOOK,
}

# Where each secret comes from (a template source) and the secret field it feeds.
SOURCES = {
    "okta-token": "env.FLOW_OKTA_TOKEN",
    "scim-token": "env.FLOW_SCIM_TOKEN",
    "admin-session": "env.FLOW_ADMIN_SESSION",
    "webhook": "env.FLOW_WEBHOOK",
    "file": "file('secrets/bearer')",
}
# Every non-secret field of the format that takes a string or a number.
FIELDS: tuple[tuple[str | int, ...], ...] = (
    ("tenant",),
    ("okta", "org_url"),
    ("okta", "max_concurrency"),
    ("okta", "max_rate_limit_wait_seconds"),
    ("app", "label"),
    ("scim", "base_url"),
    ("scim", "unique_identifier"),
    ("scim", "auth", "mode"),
    ("to_app", "create_users"),
    ("resync", "groups", 0),
    ("resync", "max_affected_users"),
    ("tasks", "retry", "max_attempts"),
    ("tasks", "notify", 0, "kind"),
    ("vars", "via"),  # a var, read by the tenant name
)
FILTERS = (
    "",
    "| reverse",
    "| upper",
    "| lower",
    "| list | join('.')",
    "| tojson",
    "| urlencode",
    "| replace('-', '_')",
    "| center(100)",
    "| wordwrap(5)",
    "| string | first",
    "~ ''",
)


def base_config(org_url: str, scim_url: str, *, bearer_from_file: bool = False) -> dict[str, Any]:
    return {
        "tenant": "flow",
        "okta": {
            "org_url": org_url,
            "token": "{{ env.FLOW_OKTA_TOKEN }}",
            "admin_session": "{{ env.FLOW_ADMIN_SESSION | default('') }}",
        },
        "app": {"label": "Chronosphere"},
        "scim": {
            "base_url": scim_url,
            "auth": {
                "bearer_token": "{{ file('secrets/bearer') }}"
                if bearer_from_file
                else "{{ env.FLOW_SCIM_TOKEN }}"
            },
        },
        "resync": {"groups": ["Engineering"]},
        "tasks": {
            "retry": {"max_attempts": 1, "settle_timeout_seconds": 5},
            "notify": [{"webhook": "{{ env.FLOW_WEBHOOK }}", "kind": "json"}],
        },
    }


def routed_config(directory: Path, source: str, field: tuple[str | int, ...], filter_: str) -> Path:
    """A config whose ``field`` reads the secret ``source`` through ``filter_``."""
    config = base_config("http://127.0.0.1:9", "http://127.0.0.1:9/v2", bearer_from_file=source == "file")
    template = "{{ " + SOURCES[source] + " " + filter_ + " }}"
    if field == ("vars", "via"):
        config["vars"] = {"via": template}
        config["tenant"] = "{{ vars.via }}"
    else:
        parent: Any = config
        for part in field[:-1]:
            parent = parent.setdefault(part, {}) if isinstance(part, str) else parent[part]
        parent[field[-1]] = template
    path = directory / "routed.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def dotted(field: tuple[str | int, ...]) -> str:
    text = ""
    for part in field:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return "tenant" if field == ("vars", "via") else text


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "bearer").write_text(FILE_SECRET + "\n")
    return tmp_path


def written(state_dir: Path) -> list[Path]:
    """Where commands write: the state dir and the working directory (a fresh one per test)."""
    return [path for path in (state_dir, Path.cwd()) if path.exists()]


def run(state_dir: Path, *args: str) -> tuple[int, str]:
    with CliRunner().isolation() as (stdout, stderr, _):
        code = main(["--state-dir", str(state_dir), *args])
        return code, stdout.getvalue().decode() + stderr.getvalue().decode()


# The commands, text and JSON; "{config}" is the config path.
COMMANDS: dict[str, list[str]] = {
    "validate": ["validate", "{config}"],
    "validate-json": ["validate", "{config}", "--json"],
    "doctor": ["-vv", "doctor", "{config}"],
    "doctor-json": ["--log-format", "json", "-vv", "doctor", "{config}", "--json"],
    "plan": ["-vv", "plan", "{config}"],
    "plan-json": ["plan", "{config}", "--json"],
    "apply": ["-vv", "apply", "{config}", "--yes"],
    "apply-json": ["--log-format", "json", "apply", "{config}", "--json", "--yes"],
    "test-connector": ["test-connector", "{config}"],
    "test-connector-json": ["test-connector", "{config}", "--json"],
    "resync-dry-run": ["resync", "{config}", "--dry-run"],
    "resync-json": ["--log-format", "json", "-vv", "resync", "{config}", "--json", "--yes"],
    "tasks": ["-vv", "tasks", "{config}"],
    "tasks-json": ["tasks", "{config}", "--json"],
    "report": ["report", "unmanaged", "{config}"],
    "report-json": ["report", "unmanaged", "{config}", "--format", "json"],
    "report-csv": ["report", "unmanaged", "{config}", "--format", "csv"],
    "playbook": ["-vv", "playbook", "run", "verify", "--config", "{config}"],
    "playbook-json": ["playbook", "run", "verify", "--config", "{config}", "--json"],
    "playbook-status": ["playbook", "status", "verify", "--config", "{config}"],
}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_route_of_every_secret_is_refused_by_name_and_prints_nothing_secret(
    source: str, workdir: Path
) -> None:
    state_dir = workdir / "state"
    outputs: list[str] = []
    # Text output for every field × filter; JSON output for every field × filter pair on a diagonal (the
    # JSON document carries the same problems, so each filter and each field still appear in JSON).
    for (i, field), (j, filter_) in itertools.product(enumerate(FIELDS), enumerate(FILTERS)):
        config = routed_config(workdir, source, field, filter_)
        for json_flag in ([], ["--json"]) if (i + j) % 3 == 0 else ([],):
            code, output = run(state_dir, "validate", str(config), *json_flag)
            outputs.append(output)
            assert code == 3, (field, filter_, output)
            assert dotted(field) in output, (field, filter_, output)
    assert leaks(SECRETS, outputs, written(state_dir)) == []


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - {"validate", "validate-json"}))
def test_every_command_refuses_every_route_without_printing_a_secret(command: str, workdir: Path) -> None:
    state_dir = workdir / "state"
    outputs: list[str] = []
    filters = itertools.cycle(FILTERS)
    for source, field in itertools.product(sorted(SOURCES), FIELDS):
        config = routed_config(workdir, source, field, next(filters))
        code, output = run(state_dir, *(arg.replace("{config}", str(config)) for arg in COMMANDS[command]))
        outputs.append(output)
        assert code == 3, (source, field, output)
    assert leaks(SECRETS, outputs, written(state_dir)) == []


@pytest.fixture
def org() -> Iterator[tuple[RunningEmulator, ScimServer]]:
    with run_scim_server(SCIM_TOKEN) as scim:
        seed = standard_seed(scim_base_url=scim.base_url, scim_token=SCIM_TOKEN)
        seed["api_tokens"] = [OKTA_TOKEN]
        seed["admin_sessions"] = [{"id": ADMIN_SID, "xsrf_token": f"xsrf-{secrets.token_hex(8)}"}]
        with run_emulator(seed, api_token=OKTA_TOKEN) as emulator:
            yield emulator, scim


def test_every_command_text_and_json_on_a_real_org_prints_and_writes_no_secret(
    org: tuple[RunningEmulator, ScimServer], workdir: Path
) -> None:
    emulator, scim = org
    config = workdir / "flow.yaml"
    document = base_config(emulator.url, scim.base_url)
    document["vars"] = {"region": "{{ env.FLOW_REGION }}"}  # a plain variable: allowed in vars
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    state_dir = workdir / "state"
    outputs: list[str] = []
    codes: dict[str, int] = {}
    import os

    os.environ["FLOW_REGION"] = "eu"
    try:
        for name, args in COMMANDS.items():
            code, output = run(state_dir, *(arg.replace("{config}", str(config)) for arg in args))
            outputs.append(output)
            codes[name] = code
    finally:
        del os.environ["FLOW_REGION"]
    assert codes["validate"] == codes["doctor"] == codes["report"] == 0, codes
    # apply writes what the evidence-only Admin Console page offers; the Bearer token it sends can only be
    # confirmed by a person, so a first apply always ends with exit 5 and console steps.
    assert codes["apply"] == 5, codes
    assert all(code != 3 for code in codes.values()), codes
    assert state_dir.exists() and any(state_dir.rglob("*.json"))
    assert leaks(SECRETS, outputs, written(state_dir)) == []
    scim_secret_files = leaks(SECRETS, [], [workdir / "secrets"])
    assert scim_secret_files  # the scanner finds the secret where it is: it can fail
