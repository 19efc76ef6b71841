"""jinja2 rendering of string values, after YAML parsing (docs/config.md "Templates and secrets").

Rendering value by value means a template can never inject YAML structure. Undefined names are errors,
with a message that says which environment variable or var is missing. The sandbox keeps templates from
reaching into Python objects.

Every render records its *sources*: the environment variables and files it read, directly or through a
var. ``load.py`` uses them to keep ``env`` and ``file()`` to the fields that may use them and to keep a
secret's source out of every other field (provenance, not a search of the output for known values).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import jinja2
import jinja2.sandbox

from oktasync.config.sandbox import BoundedSandbox, LimitExceeded, render_text, time_limit
from oktasync.errors import Problem
from oktasync.yamlsource import Path_, SourceDocument

# A secret kept in a file is a token or a key, never a large document.
MAX_SECRET_FILE_BYTES = 64 * 1024
# A rendered value longer than this is a template running away (``'x' * 10**9``), not a config value.
MAX_RENDERED_CHARS = 64 * 1024


@dataclass
class Tracker:
    """The sources read by the render in progress: ``env.NAME`` and ``file:/resolved/path`` labels."""

    sources: set[str] = field(default_factory=set)
    var_sources: dict[str, frozenset[str]] = field(default_factory=dict)
    # Unset environment variables the render in progress asked for, and the vars it read.
    missing_env: set[str] = field(default_factory=set)
    var_reads: set[str] = field(default_factory=set)
    # For each rendered path, the vars its template read.
    var_readers: dict[Path_, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class MissingEnv:
    """A template that failed only because environment variables are unset: the caller decides whether
    that is an error (a command about to use the value) or a warning (``validate``, which needs no
    secrets)."""

    names: frozenset[str]
    problem: Problem


class _WholeScope(jinja2.TemplateError):
    pass


class _Scope:
    """A template scope read one key at a time: never printable, iterable or listable as a whole (so
    ``{{ env }}`` cannot dump the environment), and every read is recorded in the tracker."""

    _what = "scope"

    def __init__(self, values: Mapping[str, Any], tracker: Tracker) -> None:
        self._values = values
        self._tracker = tracker

    def _refuse(self, *_: Any) -> NoReturn:
        raise _WholeScope(f"'{self._what}' cannot be used as a whole; name one key: {self._what}.NAME")

    __str__ = __repr__ = __iter__ = __len__ = __contains__ = _refuse

    def __bool__(self) -> bool:
        return True


class EnvScope(_Scope):
    """``env`` in templates: the process environment, one variable at a time."""

    _what = "env"

    def __getitem__(self, name: str) -> str:
        if name not in self._values:
            self._tracker.missing_env.add(name)
        value = self._values[name]  # KeyError: jinja2 makes it an undefined, named in the message
        self._tracker.sources.add(f"env.{name}")
        return str(value)


class VarsScope(_Scope):
    """``vars`` in templates: the config's own ``vars:`` mapping; reading a var reads its sources too."""

    _what = "vars"

    def __getitem__(self, name: str) -> Any:
        value = self._values[name]
        self._tracker.sources |= self._tracker.var_sources.get(name, frozenset())
        self._tracker.var_reads.add(name)
        return value


class _Missing(jinja2.StrictUndefined):
    @property
    def _undefined_message(self) -> str:
        owner = self._undefined_obj
        name = self._undefined_name
        if isinstance(owner, EnvScope):
            return f"environment variable {name} is not set"
        if isinstance(owner, VarsScope):
            return f"'vars.{name}' is not defined"
        if owner is jinja2.utils.missing:
            return f"'{name}' is undefined"
        return f"'{name}' is undefined in {type(owner).__name__}"


class FileRefused(jinja2.TemplateError):
    """``file()`` would not read the file; the message names the path as written, never the content."""


