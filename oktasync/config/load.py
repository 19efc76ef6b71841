"""Load a tenant config: YAML → templates → schema → cross-field rules, every problem reported at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pydantic

from oktasync import webhooks
from oktasync.config.problems import document_path, field_names, model_at, type_fix, unknown_key_fix
from oktasync.config.schema import (
    ENV_ALLOWED_PATHS,
    SECRET_LIST_PATHS,
    SECRET_PATHS,
    UNIQUE_IDENTIFIERS,
    TenantConfig,
    looks_secret,
)
from oktasync.config.secret import MASK
from oktasync.config.templating import (
    EnvScope,
    MissingEnv,
    Tracker,
    VarsScope,
    iter_paths,
    make_environment,
    render_strings,
)
from oktasync.errors import ConfigError, Problem
from oktasync.loopback import is_loopback_host
from oktasync.yamlsource import Path_, SourceDocument, dotted_key, load_yaml_document

# Empty optional secrets (e.g. `{{ env.OKTA_ADMIN_SESSION | default('') }}`) mean "not given".
_OPTIONAL_SECRETS: tuple[Path_, ...] = (("okta", "admin_session"), ("okta", "token"))
# Not a secret itself, but where the private key is: unset in CI like the secrets are.
_SECRET_LOCATIONS: tuple[Path_, ...] = (("okta", "oauth", "private_key_file"),)


@dataclass
class TenantCheck:
    """The outcome of checking one tenant config: its problems (errors and warnings, in file order) and
    the config when there is no error. With ``secrets_required=False`` the secrets whose environment
    variables are unset hold their template text: such a config is for reading, never for running."""

    file: str
    config: TenantConfig | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def load_tenant(path: Path | str, environ: Mapping[str, str] | None = None) -> TenantConfig:
    """Load and validate one tenant config, or raise ``ConfigError`` listing every problem. Every secret
    must be available: an unset environment variable a secret reads is an error here."""
    check = check_tenant(path, environ, secrets_required=True)
    if check.errors or check.config is None:
        raise ConfigError(check.errors)
    return check.config


def check_tenant(
    path: Path | str, environ: Mapping[str, str] | None = None, *, secrets_required: bool = False
) -> TenantCheck:
    """Check one tenant config without raising for its content (``validate``). Without
    ``secrets_required``, an unset environment variable that only secrets read is a warning: checking a
    config needs no production secrets. A file that cannot be read or parsed gives its one problem."""
    try:
        doc = load_yaml_document(path, what="tenant config")
    except ConfigError as error:
        return TenantCheck(str(path), None, error.problems)
    tracker = Tracker()
    env = os.environ if environ is None else environ
    data, problems, templated, missing = _render(doc, env, Path(path).parent, tracker)
    problems += _unset_env_problems(doc, missing, tracker, secrets_required=secrets_required)
    problems += _check_secrets_are_templates(doc, templated)
    source_problems, refused = _source_problems(doc, templated)
    problems += source_problems
    for refused_path in refused:
        # Later rules quote values ("unknown unique identifier 'x'"): they get the template back instead.
        _put(data, refused_path, _get(doc.data, refused_path))
    _drop_empty_optional_secrets(data)
    _resolve_relative_paths(data, Path(path).parent)
    config: TenantConfig | None = None
    try:
        config = TenantConfig.model_validate(data)
    except pydantic.ValidationError as error:
        problems += [_schema_problem(doc, data, item) for item in error.errors(include_input=False)]
    problems += _cross_field_problems(doc, data)
    problems = _dedupe(problems)
    has_errors = any(problem.severity == "error" for problem in problems)
    return TenantCheck(doc.file, None if has_errors else config, problems)


def load_tenants(paths: list[str]) -> list[TenantConfig]:
    """Load several configs; one ``ConfigError`` for all their problems together."""
    configs: list[TenantConfig] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            configs.append(load_tenant(path))
        except ConfigError as error:
            problems += error.problems
    if problems:
        raise ConfigError(problems)
    return configs


def _render(
    doc: SourceDocument, environ: Mapping[str, str], base_dir: Path, tracker: Tracker
) -> tuple[Any, list[Problem], dict[Path_, frozenset[str]], dict[Path_, MissingEnv]]:
    missing: dict[Path_, MissingEnv] = {}
    environment = make_environment(base_dir, tracker)
    env = EnvScope(environ, tracker)
    raw_vars = doc.data.get("vars", {})
    problems: list[Problem] = []
    if not isinstance(raw_vars, dict):
        problems.append(
            doc.problem(("vars",), "vars must be a mapping of names to values", "vars: {name: value}")
        )
        raw_vars = {}
    # vars may use env, not other vars: render them first, then everything else with both in scope.
    rendered_vars, var_problems, var_templated = render_strings(
        raw_vars, {"env": env}, doc, environment, path=("vars",), tracker=tracker, missing_env=missing
    )
    problems += var_problems
    for name in rendered_vars:
        read = [sources for at, sources in var_templated.items() if at[:2] == ("vars", name)]
        tracker.var_sources[name] = frozenset().union(*read)
    scope = {"env": env, "vars": VarsScope(rendered_vars, tracker)}
    data, other_problems, templated = render_strings(
        doc.data,
        scope,
        doc,
        environment,
        skip=lambda p: p[:1] == ("vars",),
        tracker=tracker,
        missing_env=missing,
    )
    problems += other_problems
    if isinstance(data, dict) and isinstance(data.get("vars"), dict):
        # A var read from the environment or a file has done its job once the fields using it are
        # rendered; the config keeps it only masked, so no dump of the config can show it.
        data["vars"] = {
            name: MASK if tracker.var_sources.get(name) else value for name, value in rendered_vars.items()
        }
    return data, problems, {**var_templated, **templated}, missing


def _unset_env_problems(
    doc: SourceDocument, missing: Mapping[Path_, MissingEnv], tracker: Tracker, *, secrets_required: bool
) -> list[Problem]:
    """Templates that failed only for unset environment variables. When only secrets (or the private
    key's location) read the variable, the problem says which secret needs it: a warning for
    ``validate`` (it needs no secrets), an error for a command about to use the secret. Any other
    unset variable is an error: the value it gives is checked."""
    secret_paths = {*_secret_paths(doc.data), *_SECRET_LOCATIONS}
    problems: list[Problem] = []
    for at, unset in sorted(missing.items(), key=lambda item: tuple(map(str, item[0]))):
        readers = [at]
        if at[:1] == ("vars",) and len(at) > 1:
            name = at[1]
            readers = [p for p, read in tracker.var_readers.items() if name in read and p[:1] != ("vars",)]
        if not readers or any(reader not in secret_paths for reader in readers):
            problems.append(unset.problem)
            continue
        variable = unset.problem.message.split()[2]
        what = "; ".join(_secret_role(reader) for reader in readers)
        message = f"environment variable {variable} is not set ({what} reads it)"
        if secrets_required:
            fix = f"export {variable} before running this command (oktasync validate does not need it)"
        else:
            fix = (
                f"export {variable} where plan, apply and the other commands run (validate --strict needs it)"
            )
        problems.append(doc.problem(at, message, fix, warning=not secrets_required))
    return problems


def _secret_paths(data: Any) -> list[Path_]:
    paths: list[Path_] = list(SECRET_PATHS)
    for list_path, key in SECRET_LIST_PATHS:
        items = _get(data, list_path)
        if isinstance(items, list):
            paths += [(*list_path, index, key) for index in range(len(items))]
    return paths


def _secret_role(path: Path_) -> str:
    if path in _SECRET_LOCATIONS:
        return f"{_dotted(path)}, the private key's location,"
    return f"the secret {_dotted(path)}"


def _dotted(path: Path_) -> str:
    return dotted_key(path) or "(top level)"


def _source_problems(
    doc: SourceDocument, templated: Mapping[Path_, frozenset[str]]
) -> tuple[list[Problem], set[Path_]]:
    """``env`` and ``file()`` only in the secret fields and the allow-list; a secret's source only in
    secret fields (docs/config.md "Templates and secrets"). Returns the problems and the refused paths."""
    secret_paths = set(_secret_paths(doc.data))
    secret_sources: dict[str, Path_] = {}
    for path in sorted(secret_paths, key=lambda p: tuple(map(str, p))):
        for source in templated.get(path, frozenset()):
            secret_sources.setdefault(source, path)
    problems: list[Problem] = []
    refused: set[Path_] = set()
    for path, sources in iter_paths(templated):
        if not sources or path in secret_paths or path[:1] == ("vars",):
            continue
        field = _dotted(path)
        if _allow_listed(path) is None:
            refused.add(path)
            problems.append(
                doc.problem(
                    path,
                    f"{field} may not read env or file(): only the secret fields and the documented "
                    "allow-list may",
                    "write the value here; docs/config.md lists the fields that may read env and file()",
                )
            )
            continue
        for source in sorted(sources):
            owner = secret_sources.get(source)
            name = source.rsplit("/", 1)[-1]
            if owner is not None:
                why = f"it feeds the secret {_dotted(owner)}"
            elif source.startswith("env.") and looks_secret(source[4:]):
                why = "its name says it holds a secret"
            else:
                continue
            refused.add(path)
            problems.append(
                doc.problem(
                    path,
                    f"{field} reads {name}, but {why}: a secret's source may feed only secret fields",
                    "take this value from another variable or write it here",
                )
            )
    return problems, refused


def _allow_listed(path: Path_) -> Path_ | None:
    generic = tuple("*" if isinstance(part, int) else part for part in path)
    return generic if generic in ENV_ALLOWED_PATHS else None


def _check_secrets_are_templates(
    doc: SourceDocument, templated: Mapping[Path_, frozenset[str]]
) -> list[Problem]:
    problems = []
    for path in _secret_paths(doc.data):
        value = _get(doc.data, path)
        if isinstance(value, str) and value and path not in templated:
            name = "_".join(str(part) for part in path if not isinstance(part, int)).upper()
            problems.append(
                doc.problem(
                    path,
                    f"secret '{'.'.join(map(str, path))}' is written inline",
                    f'take it from the environment or a file: "{{{{ env.{name} }}}}"',
                )
            )
    return problems


def _drop_empty_optional_secrets(data: Any) -> None:
    for path in _OPTIONAL_SECRETS:
        parent = _get(data, path[:-1])
        if isinstance(parent, dict) and parent.get(path[-1]) in ("", None):
            parent.pop(path[-1], None)


def _resolve_relative_paths(data: Any, base_dir: Path) -> None:
    """File paths in a config are relative to the config file, not to wherever oktasync runs."""
    oauth = _get(data, ("okta", "oauth"))
    if isinstance(oauth, dict) and isinstance(oauth.get("private_key_file"), str):
        key_file = Path(oauth["private_key_file"]).expanduser()
        oauth["private_key_file"] = str(key_file if key_file.is_absolute() else base_dir / key_file)


def _schema_problem(doc: SourceDocument, data: Any, item: Mapping[str, Any]) -> Problem:
    loc = document_path(item["loc"], data, item["type"])
    kind = item["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = model_at(TenantConfig, loc[:-1])
        fix = unknown_key_fix(key, field_names(model)) if model else "remove it or check its spelling"
        where = f" in {_dotted(loc[:-1])}" if loc[:-1] else ""
        return doc.problem(loc, f"unknown key '{key}'{where}", fix, at_key=True)
    if kind == "missing":
        problem = doc.problem(loc[:-1], f"missing required key '{_dotted(loc)}'", f"add {loc[-1]}:")
        return Problem(problem.file, problem.line, problem.column, problem.message, problem.fix, _dotted(loc))
    return doc.problem(loc, f"{_dotted(loc)}: {item['msg']}", type_fix(item))


def _hostname(url: Any) -> str | None:
    try:
        return urlsplit(url).hostname if isinstance(url, str) else None
    except ValueError:
        return None


def _url_problems(doc: SourceDocument, path: Path_, value: Any, what: str) -> list[Problem]:
    if not isinstance(value, str) or "{{" in value:
        return []  # not a string, or a template that failed to render (already reported)
    try:
        parts = urlsplit(value)
        parts.hostname  # noqa: B018 - parses the host; raises on malformed brackets
    except ValueError:
        return [doc.problem(path, f"{what} is not a valid URL: '{value}'", "write a full https:// URL")]
    if parts.scheme == "https" and parts.hostname:
        return []
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return []  # the loopback emulator and local SCIM servers only
    if parts.scheme == "http":
        return [doc.problem(path, f"{what} must use https", f"use https://{parts.netloc}{parts.path}")]
    return [doc.problem(path, f"{what} is not an https URL: '{value}'", "write a full https:// URL")]


def webhook_url_problem(url: str, *, allow_private: bool = False) -> str | None:
    """Why ``url`` cannot be a webhook, or None. Never quotes the URL: webhook URLs carry their token."""
    return webhooks.url_problem(url, allow_private=allow_private)


def _webhook_problems(doc: SourceDocument, data: dict[str, Any]) -> list[Problem]:
    targets = _get(data, ("tasks", "notify"))
    problems: list[Problem] = []
    for index, target in enumerate(targets if isinstance(targets, list) else []):
        url = target.get("webhook") if isinstance(target, dict) else None
        if not isinstance(url, str) or not url.strip() or "{{" in url:
            continue  # empty = not configured here; a failed template is reported already
        why = webhook_url_problem(url, allow_private=target.get("allow_private_address") is True)
        if why:
            problems.append(
                doc.problem(
                    ("tasks", "notify", index, "webhook"),
                    f"tasks.notify[{index}].webhook {why} (value not shown: webhook URLs are secrets)",
                    "check the environment variable or file it comes from",
                )
            )
    return problems


def _cross_field_problems(doc: SourceDocument, data: Any) -> list[Problem]:
    if not isinstance(data, dict):
        return []
    problems: list[Problem] = []
    org_url = _get(data, ("okta", "org_url"))
    problems += _url_problems(doc, ("okta", "org_url"), org_url, "okta.org_url")
    host = _hostname(org_url)
    if host and host.split(".")[0].endswith("-admin"):
        fixed = host.replace("-admin.", ".", 1)
        problems.append(
            doc.problem(
                ("okta", "org_url"),
                "okta.org_url is the Admin Console URL; the API lives on the org URL",
                f"use https://{fixed}",
            )
        )
    okta = data.get("okta")
    if isinstance(okta, dict) and ("token" in okta) == ("oauth" in okta):
        problems.append(
            doc.problem(
                ("okta",),
                "okta needs exactly one of 'token' (SSWS API token) or 'oauth' (service app)",
                'add token: "{{ env.OKTA_API_TOKEN }}" or an oauth: block',
                at_key=True,
            )
        )
    app = data.get("app")
    if isinstance(app, dict) and bool(app.get("label")) == bool(app.get("id")):
        message = "app needs exactly one of 'label' or 'id'" + (" (both given)" if app.get("label") else "")
        fix = "keep label (as in the Admin Console) or id (0oa…)"
        problems.append(doc.problem(("app",), message, fix, at_key=True))
    problems += _url_problems(doc, ("scim", "base_url"), _get(data, ("scim", "base_url")), "scim.base_url")
    identifier = _get(data, ("scim", "unique_identifier"))
    if isinstance(identifier, str) and identifier not in UNIQUE_IDENTIFIERS:
        problems.append(
            doc.problem(
                ("scim", "unique_identifier"),
                f"unknown unique identifier '{identifier}'",
                "one of: " + ", ".join(UNIQUE_IDENTIFIERS) + " (the runbook uses email)",
            )
        )
    problems += _push_requires_create(doc, data)
    problems += _webhook_problems(doc, data)
    return problems


def _push_requires_create(doc: SourceDocument, data: dict[str, Any]) -> list[Problem]:
    """Okta provisions new users only when both switches are on; either alone fails every push."""
    push = _get(data, ("scim", "push_new_users"))
    create = _get(data, ("to_app", "create_users"))
    push = True if push is None else push  # the schema defaults
    create = True if create is None else create
    if push is True and create is False:
        return [
            doc.problem(
                ("to_app", "create_users"),
                "scim.push_new_users requires to_app.create_users: with Create Users off, Okta never "
                "creates the users that Push New Users announces, and provisioning fails",
                "set to_app.create_users: true",
            )
        ]
    if push is False and create is True:
        return [
            doc.problem(
                ("scim", "push_new_users"),
                "to_app.create_users requires scim.push_new_users: the connector must support Push New "
                "Users or Create Users has nothing to push, and provisioning fails",
                "set scim.push_new_users: true",
            )
        ]
    return []


def _put(data: Any, path: Path_, value: Any) -> None:
    parent = _get(data, path[:-1])
    key = path[-1]
    if isinstance(parent, dict) and isinstance(key, str):
        parent[key] = value
    elif isinstance(parent, list) and isinstance(key, int) and key < len(parent):
        parent[key] = value


def _get(data: Any, path: Path_) -> Any:
    for part in path:
        if isinstance(data, dict) and isinstance(part, str):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for problem in problems:
        key = (problem.file, problem.line, problem.column, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return sorted(unique, key=lambda p: (p.file, p.line or 0, p.column or 0))
