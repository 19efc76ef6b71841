"""`validate` needs no secrets (an unset variable a secret reads is a warning, an error under --strict);
the commands that use a secret still refuse without it; `validate --json` lists structured problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from oktasync.cli import cli, main
from oktasync.config import load_tenant
from oktasync.errors import ConfigError

HERE = Path(__file__).parent
UNSET = HERE / "secret-env-unset.yaml"  # okta.token and scim's bearer token read unset variables
PROBLEM_KEYS = {"file", "line", "column", "key", "message", "fix", "severity"}
SECRET_VARIABLES = ("OKTASYNC_TEST_UNSET_TOKEN", "CHRONOSPHERE_SCIM_TOKEN", "OKTA_API_TOKEN")


@pytest.fixture(autouse=True)
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), standalone_mode=False)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.return_value, result.stdout


def validate_json(*args: str) -> tuple[int, dict[str, object]]:
    code, out = invoke("validate", "--json", *args)
    return code, json.loads(out)


def test_unset_secret_variables_are_warnings_and_validate_passes() -> None:
    code, out = invoke("validate", str(UNSET))
    assert code == 0
    assert f"ok      {UNSET}  (tenant acme, app Chronosphere)" in out
    assert (
        f"  warning: {UNSET}:4:10: environment variable OKTASYNC_TEST_UNSET_TOKEN is not set "
        "(the secret okta.token reads it)"
    ) in out
    assert f"  warning: {UNSET}:10:19: environment variable CHRONOSPHERE_SCIM_TOKEN is not set" in out


def test_strict_makes_them_errors() -> None:
    code, out = invoke("validate", "--strict", str(UNSET))
    assert code == 3
    assert f"invalid {UNSET}" in out
    assert f"  {UNSET}:4:10: environment variable OKTASYNC_TEST_UNSET_TOKEN is not set" in out
    assert "warning:" not in out


def test_everything_else_is_still_checked(tmp_path: Path) -> None:
    text = UNSET.read_text().replace("https://acme.okta.com", "http://acme.okta.com") + "create_user: true\n"
    config = tmp_path / "c.yaml"
    config.write_text(text)
    code, document = validate_json(str(config))
    assert code == 3
    problems = document["problems"]
    assert isinstance(problems, list)
    by_severity = {(p["severity"], p["key"]) for p in problems}
    assert ("warning", "okta.token") in by_severity
    assert ("error", "okta.org_url") in by_severity
    assert ("error", "create_user") in by_severity


def test_a_var_that_only_feeds_a_secret_is_a_warning(tmp_path: Path) -> None:
    text = UNSET.read_text().replace(
        "tenant: acme\n", 'tenant: acme\nvars:\n  scim_token: "{{ env.CHRONOSPHERE_SCIM_TOKEN }}"\n'
    )
    text = text.replace(
        'bearer_token: "{{ env.CHRONOSPHERE_SCIM_TOKEN }}"', 'bearer_token: "{{ vars.scim_token }}"'
    )
    config = tmp_path / "c.yaml"
    config.write_text(text)
    code, document = validate_json(str(config))
    assert code == 0, document
    keys = {p["key"]: p for p in document["problems"]}  # type: ignore[union-attr, index]
    assert keys["vars.scim_token"]["severity"] == "warning"
    assert "scim.auth.bearer_token" in keys["vars.scim_token"]["message"]


def test_an_unset_variable_of_a_value_that_is_checked_is_an_error(tmp_path: Path) -> None:
    text = UNSET.read_text().replace("https://acme.okta.com", '"{{ env.OKTASYNC_TEST_ORG_URL }}"')
    text = text.replace("tenant: acme\n", 'tenant: acme\nvars:\n  site: "{{ env.OKTASYNC_TEST_SITE }}"\n')
    text = text.replace("https://acme.chronosphere.io", "https://{{ vars.site }}.chronosphere.io")
    config = tmp_path / "c.yaml"
    config.write_text(text)
    code, document = validate_json(str(config))
    assert code == 3
    errors = {p["key"] for p in document["problems"] if p["severity"] == "error"}  # type: ignore[union-attr, index]
    assert errors == {"okta.org_url", "vars.site"}


def test_commands_that_use_the_secret_refuse_without_it(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", str(UNSET)])
    err = capsys.readouterr().err
    assert code == 3
    assert (
        f"{UNSET}:4:10: environment variable OKTASYNC_TEST_UNSET_TOKEN is not set (the secret okta.token "
        "reads it) (fix: export OKTASYNC_TEST_UNSET_TOKEN before running this command" in err
    )
    assert "Traceback" not in err
    with pytest.raises(ConfigError) as raised:
        load_tenant(UNSET, environ={"CHRONOSPHERE_SCIM_TOKEN": "scim-bearer-token-91c2"})
    [problem] = raised.value.problems
    assert (problem.line, problem.key, problem.severity) == (4, "okta.token", "error")


def test_json_document_schema_is_pinned() -> None:
    code, document = validate_json(
        str(HERE / "valid_base.yaml"), str(UNSET), str(HERE / "broken/unknown-key.yaml")
    )
    assert code == 3
    # format_version: the envelope every --json document carries (added by emit_json)
    assert set(document) - {"format_version"} == {"valid", "configs", "problems"}
    assert document["valid"] is False
    configs = document["configs"]
    assert isinstance(configs, list)
    assert [set(entry) for entry in configs] == [
        {"file", "valid", "tenant", "app", "errors", "warnings"},
        {"file", "valid", "tenant", "app", "errors", "warnings"},
        {"file", "valid", "errors", "warnings"},
    ]
    assert [(e["valid"], e["errors"], e["warnings"]) for e in configs] == [
        (True, 0, 2),
        (True, 0, 2),
        (False, 1, 2),
    ]
    problems = document["problems"]
    assert isinstance(problems, list)
    for problem in problems:
        assert set(problem) == PROBLEM_KEYS
        assert problem["severity"] in ("error", "warning")
    [typo] = [p for p in problems if p["severity"] == "error"]
    assert typo == {
        "file": str(HERE / "broken/unknown-key.yaml"),
        "line": 12,
        "column": 3,
        "key": "scim.base_ur",
        "message": "unknown key 'base_ur' in scim",
        "fix": "did you mean 'base_url'?",
        "severity": "error",
    }


def test_every_problem_of_the_broken_corpus_is_located_with_a_fix() -> None:
    corpus = sorted(str(path) for path in (HERE / "broken").glob("*.yaml"))
    code, document = validate_json(*corpus)
    assert code == 3
    problems = document["problems"]
    assert isinstance(problems, list) and problems
    for problem in problems:
        assert problem["line"] and problem["column"] and problem["fix"], problem
        document_level = problem["message"].startswith(("invalid YAML", "the tenant config"))
        assert problem["key"] or document_level, problem


@pytest.mark.parametrize(
    ("old", "new", "line", "message", "fix"),
    [
        (
            "  create_users: true",
            "  create_user: true",
            19,
            "unknown key 'create_user' in to_app",
            "did you mean 'create_users'?",
        ),
        ("  org_url:", "  org_ur:", 5, "unknown key 'org_ur' in okta", "did you mean 'org_url'?"),
        ("tenant: acme", "tenant: acme\ntenat: x", 2, "unknown key 'tenat'", "did you mean 'tenant'?"),
        (
            "  mode: http_header",
            "  mode: http_header\n    zzz: 1",
            17,
            "unknown key 'zzz' in scim.auth",
            "remove it, or use one of: mode, bearer_token",
        ),
    ],
)
def test_unknown_config_keys_get_did_you_mean(
    tmp_path: Path, old: str, new: str, line: int, message: str, fix: str
) -> None:
    text = (HERE / "valid_base.yaml").read_text()
    assert old in text
    config = tmp_path / "typo.yaml"
    config.write_text(text.replace(old, new, 1))
    code, out = invoke("validate", str(config))
    assert code == 3
    assert f"{config}:{line}:" in out and f"{message} (fix: {fix})" in out, out


def test_a_file_that_cannot_be_read_is_one_problem_without_a_position(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    code, document = validate_json(str(missing))
    assert code == 3
    assert document["configs"] == [{"file": str(missing), "valid": False, "errors": 1, "warnings": 0}]
    assert document["problems"] == [
        {
            "file": str(missing),
            "line": None,
            "column": None,
            "key": None,
            "message": "tenant config not found",
            "fix": "check the path",
            "severity": "error",
        }
    ]


def test_the_example_configs_validate_with_no_secret_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the pre-commit hook runs on a developer's machine: the shipped examples need no secret."""
    for name in ("OKTA_PRIVATE_KEY_FILE", "ZSCALER_SCIM_TOKEN", "SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    examples = sorted(str(path) for path in (HERE.parents[1] / "configs").glob("*.yaml"))
    assert len(examples) == 2
    assert main(["validate", *examples]) == 0
    assert main(["validate", "--strict", *examples]) == 3
