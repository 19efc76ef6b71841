"""Where an app's state lives: one directory per Okta org + app, ``<state>/apps/<org host>/<app id>/``.

Keying by org and app id (not by what a config calls the tenant or the app) means two configs that name the
same Okta app share its write lock, its resync journals and its run records, and renaming a tenant or an app
label in a config never loses track of a run in flight.

A state dir written by an earlier release of oktasync may also hold per-app state keyed by the tenant's name:
``<state>/<tenant>/<app id>/`` (tasks and hooks state, plan confirmations) and ``<state>/<tenant>/<app id or
label>/`` (playbook run records, snapshot checkpoints). ``StateDir.app_dir`` adopts it: every file found there
for the config's tenant is moved into the app's directory, one atomic rename at a time, so a run killed
half-way is finished by the next one. Two different files of one name are never merged: that is refused,
naming both, for a person to decide.
"""

from __future__ import annotations

import contextlib
import filecmp
import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from oktasync.state.files import StateFileError, check_dir, fsync_dir, link_refused, safe_mkdirs

log = logging.getLogger("oktasync.state")

APPS = "apps"  # the top-level directory of the per-app state; never a tenant's directory


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "default"


def org_host(org_url: str) -> str:
    """``https://acme.okta.com/`` → ``acme.okta.com``: the org part of an app's state-dir key."""
    return (urlparse(org_url).hostname or org_url).lower()


@dataclass(frozen=True)
class StateDir:
    root: Path

    def app_paths(self, app_key: str) -> list[Path]:
        """Every ``<state>/<tenant>/<app key>/`` directory of this app, whatever the tenant is called (not
        created): where a state dir written by an earlier release kept per-app state by tenant name."""
        if not self.root.is_dir():
            return []
        key = _slug(app_key)
        return sorted(
            tenant / key
            for tenant in self.root.iterdir()
            if tenant.name != APPS and not tenant.is_symlink() and (tenant / key).is_dir()
        )

    def for_okta_app(self, org_host: str, app_id: str) -> Path:
        """The directory of one Okta org + app (created on first use), whatever the tenant is called."""
        return safe_mkdirs(self.root / APPS / _slug(org_host) / _slug(app_id), self.root)

    def org_app_dirs(self, org_url: str) -> list[Path]:
        """The state directories of every app of one Okta org that has one (none is created; links are
        skipped): what an offline reader searches when a config names its app by label only."""
        org_dir = self.root / APPS / _slug(org_host(org_url))
        if not org_dir.is_dir() or org_dir.is_symlink():
            return []
        return sorted(path for path in org_dir.iterdir() if path.is_dir() and not path.is_symlink())

    def app_dir(
        self, org_url: str, app_id: str, *, tenant: str | None = None, label: str | None = None
    ) -> Path:
        """The one state directory of an Okta app, keyed by org and app id whatever a config calls the
        tenant or the app: its write lock, resync journals, tasks and hooks state, plan confirmations,
        playbook run records and snapshot checkpoints all live here.

        With ``tenant`` (and the app's ``label``), state a config of that tenant kept under
        ``<state>/<tenant>/<app id or label>/`` is moved here first."""
        target = self.for_okta_app(org_host(org_url), app_id)
        if tenant is not None:
            for legacy in self._tenant_dirs(tenant, app_id, label):
                _adopt_tree(legacy, target)
                _remove_if_empty(legacy)
                _remove_if_empty(legacy.parent)
        return target

    def _tenant_dirs(self, tenant: str, app_id: str, label: str | None) -> list[Path]:
        """The directories a config of ``tenant`` kept this app's state in, that exist (links refused)."""
        tenant_dir = self.root / _slug(tenant)
        if tenant_dir.name == APPS:
            return []  # the per-app tree itself, never a tenant's
        keys = dict.fromkeys(_slug(key) for key in (app_id, label) if key)
        check_dir(tenant_dir)
        found = []
        for key in keys:
            path = tenant_dir / key
            check_dir(path)
            if path.is_dir():
                found.append(path)
        return found


def _adopt_tree(source: Path, target: Path) -> None:
    """Move every entry of ``source`` into ``target`` (merging subdirectories), then sync ``target``."""
    try:
        entries = sorted(source.iterdir())
    except FileNotFoundError:
        return  # another process adopted the whole directory first
    for entry in entries:
        try:
            mode = os.lstat(entry).st_mode
        except FileNotFoundError:
            continue  # another process adopted it first
        destination = target / entry.name
        if stat.S_ISDIR(mode):
            _adopt_tree(entry, safe_mkdirs(destination, target))
            _remove_if_empty(entry)
        elif stat.S_ISREG(mode):
            _adopt_file(entry, destination)
        else:
            raise link_refused(entry, "state file")
    fsync_dir(target)


def _adopt_file(source: Path, destination: Path) -> None:
    if not os.path.lexists(destination):
        with contextlib.suppress(FileNotFoundError):  # another process adopted it first
            os.replace(source, destination)
            log.info("state file %s moved to %s", source, destination)
        return
    if destination.is_symlink() or not destination.is_file():
        raise link_refused(destination, "state file")
    try:
        same = source.suffix == ".lock" or filecmp.cmp(source, destination, shallow=False)
    except FileNotFoundError:
        return  # another process adopted it first
    if same:
        source.unlink(missing_ok=True)  # a lock file holds no state; an identical copy adds nothing
        return
    raise StateFileError(
        f"two different copies of {destination.name} for one app: {source} (kept under the tenant's name) "
        f"and {destination} (the app's state directory)",
        hint=f"compare them, keep the one that is right at {destination}, remove {source}, then run the "
        "command again",
    )


def _remove_if_empty(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (or already gone): left as it is
        directory.rmdir()
