"""Size figures for the maintainability notes: longest functions, largest files, `dict[str, Any]` count.

Run from the repository root: `python scripts/code_figures.py [--functions N] [--files N]`.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

PACKAGE = Path("oktasync")


def function_lengths(root: Path) -> list[tuple[int, str, str]]:
    """(lines, qualified name, file) for every function and method under root."""
    found: list[tuple[int, str, str]] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found.extend(_functions_in(tree, path, prefix=""))
    return sorted(found, reverse=True)


def _functions_in(node: ast.AST, path: Path, prefix: str) -> list[tuple[int, str, str]]:
    found: list[tuple[int, str, str]] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{child.name}"
            length = (child.end_lineno or child.lineno) - child.lineno + 1
            found.append((length, name, str(path)))
            found.extend(_functions_in(child, path, prefix=f"{name}."))
        elif isinstance(child, ast.ClassDef):
            found.extend(_functions_in(child, path, prefix=f"{prefix}{child.name}."))
        else:
            found.extend(_functions_in(child, path, prefix))
    return found


def file_lengths(root: Path) -> list[tuple[int, str]]:
    sizes = [(len(p.read_text(encoding="utf-8").splitlines()), str(p)) for p in root.rglob("*.py")]
    return sorted(sizes, reverse=True)


def untyped_dict_count(root: Path) -> int:
    return sum(p.read_text(encoding="utf-8").count("dict[str, Any]") for p in root.rglob("*.py"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--functions", type=int, default=15)
    parser.add_argument("--files", type=int, default=10)
    args = parser.parse_args()
    print(f"## {args.functions} longest functions")
    for length, name, path in function_lengths(PACKAGE)[: args.functions]:
        print(f"{length:5d}  {name}  ({path})")
    print(f"\n## {args.files} largest files")
    for length, path in file_lengths(PACKAGE)[: args.files]:
        print(f"{length:5d}  {path}")
    print(f"\n## dict[str, Any] in {PACKAGE}/: {untyped_dict_count(PACKAGE)}")


if __name__ == "__main__":
    main()
