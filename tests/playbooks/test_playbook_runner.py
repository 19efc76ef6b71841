"""The runner's semantics (when/until/failed_when/on_failure, records, resume) with stand-in actions.

The actions here are small fakes of the workflow adapters (the seam is ``implementations``); the end-to-end
tests against the emulator are in test_playbook_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from oktasync.config import load_tenant
from oktasync.errors import ConfigError, Interrupted, ResumeRequiredError, SafetyError
from oktasync.okta_gateway import FakeGateway
from oktasync.playbooks import ActionContext, StepOutcome, load_playbook, run_playbook
from oktasync.playbooks.actions import IMPLEMENTATIONS

REPO = Path(__file__).resolve().parents[2]
ENV = {"OKTA_API_TOKEN": "t0ken-okta", "CHRONOSPHERE_SCIM_TOKEN": "t0ken-scim", "SLACK_WEBHOOK_URL": ""}


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = str(REPO / "configs/chronosphere.yaml")
    return path, load_tenant(path)


class Recorder:
    """Stand-in actions that record their calls and answer from a script."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], bool, int]] = []
        self.answers: dict[str, list[StepOutcome]] = {}
        self.crash_on: str | None = None
        self.answers["tasks"] = [StepOutcome(0, {"n": 4}, "settled")]
        # The org the runs resolve their app in (the record lives in the app's state dir).
        self.gateway = FakeGateway()
        self.gateway.add_app("Chronosphere")

    def impl(self, action: str) -> Any:
        async def run(context: ActionContext, args: dict[str, Any]) -> StepOutcome:
            self.calls.append((context.step.id, args, context.resumed, context.attempt))
            if self.crash_on == context.step.id:
                self.crash_on = None
                raise KeyboardInterrupt  # an injected crash in the middle of the step
            queue = self.answers.get(context.step.id)
            if queue:
                return queue.pop(0) if len(queue) > 1 else queue[0]
            return StepOutcome(0, {"n": 1, "action": action}, f"{action} done")

        return run

    def implementations(self) -> dict[str, Any]:
        table = {name: self.impl(name) for name in IMPLEMENTATIONS}
        table["confirm"] = IMPLEMENTATIONS["confirm"]
        return table

    def ids(self) -> list[str]:
        return [call[0] for call in self.calls]


