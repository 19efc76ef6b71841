"""A broken playbook is rejected whole, before anything runs, with every problem at file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from oktasync.cli import main
from oktasync.errors import ConfigError
from oktasync.playbooks import load_playbook

REPO = Path(__file__).resolve().parents[2]

BROKEN = """\
name: broken
inputs:
  who: {default: x}
steps:
  - id: check
    action: validate
  - id: ask
    action: confirm
    with:
      message: "go {{ steps.later.result.x }} {{ inputs.whom }}"
      extra: 1
  - id: later
    action: aply
    when: "{{ steps.check.result.valid and "
  - id: t
    action: tasks
    with: {retry: "yes"}
    until: result.x == 1
    on_failure: maybe
    bogus: 1
  - id: check
    action: report
    when: "steps.nowhere.ok or result"
"""


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_playbook(path)
    return [str(p) for p in raised.value.problems]


def test_every_problem_is_listed_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    problems = _problems(path)
    expected = [
        (10, "refers to step 'later', which runs later"),
        (10, "refers to undeclared input 'whom'"),
        (11, "unknown argument 'extra' for action 'confirm'"),
        (13, "unknown action 'aply'"),
        (14, "template syntax error"),
        (17, "argument 'retry' must be true/false"),
        (19, "on_failure must be 'stop' or 'continue'"),
        (20, "unknown key 'bogus' in a step"),
        (21, "duplicate step id 'check'"),
        (23, "refers to unknown step 'nowhere'"),
        (23, "unknown name 'result' in template"),
    ]
    for line, text in expected:
        assert any(p.startswith(f"{path}:{line}:") and text in p for p in problems), (line, text, problems)
    assert len(problems) == len(expected)
    assert any("did you mean 'apply'?" in p for p in problems)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("steps: []\n", 1, "missing required key 'name'"),
        ("name: x\nsteps: []\n", 2, "non-empty list of 'steps'"),
        ("name: x\nsteps:\n  - id: a\n    action: confirm\n", 3, "needs argument 'message'"),
        ("name: x\nsteps:\n  - action: plan\n", 3, "missing required key 'id'"),
        ("name: x\nsteps:\n  - id: a-b\n    action: plan\n", 3, "must be a plain identifier"),
        ("name: x\nsteps:\n  - id: a\n    action: plan\n    max_attempts: 0\n", 5, "max_attempts"),
        (
            "name: x\ninputs:\n  n: {type: integer, default: two}\nsteps:\n  - {id: a, action: plan}\n",
            3,
            "not a",
        ),
        (
            "name: x\nsteps:\n  - id: a\n    action: plan\n    when: '{{ inputs.nope }}'\n",
            5,
            "undeclared input",
        ),
        ("name: x\nsteps: [\n", 3, "invalid YAML"),
    ],
)
def test_single_problems(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    problems = _problems(path)
    assert any(p.startswith(f"{path}:{line}") and message in p for p in problems), problems


def test_shipped_playbooks_are_valid() -> None:
    names = sorted(p.stem for p in (REPO / "oktasync" / "data" / "playbooks").glob("*.yaml"))
    assert names == ["chronosphere-onboarding", "resync", "retry-failed-assignments", "verify"]
    for name in names:
        playbook = load_playbook(REPO / "oktasync" / "data" / "playbooks" / f"{name}.yaml")
        assert playbook.steps
    onboarding = load_playbook(REPO / "oktasync" / "data" / "playbooks" / "chronosphere-onboarding.yaml")
    actions = [s.action for s in onboarding.steps if s.action != "confirm"]
    # The runbook's order (docs/architecture.md, The job).
    assert actions == ["validate", "doctor", "test-connector", "plan", "apply", "resync", "tasks", "report"]


def test_cli_rejects_broken_playbook_before_any_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKTA_API_TOKEN", "t")
    monkeypatch.setenv("CHRONOSPHERE_SCIM_TOKEN", "s")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/x")
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    state = tmp_path / "state"
    code = main(
        [
            "--state-dir",
            str(state),
            "playbook",
            "run",
            str(path),
            "--config",
            str(REPO / "configs/chronosphere.yaml"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert f"{path}:13:13: unknown action 'aply'" in err
    assert not state.exists()  # nothing ran, nothing was recorded


def test_cli_lists_config_and_playbook_problems_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    code = main(["playbook", "run", str(path), "--config", str(REPO / "configs/chronosphere.yaml")])
    err = capsys.readouterr().err
    assert code == 3
    assert "unknown action 'aply'" in err
    assert "environment variable OKTA_API_TOKEN is not set" in err


def test_example_configs_validate(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {
        "OKTA_API_TOKEN": "t",
        "CHRONOSPHERE_SCIM_TOKEN": "s",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/x",
        "OKTA_CLIENT_ID": "0oa1",
        "OKTA_PRIVATE_KEY_FILE": "/k.pem",
        "ZSCALER_SCIM_TOKEN": "z",
    }.items():
        monkeypatch.setenv(name, value)
    configs = sorted(str(p) for p in (REPO / "configs").glob("*.yaml"))
    assert len(configs) == 2
    assert main(["validate", *configs]) == 0
    for path in configs:
        assert (
            Path(path)
            .read_text()
            .startswith("# yaml-language-server: $schema=../docs/tenant-config.schema.json\n")
        )
