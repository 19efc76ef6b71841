#!/usr/bin/env python3
"""The logic of the repository's GitHub Action (``action.yml``): plan on pull requests, apply on merge.

On a pull request: ``oktasync validate`` and ``oktasync plan --format markdown --out PLAN_FILE``, then one
comment on the pull request, found again on the next push by its hidden marker (``<!-- oktasync-plan -->``)
and updated in place (``gh api`` with the workflow's token: PATCH the marked comment, or POST a new one).
On a push to the default branch: ``oktasync apply --yes`` of the saved plan when one is given and present
(refused, exit 4, when stale), else of the configs.

``gh api`` (https://cli.github.com/manual/gh_api): ``--paginate`` with ``--jq`` filters every page; a field
``-F body=@FILE`` takes its value from the file. The comment endpoints are GitHub's issue comments
(https://docs.github.com/en/rest/issues/comments): a pull request is an issue for them.

Standard library only: it runs with the Python that installed oktasync (``python -m oktasync``).
Environment (set by action.yml from its inputs): ``OKTASYNC_CONFIGS`` (whitespace-separated paths or globs),
``OKTASYNC_MODE`` (auto | plan | apply), ``OKTASYNC_PLAN_FILE``, ``OKTASYNC_APPLY_ARGS``, ``OKTASYNC_COMMENT``
(true | false), and GitHub's ``GITHUB_EVENT_NAME``, ``GITHUB_EVENT_PATH``, ``GITHUB_REPOSITORY``,
``GITHUB_REF``, ``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``, ``GH_TOKEN``.
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

MARKER = "<!-- oktasync-plan -->"
# GitHub refuses comment bodies over 65,536 characters; keep room for the marker and the note.
MAX_COMMENT = 65_000
PLAN_OK = (0, 2)  # plan --detailed-exitcode: 0 nothing to change, 2 changes to review


def configs_from(spec: str) -> list[str]:
    """Whitespace-separated paths or globs, expanded in order, each path once."""
    out: list[str] = []
    for item in shlex.split(spec):
        matches = sorted(glob.glob(item)) if any(c in item for c in "*?[") else [item]
        out += [m for m in matches if m not in out]
    return out


def mode_for(environ: Mapping[str, str], event: Mapping[str, object]) -> str:
    """plan | apply | skip, from the input (``auto`` reads the event)."""
    mode = environ.get("OKTASYNC_MODE", "auto").strip() or "auto"
    if mode in ("plan", "apply"):
        return mode
    name = environ.get("GITHUB_EVENT_NAME", "")
    if name in ("pull_request", "pull_request_target"):
        return "plan"
    if name == "push":
        repository = event.get("repository")
        default = repository.get("default_branch") if isinstance(repository, dict) else None
        if default and environ.get("GITHUB_REF") == f"refs/heads/{default}":
            return "apply"
    return "skip"


def oktasync(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m oktasync ARGS``; its stderr goes to the job log as it is."""
    command = [sys.executable, "-m", "oktasync", *args]
    print("+ oktasync " + " ".join(shlex.quote(a) for a in args), file=sys.stderr, flush=True)
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=None, text=True, check=False)


def comment_body(
    validate: subprocess.CompletedProcess[str], plan: subprocess.CompletedProcess[str] | None
) -> str:
    """The pull-request comment: the marker, then the plan's Markdown (or why there is none)."""
    parts = [MARKER]
    if validate.returncode != 0:
        parts += [
            "## oktasync plan",
            "",
            f"**`oktasync validate` failed (exit {validate.returncode})**: see the job log for every problem "
            "with its file and line. No plan was made.",
        ]
    elif plan is not None:
        text = plan.stdout
        if len(text) > MAX_COMMENT:
            text = text[:MAX_COMMENT] + "\n\n… (cut: the full plan is in the job log and the plan artifact)\n"
        parts.append(text.rstrip("\n"))
        if plan.returncode not in PLAN_OK:
            parts += ["", f"**`oktasync plan` failed (exit {plan.returncode})**: see the job log."]
    return "\n".join(parts) + "\n"


