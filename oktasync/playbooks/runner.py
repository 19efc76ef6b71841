"""Run a checked playbook against one or more tenant configs, recording every step (docs/playbooks.md).

For each config in turn: take the playbook's lock for that tenant+app, start a new run record (or pick up
an unfinished one with ``resume=True``), then for each step: evaluate ``when``, render ``with:``, run the
action (repeating it per ``until`` / ``max_attempts``), decide success (exit code, or ``failed_when``),
record the result (fsynced) and either go on or stop (``on_failure``).

This module decides whether each run starts, resumes or is refused (the lock, the unfinished record, the
app's writer guard); ``execution.py`` runs the steps, ``steps.py`` judges them, ``inputs.py`` converts the
``--var`` values and ``results.py`` holds what comes back.

The engine never prints: it reports through ``RunReporter`` and asks people through ``Interaction``, both
given by the CLI (or by ``demo``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oktasync.errors import EXIT_OK, OktasyncError, ResumeRequiredError, SafetyError
from oktasync.playbooks import record as rec
from oktasync.playbooks.catalog import step_writes
from oktasync.playbooks.context import ActionImpl, AlwaysYes, Interaction, NullReporter, RunReporter
from oktasync.playbooks.execution import PlaybookRun
from oktasync.playbooks.inputs import resolve_inputs
from oktasync.playbooks.model import Playbook
from oktasync.playbooks.results import PlaybookResult, TenantRun
from oktasync.progress import NullProgress, Progress
from oktasync.state import exclusive_lock
from oktasync.workflows.session import app_state_dir

if TYPE_CHECKING:
    from oktasync.config.schema import TenantConfig
    from oktasync.models import App
    from oktasync.okta_gateway.base import OktaGateway


__all__ = ["PlaybookResult", "TenantRun", "resolve_inputs", "run_playbook"]


async def run_playbook(
    playbook: Playbook,
    configs: Sequence[tuple[str, TenantConfig]],
    *,
    inputs: Mapping[str, Any],
    state_dir: Path,
    dry_run: bool = False,
    resume: bool = False,
    fresh: bool = False,
    interaction: Interaction | None = None,
    reporter: RunReporter | None = None,
    progress: Progress | None = None,
    implementations: Mapping[str, ActionImpl] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    resume_command: str | None = None,
    gateway: OktaGateway | None = None,
) -> PlaybookResult:
    """Run ``playbook`` for each ``(path, config)`` in turn; stop at the first run that stops.

    ``inputs`` are the raw ``--var`` values (strings are converted to each input's type). Raises
    ``ConfigError`` (bad inputs, or a template failing at run time, with file:line), ``SafetyError`` (run
    in progress, unfinished run without ``resume``/``fresh``, resume of a changed playbook) and
    ``Interrupted`` (the record is kept; resume with ``resume_command``). A recorded run resolves the
    config's app first: its record lives in the app's state directory. ``gateway`` replaces the
    configs' Okta gateways (tests inject a ``FakeGateway``).
    """
    if resume and dry_run:
        raise SafetyError("--resume and --dry-run cannot be combined", hint="drop one of them")
    if resume and fresh:
        raise SafetyError("--resume and --fresh cannot be combined", hint="drop one of them")
    if implementations is None:
        from oktasync.playbooks.actions import IMPLEMENTATIONS  # imports the workflows, on first use

        implementations = IMPLEMENTATIONS
    resolved_inputs = resolve_inputs(playbook, inputs, complete=not resume)
    runs: list[TenantRun] = []
    for config_path, config in configs:
        run = PlaybookRun(
            playbook,
            config_path,
            config,
            resolved_inputs,
            state_dir=state_dir,
            dry_run=dry_run,
            interaction=interaction or AlwaysYes(),
            reporter=reporter or NullReporter(),
            progress=progress or NullProgress(),
            implementations=implementations,
            sleep=sleep,
            resume_command=resume_command or f"oktasync playbook run {playbook.file} --resume",
            gateway=gateway,
        )
        async with run.session:
            result = await _run_one(run, inputs, dry_run=dry_run, resume=resume, fresh=fresh)
        runs.append(result)
        if result.exit_code != EXIT_OK:
            break
    return PlaybookResult(
        playbook=playbook.name, file=playbook.file, dry_run=dry_run, inputs=resolved_inputs, runs=tuple(runs)
    )


async def _run_one(
    run: PlaybookRun, given: Mapping[str, Any], *, dry_run: bool, resume: bool, fresh: bool
) -> TenantRun:
    if dry_run:
        # A dry run records nothing and takes no lock: it changes nothing, the state dir included.
        run.start(None, resume=False)
        return await run.execute(resumed=False)
    return await _recorded(run, given, resume=resume, fresh=fresh)


async def _recorded(run: PlaybookRun, given: Mapping[str, Any], *, resume: bool, fresh: bool) -> TenantRun:
    """Run ``run`` under the playbook's lock for the app, recording it in the app's state directory (or
    resuming its record)."""
    playbook, config = run.playbook, run.config
    store = rec.RunRecordStore(await _record_dir(run), playbook.name)
    with exclusive_lock(store.lock_path, f"playbook '{playbook.name}' for {config.tenant}"):
        existing = store.read()
        resumed = _check_resume(playbook, existing, resume, fresh, run.inputs, given, store.path)
        if run.app is not None:
            await _guard_app(run, run.app, resumed=resumed, fresh=fresh)
        run.store = store
        run.start(existing, resume=resumed)
        return await run.execute(resumed=resumed)


async def _record_dir(run: PlaybookRun) -> Path:
    """The app's state directory, where the run is recorded: the app is resolved in Okta first. When that
    fails and the config pins ``app.id``, that app's directory: the run goes on, and its first step that
    needs Okta reports why (no step can write either). With only ``app.label``, the error is raised:
    nothing can say which app's directory the record belongs in."""
    config = run.config
    try:
        run.app = await run.session.app()
    except OktasyncError as error:
        if isinstance(error, SafetyError) or not config.app.id:
            raise
        return app_state_dir(run.state_dir, config, config.app.id, config.app.label)
    return await run.session.app_dir()


async def _guard_app(run: PlaybookRun, app: App, *, resumed: bool, fresh: bool) -> None:
    """One writer per Okta app (``workflows.app_guard``): a playbook that writes holds the app's lock for the
    whole run (until its session closes) and refuses over an unfinished resync of the app or one seen
    running in Okta; one that only reads reports an unfinished resync prominently (and ``--fresh`` refuses
    over it)."""
    from oktasync.workflows.app_guard import refuse_if_unfinished, unfinished_resync

    playbook, config = run.playbook, run.config
    doing = f"playbook '{playbook.name}'" + (" --fresh" if fresh else "")
    if any(step_writes(step.action, step.args) for step in playbook.steps):
        # A resumed run that stopped inside its resync step finishes that resync's journal itself.
        finishing_resync = resumed and any(step.action == "resync" for step in playbook.steps)
        await run.session.guard_write(
            doing=doing,
            config_path=run.config_path,
            refuse_unfinished=not finishing_resync,
            check_okta=not finishing_resync,
        )
        return
    found = unfinished_resync(run.state_dir, config, app)
    if found is None:
        return
    if fresh:
        refuse_if_unfinished(run.state_dir, config, app, doing=doing, config_path=run.config_path)
    run.reporter.note(f"WARNING: {found.describe(app.label)}; {found.fix(run.config_path)}")


def _check_resume(
    playbook: Playbook,
    existing: rec.RunRecord | None,
    resume: bool,
    fresh: bool,
    inputs: dict[str, Any],
    given: Mapping[str, Any],
    path: Path,
) -> bool:
    """Whether to resume ``existing``; raises when the request and the recorded run disagree."""
    unfinished = existing is not None and existing.status.unfinished
    if not resume:
        if existing is not None and existing.status == rec.RunStatus.RUNNING and not fresh:
            at = existing.current or "?"
            raise ResumeRequiredError(
                f"playbook '{playbook.name}' has an interrupted run ({existing.run_id}, "
                f"stopped inside step '{at}'); record: {path}",
                hint="finish it with --resume, or discard it with --fresh (a resync inside keeps its own "
                "journal and still has to be resumed)",
            )
        return False
    if existing is None or not unfinished:
        raise SafetyError(
            f"playbook '{playbook.name}' has no unfinished run to resume (record: {path})",
            hint="run it without --resume",
        )
    assert existing is not None
    if existing.playbook.sha256 != playbook.sha256:
        raise SafetyError(
            f"the playbook file changed since run {existing.run_id} started; resuming could skip or "
            "repeat the wrong steps",
            hint="restore the playbook as it was, or start a new run with --fresh",
        )
    recorded = existing.inputs
    changed = sorted(name for name in given if name in inputs and recorded.get(name) != inputs[name])
    if changed:
        raise SafetyError(
            f"--var {', '.join(changed)} differ from the run being resumed",
            hint="resume without --var (the recorded inputs are used), or start a new run with --fresh",
        )
    inputs.clear()
    inputs.update(recorded)
    return True
