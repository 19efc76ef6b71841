"""The wheel carries what every install layout needs: the package, its shipped playbooks, LICENSE, and
metadata that makes an older Python refuse it. Built offline (no build isolation: the test extra installs
setuptools and build), from a copy of the sources so the checkout is left untouched."""

from __future__ import annotations

import email
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from oktasync.playbooks.catalog import shipped_playbook_names

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "oktasync", source / "oktasync", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [built] = out.glob("oktasync-*.whl")
    return built


def test_wheel_carries_playbooks_and_license(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    playbooks = {name for name in names if name.startswith("oktasync/data/playbooks/")}
    assert playbooks == {f"oktasync/data/playbooks/{name}.yaml" for name in shipped_playbook_names()}
    assert len(playbooks) == 4
    [license_file] = [name for name in names if name.endswith(".dist-info/licenses/LICENSE")]
    assert zipfile.ZipFile(wheel).read(license_file) == (ROOT / "LICENSE").read_bytes()
    assert "oktasync/py.typed" in names
    # Nothing lands outside the package: data-files would go to <prefix>/share, which --user installs miss.
    assert not [name for name in names if ".data/" in name]


def test_wheel_metadata(wheel: Path) -> None:
    zipped = zipfile.ZipFile(wheel)
    [meta_name] = [name for name in zipped.namelist() if name.endswith(".dist-info/METADATA")]
    meta = email.message_from_bytes(zipped.read(meta_name))
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["License-File"] == "LICENSE"
    classifiers = meta.get_all("Classifier") or []
    for version in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert "Topic :: System :: Systems Administration" in classifiers
    requires = " ".join(meta.get_all("Requires-Dist") or [])
    assert "prometheus-client" in requires and "filelock" in requires
    entry_points = zipped.read(meta_name.replace("METADATA", "entry_points.txt")).decode()
    assert "oktasync = oktasync.cli:main" in entry_points


def test_license_is_the_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n                           Version 2.0, January 2004")
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply the Apache License" in text
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()


def _older_pythons() -> list[str]:
    """Pythons older than 3.11 on this machine: on PATH, or installed side by side by pyenv."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(name) for name in ("python3.10", "python3.9", "python3.8", "python2.7")]
    candidates += [str(path) for path in sorted(pyenv_root.glob("versions/*/bin/python"))]
    older = "import sys; sys.exit(0 if sys.version_info < (3, 11) else 3)"
    found: list[str] = []
    for path in candidates:
        if path and path not in found:
            if subprocess.run([path, "-c", older], capture_output=True, timeout=30).returncode == 0:
                found.append(path)
    return found


def test_checkout_run_with_an_old_python_says_so_in_one_line() -> None:
    pythons = _older_pythons()
    if not pythons:
        pytest.skip("no python3.10/3.9/3.8/2.7 on PATH to run the checkout with")
    for python in pythons:
        result = subprocess.run(
            [python, "-m", "oktasync", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 1, (python, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (python, result.stderr)
        assert lines[0].startswith("oktasync needs Python 3.11 or newer;"), lines


def test_docs_never_install_oktasync_from_an_index() -> None:
    """oktasync is not published: every install instruction names the repository or a built wheel."""
    by_name = re.compile(
        r"pip3? install (?:-{1,2}[\w-]+ )*['\"]?oktasync(?:\[[\w,]+\])?(?:[=<>~!]=?[\w.]+)?['\"]?(?=\s|$)"
    )
    offenders = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if by_name.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
    assert by_name.search("pip install oktasync") and by_name.search("pip install -U 'oktasync==0.1.0'")
    assert not by_name.search("pip install ./dist/oktasync-0.1.0-py3-none-any.whl")
    assert not by_name.search('pip install "git+https://github.com/your-org/oktasync@v0.1.0"')
