"""The pre-commit hooks (.pre-commit-hooks.yaml) run as pre-commit runs them: the entry, then the staged
file names, in a subprocess without any secret in the environment."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from oktasync.playbooks.loader import shipped_playbook

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
HOOKS = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
SECRET_NAMES = re.compile(r"TOKEN|SESSION|WEBHOOK|SECRET|PRIVATE_KEY|CLIENT_ID")


def run_hook(hook_id: str, files: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``entry`` plus the file names (relative to the repository, as pre-commit passes them)."""
    hook = HOOKS[hook_id]
    command = shlex.split(hook["entry"])
    installed = shutil.which(command[0], path=str(Path(sys.executable).parent))
    argv = [installed] if installed else [sys.executable, "-m", "oktasync"]
    env = {name: value for name, value in os.environ.items() if not SECRET_NAMES.search(name)}
    names = [str(path.relative_to(cwd)) for path in files]
    assert all(re.search(hook["files"], name) for name in names), (hook["files"], names)
    return subprocess.run(
        [*argv, *command[1:], *names], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_the_hooks_file_declares_both_hooks() -> None:
    assert set(HOOKS) == {"oktasync-validate", "oktasync-playbook-validate"}
    for hook in HOOKS.values():
        assert hook["pass_filenames"] is True
        assert hook["language"] == "python"
        assert shlex.split(hook["entry"])[0] == "oktasync"
    configs = re.compile(HOOKS["oktasync-validate"]["files"])
    playbooks = re.compile(HOOKS["oktasync-playbook-validate"]["files"])
    assert configs.search("configs/acme.yml") and configs.search("okta/configs/acme.yaml")
    assert not configs.search("playbooks/verify.yaml") and not configs.search("configs/README.md")
    assert playbooks.search("playbooks/verify.yaml") and not playbooks.search("configs/acme.yaml")


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    (tmp_path / "configs").mkdir()
    (tmp_path / "playbooks").mkdir()
    return tmp_path


def test_config_hook_passes_good_configs_without_secrets(repository: Path) -> None:
    good = repository / "configs" / "acme.yaml"
    shutil.copy(HERE / "valid_base.yaml", good)
    shutil.copy(ROOT / "configs" / "chronosphere.yaml", repository / "configs" / "chronosphere.yaml")
    completed = run_hook("oktasync-validate", sorted((repository / "configs").glob("*.yaml")), repository)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "ok      configs/acme.yaml" in completed.stdout
    assert (
        "warning: configs/acme.yaml:6:10: environment variable OKTA_API_TOKEN is not set" in completed.stdout
    )


def test_config_hook_fails_a_bad_config_with_exit_3(repository: Path) -> None:
    shutil.copy(HERE / "valid_base.yaml", repository / "configs" / "good.yaml")
    bad = repository / "configs" / "bad.yaml"
    bad.write_text((HERE / "valid_base.yaml").read_text().replace("create_users:", "create_user:"))
    completed = run_hook("oktasync-validate", [repository / "configs/good.yaml", bad], repository)
    assert completed.returncode == 3
    assert (
        "configs/bad.yaml:19:3: unknown key 'create_user' in to_app (fix: did you mean 'create_users'?)"
        in completed.stdout
    )
    assert "Traceback" not in completed.stderr


def test_playbook_hook_passes_the_shipped_playbooks_and_fails_a_bad_one(repository: Path) -> None:
    verify = shipped_playbook("verify")
    assert verify is not None
    for shipped in sorted(verify.parent.glob("*.yaml")):
        shutil.copy(shipped, repository / "playbooks" / shipped.name)
    good = sorted((repository / "playbooks").glob("*.yaml"))
    assert len(good) >= 4
    completed = run_hook("oktasync-playbook-validate", good, repository)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    bad = repository / "playbooks" / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - id: a\n    action: plan\n    on_failur: stop\n")
    completed = run_hook("oktasync-playbook-validate", [*good, bad], repository)
    assert completed.returncode == 3
    assert (
        "playbooks/bad.yaml:5:5: unknown key 'on_failur' in a step (fix: did you mean 'on_failure'?)"
        in completed.stderr
    )
