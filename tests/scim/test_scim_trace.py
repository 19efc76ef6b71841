"""`-vv` traces every SCIM request: one DEBUG record each (method, path, status, time, attempt), structured
under `--log-format json`, and never the target's Bearer token."""

from __future__ import annotations

import json

from click.testing import CliRunner
from scim_targets import TARGET_TOKEN, ConfigWriter, ScimTarget

from oktasync.cli import main


def test_test_connector_with_vv_traces_every_scim_request_without_the_token(
    target: ScimTarget, write_config: ConfigWriter
) -> None:
    config = write_config(target.base_url)
    with CliRunner().isolation() as (out, err, _):
        code = main(["-vv", "--log-format", "json", "test-connector", str(config), "--json"])
    stderr = err.getvalue().decode()
    assert code == 0, stderr
    traces = [r["http"] for r in map(json.loads, stderr.splitlines()) if "http" in r]
    scim = [t for t in traces if t["channel"] == "SCIM"]
    assert len(scim) == len(target.requests) > 0  # one record per request the target received
    assert scim[0]["method"] == "GET" and scim[0]["path"] == "/Users?startIndex=1&count=2"
    assert all(t["status"] and t["attempt"] >= 1 and t["elapsed_ms"] >= 0 for t in scim)
    assert TARGET_TOKEN not in stderr + out.getvalue().decode() and "Bearer" not in stderr
