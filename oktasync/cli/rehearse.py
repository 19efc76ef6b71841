"""`oktasync rehearse SNAPSHOT (PLAYBOOK | COMMAND…)`: run it on a copy of the org first.

See docs/rehearsal.md.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from oktasync.cli.context import emit_json, json_text, mark_json

if TYPE_CHECKING:
    from oktasync.rehearsal.rehearse import RehearsalEnvironment, RehearsalRun


def _is_playbook(words: tuple[str, ...]) -> Path | None:
    if len(words) != 1:
        return None
    from oktasync.cli.playbook import resolve_playbook_path

    path = resolve_playbook_path(words[0])
    return path if path.is_file() else None


def _command_args(words: tuple[str, ...], config: Path, state_dir: Path) -> list[str]:
    """The command's words with CONFIG (or {config}) replaced by the rehearsal's config, else appended."""
    args = [str(config) if w in ("CONFIG", "{config}") else w for w in words]
    if str(config) not in args:
        args.append(str(config))
    return ["--state-dir", str(state_dir), *args]


@click.command(
    "rehearse",
    context_settings={"ignore_unknown_options": True},
)
@click.argument("snapshot_path", metavar="SNAPSHOT", type=click.Path(dir_okay=False))
@click.argument("what", nargs=-1, required=True, type=click.UNPROCESSED, metavar="(PLAYBOOK | COMMAND…)")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    callback=mark_json,
    help="Report format: text, markdown (for a change ticket) or json.",
)
@click.option("--json", "as_json", is_flag=True, callback=mark_json, help="Same as --format json.")
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the report to this file.")
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0.001, max=1.0),
    default=0.05,
    show_default=True,
    help="A 60 s rate-limit window lasts 60 × this many seconds in the rehearsal.",
)
@click.option(
    "--workdir", type=click.Path(file_okay=False), help="Keep the rehearsal's config and state here."
)
def command(
    snapshot_path: str,
    what: tuple[str, ...],
    output_format: str,
    as_json: bool,
    out: str | None,
    time_scale: float,
    workdir: str | None,
) -> int:
    """Load SNAPSHOT (from `oktasync snapshot`) into a local Okta emulator and SCIM target, run PLAYBOOK
    (a file or a shipped name, e.g. chronosphere-onboarding) or an oktasync COMMAND (e.g. `resync --yes`;
    the word CONFIG stands for the generated config) against them unchanged, and report: API calls per
    bucket, predicted wall time at the org's limits, how long each group's users were without the app,
    which users will fail or not link and why, which steps wait for a person, and the final state versus
    the snapshot. Nothing leaves this machine; confirm steps are answered yes and listed.
    """
    from oktasync.rehearsal.rehearse import load_snapshot, rehearsal_environment
    from oktasync.rehearsal.report import build_report

    fmt = "json" if as_json else output_format
    snapshot = load_snapshot(Path(snapshot_path))
    playbook = _is_playbook(what)
    with tempfile.TemporaryDirectory(prefix="oktasync-rehearsal-") as scratch:
        root = Path(workdir) if workdir else Path(scratch)
        with rehearsal_environment(snapshot, root, time_scale=time_scale) as env:
            report: dict[str, Any] = build_report(env, _rehearse(env, playbook, what))
    _emit_report(report, fmt, out)
    return 0


def _rehearse(env: RehearsalEnvironment, playbook: Path | None, what: tuple[str, ...]) -> RehearsalRun:
    """Run the playbook, else the oktasync command ``what``, against the rehearsal's emulator and target."""
    from oktasync.rehearsal.rehearse import measure_command, rehearse_playbook

    label = env.snapshot["app"]["label"]
    if playbook is not None:
        click.echo(f"rehearsing playbook {playbook.stem} on {label} …", err=True)
        return asyncio.run(rehearse_playbook(env, playbook))
    args = _command_args(what, env.config_path, env.state_dir)
    click.echo(f"rehearsing `oktasync {' '.join(what)}` on {label} …", err=True)
    return measure_command(env, " ".join(what), lambda: _run_oktasync(args))


def _run_oktasync(args: list[str]) -> int:
    """Run ``oktasync ARGS`` in a child process; its output goes to stderr, as stdout holds the report."""
    done = subprocess.run(
        [sys.executable, "-m", "oktasync", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=False,
    )
    for stream in (done.stdout, done.stderr):
        if stream.strip():
            click.echo(stream.rstrip("\n"), err=True)
    return done.returncode


def _emit_report(report: dict[str, Any], fmt: str, out: str | None) -> None:
    """Print the report in ``fmt``, and write it to ``out`` too when given."""
    from oktasync.rehearsal.report import render_markdown, render_text

    text = render_markdown(report) if fmt == "markdown" else render_text(report)
    if out:
        Path(out).write_text(json_text(report) + "\n" if fmt == "json" else text, encoding="utf-8")
    if fmt == "json":
        emit_json(report)
    else:
        click.echo(text)
