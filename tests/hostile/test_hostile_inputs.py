"""The hostile-input corpus (cases.yaml, cases/): every case exits as expected, says what it must, stays
within 512 MB of address space and 10 s, and prints or writes no secret in any form."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hostile_harness import MEMORY_LIMIT, TIME_LIMIT, leaks, run_cli

from oktasync.emulator.scim_target import run_scim_server
from oktasync.emulator.testing import run_emulator, standard_seed

HERE = Path(__file__).parent
CASES: list[dict[str, Any]] = yaml.safe_load((HERE / "cases.yaml").read_text(encoding="utf-8"))

# Fresh secrets per session: a hard-coded one could appear in the corpus by accident.
SECRETS = {
    "OKTA_API_TOKEN": f"okta-{secrets.token_hex(10)}",
    "CHRONOSPHERE_SCIM_TOKEN": f"scim-{secrets.token_hex(10)}",
    "OKTA_ADMIN_SESSION": f"sid-{secrets.token_hex(10)}",
    "OTHER_API_TOKEN": f"other-{secrets.token_hex(10)}",
}
PLAIN_ENV = {
    "HOSTILE_ORG_URL": "http://127.0.0.1:9",  # never contacted: these cases stop before any request
    "HOSTILE_SCIM_URL": "http://127.0.0.1:9/v2",
    "HOSTILE_IDENTIFIER": "email",
    "HOSTILE_HTTP_WEBHOOK": "http://hooks.example.com/services/T0/B0/x",
    "HOSTILE_METADATA_WEBHOOK": "https://169.254.169.254/latest/meta-data/",
    "HOSTILE_PRIVATE_WEBHOOK": "https://10.20.30.40/hook",
}


def test_the_corpus_is_well_formed() -> None:
    names = [case["name"] for case in CASES]
    assert len(names) == len(set(names)) and len(CASES) >= 50
    for case in CASES:
        assert isinstance(case["exit"], int) and case["messages"], case["name"]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    copy = tmp_path / "cases"
    shutil.copytree(HERE / "cases", copy, symlinks=True)
    return copy


def _set_up(copy: Path, setup: dict[str, Any]) -> None:
    if "fifo" in setup:
        (copy / setup["fifo"]).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(copy / setup["fifo"])
    for link, target in setup.get("symlink", {}).items():
        (copy / link).parent.mkdir(parents=True, exist_ok=True)
        (copy / link).symlink_to(target)
    for path, size in setup.get("big", {}).items():
        (copy / path).parent.mkdir(parents=True, exist_ok=True)
        (copy / path).write_text("# padding\n" * (size // 10 + 1))


@pytest.fixture
def live_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """A loopback emulator and SCIM target with the corpus' secrets, when the case needs them."""
    case = request.param
    if not case.get("live"):
        yield {}
        return
    with run_scim_server(SECRETS["CHRONOSPHERE_SCIM_TOKEN"]) as scim:
        seed = standard_seed(scim_base_url=scim.base_url, scim_token=scim.token)
        seed["api_tokens"] = [SECRETS["OKTA_API_TOKEN"]]
        with run_emulator(seed, api_token=SECRETS["OKTA_API_TOKEN"]) as emulator:
            for user_name in case.get("target_users", []):
                scim.create_user(user_name)
            yield {"HOSTILE_ORG_URL": emulator.url, "HOSTILE_SCIM_URL": scim.base_url}


@pytest.mark.parametrize(
    ("case", "live_env"),
    [(case, case) for case in CASES],
    ids=[c["name"] for c in CASES],
    indirect=["live_env"],
)
def test_hostile_case(case: dict[str, Any], live_env: dict[str, str], corpus: Path, tmp_path: Path) -> None:
    _set_up(corpus, case.get("setup", {}))
    state_dir = tmp_path / "state"
    env = {**SECRETS, **PLAIN_ENV, **live_env}
    run = run_cli(["--state-dir", str(state_dir), *case["args"]], env=env, cwd=corpus)

    assert run.code == case["exit"], f"exit {run.code}, expected {case['exit']}:\n{run.output}"
    assert run.peak_rss_bytes < MEMORY_LIMIT and run.seconds < TIME_LIMIT
    for message in case["messages"]:
        assert message in run.output, f"missing {message!r} in:\n{run.output}"
    for text in [*case.get("absent", []), "Traceback", "internal error"]:
        assert text not in run.output, f"{text!r} in:\n{run.output}"
    assert leaks(SECRETS.values(), [run.output], [state_dir] if state_dir.exists() else []) == []
    if "record" in case:
        [record_file] = [p for p in state_dir.rglob("playbooks/*.json")]
        record = json.loads(record_file.read_text())
        assert record["status"] == case["record"] != "running"
        assert record["exit_code"] == case["exit"]
