"""Run records: what a playbook run did, step by step, in the state dir (nothing secret).

Layout, in the app's one state directory (``<state dir>/apps/<org host>/<app id>/``, see
``workflows.session``)::

    playbooks/<playbook name>.json     the latest run of that playbook: rewritten atomically (fsynced)
                                       before and after every step
    playbooks/<playbook name>.lock     held while a run is going (flock: dies with the process)
    playbooks/history.jsonl            one line per finished run (append-only, fsynced)

A record names the app it ran against (``app.id``, ``app.label``), so that ``playbook status`` can find it
offline from a config that names the app by label only (``find_run_records``); records written before they
named the app still read.

A record whose ``status`` is ``running`` belongs to a run that died (SIGKILL, power loss): the lock is free
but the run never finished. ``playbook run --resume`` continues it; a plain ``playbook run`` refuses
(exit 4) until the run is resumed or discarded with ``--fresh``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oktasync.state import Journal, StateDir, atomic_write_json, read_json
from oktasync.timestamps import run_stamp, utc_seconds
from oktasync.workflows.session import app_state_dir, org_app_dirs

if TYPE_CHECKING:
    from oktasync.config.schema import TenantConfig

FORMAT = 1


class RunStatus(StrEnum):
    """Where a playbook run is."""

    RUNNING = "running"  # in progress, or died in progress (the lock tells which)
    COMPLETED = "completed"  # every step ran or was skipped (some may have failed under on_failure: continue)
    STOPPED = "stopped"  # a step failed (on_failure: stop) or a person declined a confirm step

    @property
    def unfinished(self) -> bool:
        """A run ``--resume`` can pick up."""
        return self in (RunStatus.RUNNING, RunStatus.STOPPED)


class StepStatus(StrEnum):
    """What became of one step of a run."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    DECLINED = "declined"

    @property
    def done(self) -> bool:
        """A resumed run does not run this step again."""
        return self in (StepStatus.OK, StepStatus.SKIPPED)

    @property
    def failed(self) -> bool:
        return self in (StepStatus.FAILED, StepStatus.DECLINED)


def _present(pairs: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in pairs.items() if value is not None}


@dataclass(frozen=True)
class StepRecord:
    """One step of a run as recorded. Fields that are None were never written (the file omits them)."""

    status: StepStatus
    attempts: int = 0
    started: str | None = None
    resumed: bool | None = None  # a step picked up by --resume after a crash inside it
    writes: bool | None = None  # whether the step's action writes to Okta (the catalogue's word)
    exit_code: int | None = None
    workflow_exit_code: int | None = None  # the action's own code (before failed_when decided)
    summary: str | None = None
    result: dict[str, Any] | None = None  # the workflow's to_dict(): nothing secret
    finished: str | None = None
    seconds: float | None = None
    dry_run: bool | None = None
    continued: bool = False  # failed under on_failure: continue
    extra: dict[str, Any] = field(default_factory=dict)  # keys a later format added: kept as read

    def to_json(self) -> dict[str, Any]:
        document = _present(
            {
                "status": self.status.value,
                "started": self.started,
                "attempts": self.attempts,
                "resumed": self.resumed,
                "writes": self.writes,
                "exit_code": self.exit_code,
                "workflow_exit_code": self.workflow_exit_code,
                "summary": self.summary,
                "result": self.result,
                "finished": self.finished,
                "seconds": self.seconds,
                "dry_run": self.dry_run,
            }
        )
        if self.continued:
            document["continued"] = True
        return {**self.extra, **document}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> StepRecord:
        known = {f.name for f in fields(cls)} - {"extra", "status"}
        values = {key: raw[key] for key in known if key in raw}
        values["continued"] = bool(raw.get("continued", False))
        extra = {key: value for key, value in raw.items() if key not in known and key != "status"}
        return cls(status=StepStatus(raw["status"]), extra=extra, **values)


@dataclass(frozen=True)
class PlaybookRef:
    name: str
    file: str
    sha256: str


@dataclass(frozen=True)
class RecordedApp:
    """The Okta app a run is against."""

    id: str
    label: str