def _write(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return load_playbook(path)


async def _no_sleep(seconds: float) -> None:
    _no_sleep.slept.append(seconds)  # type: ignore[attr-defined]


_no_sleep.slept = []  # type: ignore[attr-defined]


def _run(playbook: Any, config: Any, tmp_path: Path, recorder: Recorder, **kw: Any) -> Any:
    return asyncio.run(
        run_playbook(
            playbook,
            [config],
            inputs=kw.pop("inputs", {}),
            state_dir=tmp_path / "state",
            implementations=recorder.implementations(),
            sleep=_no_sleep,
            gateway=recorder.gateway,
            **kw,
        )
    )


PLAYBOOK = """\
name: sample
inputs:
  do_apply: {type: boolean, default: true}
  label: {required: true}
steps:
  - id: plan
    action: plan
  - id: apply
    action: apply
    when: "inputs.do_apply and steps.plan.result.n == 1"
    with:
      confirm_manual: "{{ steps.plan.result.n == 1 }}"
  - id: tasks
    action: tasks
    with: {retry: true}
    until: "result.n >= 3"
    max_attempts: 5
    interval: 2
    failed_when: "result.n == 3"
    on_failure: continue
  - id: note
    action: notify
    with: {message: "{{ inputs.label }}: {{ steps.tasks.result.n }} after {{ steps.tasks.attempts }}"}
"""


def test_templating_conditions_until_and_continue(tmp_path: Path, config: Any) -> None:
    recorder = Recorder()
    recorder.answers["tasks"] = [StepOutcome(0, {"n": i}, f"n={i}") for i in (1, 2, 3)]
    _no_sleep.slept.clear()  # type: ignore[attr-defined]
    result = _run(_write(tmp_path, PLAYBOOK), config, tmp_path, recorder, inputs={"label": "L"})
    assert recorder.ids() == ["plan", "apply", "tasks", "tasks", "tasks", "note"]
    assert recorder.calls[1][1] == {"confirm_manual": True, "wait": False}  # native bool from one expression
    assert recorder.calls[-1][1]["message"] == "L: 3 after 3"
    assert _no_sleep.slept == [2.0, 2.0]  # type: ignore[attr-defined]
    run = result.runs[0]
    assert run.status == "completed"
    assert [s["status"] for s in run.steps] == ["ok", "ok", "failed", "ok"]
    assert run.continued_failures == ["tasks"]
    assert result.exit_code() == 0 and result.exit_code(detailed=True) == 2
    record = json.loads(Path(run.record_path).read_text())
    assert record["status"] == "completed" and record["steps"]["tasks"]["attempts"] == 3
    assert record["inputs"] == {"do_apply": True, "label": "L"}


def test_when_false_skips_and_until_exhausted_fails(tmp_path: Path, config: Any) -> None:
    recorder = Recorder()
    recorder.answers["tasks"] = [StepOutcome(0, {"n": 0}, "never settles")]
    result = _run(
        _write(tmp_path, PLAYBOOK), config, tmp_path, recorder, inputs={"label": "x", "do_apply": "false"}
    )
    run = result.runs[0]
    assert recorder.ids() == ["plan"] + ["tasks"] * 5 + ["note"]
    tasks = next(s for s in run.steps if s["id"] == "tasks")
    assert tasks["status"] == "failed" and "after 5 attempts" in tasks["summary"]
    assert next(s for s in run.steps if s["id"] == "apply")["status"] == "skipped"


def test_stop_on_failure_and_exit_code(tmp_path: Path, config: Any) -> None:
    recorder = Recorder()
    recorder.answers["plan"] = [StepOutcome(5, {"error": "manual"}, "needs a person")]
    result = _run(_write(tmp_path, PLAYBOOK), config, tmp_path, recorder, inputs={"label": "x"})
    assert recorder.ids() == ["plan"]
    assert result.runs[0].status == "stopped" and result.runs[0].stopped_at == "plan"
    assert result.exit_code() == 5
    # A stopped run does not block a new one, and --resume continues at the failed step.
    recorder.answers.pop("plan")
    resumed = _run(_write(tmp_path, PLAYBOOK), config, tmp_path, recorder, inputs={}, resume=True)
    assert resumed.runs[0].resumed and resumed.runs[0].status == "completed"
    assert recorder.ids() == ["plan", "plan", "apply", "tasks", "note"]
    assert recorder.calls[1][2] is True  # the failed step knows it is being run again


def test_bad_inputs_are_config_errors(tmp_path: Path, config: Any) -> None:
    playbook = _write(tmp_path, PLAYBOOK)
    with pytest.raises(ConfigError) as raised:
        _run(playbook, config, tmp_path, Recorder(), inputs={"nope": "1", "do_apply": "maybe"})
    text = str(raised.value)
    assert "input 'label' is required" in text and "no input 'nope'" in text and "not a boolean" in text


def test_runtime_template_error_names_file_and_line(tmp_path: Path, config: Any) -> None:
    playbook = _write(
        tmp_path,
        "name: t\nsteps:\n  - id: a\n    action: plan\n  - id: b\n    action: notify\n"
        "    with: {message: '{{ steps.a.result.missing }}'}\n",
    )
    with pytest.raises(ConfigError) as raised:
        _run(playbook, config, tmp_path, Recorder())
    assert f"{playbook.file}:7:" in str(raised.value) and "missing" in str(raised.value)


def test_injected_crash_keeps_the_record_and_resume_finishes(tmp_path: Path, config: Any) -> None:
    recorder = Recorder()
    recorder.crash_on = "apply"
    playbook = _write(tmp_path, PLAYBOOK)
    with pytest.raises(Interrupted) as raised:
        _run(playbook, config, tmp_path, recorder, inputs={"label": "x"}, resume_command="RESUME-ME")
    assert raised.value.resume_command == "RESUME-ME"
    record_path = next((tmp_path / "state").rglob("sample.json"))
    record = json.loads(record_path.read_text())
    assert record["status"] == "running" and record["current"] == "apply"
    assert record["steps"]["apply"]["status"] == "running"
    # A new run refuses while the interrupted one is unfinished...
    with pytest.raises(ResumeRequiredError):
        _run(playbook, config, tmp_path, recorder, inputs={"label": "x"})
    # ...resume must use the same inputs...
    with pytest.raises(SafetyError, match="differ"):
        _run(playbook, config, tmp_path, recorder, inputs={"label": "other"}, resume=True)
    # ...and picks up at the step that was running, with the recorded inputs.
    before = len(recorder.calls)
    result = _run(playbook, config, tmp_path, recorder, inputs={}, resume=True)
    again = recorder.calls[before:]
    assert [c[0] for c in again] == ["apply", "tasks", "note"]  # plan is not repeated
    assert again[0][2] is True
    assert result.runs[0].status == "completed" and result.runs[0].run_id == record["run_id"]
    history = (record_path.parent / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["status"] for line in history] == ["completed"]


def test_resume_refuses_a_changed_playbook_and_fresh_discards(tmp_path: Path, config: Any) -> None:
    recorder = Recorder()
    recorder.crash_on = "tasks"
    playbook = _write(tmp_path, PLAYBOOK)
    with pytest.raises(Interrupted):
        _run(playbook, config, tmp_path, recorder, inputs={"label": "x"})
    changed = _write(tmp_path, PLAYBOOK + "  - id: extra\n    action: report\n")
    with pytest.raises(SafetyError, match="changed"):
        _run(changed, config, tmp_path, recorder, resume=True)
    result = _run(changed, config, tmp_path, recorder, inputs={"label": "x"}, fresh=True)
    assert result.runs[0].status == "completed" and not result.runs[0].resumed


def test_dry_run_records_nothing(tmp_path: Path, config: Any) -> None:
    recorder = Recorder()
    recorder.answers["tasks"] = [StepOutcome(0, {"n": 0}, "unsettled")]
    result = _run(_write(tmp_path, PLAYBOOK), config, tmp_path, recorder, inputs={"label": "x"}, dry_run=True)
    assert not (tmp_path / "state").exists()
    assert recorder.ids().count("tasks") == 1  # a dry run does not wait for anything to settle
    assert result.runs[0].record_path is None


def test_confirm_declined_stops_with_exit_4(tmp_path: Path, config: Any) -> None:
    class No:
        def confirm(self, message: str) -> bool:
            self.message = message
            return False

    no = No()
    playbook = _write(
        tmp_path,
        "name: c\nsteps:\n  - id: ask\n    action: confirm\n    with: {message: 'Change {{ tenant }}?'}\n"
        "  - id: apply\n    action: apply\n",
    )
    recorder = Recorder()
    result = _run(playbook, config, tmp_path, recorder, interaction=no)
    assert no.message == "Change acme?"
    assert recorder.ids() == []
    assert result.runs[0].steps[0]["status"] == "declined" and result.exit_code() == 4


def test_secrets_are_not_reachable_from_templates(tmp_path: Path, config: Any) -> None:
    playbook = _write(
        tmp_path,
        "name: s\nsteps:\n  - id: n\n    action: notify\n"
        "    with: {message: '{{ config.okta.token }} {{ config.scim.auth.bearer_token }}'}\n",
    )
    recorder = Recorder()
    result = _run(playbook, config, tmp_path, recorder)
    message = recorder.calls[0][1]["message"]
    assert ENV["OKTA_API_TOKEN"] not in message and ENV["CHRONOSPHERE_SCIM_TOKEN"] not in message
    text = Path(result.runs[0].record_path).read_text()
    assert ENV["OKTA_API_TOKEN"] not in text and ENV["CHRONOSPHERE_SCIM_TOKEN"] not in text
