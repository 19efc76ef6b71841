"""The pieces of the rehearsal that need no org: pseudonyms, refusals read from failure reasons, the time
model, and the checks on a snapshot file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oktasync.cli import main
from oktasync.errors import ConfigError
from oktasync.rehearsal.pseudonym import PSEUDONYM_DOMAIN, Pseudonymiser
from oktasync.rehearsal.rehearse import StepMeasure, _rejections, load_snapshot
from oktasync.rehearsal.report import predict_step_seconds


def test_pseudonyms_are_consistent_case_insensitive_for_addresses_and_keyed() -> None:
    p = Pseudonymiser()
    a = p.address("Alice.Smith@Example.com")
    assert a == p.address("alice.smith@example.com")
    assert a is not None and a.endswith("@" + PSEUDONYM_DOMAIN) and "alice" not in a
    assert p.address("bob@example.com") != a
    assert p.id("00u1", "00u") == p.id("00u1", "00u") != p.id("00u2", "00u")
    assert str(p.id("00u1", "00u")).startswith("00u") and len(str(p.id("00u1", "00u"))) == 20
    # Another snapshot, another key: its pseudonyms cannot be joined with this one's.
    assert Pseudonymiser().address("alice.smith@example.com") != a


def test_pseudonymised_text_keeps_no_address_or_name() -> None:
    p = Pseudonymiser()
    reason = (
        "Automatic provisioning of user Alice Smith to app X failed; Bad Request (400). "
        "Errors reported by remote server: 'alice.smith@example.com' is suppressed"
    )
    out = str(p.text(reason, ("Alice", "Smith", "Alice Smith")))
    assert "alice" not in out.lower() and "smith" not in out.lower()
    assert str(p.address("alice.smith@example.com")) in out
    assert "Bad Request (400)" in out


def test_no_pseudonymise_keeps_values() -> None:
    p = Pseudonymiser(enabled=False)
    assert p.address("Alice@example.com") == "Alice@example.com"
    assert p.name("Alice", "Given") == "Alice"
    assert p.id("00u1", "00u") == "00u1"


def test_refusals_are_the_targets_own_4xx_answers() -> None:
    snapshot = {
        "app_users": [
            {"user": "u1", "user_name": "a@x.invalid"},
            {"user": "u2", "user_name": "b@x.invalid"},
            {"user": "u3", "user_name": "c@x.invalid"},
            {"user": "u4", "user_name": "d@x.invalid"},
        ],
        "push_failures": [
            {"user": "u1", "reason": "… failed; Bad Request (400). Errors reported by remote server: no"},
            {"user": "u2", "reason": "… failed; Conflict (409). Errors reported by remote server: exists"},
            {"user": "u3", "reason": "… failed; Could not connect to https://t/v2: ConnectError"},
            {"user": "u4", "reason": "… failed; Unauthorized (401). Errors reported by remote server: token"},
            {
                "user": "u5",
                "reason": "… failed: Error while creating user X: Bad Request. Errors reported by "
                "remote server: suppressed",
            },
        ],
    }
    snapshot["app_users"].append({"user": "u5", "user_name": "e@x.invalid"})
    assert _rejections(snapshot) == {"a@x.invalid": 400, "b@x.invalid": 409, "e@x.invalid": 400}


def test_predicted_time_is_the_slowest_bound() -> None:
    limits = {"/api/v1/apps": 100, "/api/v1/groups": 500}
    # 600 requests in a bucket of 100/min with 10 % headroom: 90 usable, 7 windows, 6 resets to wait.
    step = StepMeasure("resync", "resync", "r", calls_by_bucket={"/api/v1/apps": 600, "/api/v1/groups": 10})
    step.seconds = 4.0
    assert predict_step_seconds(step, limits, 20.0, 0.1) == 360.0
    # Within the budget: the requests one after another at the median latency.
    small = StepMeasure("plan", "plan", "p", calls_by_bucket={"/api/v1/apps": 50})
    small.seconds = 0.2
    assert predict_step_seconds(small, limits, 20.0, 0.1) == pytest.approx(1.0)
    # A step that waits (polling) takes at least its own time.
    idle = StepMeasure("settle", "tasks", "s", calls_by_bucket={"/api/v1/apps": 3})
    idle.seconds = 9.0
    assert predict_step_seconds(idle, limits, 20.0, 0.1) == 9.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such snapshot file"),
        ("{not json", "not JSON"),
        (json.dumps({"kind": "something-else"}), "not an oktasync snapshot"),
        (json.dumps({"kind": "oktasync-snapshot", "format_version": 99}), "format_version 99"),
    ],
)
def test_bad_snapshot_files_are_config_errors_naming_the_file(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "snap.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_snapshot(path)
    problem = caught.value.problems[0]
    assert problem.file == str(path) and message in problem.message


def test_rehearse_cli_reports_a_bad_snapshot_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "snap.json"
    path.write_text("[]", encoding="utf-8")
    assert main(["rehearse", str(path), "chronosphere-onboarding"]) == 3
    err = capsys.readouterr().err
    assert str(path) in err and "not an oktasync snapshot" in err
    assert "Traceback" not in err
