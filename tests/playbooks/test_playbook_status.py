"""`playbook status` reads run records offline, from the app's one state directory (by ``app.id``, or by the
app label a record names), and finds a record kept under the tenant and label until a run adopts it.

The runs use stand-in actions against a ``FakeGateway`` (the app they resolve); ``status`` is the real CLI
with a config whose org (acme.okta.com) is never reachable from the tests: it must not need Okta.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from oktasync.cli import main
from oktasync.okta_gateway import FakeGateway
from oktasync.playbooks import ActionContext, StepOutcome, load_playbook, run_playbook
from oktasync.playbooks import record as rec
from oktasync.playbooks.actions import IMPLEMENTATIONS
from oktasync.state import atomic_write_json

REPO = Path(__file__).resolve().parents[2]
ENV = {"OKTA_API_TOKEN": "t0ken-okta", "CHRONOSPHERE_SCIM_TOKEN": "t0ken-scim", "SLACK_WEBHOOK_URL": ""}
PLAYBOOK = """\
name: sample
steps:
  - id: plan
    action: plan
  - id: check
    action: doctor
"""


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def _config(tmp_path: Path, app_line: str = "label: Chronosphere", tenant: str = "acme") -> Path:
    text = (REPO / "configs/chronosphere.yaml").read_text(encoding="utf-8")
    text = text.replace("tenant: acme", f"tenant: {tenant}", 1)
    text = text.replace("  label: Chronosphere", f"  {app_line}", 1)
    path = tmp_path / f"{tenant}-{len(list(tmp_path.glob('*.yaml')))}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _org(*labels: str) -> tuple[FakeGateway, list[str]]:
    gateway = FakeGateway()
    return gateway, [gateway.add_app(label).id for label in labels]


def _implementations(fail: set[str] | None = None) -> dict[str, Any]:
    async def stand_in(context: ActionContext, args: dict[str, Any]) -> StepOutcome:
        if fail and context.step.id in fail:
            return StepOutcome(1, {}, "failed on purpose")
        return StepOutcome(0, {"step": context.step.id}, f"{context.step.id} done")

    return {name: stand_in for name in IMPLEMENTATIONS}


def _run(
    tmp_path: Path, config: Path, gateway: FakeGateway, *, resume: bool = False, fail: set[str] | None = None
) -> Any:
    from oktasync.config import load_tenant

    playbook = load_playbook(tmp_path / "sample.yaml")
    return asyncio.run(
        run_playbook(
            playbook,
            [(str(config), load_tenant(config))],
            inputs={},
            state_dir=tmp_path / "state",
            resume=resume,
            implementations=_implementations(fail),
            gateway=gateway,
        )
    )


def _status(tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    capsys.readouterr()
    args = ["--state-dir", str(tmp_path / "state"), "playbook", "status", str(tmp_path / "sample.yaml")]
    code = main([*args, "--config", str(config), "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else err


@pytest.fixture
def playbook_file(tmp_path: Path) -> Path:
    path = tmp_path / "sample.yaml"
    path.write_text(PLAYBOOK, encoding="utf-8")
    return path


def test_status_after_a_run_is_read_offline_by_label_and_by_id(
    tmp_path: Path, playbook_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway, [app_id] = _org("Chronosphere")
    by_label = _config(tmp_path)
    result = _run(tmp_path, by_label, gateway)
    run = result.runs[0]
    assert run.status == "completed"
    # The record lives in the app's one state directory and names the app.
    assert Path(run.record_path) == (
        tmp_path / "state" / "apps" / "acme.okta.com" / app_id / "playbooks" / "sample.json"
    )
    assert json.loads(Path(run.record_path).read_text())["app"] == {"id": app_id, "label": "Chronosphere"}
    by_id = _config(tmp_path, f"id: {app_id}")
    for config in (by_label, by_id):
        code, document = _status(tmp_path, config, capsys)
        assert code == 0
        [entry] = document["runs"]
        assert entry["path"] == run.record_path
        assert entry["record"]["run_id"] == run.run_id and entry["record"]["status"] == "completed"


def test_status_of_a_label_several_apps_ran_under_names_them_all(
    tmp_path: Path, playbook_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two apps of the org carried the label Chronosphere, one at a time (the other was relabelled since).
    first, [first_id] = _org("Chronosphere")
    second, [_, second_id] = _org("Other", "Chronosphere")
    assert first_id != second_id
    config = _config(tmp_path)
    _run(tmp_path, config, first)
    _run(tmp_path, config, second)
    code, err = _status(tmp_path, config, capsys)
    assert code != 0
    assert "2 apps labelled 'Chronosphere'" in err and first_id in err and second_id in err
    assert "set app.id" in err
    # Pinning the app by id shows that app's run.
    code, document = _status(tmp_path, _config(tmp_path, f"id: {second_id}"), capsys)
    assert code == 0 and second_id in document["runs"][0]["path"]


def test_status_of_a_config_that_never_ran_says_so(
    tmp_path: Path, playbook_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = _status(tmp_path, _config(tmp_path), capsys)
    assert code == 0 and document["runs"] == [{"tenant": "acme", "record": None, "path": None}]


def test_a_record_kept_under_the_tenant_and_label_is_found_then_adopted_by_the_next_run(
    tmp_path: Path, playbook_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway, [app_id] = _org("Chronosphere")
    config = _config(tmp_path)
    playbook = load_playbook(playbook_file)
    # A stopped run recorded under <state>/<tenant>/<label>/playbooks, naming no app.
    old = rec.RunRecord(
        run_id="20260101T000000Z-abc123",
        playbook=rec.PlaybookRef(playbook.name, playbook.file, playbook.sha256),
        tenant="acme",
        config=str(config),
        inputs={},
        status=rec.RunStatus.STOPPED,
        started="2026-01-01T00:00:00Z",
        steps={"plan": rec.StepRecord(rec.StepStatus.OK, attempts=1, finished="2026-01-01T00:00:01Z")},
    ).finish(rec.RunStatus.STOPPED, 1, "check")
    kept = tmp_path / "state" / "acme" / "Chronosphere" / "playbooks" / "sample.json"
    kept.parent.mkdir(parents=True)
    atomic_write_json(kept, old.to_json())

    code, document = _status(tmp_path, config, capsys)
    assert code == 0 and document["runs"][0]["path"] == str(kept)
    assert document["runs"][0]["record"]["run_id"] == old.run_id

    # The next run opens the app's session: the record moves into the app's directory and is resumed there.
    resumed = _run(tmp_path, config, gateway, resume=True).runs[0]
    assert resumed.resumed and resumed.run_id == old.run_id and resumed.status == "completed"
    moved = tmp_path / "state" / "apps" / "acme.okta.com" / app_id / "playbooks" / "sample.json"
    assert resumed.record_path == str(moved) and not kept.exists()
    record = json.loads(moved.read_text())
    assert record["app"] == {"id": app_id, "label": "Chronosphere"}
    assert record["steps"]["plan"]["finished"] == "2026-01-01T00:00:01Z"  # not run again
    for pinned in (config, _config(tmp_path, f"id: {app_id}")):
        code, document = _status(tmp_path, pinned, capsys)
        assert code == 0 and document["runs"][0]["path"] == str(moved)
        assert document["runs"][0]["record"]["status"] == "completed"
