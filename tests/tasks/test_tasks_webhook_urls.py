"""Malformed webhook URLs (audit): a clear, secret-free error up front, and never a crash mid-run.

A webhook URL is a secret (Slack's and Workflows' carry their token), so no message may quote it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from oktasync.cli import main
from oktasync.config import Secret
from oktasync.workflows.tasks.notify import Notifier, deliver, new_message

BAD_URLS = [
    "http://[::1/hook-SECRET-1",  # unbalanced IPv6 bracket: urlsplit raises ValueError
    "http://127.0.0.1:99999/hook-SECRET-2",  # port out of range: the socket layer raises OverflowError
    "not a url hook-SECRET-3",
    "ftp://127.0.0.1/hook-SECRET-4",
]

CONFIG = """\
tenant: t
okta:
  org_url: http://127.0.0.1:9
  token: "{{ env.T_OKTA_TOKEN }}"
app:
  label: Chronosphere
scim:
  base_url: http://127.0.0.1:9/v2
  unique_identifier: email
  push_new_users: true
  push_profile_updates: true
  auth:
    mode: http_header
    bearer_token: "{{ env.T_SCIM_TOKEN }}"
to_app:
  create_users: true
  update_user_attributes: true
  deactivate_users: true
tasks:
  notify:
    - webhook: "{{ env.T_WEBHOOK }}"
"""


def _run(*args: str) -> tuple[int, str, str]:
    with CliRunner().isolation() as (stdout, stderr, _):
        code = main(list(args))
        return code, stdout.getvalue().decode(), stderr.getvalue().decode()


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_notify_url_is_a_usage_error_without_the_url(url: str, tmp_path: Path) -> None:
    code, out, err = _run("--state-dir", str(tmp_path), "tasks", "missing.yaml", "--notify", url)
    assert code == 64, err
    assert "--notify" in err and "SECRET" not in out + err


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_config_webhook_is_a_config_error_with_line_and_without_the_url(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("T_OKTA_TOKEN", "tok-123456")
    monkeypatch.setenv("T_SCIM_TOKEN", "scim-123456")
    monkeypatch.setenv("T_WEBHOOK", url)
    code, out, err = _run("validate", str(path))
    assert code == 3
    assert f"{path}:21:16:" in out and "tasks.notify[0].webhook" in out, out
    assert "SECRET" not in out + err


def test_empty_config_webhook_still_means_not_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(CONFIG.replace('"{{ env.T_WEBHOOK }}"', "\"{{ env.T_WEBHOOK | default('') }}\""))
    monkeypatch.setenv("T_OKTA_TOKEN", "tok-123456")
    monkeypatch.setenv("T_SCIM_TOKEN", "scim-123456")
    code, out, _ = _run("validate", str(path))
    assert code == 0, out


@pytest.mark.parametrize("url", BAD_URLS)
def test_deliver_records_any_failure_and_never_raises(url: str) -> None:
    """Defence in depth behind the up-front checks: one bad target cannot end the run."""
    notifier = Notifier("json", Secret(url))
    message = new_message("failure", {"user": {"login": "a@example.com"}}, notifier.id)
    left, delivered, failures = asyncio.run(deliver([message], [notifier], timeout=2.0))
    assert delivered == 0 and len(left) == 1 and len(failures) == 1
    text = failures[0].target + failures[0].error + str(left[0].last_error)
    assert "SECRET" not in text


@pytest.mark.parametrize("url", BAD_URLS)
def test_playbook_notify_records_any_failure_and_never_raises(url: str) -> None:
    from oktasync.config.schema import NotifyTarget
    from oktasync.playbooks.notify import send_notifications

    target = NotifyTarget(webhook=Secret(url), kind="json")
    sent, failures = asyncio.run(send_notifications([target], "hello", level="info", tenant="t", timeout=2))
    assert sent == 0 and len(failures) == 1 and "SECRET" not in failures[0]
