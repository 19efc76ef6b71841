"""Saved plans: ``plan --out FILE`` writes the reviewed plan, ``apply FILE`` applies exactly that plan.

A saved plan is one JSON document (docs/plan-apply.md, Saved plans)::

    {"document": "oktasync-saved-plan", "format_version": 1, "created_at": "…Z", "oktasync_version": "…",
     "options": {"rotate_token": false},
     "tenants": [{"tenant": …, "config": "path as given", "config_sha256": …, "effective_config_sha256": …,
                  "bearer_token": {"source": "…env name…", "fingerprint": {scrypt record}},
                  "app": {…}, "kind": …, "admin_session": …,
                  "observed": {setting key: {"known": bool, "value": …}},
                  "plan": {the tenant's ``plan --json`` entry}}]}

What binds the plan to what was reviewed:

* the config file's bytes (``config_sha256``) and what the plan is made of as rendered, secrets masked
  (``effective_config_sha256``: the org, the app and the settings, so values templated from the
  environment, ``vars`` and ``file()`` count too);
* the SCIM Bearer token through a salted scrypt fingerprint (``token_fingerprint``), never its value;
* the actual value of every setting as Okta showed it (``observed``), kept so a refusal can say what moved;
* each setting's planned status, channel and desired value (covers the state dir's records too).

``apply FILE`` re-reads the configs and Okta under the app's write lock and compares; anything that moved
refuses the apply (exit 4) with the setting, the saved and the current value, and the command to re-plan.
When nothing moved, the fresh plan *is* the saved plan, and the ordinary apply (writes, read-back
verification, guards) runs on it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oktasync.config.schema import TenantConfig
from oktasync.errors import ConfigError, OktasyncError, Problem, SafetyError
from oktasync.progress import Progress
from oktasync.state import StateDir
from oktasync.workflows import token_fingerprint
from oktasync.workflows.apply import ApplyOptions, ApplyResult, Approve, apply_configs
from oktasync.workflows.plan import PlanResult, TenantPlan, desired_values
from oktasync.workflows.settings import BEARER_TOKEN, SETTINGS_BY_KEY

DOCUMENT = "oktasync-saved-plan"
SAVED_PLAN_VERSION = 1
# Saved plans are small (a few KiB per tenant): a bigger file is not one.
MAX_PLAN_BYTES = 16 * 2**20
_REPLAN_FIX = "re-create it with: oktasync plan CONFIG... --out FILE"


# --- fingerprints of what the plan was made from -------------------------------------------------------


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def effective_config_sha256(config: TenantConfig) -> str:
    """What the plan is made of, as rendered (templates resolved, secrets masked by their type), in canonical
    JSON: the tenant, the org, the app and the settings. Credentials and paths (an OAuth key file resolved
    to an absolute path differs between checkouts) do not change what apply writes, so they are left out."""
    rendered = {
        "tenant": config.tenant,
        "org_url": config.okta.org_url,
        "app": config.app.model_dump(mode="json"),
        "scim": config.scim.model_dump(mode="json"),
        "to_app": config.to_app.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(rendered, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _token(config: TenantConfig) -> str:
    value = desired_values(config)[BEARER_TOKEN.key]
    return str(value.reveal())


def _observed(plan: TenantPlan) -> dict[str, dict[str, Any]]:
    """Every setting's actual value as read (the Bearer token only as set / not set)."""
    if plan.actual is None:
        return {}
    return {key: {"known": v.known, "value": v.value} for key, v in plan.actual.values.items()}


# --- the file ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedTenant:
    tenant: str
    config: str
    config_sha256: str
    effective_config_sha256: str
    token_source: str | None
    token_record: token_fingerprint.TokenRecord
    observed: dict[str, dict[str, Any]]
    plan: dict[str, Any]  # the tenant's plan --json entry (display values: no secrets)

    def to_dict(self) -> dict[str, Any]:
        record = self.token_record.to_dict()
        fingerprint = {k: record[k] for k in ("algorithm", "n", "r", "p", "salt", "fingerprint")}
        return {
            "tenant": self.tenant,
            "config": self.config,
            "config_sha256": self.config_sha256,
            "effective_config_sha256": self.effective_config_sha256,
            "bearer_token": {"source": self.token_source, "fingerprint": fingerprint},
            "observed": self.observed,
            "plan": self.plan,
        }


