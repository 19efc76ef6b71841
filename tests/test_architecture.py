"""The layering contract, checked: every import, at module level or inside a function, points down the layers.

    cli → demo, rehearsal → playbooks → workflows → okta_gateway, scim_gateway
        → config, state, models, errors, progress

The emulator is independent of the product (tests, benchmarks and the demo start it; it imports nothing else
from oktasync), no package imports one above it, and no module takes part in an import cycle, counting the
imports inside functions (a cycle hidden in a function is still two modules that cannot be read apart).
docs/architecture.md, Layers describes the layers.
"""

from __future__ import annotations

import ast
import graphlib
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "oktasync"

# The base layer: domain values, errors, the progress interface and small shared utilities.
BASE = {
    "config",
    "state",
    "models",
    "errors",
    "progress",
    "loopback",
    "textsafe",
    "timestamps",
    "webhooks",
    "yamlsource",
    "retrying",
    "httptrace",
}
GATEWAYS = {"okta_gateway", "scim_gateway"}
# What each top-level part of the package may import from oktasync, besides itself.
ALLOWED: dict[str, set[str]] = {
    "__main__": {"cli"},
    "__init__": set(),
    "cli": {"demo", "rehearsal", "playbooks", "workflows", "emulator", *GATEWAYS, *BASE},
    # The demo and the rehearsal run the workflows and playbooks against a local emulator.
    "rehearsal": {"playbooks", "workflows", "emulator", *GATEWAYS, *BASE},
    "demo": {"playbooks", "workflows", "emulator", *GATEWAYS, *BASE},
    "playbooks": {"workflows", *GATEWAYS, *BASE},
    "workflows": {*GATEWAYS, *BASE},
    "okta_gateway": BASE,
    "scim_gateway": BASE - {"state", "progress"},
    "config": {"errors", "models", "loopback", "textsafe", "webhooks", "yamlsource"},
    "state": {"errors", "textsafe"},
    "webhooks": {"errors", "loopback", "textsafe"},
    "yamlsource": {"errors"},
    "models": set(),
    "errors": set(),
    "progress": set(),
    "loopback": set(),
    "textsafe": set(),
    "timestamps": set(),
    # The one retry policy and the request trace of every HTTP channel (Okta API, Admin Console, SCIM).
    "retrying": set(),
    "httptrace": set(),
    # The emulator stands alone: it shares only the loopback check and the bounded YAML reader (whose
    # ConfigError the CLI reports for a bad --state file).
    "emulator": {"loopback", "yamlsource", "errors"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    """The statements under ``if TYPE_CHECKING:``: read by mypy, never run."""
    guarded: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}:
            guarded |= {inner for statement in node.body for inner in ast.walk(statement)}
    return guarded


@cache
def _imports(module: str, *, runtime: bool = False) -> list[tuple[int, str]]:
    """(line, module) for every oktasync module this one imports, wherever the import statement is (in a
    function too); with ``runtime``, without the imports under ``if TYPE_CHECKING:``."""
    path = _modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree) if runtime else set()
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            # `from package import submodule` imports the submodule; any other name comes from `source`.
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.append((node.lineno, submodule if submodule in _modules() else source))
    return [(line, name) for line, name in found if name == "oktasync" or name.startswith("oktasync.")]


def _violations() -> list[str]:
    problems = []
    for module, path in _modules().items():
        part = _part(module)
        for line, target in _imports(module):
            target_part = _part(target)
            if target_part != part and target_part not in ALLOWED[part]:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {part} imports {target}")
    return problems


def _cycle() -> list[str]:
    """One import cycle among oktasync's modules (its first module repeated at the end), or []."""
    graph = {m: {target for _, target in _imports(m, runtime=True) if target != m} for m in _modules()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as cycle:
        return list(cycle.args[1])
    return []


def test_every_part_of_the_package_has_a_rule() -> None:
    assert {_part(module) for module in _modules()} <= set(ALLOWED)


def test_every_import_points_down_the_layers() -> None:
    assert _violations() == []


def test_no_import_cycles_between_modules() -> None:
    assert _cycle() == []


def test_the_checks_see_imports_inside_functions() -> None:
    # okta_gateway/__init__.py imports the SDK gateway inside open_gateway, to keep `--help` fast.
    assert "oktasync.okta_gateway.sdk" in {target for _, target in _imports("oktasync.okta_gateway")}


def test_the_emulator_imports_nothing_of_the_product() -> None:
    emulator = [module for module in _modules() if _part(module) == "emulator"]
    assert len(emulator) > 10
    imported = {_part(target) for module in emulator for _, target in _imports(module)}
    assert imported <= {"emulator", "loopback", "yamlsource", "errors"}


# One tenant session (workflows/session.py) opens Okta and resolves the app for every command and playbook;
# one state-dir key per app (StateDir.app_dir) that only the state layer spells out.
ONLY_CALLED_IN = {
    "open_gateway": ("oktasync/okta_gateway/", "oktasync/workflows/session.py"),
    "resolve_app": ("oktasync/okta_gateway/", "oktasync/workflows/session.py"),
    "for_okta_app": ("oktasync/state/",),
}


def _calls(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of every call of a plain name or an attribute (``f(…)``, ``x.f(…)``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Name):
                found.append((node.lineno, function.id))
            elif isinstance(function, ast.Attribute):
                found.append((node.lineno, function.attr))
    return found


def _misplaced_calls() -> list[str]:
    problems = []
    for path in _modules().values():
        where = path.relative_to(PACKAGE.parent).as_posix()
        for line, name in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            allowed = ONLY_CALLED_IN.get(name)
            if allowed is not None and not where.startswith(allowed):
                problems.append(f"{where}:{line}: calls {name}")
    return problems


def test_okta_is_opened_and_app_state_dirs_are_keyed_in_one_place_each() -> None:
    assert _misplaced_calls() == []


def test_the_one_place_check_sees_calls_of_both_shapes() -> None:
    source = "open_gateway(config)\nStateDir(root).for_okta_app('acme', '0oa1')\nawait x.resolve_app(g, c)\n"
    assert sorted(_calls(ast.parse(source))) == [
        (1, "open_gateway"),
        (2, "StateDir"),
        (2, "for_okta_app"),
        (3, "resolve_app"),
    ]