@dataclass(frozen=True)
class RunRecord:
    """The latest run of one playbook for one tenant+app (``<playbook>.json``)."""

    run_id: str
    playbook: PlaybookRef
    tenant: str
    config: str
    inputs: dict[str, Any]
    status: RunStatus
    started: str
    steps: Mapping[str, StepRecord] = field(default_factory=dict)
    app: RecordedApp | None = None  # the app the run is against (None in records written before it was kept)
    resumed: tuple[str, ...] = ()  # when --resume picked the run up, each time
    current: str | None = None  # the step running (or running when the process died)
    finished: str | None = None
    exit_code: int | None = None
    stopped_at: str | None = None
    format: int = FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def with_step(self, step_id: str, entry: StepRecord, *, current: str | None) -> RunRecord:
        return replace(self, steps={**self.steps, step_id: entry}, current=current)

    def finish(self, status: RunStatus, exit_code: int, stopped_at: str | None) -> RunRecord:
        return replace(
            self, status=status, finished=now(), exit_code=exit_code, stopped_at=stopped_at, current=None
        )

    def reopen(self) -> RunRecord:
        """The record of a run that ``--resume`` picks up."""
        return replace(
            self,
            status=RunStatus.RUNNING,
            resumed=(*self.resumed, now()),
            finished=None,
            exit_code=None,
            stopped_at=None,
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            **self.extra,
            "format": self.format,
            "run_id": self.run_id,
            "playbook": {
                "name": self.playbook.name,
                "file": self.playbook.file,
                "sha256": self.playbook.sha256,
            },
            "tenant": self.tenant,
            "config": self.config,
            **({"app": {"id": self.app.id, "label": self.app.label}} if self.app is not None else {}),
            "inputs": self.inputs,
            "status": self.status.value,
            "started": self.started,
            "steps": {step_id: entry.to_json() for step_id, entry in self.steps.items()},
        }
        if self.resumed:
            document["resumed"] = list(self.resumed)
        if self.current is not None:
            document["current"] = self.current
        if self.finished is not None:
            document.update(finished=self.finished, exit_code=self.exit_code, stopped_at=self.stopped_at)
        return document

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RunRecord:
        playbook = raw.get("playbook") or {}
        app = raw.get("app")
        named = {f.name for f in fields(cls)}
        return cls(
            run_id=str(raw["run_id"]),
            playbook=PlaybookRef(
                str(playbook.get("name", "")), str(playbook.get("file", "")), str(playbook.get("sha256", ""))
            ),
            tenant=str(raw.get("tenant", "")),
            config=str(raw.get("config", "")),
            app=RecordedApp(str(app.get("id", "")), str(app.get("label", "")))
            if isinstance(app, dict)
            else None,
            inputs=dict(raw.get("inputs") or {}),
            status=RunStatus(raw["status"]),
            started=str(raw.get("started", "")),
            steps={
                step_id: StepRecord.from_json(entry) for step_id, entry in (raw.get("steps") or {}).items()
            },
            resumed=tuple(raw.get("resumed") or ()),
            current=raw.get("current"),
            finished=raw.get("finished"),
            exit_code=raw.get("exit_code"),
            stopped_at=raw.get("stopped_at"),
            format=int(raw.get("format", FORMAT)),
            extra={key: value for key, value in raw.items() if key not in named},
        )


def now() -> str:
    return utc_seconds()


def new_run_id() -> str:
    return run_stamp() + "-" + secrets.token_hex(3)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "playbook"


class RunRecordStore:
    """Where one playbook's runs against one app are recorded (in the app's state directory)."""

    def __init__(self, app_dir: Path, playbook_name: str) -> None:
        self.directory = app_dir / "playbooks"
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = record_path(app_dir, playbook_name)
        self.lock_path = self.directory / f"{_slug(playbook_name)}.lock"
        self.history = Journal(self.directory / "history.jsonl")

    def read(self) -> RunRecord | None:
        return read_record(self.path)

    def read_document(self) -> dict[str, Any] | None:
        """The latest run as its JSON document (what ``playbook status --json`` shows)."""
        record = self.read()
        return record.to_json() if record is not None else None

    def write(self, record: RunRecord) -> None:
        atomic_write_json(self.path, record.to_json())

    def finish(self, record: RunRecord) -> None:
        self.write(record)
        self.history.append(
            {
                "run_id": record.run_id,
                "playbook": record.playbook.name,
                "status": record.status.value,
                "exit_code": record.exit_code,
                "started": record.started,
                "finished": record.finished,
                "stopped_at": record.stopped_at,
            }
        )


def record_path(app_dir: Path, playbook_name: str) -> Path:
    """Where the latest run of ``playbook_name`` against the app of ``app_dir`` is recorded."""
    return app_dir / "playbooks" / f"{_slug(playbook_name)}.json"


def read_record(path: Path) -> RunRecord | None:
    document = read_json(path)
    return RunRecord.from_json(document) if isinstance(document, dict) else None


def find_run_records(state_dir: Path, config: TenantConfig, playbook_name: str) -> list[Path]:
    """Where the latest run of ``playbook_name`` against the config's app is recorded, found without asking
    Okta (``playbook status``).

    With ``app.id`` in the config: that app's state directory (one path, whether or not a run was
    recorded). With ``app.label`` only: every record of the playbook under the org's apps that names that
    label (a record that names no app: one this tenant ran), and records this tenant still keeps under the
    label (``<state dir>/<tenant>/<label>/playbooks``). Several paths mean several apps match."""
    if config.app.id:
        app_dir = app_state_dir(state_dir, config, config.app.id, config.app.label)
        return [record_path(app_dir, playbook_name)]
    label = config.app.label or ""
    found = [
        path
        for path in (record_path(app_dir, playbook_name) for app_dir in org_app_dirs(state_dir, config))
        if path.is_file() and _names_app(read_record(path), config.tenant, label)
    ]
    for tenant_dir in StateDir(state_dir).app_paths(label):
        path = record_path(tenant_dir, playbook_name)
        record = read_record(path) if path.is_file() else None
        if record is not None and record.app is None and record.tenant == config.tenant:
            found.append(path)
    return found


def _names_app(record: RunRecord | None, tenant: str, label: str) -> bool:
    if record is None:
        return False
    if record.app is None:
        return record.tenant == tenant
    return record.app.label == label