@dataclass(frozen=True)
class SavedPlan:
    tenants: tuple[SavedTenant, ...]
    rotate_token: bool = False
    created_at: str = ""
    oktasync_version: str = ""

    @property
    def config_paths(self) -> list[str]:
        return [t.config for t in self.tenants]

    def to_dict(self) -> dict[str, Any]:
        return {
            "document": DOCUMENT,
            "format_version": SAVED_PLAN_VERSION,
            "created_at": self.created_at,
            "oktasync_version": self.oktasync_version,
            "options": {"rotate_token": self.rotate_token},
            "tenants": [t.to_dict() for t in self.tenants],
        }


def make_saved_plan(
    result: PlanResult,
    configs: Sequence[tuple[TenantConfig, str]],
    *,
    rotate_token: bool = False,
    token_sources: Sequence[str | None] | None = None,
) -> SavedPlan:
    """The saved form of ``result``. A tenant that could not be planned cannot be saved (SafetyError)."""
    failed = [t for t in result.tenants if t.error]
    if failed:
        names = ", ".join(f"{t.tenant} ({t.error})" for t in failed)
        raise SafetyError(
            f"the plan was not saved: {names}", hint="fix the tenant's problem and run plan --out again"
        )
    sources = list(token_sources) if token_sources is not None else [None] * len(configs)
    tenants = []
    for (config, path), plan, source in zip(configs, result.tenants, sources, strict=True):
        tenants.append(
            SavedTenant(
                tenant=config.tenant,
                config=path,
                config_sha256=file_sha256(path),
                effective_config_sha256=effective_config_sha256(config),
                token_source=source,
                token_record=token_fingerprint.make_record(_token(config), "plan"),
                observed=_observed(plan),
                plan=plan.to_dict(),
            )
        )
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return SavedPlan(
        tuple(tenants), rotate_token=rotate_token, created_at=created, oktasync_version=_version()
    )


def _version() -> str:
    """The installed oktasync's version (informational: a reader sees what wrote the file)."""
    try:
        return importlib.metadata.version("oktasync")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def write_saved_plan(plan: SavedPlan, path: str | Path) -> None:
    """Write the plan so that a reader sees the old file or the new one, never half of one."""
    target = Path(path)
    data = json.dumps(plan.to_dict(), indent=2, default=str) + "\n"
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(data)
            os.chmod(tmp, 0o644)  # no secrets inside: reviewers and CI artifacts read it
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise OktasyncError(
            f"cannot write the saved plan {target}: {error.strerror or error}",
            hint="choose a writable path for --out",
        ) from None


def _bad(path: str, message: str, fix: str = _REPLAN_FIX, line: int | None = None) -> ConfigError:
    return ConfigError([Problem(path, line, None, message, fix)])


