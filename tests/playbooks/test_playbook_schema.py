"""The playbook format as a JSON Schema (from the pydantic models): shipped, current, and true to the
loader; structured problems and "did you mean" for playbooks."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from oktasync.cli import cli
from oktasync.errors import ConfigError
from oktasync.playbooks import load_playbook
from oktasync.playbooks.loader import shipped_playbook

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SCHEMA = ROOT / "docs" / "schemas" / "playbook.schema.json"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), standalone_mode=False)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.return_value, result.stdout, result.stderr


def schema() -> dict[str, object]:
    code, out, _ = invoke("schema", "playbook")
    assert code == 0
    document: dict[str, object] = json.loads(out)
    return document


def shipped_playbooks() -> list[Path]:
    verify = shipped_playbook("verify")
    assert verify is not None
    return sorted(verify.parent.glob("*.yaml"))


def test_shipped_schema_is_current() -> None:
    assert json.loads(SHIPPED_SCHEMA.read_text()) == schema(), (
        "regenerate: oktasync schema playbook > docs/schemas/playbook.schema.json"
    )


def test_schema_is_strict_and_lists_each_actions_arguments() -> None:
    document = schema()
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["additionalProperties"] is False
    definitions = document["$defs"]
    assert isinstance(definitions, dict)
    assert definitions["NotifyArgs"]["required"] == ["message"]
    assert definitions["NotifyArgs"]["additionalProperties"] is False
    assert definitions["TasksStep"]["properties"]["action"]["const"] == "tasks"


def test_shipped_playbooks_validate_against_the_schema() -> None:
    validator = jsonschema.Draft202012Validator(schema())
    playbooks = shipped_playbooks()
    assert {path.stem for path in playbooks} >= {"chronosphere-onboarding", "resync", "verify"}
    for path in playbooks:
        errors = [error.message for error in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], (path, errors)


@pytest.mark.parametrize(
    "text",
    [
        "name: x\nsteps:\n  - {id: a, action: aply}\n",
        "name: x\nsteps:\n  - {id: a, action: tasks, with: {retry: 'yes'}}\n",
        "name: x\nsteps:\n  - {id: a, action: confirm}\n",
        "name: x\nsteps:\n  - {id: a-b, action: plan}\n",
        "name: x\nsteps:\n  - {id: a, action: plan, max_attempts: 0}\n",
        "name: x\nsteps:\n  - {id: a, action: plan, on_failure: maybe}\n",
        "name: x\nsteps:\n  - {id: a, action: plan, with: {extra: 1}}\n",
        "name: x\nsteps: []\n",
        "name: x\nbogus: 1\nsteps:\n  - {id: a, action: plan}\n",
        "name: x\ninputs: {n: {type: float}}\nsteps:\n  - {id: a, action: plan}\n",
    ],
)
def test_schema_and_loader_reject_the_same_shapes(tmp_path: Path, text: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_playbook(path)
    assert list(jsonschema.Draft202012Validator(schema()).iter_errors(yaml.safe_load(text)))


def test_a_template_is_accepted_where_an_argument_takes_another_type(tmp_path: Path) -> None:
    text = "name: x\ninputs: {r: {type: boolean, default: false}}\nsteps:\n"
    text += "  - {id: a, action: tasks, with: {retry: '{{ inputs.r }}'}}\n"
    path = tmp_path / "p.yaml"
    path.write_text(text)
    assert load_playbook(path).steps[0].args == {"retry": "{{ inputs.r }}"}
    assert not list(jsonschema.Draft202012Validator(schema()).iter_errors(yaml.safe_load(text)))


@pytest.mark.parametrize(
    ("text", "line", "key", "message", "fix"),
    [
        (
            "nme: x\nsteps:\n  - {id: a, action: plan}\n",
            1,
            "nme",
            "unknown key 'nme' in a playbook",
            "did you mean 'name'?",
        ),
        (
            "name: x\nsteps:\n  - id: a\n    action: plan\n    max_atempts: 3\n",
            5,
            "steps[0].max_atempts",
            "unknown key 'max_atempts' in a step",
            "did you mean 'max_attempts'?",
        ),
        (
            "name: x\nsteps:\n  - id: a\n    action: notify\n    with: {mesage: hi}\n",
            5,
            "steps[0].with.mesage",
            "unknown argument 'mesage' for action 'notify'",
            "did you mean 'message'?",
        ),
        (
            "name: x\ninputs:\n  who: {descripton: x}\nsteps:\n  - {id: a, action: plan}\n",
            3,
            "inputs.who.descripton",
            "unknown key 'descripton' in input 'who'",
            "did you mean 'description'?",
        ),
        (
            "name: x\nsteps:\n  - {id: a, action: aply}\n",
            3,
            "steps[0].action",
            "unknown action 'aply'",
            "did you mean 'apply'?",
        ),
    ],
)
def test_playbook_key_typos_get_did_you_mean(
    tmp_path: Path, text: str, line: int, key: str, message: str, fix: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    code, out, _ = invoke("playbook", "validate", "--json", str(path))
    assert code == 3
    document = json.loads(out)
    assert set(document) - {"format_version"} == {"valid", "playbooks", "problems"}
    assert document["valid"] is False
    [entry] = document["playbooks"]
    assert entry == {"file": str(path), "valid": False, "errors": len(document["problems"]), "warnings": 0}
    [problem] = [problem for problem in document["problems"] if problem["key"] == key]
    assert set(problem) == {"file", "line", "column", "key", "message", "fix", "severity"}
    assert (problem["file"], problem["line"], problem["key"]) == (str(path), line, key)
    assert (problem["message"], problem["fix"], problem["severity"]) == (message, fix, "error")
    assert problem["column"] >= 1


def test_playbook_validate_json_for_valid_playbooks() -> None:
    code, out, _ = invoke("playbook", "validate", "--json", "verify", "resync")
    assert code == 0
    document = json.loads(out)
    assert document["valid"] is True and document["problems"] == []
    assert [(entry["name"], entry["valid"]) for entry in document["playbooks"]] == [
        ("verify", True),
        ("resync", True),
    ]
    assert all(
        set(entry) == {"file", "valid", "name", "steps", "errors", "warnings"}
        for entry in document["playbooks"]
    )


def test_a_step_with_an_unknown_action_is_still_checked_whole(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nsteps:\n  - action: aply\n    max_attempts: 0\n    bogus: 1\n")
    with pytest.raises(ConfigError) as raised:
        load_playbook(path)
    found = {(p.line, p.key, p.message) for p in raised.value.problems}
    assert found == {
        (3, "steps[0].action", "unknown action 'aply'"),
        (3, "steps[0].id", "missing required key 'id'"),
        (4, "steps[0].max_attempts", "max_attempts must be an integer from 1 to 1000"),
        (5, "steps[0].bogus", "unknown key 'bogus' in a step"),
    }


def test_keys_written_without_a_value_count_as_not_written(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: x\ndescription:\ninputs:\n  who:\n  n:\n    description:\n"
        "steps:\n  - id: a\n    action: plan\n    description:\n    with:\n"
    )
    playbook = load_playbook(path)
    assert playbook.description == ""
    assert [spec.name for spec in playbook.inputs] == ["who", "n"]
    assert playbook.steps[0].args == {} and playbook.steps[0].name == "plan"


BROKEN_SHAPES = """\
name: 5
nme: x
inputs:
  a-b: {}
  c: {type: float, requird: true, required: maybe}
  d: 5
  e: {type: integer, default: x}
steps:
  - {id: a, action: notify, with: {message: hi, level: loud}}
  - {id: b, action: tasks, with: [1]}
  - {id: c, action: plan, with: {x: 1}, interval: true, max_attempts: 0, on_failure: x}
  - 7
  - {id: e}
  - {id: f, action: confirm}
  - {id: 9, action: plan, when: [1]}
  - {id: h, action: plan, when: "steps.nowhere.ok", until: "{{ x", max_attempts: 3, interval: 0}
"""


def test_every_playbook_problem_is_located_with_a_key_and_a_fix(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BROKEN_SHAPES)
    with pytest.raises(ConfigError) as raised:
        load_playbook(path)
    problems = raised.value.problems
    assert len(problems) >= 20
    for problem in problems:
        assert problem.line and problem.column and problem.key and problem.fix, problem
        assert problem.severity == "error"
