"""Crash-safe, link-proof files: atomic JSON replace, checksummed append-only journals, non-blocking locks.

A killed process (SIGKILL included) leaves either the old or the new version of a JSON file, and a journal
whose every complete line is a record that was fsynced before the step it describes went ahead.

Every state file is opened without following symbolic links (``O_NOFOLLOW``) and must be a regular file;
every state directory from the state-dir root down must be a real directory (not a link). Files are created
``0600`` and directories ``0700``. The GitOps docs tell users to commit the state dir, so a pull request
could plant a link that points a lock, a journal or a whole tenant directory at something else: such a path
is refused (``StateFileError``, exit 4) instead of written through.

Journal records (one JSON object per line) carry ``seq`` (1, 2, 3, … in file order) and ``sum`` (the first 16
hex digits of the SHA-256 of the record without ``sum``, as compact sorted JSON). Reading checks both: a
record that does not parse, fails its checksum or is out of sequence is corruption (``StateFileError``
naming the file and line). A last line without its newline is a torn write (killed, or the disk filled up,
mid-line): readers skip it and the next ``append`` cuts it off first. Records without ``seq`` and ``sum``
(files written before records were checksummed) are read as they are, but only before the first checked
record. A write that fails (``ENOSPC``, ``EIO``) is cut back to the last complete record and raised as
``StateWriteError``: the journal stays exactly as it was before the failed append.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import lock_descriptor

from oktasync.errors import LockedError, OktasyncError, SafetyError

log = logging.getLogger("oktasync.state")

FILE_MODE = 0o600
DIR_MODE = 0o700
_OPEN_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC


class StateFileError(SafetyError):
    """A state file or directory that cannot be trusted: a link, not a regular file, or corrupt (exit 4)."""


class StateWriteError(OktasyncError):
    """A state file could not be written (disk full, I/O error); what was on disk before is intact."""


def link_refused(path: Path, what: str) -> StateFileError:
    return StateFileError(
        f"{what} {path} is a symbolic link or not of the expected kind; oktasync never writes through links "
        "in the state dir",
        hint=f"remove {path} (check where it came from: a committed state dir can plant links), then run "
        "the command again",
    )


def safe_mkdirs(path: Path, root: Path | None = None) -> Path:
    """Create ``path`` (mode 0700) and check that it and every directory between ``root`` and it is a real
    directory, not a symbolic link. ``root`` itself may be a link (an operator's choice)."""
    root = root if root is not None else path
    try:
        relative = path.relative_to(root)
    except ValueError:
        root, relative = path, Path()
    root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    current = root
    for part in relative.parts:  # one level at a time: nothing is ever created through a link
        current = current / part
        with contextlib.suppress(FileExistsError):
            os.mkdir(current, DIR_MODE)
        if not stat.S_ISDIR(os.lstat(current).st_mode):
            raise link_refused(current, "state directory")
    return path


def check_dir(path: Path) -> None:
    """Refuse ``path`` unless it is a real directory (``lstat``: a link to a directory is refused)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        raise link_refused(path, "state directory")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _OPEN_FLAGS)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_regular(path: Path, flags: int, what: str) -> int:
    """``os.open`` without following a link; refuse anything but a regular file."""
    try:
        fd = os.open(path, flags | _OPEN_FLAGS, FILE_MODE)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise link_refused(path, what) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise link_refused(path, what)
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_failed(path: Path, error: OSError) -> StateWriteError:
    full = error.errno in (errno.ENOSPC, errno.EDQUOT)
    why = "the disk is full" if full else (error.strerror or str(error))
    return StateWriteError(
        f"cannot write {path}: {why}; the file is left as it was before this write",
        hint="free space on that file system (or fix the I/O error), then run the command again"
        + ("; a resync is finished with --resume" if path.suffix == ".jsonl" else ""),
    )


def atomic_write_json(path: Path, document: Any) -> None:
    """Write ``document`` to ``path`` so that readers see the old or the new file, never half of one."""
    check_dir(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise link_refused(path, "state file")
    data = (json.dumps(document, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except OSError as error:
            raise _write_failed(path, error) from error
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _corrupt(path: Path, detail: str, fix: str) -> StateFileError:
    return StateFileError(f"state file {path} is corrupt: {detail}", hint=fix)


def read_json(path: Path, default: Any = None) -> Any:
    """The JSON document at ``path`` (``default`` when there is none). Links, non-regular files, bad JSON and
    unresolved git conflict markers are refused with the file named (``StateFileError``)."""
    try:
        fd = _open_regular(path, os.O_RDONLY, "state file")
    except FileNotFoundError:
        return default
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read()
    text = raw.decode("utf-8", errors="replace")
    fix = (
        f"restore {path.name} from its last good version (git checkout / backup), or delete it to start "
        "that record afresh"
    )
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith(("<<<<<<< ", ">>>>>>> ")) or line == "=======":
            raise _corrupt(path, f"unresolved git merge conflict marker at line {number}", fix)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        detail = f"not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        raise _corrupt(path, detail, fix) from None


def record_checksum(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "sum"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class JournalScan:
    records: list[dict[str, Any]]
    size: int  # bytes of complete, checked records (where the next record goes)
    torn: bool  # a last line without its newline follows them


class Journal:
    """An append-only JSONL file of checksummed, sequence-numbered records; ``append`` returns only after
    the record is on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._known: tuple[int, int] | None = None  # (file size, records) after our last read or write

    def exists(self) -> bool:
        return os.path.lexists(self.path)

    def _fix_hint(self) -> str:
        return (
            f"restore {self.path} from a backup if you have one; otherwise move it aside and check the app "
            "in the Admin Console (oktasync never guesses what a damaged journal meant)"
        )

    def scan(self) -> JournalScan:
        try:
            fd = _open_regular(self.path, os.O_RDONLY, "journal")
        except FileNotFoundError:
            return JournalScan([], 0, False)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        records: list[dict[str, Any]] = []
        offset = 0
        checked = False
        lines = data.split(b"\n")
        complete, tail = lines[:-1], lines[-1]
        for number, raw in enumerate(complete, start=1):
            try:
                record = json.loads(raw.decode("utf-8"))
                if not isinstance(record, dict):
                    raise ValueError("not an object")
            except ValueError:
                raise _corrupt(self.path, f"line {number} is not a JSON record", self._fix_hint()) from None
            if "sum" in record or "seq" in record:
                checked = True
                if record.get("sum") != record_checksum(record):
                    raise _corrupt(self.path, f"line {number} fails its checksum", self._fix_hint())
                if record.get("seq") != number:
                    raise _corrupt(
                        self.path,
                        f"line {number} carries sequence number {record.get('seq')} (records are missing, "
                        "repeated or out of order)",
                        self._fix_hint(),
                    )
            elif checked:
                raise _corrupt(self.path, f"line {number} has no checksum", self._fix_hint())
            records.append(record)
            offset += len(raw) + 1
        self._known = (offset, len(records)) if not tail else None
        return JournalScan(records, offset, bool(tail))

    def records(self) -> list[dict[str, Any]]:
        """Every complete, checked record, in order. A torn final line (killed mid-write) is skipped."""
        return self.scan().records

    def append(self, record: dict[str, Any]) -> None:
        check_dir(self.path.parent)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        new_file = not self.exists()
        fd = _open_regular(self.path, os.O_RDWR | os.O_CREAT, "journal")
        try:
            size = os.fstat(fd).st_size
            if self._known is not None and self._known[0] == size:
                count = self._known[1]
            else:
                scan = self.scan()
                count = len(scan.records)
                if scan.torn:
                    log.warning(
                        "%s: cutting a torn last line (an interrupted write) before appending", self.path
                    )
                    os.ftruncate(fd, scan.size)
                size = scan.size
            full = {**record, "seq": count + 1}
            full["sum"] = record_checksum(full)
            line = (json.dumps(full, sort_keys=True, default=str) + "\n").encode("utf-8")
            try:
                os.lseek(fd, size, os.SEEK_SET)
                _write_all(fd, line)
                os.fsync(fd)
            except OSError as error:
                self._known = None
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)  # cut what did reach the file: the journal is as it was
                    os.fsync(fd)
                raise _write_failed(self.path, error) from error
            self._known = (size + len(line), count + 1)
        finally:
            os.close(fd)
        if new_file:
            fsync_dir(self.path.parent)


# Locks this process holds, by path: a playbook holds the app lock and its resync step takes it again.
_held: dict[str, int] = {}


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str, *, reentrant: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` or raise ``LockedError`` at once (never wait).

    The lock is filelock's native one (``lock_descriptor``: ``flock`` on Linux, macOS and the BSDs) on a
    descriptor opened here without following links: it dies with its process, so a killed run never leaves a
    stale lock behind, and the file is never truncated by a process that fails to get it, so the holder's
    ``pid`` stays readable for the refusal message. ``reentrant``: a holder in this process that took it
    ``reentrant`` too shares it (a playbook and its resync step); any other second taker is refused, in this
    process as in another.
    """
    key = os.path.abspath(path)
    if reentrant and _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    check_dir(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    fd = _open_regular(path, os.O_RDWR | os.O_CREAT, "lock file")
    try:
        if not lock_descriptor(fd, blocking=False):
            holder = os.pread(fd, 200, 0).decode("utf-8", errors="replace").strip() or "another process"
            raise LockedError(
                f"{what} is already running ({holder})",
                hint="wait for it to finish; the lock is released when that process exits",
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        if reentrant:
            _held[key] = 1
        try:
            yield
        finally:
            _held.pop(key, None)
    finally:
        os.close(fd)
