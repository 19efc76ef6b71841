"""The GitHub Action (``action.yml`` + ``scripts/oktasync_action.py``), as far as it runs without GitHub.

* the action parses, is a composite action, and every file and input its steps use exists;
* on a pull request the script validates, plans against the emulator and posts the Markdown comment; on the
  next run it updates that comment (PATCH) instead of posting another (POST). GitHub is not reachable
  from the tests, so ``gh`` is a stub executable on PATH that records its arguments and keeps the
  pull request's comments in a file (it applies the script's ``--jq`` filter the way gh would, by the
  marker); this is the only stub in these tests;
* on a push to the default branch it applies the saved plan, and refuses a stale one (exit 4).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from test_plan_e2e_cli import SECRETS, Harness, _settings

from oktasync.emulator.testing import API_APP_ID

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
SCRIPT = ROOT / "scripts" / "oktasync_action.py"
MARKER = "<!-- oktasync-plan -->"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("oktasync_action", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- action.yml --------------------------------------------------------------------------------------


def test_action_parses_and_every_step_uses_what_exists() -> None:
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    inputs = set(action["inputs"])
    assert action["inputs"]["configs"]["required"] is True
    steps = action["runs"]["steps"]
    ids = {step["id"] for step in steps if "id" in step}
    text = ACTION.read_text()
    for name in re.findall(r"inputs\.([a-z-]+)", text):
        assert name in inputs, name
    for step_id in re.findall(r"steps\.([a-z-]+)\.outputs", text):
        assert step_id in ids, step_id
    referenced = [
        path for step in steps for path in re.findall(r"\$GITHUB_ACTION_PATH/([\w./-]+)", step.get("run", ""))
    ]
    assert referenced == ["scripts/oktasync_action.py"]
    for path in referenced:
        assert (ROOT / path).is_file(), path
    assert any('pip install --quiet "$GITHUB_ACTION_PATH"' in s.get("run", "") for s in steps)
    assert (ROOT / "pyproject.toml").is_file()  # what that pip install builds
    for step in steps:
        assert "run" not in step or step.get("shell") == "bash"  # composite run steps must name a shell
        uses = step.get("uses")
        assert uses is None or re.fullmatch(r"[\w-]+/[\w-]+@v\d+", uses), uses
    # Inputs reach the script through env, never spliced into the shell text (no injection from inputs).
    for step in steps:
        assert "${{" not in step.get("run", ""), step


@pytest.mark.parametrize(
    ("event_name", "ref", "mode", "expected"),
    [
        ("pull_request", "refs/pull/7/merge", "auto", "plan"),
        ("push", "refs/heads/main", "auto", "apply"),
        ("push", "refs/heads/feature", "auto", "skip"),
        ("schedule", "refs/heads/main", "auto", "skip"),
        ("workflow_dispatch", "refs/heads/main", "apply", "apply"),
    ],
)
def test_mode_follows_the_event(event_name: str, ref: str, mode: str, expected: str) -> None:
    environ = {"GITHUB_EVENT_NAME": event_name, "GITHUB_REF": ref, "OKTASYNC_MODE": mode}
    assert _script().mode_for(environ, {"repository": {"default_branch": "main"}}) == expected


# --- running the script against the emulator -----------------------------------------------------------

GH_STUB = """\
#!{python}
import json, os, sys
args = sys.argv[1:]
store = os.environ["GH_STUB_COMMENTS"]
comments = json.load(open(store))
body = next((open(a[6:]).read() for a in args if a.startswith("body=@")), None)
with open(os.environ["GH_STUB_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "body": body}}) + "\\n")
method = args[args.index("-X") + 1] if "-X" in args else "GET"
if method == "GET":
    expression = args[args.index("--jq") + 1]
    marker = expression.split('contains("', 1)[1].split('")', 1)[0]
    print("\\n".join(str(c["id"]) for c in comments if marker in c["body"]))
elif method == "POST":
    comments.append({{"id": 1000 + len(comments), "body": body}})
elif method == "PATCH":
    wanted = int(args[3].rsplit("/", 1)[1])
    for comment in comments:
        if comment["id"] == wanted:
            comment["body"] = body
json.dump(comments, open(store, "w"))
"""


class Action:
    """The action's script run as action.yml runs it, with a stub ``gh`` first on PATH."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.bin = h.tmp_path / "bin"
        self.bin.mkdir()
        gh = self.bin / "gh"
        gh.write_text(GH_STUB.format(python=sys.executable))
        gh.chmod(0o755)
        self.log = h.tmp_path / "gh.log"
        self.comments = h.tmp_path / "comments.json"
        self.comments.write_text(json.dumps([{"id": 7, "body": "LGTM (a person's comment)"}]))

    def run(self, event_name: str, configs: str, **extra: str) -> subprocess.CompletedProcess[str]:
        event = self.h.tmp_path / "event.json"
        event.write_text(
            json.dumps({"pull_request": {"number": 42}, "repository": {"default_branch": "main"}})
        )
        env = {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "OKTASYNC_STATE_DIR": str(self.h.state_dir),
            "OKTASYNC_CONFIGS": configs,
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REF": "refs/heads/main" if event_name == "push" else "refs/pull/42/merge",
            "GITHUB_REPOSITORY": "acme/okta-config",
            "GITHUB_OUTPUT": str(self.h.tmp_path / "output"),
            "GITHUB_STEP_SUMMARY": str(self.h.tmp_path / "summary.md"),
            "GH_STUB_LOG": str(self.log),
            "GH_STUB_COMMENTS": str(self.comments),
            **extra,
        }
        return subprocess.run(
            [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300, check=False
        )

    def calls(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def stored(self) -> list[dict[str, Any]]:
        comments: list[dict[str, Any]] = json.loads(self.comments.read_text())
        return comments


def test_pull_request_posts_then_updates_one_comment(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    action = Action(h)
    plan_file = h.tmp_path / "oktasync.plan.json"
    result = action.run("pull_request", config, OKTASYNC_PLAN_FILE=str(plan_file))
    assert result.returncode == 0, result.stderr  # changes to review are not a failure
    assert plan_file.is_file()  # the artifact to upload

    calls = action.calls()
    assert [c["args"][:3] for c in calls] == [
        ["api", "--paginate", "repos/acme/okta-config/issues/42/comments"],
        ["api", "-X", "POST"],
    ]
    assert MARKER in calls[0]["args"][-1]  # the --jq filter looks for the marker
    body = calls[1]["body"]
    assert body.startswith(MARKER + "\n## oktasync plan\n") and "### zs — 5 to change" in body
    assert "<details><summary>All " in body and "| + | SCIM connector base URL |" in body
    for secret in SECRETS:
        assert secret not in body and secret not in result.stdout + result.stderr
    assert (h.tmp_path / "summary.md").read_text() == body
    assert "exit-code=2\nchanges=true\n" in (h.tmp_path / "output").read_text()

    # A new push to the pull request: the same comment is updated, the person's comment left alone.
    Path(config).write_text(
        Path(config).read_text().replace("deactivate_users: true", "deactivate_users: false")
    )
    result = action.run("pull_request", config)
    assert result.returncode == 0, result.stderr
    method_and_path = action.calls()[-1]["args"][1:4]
    assert method_and_path == ["-X", "PATCH", "repos/acme/okta-config/issues/comments/1001"]
    stored = action.stored()
    assert [c["id"] for c in stored] == [7, 1001] and stored[0]["body"] == "LGTM (a person's comment)"
    assert "| To App: Deactivate Users | (unknown) | false |" in stored[1]["body"]  # the new plan
    assert "| To App: Deactivate Users | (unknown) | true |" in body  # the first one


def test_invalid_config_comments_and_fails(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    Path(config).write_text(Path(config).read_text().replace("create_users: true", "create_user: true"))
    action = Action(h)
    result = action.run("pull_request", config)
    assert result.returncode == 3, result.stderr
    body = action.stored()[-1]["body"]
    assert body.startswith(MARKER) and "`oktasync validate` failed (exit 3)" in body


def test_merge_applies_the_saved_plan_and_refuses_a_stale_one(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = h.config("zs", "Zscaler", admin=False, monkeypatch=monkeypatch)
    action = Action(h)
    plan_file = h.tmp_path / "oktasync.plan.json"
    assert (
        action.run(
            "pull_request", config, OKTASYNC_PLAN_FILE=str(plan_file), OKTASYNC_COMMENT="false"
        ).returncode
        == 0
    )
    assert action.calls() == []  # comment: false

    h.org.control.set_app_settings(API_APP_ID, scim_base_url="https://elsewhere.example/scim/v2")
    stale = action.run("push", config, OKTASYNC_PLAN_FILE=str(plan_file))
    assert stale.returncode == 4, stale.stderr
    assert "SCIM connector base URL (actual, in Okta)" in stale.stderr
    assert _settings(h.org, API_APP_ID)["scim_base_url"] == "https://elsewhere.example/scim/v2"

    assert (
        action.run(
            "pull_request", config, OKTASYNC_PLAN_FILE=str(plan_file), OKTASYNC_COMMENT="false"
        ).returncode
        == 0
    )
    applied = action.run("push", config, OKTASYNC_PLAN_FILE=str(plan_file))
    assert applied.returncode == 0, applied.stderr
    assert _settings(h.org, API_APP_ID)["scim_base_url"] == h.scim.base_url
