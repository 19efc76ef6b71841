"""The plan/apply JSON keys are exactly the documented ones (docs/plan-json.md), so the doc cannot drift."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from test_plan_apply import config  # tests/ is not a package: modules import by basename

from oktasync.okta_gateway.fake import FakeGateway
from oktasync.state import StateDir
from oktasync.workflows.apply import ApplyOptions, ApplyResult, apply_tenant
from oktasync.workflows.plan import PlanResult, plan_tenant
from oktasync.workflows.session import TenantSession

DOC = (Path(__file__).resolve().parents[2] / "docs" / "plan-json.md").read_text()


def _documented(section: str) -> set[str]:
    """Keys in the first column of the table under the heading ``section``."""
    body = DOC.split(f"### {section}\n", 1)[1].split("\n#", 1)[0]
    return {m.group(1).split(".")[0] for m in re.finditer(r"^\| `([a-z_.\[\]]+)` \|", body, re.M)}


def test_plan_and_apply_keys_are_documented(tmp_path: Path) -> None:
    gw = FakeGateway()
    gw.add_app("Chronosphere")
    cfg, state = config(tmp_path), StateDir(tmp_path / "state")
    session = TenantSession(cfg, state.root, gateway=gw)
    plan = asyncio.run(plan_tenant(session))
    doc = PlanResult((plan,)).to_dict()
    assert set(doc) == _documented("Top level")
    tenant = doc["tenants"][0]
    assert set(tenant) == _documented("Tenant")
    assert set(tenant["settings"][0]) == _documented("Setting")
    assert len(tenant["settings"]) == 10
    result = asyncio.run(apply_tenant(session, plan, options=ApplyOptions()))
    applied = ApplyResult((result,)).to_dict()
    assert applied["format_version"] == 1 and applied["command"] == "apply"
    assert set(applied["tenants"][0]) == {
        "tenant", "config", "outcome", "exit_code", "error", "actions", "manual_steps", "before", "after",
    }  # fmt: skip
    assert applied["tenants"][0]["outcome"] == "manual_action_required"
