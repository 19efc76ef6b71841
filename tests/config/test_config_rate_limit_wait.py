"""`okta.max_rate_limit_wait_seconds`: optional, 0–3600 s, default 300 (the gateway's 429 budget).

The broken corpus (broken/rate-limit-wait-*.yaml) covers out-of-range and non-numeric values through
`oktasync validate` (exit 3, file:line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from oktasync.cli import cli
from oktasync.config import load_tenant
from oktasync.errors import ConfigError

HERE = Path(__file__).parent
ENV = {
    "OKTA_API_TOKEN": "okta-api-token-7f3a",
    "CHRONOSPHERE_SCIM_TOKEN": "scim-bearer-token-91c2",
    "WAIT": "120",  # a templated value renders to a string, parsed as a number
}


def _with_wait(tmp_path: Path, value: str | None) -> Path:
    text = (HERE / "valid_base.yaml").read_text()
    if value is not None:
        anchor = '  token: "{{ env.OKTA_API_TOKEN }}"\n'
        text = text.replace(anchor, anchor + f"  max_rate_limit_wait_seconds: {value}\n")
    path = tmp_path / "acme.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 300.0), ("0", 0.0), ("90.5", 90.5), ("3600", 3600.0), ('"{{ env.WAIT }}"', 120.0)],
)
def test_valid_values_load(tmp_path: Path, value: str | None, expected: float) -> None:
    assert load_tenant(_with_wait(tmp_path, value), environ=ENV).okta.max_rate_limit_wait_seconds == expected


@pytest.mark.parametrize("value", ["3600.5", "-0.1", "5m", "[300]", '"{{ env.WAIT }}00"'])
def test_invalid_values_name_the_key_and_line(tmp_path: Path, value: str) -> None:
    path = _with_wait(tmp_path, value)
    with pytest.raises(ConfigError) as caught:
        load_tenant(path, environ=ENV)
    (problem,) = caught.value.problems
    line = path.read_text().splitlines().index(f"  max_rate_limit_wait_seconds: {value}") + 1
    assert problem.line == line and "okta.max_rate_limit_wait_seconds" in problem.message
    assert caught.value.exit_code == 3


def test_schema_documents_the_key() -> None:
    schema = json.loads(CliRunner().invoke(cli, ["schema"]).stdout)
    prop = schema["$defs"]["OktaConfig"]["properties"]["max_rate_limit_wait_seconds"]
    assert (prop["default"], prop["minimum"], prop["maximum"]) == (300, 0, 3600)
    assert "429" in prop["description"]
    assert "max_rate_limit_wait_seconds" not in schema["$defs"]["OktaConfig"].get("required", [])