def read_confined_file(base_dir: Path, path: str) -> tuple[str, Path]:
    """Read a UTF-8 regular file inside ``base_dir``'s tree; returns its stripped text and resolved path."""
    root = base_dir.resolve()
    if not isinstance(path, str) or not path or "\x00" in path:
        raise FileRefused("file() needs a relative path to a file next to the config")
    try:
        target = (root / path).resolve()
    except (OSError, RuntimeError):
        raise FileRefused(f"file('{path}'): the path cannot be resolved (a link loop?)") from None
    if not target.is_relative_to(root):
        # Checked before existence: whether a file outside the tree exists is not the config's business.
        raise FileRefused(
            f"file('{path}') is outside the config's directory {root} (after resolving links); "
            "keep secret files in the config's directory tree"
        )
    if not target.exists():
        raise FileRefused(f"file('{path}'): no such file next to the config")
    try:
        # O_NONBLOCK: a FIFO must not hang the load; fstat on the open descriptor decides what it is.
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as error:
        raise FileRefused(f"file('{path}'): cannot open: {error.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise FileRefused(f"file('{path}') is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > MAX_SECRET_FILE_BYTES:
            raise FileRefused(f"file('{path}') is larger than {MAX_SECRET_FILE_BYTES // 1024} KiB")
        raw = handle.read(MAX_SECRET_FILE_BYTES + 1)
    if len(raw) > MAX_SECRET_FILE_BYTES:
        raise FileRefused(f"file('{path}') is larger than {MAX_SECRET_FILE_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FileRefused(f"file('{path}') is not UTF-8 text") from None
    return text.strip(), target


def make_environment(
    base_dir: Path | None = None, tracker: Tracker | None = None
) -> jinja2.sandbox.SandboxedEnvironment:
    env = BoundedSandbox(undefined=_Missing, autoescape=False, keep_trailing_newline=False)
    if base_dir is not None:
        reads = tracker or Tracker()

        def read_file(path: str) -> str:
            """{{ file('secrets/token') }}: a value kept in a file in the config's directory tree."""
            text, resolved = read_confined_file(base_dir, path)
            reads.sources.add(f"file:{resolved}")
            return text

        env.globals["file"] = read_file
    return env


def fix_for(message: str) -> str:
    if message.startswith("environment variable "):
        name = message.split()[2]
        return f"export {name}=… before running, or use {{{{ env.{name} | default('…') }}}}"
    if message.startswith("'vars."):
        return "define it under vars:"
    if message.startswith("file("):
        return "put the file in the config's directory (or below it) and name it by a relative path"
    if "cannot be used as a whole" in message:
        return "name the one variable the value needs"
    if "larger than" in message or "longer than" in message or "capped at" in message:
        return "config values are short: simplify the template"
    return "check the template"


def _failure_message(error: Exception, tracker: Tracker) -> str:
    """What to say about a failed render. Once the render has read a value, a library's message could
    quote it (``{{ env.TOKEN | attr(env.TOKEN) }}``): then say which sources were read, not the message."""
    if isinstance(error, jinja2.TemplateSyntaxError):
        return f"template syntax error: {error.message}"
    if isinstance(error, FileRefused | _WholeScope | LimitExceeded):
        return str(error)
    if tracker.sources:
        names = ", ".join(sorted(source.split("/")[-1] for source in tracker.sources))
        return f"template failed after reading {names} (the error is not shown: it could quote the value)"
    if isinstance(error, jinja2.UndefinedError):
        return str(error)
    return f"template failed: {error}"


def render_strings(
    data: Any,
    scope: Mapping[str, Any],
    doc: SourceDocument,
    environment: jinja2.Environment,
    *,
    path: Path_ = (),
    skip: Callable[[Path_], bool] = lambda p: False,
    tracker: Tracker | None = None,
    missing_env: dict[Path_, MissingEnv] | None = None,
) -> tuple[Any, list[Problem], dict[Path_, frozenset[str]]]:
    """Render every string in ``data``; return the result, the problems, and for each template path the
    sources it read (empty for a template that read none). With ``missing_env``, a template that fails
    only because environment variables are unset goes there instead of into the problems."""
    renderer = _StringRenderer(scope, doc, environment, skip, tracker or Tracker(), missing_env)
    return renderer.walk(data, path), renderer.problems, renderer.templated


# What a template may raise while rendering: each is reported as a problem at the template's path.
_RENDER_ERRORS = (
    jinja2.TemplateError,
    TypeError,
    ValueError,
    ArithmeticError,
    LookupError,
    MemoryError,
    RecursionError,
)


@dataclass
class _StringRenderer:
    """One ``render_strings`` pass: what it renders with, and the problems and sources found so far."""

    scope: Mapping[str, Any]
    doc: SourceDocument
    environment: jinja2.Environment
    skip: Callable[[Path_], bool]
    track: Tracker
    missing_env: dict[Path_, MissingEnv] | None
    problems: list[Problem] = field(default_factory=list)
    templated: dict[Path_, frozenset[str]] = field(default_factory=dict)

    def walk(self, value: Any, at: Path_) -> Any:
        if self.skip(at):
            return value
        if isinstance(value, dict):
            return {key: self.walk(item, (*at, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.walk(item, (*at, index)) for index, item in enumerate(value)]
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            return self.render(value, at)
        return value

    def render(self, value: str, at: Path_) -> Any:
        """The rendered template, or ``value`` itself when it fails (the failure recorded)."""
        track = self.track
        track.sources = set()
        track.missing_env = set()
        track.var_reads = set()
        try:
            with time_limit():
                return render_text(
                    self.environment.from_string(value), self.scope, max_chars=MAX_RENDERED_CHARS
                )
        except _RENDER_ERRORS as error:
            self._record_failure(error, at)
            return value
        finally:
            self.templated[at] = frozenset(track.sources)
            track.var_readers[at] = frozenset(track.var_reads)

    def _record_failure(self, error: Exception, at: Path_) -> None:
        """A problem, or with ``missing_env`` a template that fails only for unset environment variables."""
        message = _failure_message(error, self.track)
        fix = "fix the template" if "syntax" in message else fix_for(message)
        problem = self.doc.problem(at, message, fix)
        unset = frozenset(self.track.missing_env)
        only_unset = isinstance(error, jinja2.UndefinedError) and message.startswith("environment variable")
        if self.missing_env is not None and unset and only_unset:
            self.missing_env[at] = MissingEnv(unset, problem)
        else:
            self.problems.append(problem)


def iter_paths(templated: Mapping[Path_, frozenset[str]]) -> Iterator[tuple[Path_, frozenset[str]]]:
    return iter(sorted(templated.items(), key=lambda item: tuple(map(str, item[0]))))
