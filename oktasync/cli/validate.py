"""`oktasync validate CONFIG...`: schema, template and cross-field checks; reads no API, needs no secrets."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import click

from oktasync.cli.context import CONFIG_PATH, emit_json, json_option
from oktasync.config import check_tenant
from oktasync.errors import EXIT_INVALID, Problem
from oktasync.textsafe import for_terminal


def strict_option() -> Callable[[Any], Any]:
    return click.option(
        "--strict",
        is_flag=True,
        help="Count warnings as errors (exit 3), e.g. an unset environment variable a secret reads.",
    )


def apply_strict(problems: Sequence[Problem], strict: bool) -> list[Problem]:
    """Under ``--strict`` every warning is an error."""
    if not strict:
        return list(problems)
    return [dataclasses.replace(problem, severity="error") for problem in problems]


def problems_document(kind: str, files: list[dict[str, Any]], problems: Sequence[Problem]) -> dict[str, Any]:
    """The ``--json`` document of ``validate`` and ``playbook validate`` (docs/config.md "validate
    --json"): one entry per file, then every problem of every file, warnings included."""
    return {
        "valid": all(entry["valid"] for entry in files),
        kind: files,
        "problems": [problem.as_dict() for problem in problems],
    }


def file_entry(file: str, problems: Sequence[Problem], **summary: Any) -> dict[str, Any]:
    errors = sum(1 for problem in problems if problem.severity == "error")
    entry: dict[str, Any] = {"file": file, "valid": errors == 0}
    if errors == 0:
        entry.update(summary)
    entry["errors"] = errors
    entry["warnings"] = len(problems) - errors
    return entry


def echo_file_result(entry: dict[str, Any], problems: Sequence[Problem], summary: str) -> None:
    """``ok file (summary)`` or ``invalid file``, then each problem (warnings marked) on its own line."""
    if entry["valid"]:
        click.echo(for_terminal(f"ok      {entry['file']}  ({summary})"))
    else:
        click.echo(for_terminal(f"invalid {entry['file']}"))
    for problem in problems:
        prefix = "warning: " if problem.severity == "warning" else ""
        click.echo(for_terminal(f"  {prefix}{problem}"))


@click.command("validate")
@click.argument("configs", nargs=-1, required=True, type=CONFIG_PATH)
@strict_option()
@json_option("Print one JSON document: every file and every problem (file, line, column, key, fix).")
def command(configs: tuple[str, ...], strict: bool, as_json: bool) -> int:
    """Check tenant configs: schema, templates and cross-field rules. Reads no API, needs no secrets.

    An unset environment variable that only a secret reads is a warning (the commands that use the
    secret refuse to run without it); --strict makes it an error. Exits 0 when every config is valid,
    3 when any is not (each problem listed with file:line:column and a fix).
    """
    files: list[dict[str, Any]] = []
    every_problem: list[Problem] = []
    for path in configs:
        check = check_tenant(path)  # secrets not required: validate needs none
        problems = apply_strict(check.problems, strict)
        config = check.config
        summary = {"tenant": config.tenant, "app": config.app.label or config.app.id} if config else {}
        entry = file_entry(path, problems, **summary)
        files.append(entry)
        every_problem += problems
        if not as_json:
            echo_file_result(entry, problems, f"tenant {summary.get('tenant')}, app {summary.get('app')}")
    if as_json:
        emit_json(problems_document("configs", files, every_problem))
    return 0 if all(entry["valid"] for entry in files) else EXIT_INVALID