def _gh(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(["gh", "api", *args], input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"gh api {args[0] if args else ''} failed: {result.stderr.strip()}")
    return result.stdout


def find_marked_comment(repository: str, number: int) -> str | None:
    """The id of this action's comment on the pull request (the first comment carrying the marker)."""
    ids = _gh(
        "--paginate",
        f"repos/{repository}/issues/{number}/comments",
        "--jq",
        f'.[] | select(.body | contains("{MARKER}")) | .id',
    ).split()
    return ids[0] if ids else None


def post_or_update(repository: str, number: int, body: str) -> str:
    """Update the marked comment (PATCH) or create it (POST); returns which was done."""
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False, encoding="utf-8") as handle:
        handle.write(body)
    try:
        existing = find_marked_comment(repository, number)
        if existing is not None:
            _gh("-X", "PATCH", f"repos/{repository}/issues/comments/{existing}", "-F", f"body=@{handle.name}")
            return f"updated comment {existing}"
        _gh("-X", "POST", f"repos/{repository}/issues/{number}/comments", "-F", f"body=@{handle.name}")
        return "posted a new comment"
    finally:
        os.unlink(handle.name)


def _write(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)


def run_plan(environ: Mapping[str, str], event: Mapping[str, object], configs: Sequence[str]) -> int:
    validate = oktasync("validate", *configs)
    plan = None
    if validate.returncode == 0:
        out = environ.get("OKTASYNC_PLAN_FILE", "").strip()
        plan = oktasync(
            "plan", "--format", "markdown", "--detailed-exitcode", *configs, *(["--out", out] if out else [])
        )
        sys.stdout.write(plan.stdout)
    body = comment_body(validate, plan)
    _write(environ.get("GITHUB_STEP_SUMMARY"), body)
    plan_code = plan.returncode if plan is not None else validate.returncode
    changes = "true" if plan_code == 2 else "false"
    _write(environ.get("GITHUB_OUTPUT"), f"exit-code={plan_code}\nchanges={changes}\n")
    pull = event.get("pull_request")
    number = pull.get("number") if isinstance(pull, dict) else None
    if environ.get("OKTASYNC_COMMENT", "true") == "true" and isinstance(number, int):
        try:
            print(post_or_update(environ["GITHUB_REPOSITORY"], number, body), file=sys.stderr)
        except RuntimeError as error:  # the plan is in the log and the summary: say why there is no comment
            print(f"::error::could not post the plan comment: {error}", file=sys.stderr)
            return 1
    if validate.returncode != 0:
        return validate.returncode
    return 0 if plan_code in PLAN_OK else plan_code


def run_apply(environ: Mapping[str, str], configs: Sequence[str]) -> int:
    extra = shlex.split(environ.get("OKTASYNC_APPLY_ARGS", ""))
    saved = environ.get("OKTASYNC_PLAN_FILE", "").strip()
    targets = [saved] if saved and Path(saved).is_file() else list(configs)
    if saved and targets != [saved]:
        print(f"::warning::no saved plan at {saved}: applying the configs as they are now", file=sys.stderr)
    result = oktasync("apply", "--yes", *extra, *targets)
    sys.stdout.write(result.stdout)
    _write(environ.get("GITHUB_OUTPUT"), f"exit-code={result.returncode}\n")
    return result.returncode


def main(environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    event_path = environ.get("GITHUB_EVENT_PATH")
    event = json.loads(Path(event_path).read_text(encoding="utf-8")) if event_path else {}
    mode = mode_for(environ, event)
    configs = configs_from(environ.get("OKTASYNC_CONFIGS", ""))
    if mode == "skip":
        print("oktasync action: nothing to do for this event", file=sys.stderr)
        return 0
    if not configs:
        print("oktasync action: the configs input matched no file", file=sys.stderr)
        return 64
    return run_plan(environ, event, configs) if mode == "plan" else run_apply(environ, configs)


if __name__ == "__main__":
    sys.exit(main())
