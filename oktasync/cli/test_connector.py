"""`oktasync test-connector CONFIG... [--json] [--write-probe]`: Okta's connector test + the checks in
docs/scim.md."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from oktasync.cli.context import CONFIG_PATH, echo_line, emit_json, json_option, status_text
from oktasync.cli.progress import make_progress
from oktasync.config import load_tenants
from oktasync.textsafe import for_terminal
from oktasync.workflows.connector_test import CheckStatus, ConnectorReport, test_connector

_MARK = {
    CheckStatus.PASS: "pass",
    CheckStatus.WARN: "WARN",
    CheckStatus.FAIL: "FAIL",
    CheckStatus.SKIP: "skip",
}
_STATUS = {
    CheckStatus.PASS: "passed",
    CheckStatus.WARN: "warning",
    CheckStatus.FAIL: "failed",
    CheckStatus.SKIP: "skipped",
}


@click.command("test-connector")
@click.argument("configs", nargs=-1, required=True, type=CONFIG_PATH)
@json_option("Print one JSON document.")
@click.option(
    "--write-probe",
    is_flag=True,
    help="Also create a throwaway user (oktasync-probe-…@example.com), check the duplicate is 409, "
    "deactivate it by PUT as Okta does, and delete it. Writes to the target: opt-in.",
)
def command(configs: tuple[str, ...], as_json: bool, write_probe: bool) -> int:
    """Test each config's SCIM target the way Okta's *Test Connector Configuration* does, then check what
    Okta's pushes rely on (paging integers, content type, filters, lookup by the unique identifier,
    401 for a wrong token, 404 for an unknown id, discovery).

    Exits 1 when Okta's own test would fail or any other check fails (warnings never fail), else 0.
    With several configs the worst exit code wins. Read-only unless --write-probe.
    """
    tenants = load_tenants(list(configs))
    progress, live = make_progress(as_json)

    async def run_all() -> list[ConnectorReport]:
        return [await test_connector(c, write_probe=write_probe, progress=progress) for c in tenants]

    if live is not None:
        with live:
            reports = asyncio.run(run_all())
    else:
        reports = asyncio.run(run_all())
    exit_code = max(r.exit_code for r in reports)
    if as_json:
        document: dict[str, Any] = {"exit_code": exit_code, "tenants": [r.to_dict() for r in reports]}
        emit_json(document)
    else:
        for index, report in enumerate(reports):
            if index:
                echo_line()
            _render(report)
    return exit_code


def _render(report: ConnectorReport) -> None:
    echo_line(for_terminal(f"== {report.tenant}: {report.base_url}"))
    okta = "would SUCCEED" if report.okta_verdict is CheckStatus.PASS else "would FAIL"
    echo_line(
        "Okta's Test Connector Configuration ",
        status_text(okta, _STATUS[report.okta_verdict]),
        ": " + for_terminal(report.okta_message),
    )
    echo_line()
    width = max((len(c.title) for c in report.checks), default=10)
    for check in report.checks:
        mark = status_text(f"{_MARK[check.status]:<4}", _STATUS[check.status])
        echo_line("  ", mark, "  " + for_terminal(f"{check.title:<{width}}  {check.detail}"))
        if check.fix and check.status in (CheckStatus.FAIL, CheckStatus.WARN):
            echo_line(for_terminal(f"        {'':<{width}}  fix: {check.fix}"))
    counts = report.counts()
    echo_line()
    echo_line(
        status_text(f"{counts['pass']} passed", "passed" if counts["pass"] else "none"),
        ", ",
        status_text(f"{counts['warn']} warnings", "warning" if counts["warn"] else "none"),
        ", ",
        status_text(f"{counts['fail']} failed", "failed" if counts["fail"] else "none"),
        f", {counts['skip']} skipped; {report.requests_sent} requests",
    )
    for left in report.leftovers:
        echo_line(for_terminal(f"Left behind in the target: {left.user_name} (id {left.id}, {left.state})"))