def sniff_saved_plan(path: str) -> bool:
    """Is the file at ``path`` a saved plan (rather than a tenant config)? Decided by content, not name:
    the file names the document type ``oktasync-saved-plan`` (a tenant config never has that text). A
    directory, a missing or unreadable file is not a plan (the config loader reports those)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(MAX_PLAN_BYTES + 1)
    except OSError:
        return False
    return DOCUMENT.encode() in head


def refuse_plan_report(path: str) -> None:
    """``plan --json`` output given where a saved plan (or a config) belongs: say which file to make instead
    of listing it as a config with every key wrong (ConfigError, exit 3)."""
    try:
        doc = json.loads(Path(path).read_bytes()[:MAX_PLAN_BYTES])
    except (OSError, ValueError):
        return
    if isinstance(doc, dict) and doc.get("command") == "plan" and "format_version" in doc:
        raise _bad(
            path,
            "this is the output of plan --json (a report), not a saved plan nor a tenant config",
            "save a plan to apply with: oktasync plan CONFIG... --out FILE, then oktasync apply FILE",
        )


def _tenant_from(path: str, doc: Any, index: int) -> SavedTenant:
    where = f"tenants[{index}]"
    if not isinstance(doc, dict):
        raise _bad(path, f"{where} is not an object")
    try:
        token = doc["bearer_token"]["fingerprint"]
        record = token_fingerprint.TokenRecord(
            fingerprint=str(token["fingerprint"]),
            salt=str(token["salt"]),
            applied_at="",
            channel="plan",
            n=int(token["n"]),
            r=int(token["r"]),
            p=int(token["p"]),
        )
        bytes.fromhex(record.salt)
        plan = doc["plan"]
        if not isinstance(plan, dict) or not isinstance(plan.get("settings"), list):
            raise TypeError("plan.settings")
        observed = doc["observed"]
        if not isinstance(observed, dict):
            raise TypeError("observed")
        return SavedTenant(
            tenant=str(doc["tenant"]),
            config=str(doc["config"]),
            config_sha256=str(doc["config_sha256"]),
            effective_config_sha256=str(doc["effective_config_sha256"]),
            token_source=doc["bearer_token"].get("source"),
            token_record=record,
            observed=observed,
            plan=plan,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise _bad(path, f"{where} is incomplete or malformed ({error})") from None


def read_saved_plan(path: str) -> SavedPlan:
    """Parse a saved plan file, or raise ``ConfigError`` (exit 3) naming the file and the fix."""
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise _bad(path, f"cannot read the saved plan: {error.strerror or error}", "check the path") from None
    if len(raw) > MAX_PLAN_BYTES:
        raise _bad(path, f"larger than {MAX_PLAN_BYTES // 2**20} MiB: not a saved plan")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _bad(path, "not UTF-8 text: the saved plan is corrupt") from None
    except json.JSONDecodeError as error:
        raise _bad(
            path, f"not valid JSON ({error.msg}): the saved plan is corrupt or truncated", line=error.lineno
        ) from None
    if not isinstance(doc, dict) or doc.get("document") != DOCUMENT:
        raise _bad(path, f'not a saved plan (no "document": "{DOCUMENT}")')
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _bad(path, "format_version is missing or not a number")
    if version > SAVED_PLAN_VERSION:
        raise _bad(
            path,
            f"written by a newer oktasync (format_version {version}; this one reads up to "
            f"{SAVED_PLAN_VERSION})",
            "apply it with the oktasync version that planned it, or re-plan with this one: "
            "oktasync plan CONFIG... --out FILE",
        )
    tenants = doc.get("tenants")
    if not isinstance(tenants, list) or not tenants:
        raise _bad(path, "it lists no tenants")
    options = doc.get("options")
    if not isinstance(options, dict):
        options = {}
    return SavedPlan(
        tuple(_tenant_from(path, item, i) for i, item in enumerate(tenants)),
        rotate_token=bool(options.get("rotate_token", False)),
        created_at=str(doc.get("created_at", "")),
        oktasync_version=str(doc.get("oktasync_version", "")),
    )


# --- what moved since the plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class Moved:
    """One thing that differs between the saved plan and now."""

    tenant: str
    what: str
    saved: str
    now: str

    def __str__(self) -> str:
        return f"{self.tenant}: {self.what}: saved {self.saved}, now {self.now}"

    def to_dict(self) -> dict[str, str]:
        return {"tenant": self.tenant, "what": self.what, "saved": self.saved, "now": self.now}


def _shown(value: Any, known: bool = True) -> str:
    if not known:
        return "(unknown)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "(none)"
    return repr(value) if isinstance(value, str) else str(value)


def _label(key: str) -> str:
    setting = SETTINGS_BY_KEY.get(key)
    return setting.label if setting is not None else key


def config_moves(saved: SavedPlan, configs: Sequence[TenantConfig]) -> list[Moved]:
    """What changed in the config files, their rendered values or the Bearer token since the plan."""
    moved: list[Moved] = []
    for entry, config in zip(saved.tenants, configs, strict=True):
        now_sha = file_sha256(entry.config)
        if now_sha != entry.config_sha256:
            moved.append(
                Moved(entry.tenant, f"config file {entry.config}", entry.config_sha256[:12], now_sha[:12])
            )
        effective = effective_config_sha256(config)
        if effective != entry.effective_config_sha256:
            moved.append(
                Moved(
                    entry.tenant,
                    "config as rendered (templated values)",
                    entry.effective_config_sha256[:12],
                    effective[:12],
                )
            )
        if config.tenant != entry.tenant:
            moved.append(Moved(entry.tenant, "tenant name", repr(entry.tenant), repr(config.tenant)))
        if not entry.token_record.matches(_token(config)):
            source = entry.token_source or "scim.auth.bearer_token"
            moved.append(Moved(entry.tenant, f"SCIM Bearer token ({source})", "one value", "a different one"))
    return moved


def _plan_moves(entry: SavedTenant, fresh: TenantPlan) -> list[Moved]:
    moved: list[Moved] = []
    saved_app = entry.plan.get("app") or {}
    if fresh.app is not None and saved_app.get("id") != fresh.app.id:
        moved.append(Moved(entry.tenant, "app", repr(saved_app.get("id")), repr(fresh.app.id)))
    if entry.plan.get("kind") != (fresh.kind.value if fresh.kind else None):
        moved.append(Moved(entry.tenant, "kind of app", str(entry.plan.get("kind")), str(fresh.kind)))
    if entry.plan.get("admin_session") != fresh.admin_session:
        moved.append(
            Moved(
                entry.tenant,
                "admin session",
                _shown(entry.plan.get("admin_session")),
                _shown(fresh.admin_session),
            )
        )
    observed_now = _observed(fresh)
    for key, saved_value in entry.observed.items():
        now = observed_now.get(key, {"known": False, "value": None})
        if (saved_value.get("known"), saved_value.get("value")) != (now["known"], now["value"]):
            moved.append(
                Moved(
                    entry.tenant,
                    f"{_label(key)} (actual, in Okta)",
                    _shown(saved_value.get("value"), bool(saved_value.get("known"))),
                    _shown(now["value"], now["known"]),
                )
            )
    saved_settings = {s.get("key"): s for s in entry.plan.get("settings", []) if isinstance(s, dict)}
    for setting in fresh.settings:
        before = saved_settings.get(setting.key, {})
        for field_name in ("desired", "status", "channel"):
            now_value = setting.to_dict()[field_name]
            if before.get(field_name) != now_value:
                moved.append(
                    Moved(
                        entry.tenant,
                        f"{setting.label} ({field_name})",
                        _shown(before.get(field_name)),
                        _shown(now_value),
                    )
                )
    return moved


def plan_moves(saved: SavedPlan, fresh: PlanResult) -> list[Moved]:
    """What differs between the saved plan and the plan made now. Tenants that could not be planned now
    are left out: apply reports their error itself."""
    moved: list[Moved] = []
    for entry, plan in zip(saved.tenants, fresh.tenants, strict=True):
        if not plan.error:
            moved += _plan_moves(entry, plan)
    return moved


def check_config_files(saved: SavedPlan, plan_path: str) -> None:
    """Every config the plan names must still be there (SafetyError, exit 4, otherwise)."""
    missing = [path for path in saved.config_paths if not Path(path).is_file()]
    if missing:
        raise SafetyError(
            f"the saved plan {plan_path} names configs that are not there now: {', '.join(missing)}",
            hint="run apply from the directory plan ran in, or re-plan: " + replan_command(saved, plan_path),
        )


@dataclass(frozen=True)
class SavedApply:
    """``apply FILE``'s outcome: ``result`` is None when nothing was applied (``moved`` says why, or the
    operator said no)."""

    plan: PlanResult
    result: ApplyResult | None
    moved: tuple[Moved, ...] = ()


async def apply_saved_plan(
    saved: SavedPlan,
    configs: Sequence[TenantConfig],
    *,
    state: StateDir,
    options: ApplyOptions,
    approve: Approve,
    token_sources: Sequence[str | None] | None = None,
    progress: Progress | None = None,
) -> SavedApply:
    """Apply ``saved`` if the configs and Okta are as the plan saw them; else refuse, listing what moved.

    The comparison runs on the fresh plan made under the apps' write locks, so nothing oktasync runs can
    change the app between the check and the writes. ``configs`` are the saved plan's, loaded now.
    """
    found = config_moves(saved, configs)

    def unchanged(fresh: PlanResult) -> bool:
        found.extend(plan_moves(saved, fresh))
        return not found

    plan, result = await apply_configs(
        list(zip(configs, saved.config_paths, strict=True)),
        state=state,
        options=replace(options, rotate_token=saved.rotate_token),
        approve=approve,
        token_sources=token_sources,
        progress=progress,
        check=unchanged,
    )
    return SavedApply(plan, result, tuple(found))


def replan_command(saved: SavedPlan, plan_path: str) -> str:
    rotate = " --rotate-token" if saved.rotate_token else ""
    return f"oktasync plan {' '.join(saved.config_paths)}{rotate} --out {plan_path}"


__all__ = [
    "DOCUMENT",
    "SAVED_PLAN_VERSION",
    "Moved",
    "SavedApply",
    "SavedPlan",
    "SavedTenant",
    "apply_saved_plan",
    "check_config_files",
    "config_moves",
    "make_saved_plan",
    "plan_moves",
    "read_saved_plan",
    "refuse_plan_report",
    "replan_command",
    "sniff_saved_plan",
    "write_saved_plan",
]
