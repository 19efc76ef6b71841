"""`oktasync validate` over a corpus of broken configs: each exits 3 naming the file and the right line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from oktasync.cli import cli

HERE = Path(__file__).parent
BROKEN = sorted((HERE / "broken").glob("*.yaml"))
ENV = {"OKTA_API_TOKEN": "okta-api-token-7f3a", "CHRONOSPHERE_SCIM_TOKEN": "scim-bearer-token-91c2"}


def expectation(path: Path) -> tuple[int, str]:
    first = path.read_text().splitlines()[:1]
    if not first:  # the empty file cannot carry its own expectation
        return 1, "is empty"
    match = re.match(r"# expect-line: (\d+) expect: (.+)", first[0])
    assert match, f"{path.name} must start with an expect comment"
    return int(match.group(1)), match.group(2)


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env or ENV, standalone_mode=False)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.return_value, result.stdout, result.stderr


def test_corpus_is_big_enough() -> None:
    assert len(BROKEN) >= 12


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_config_exits_3_at_the_right_line(path: Path) -> None:
    line, text = expectation(path)
    code, out, _ = invoke("validate", str(path))
    assert code == 3
    located = [
        entry for entry in out.splitlines() if f"{path}:{line}:" in entry or f"{path}:{line} " in entry
    ]
    assert any(text in entry for entry in located), out
    assert "Traceback" not in out


def test_valid_config_passes() -> None:
    code, out, _ = invoke("validate", str(HERE / "valid_base.yaml"))
    assert code == 0
    assert "ok" in out and "tenant acme" in out


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    text = (HERE / "valid_base.yaml").read_text()
    text = text.replace("https://acme.okta.com", "http://acme-admin.okta.com")
    text = text.replace("unique_identifier: email", "unique_identifier: mail")
    text = text.replace("create_users: true", "create_users: false") + "surprise: 1\n"
    config = tmp_path / "many.yaml"
    config.write_text(text)
    code, out, _ = invoke("validate", str(config))
    assert code == 3
    for fragment in (
        "must use https",
        "Admin Console URL",
        "unknown unique identifier",
        "requires to_app",
        "unknown key 'surprise'",
    ):
        assert fragment in out


def test_several_files_aggregate_exit_code() -> None:
    code, out, _ = invoke("validate", str(HERE / "valid_base.yaml"), str(BROKEN[0]))
    assert code == 3
    assert out.count("ok ") == 1 and out.count("invalid ") == 1


def test_json_output_is_one_document() -> None:
    import json

    code, out, _ = invoke(
        "validate", "--json", str(HERE / "valid_base.yaml"), str(HERE / "broken/empty.yaml")
    )
    assert code == 3
    document = json.loads(out)
    assert [entry["valid"] for entry in document["configs"]] == [True, False]


def test_missing_file_is_a_config_error() -> None:
    code, out, _ = invoke("validate", str(HERE / "does-not-exist.yaml"))
    assert code == 3
    assert "not found" in out


def test_secrets_never_appear_in_output() -> None:
    broken_with_secrets = HERE / "broken" / "wrong-type.yaml"
    for args in (
        ("validate", str(HERE / "valid_base.yaml")),
        ("validate", "--json", str(broken_with_secrets)),
    ):
        code, out, err = invoke(*args)
        for secret in ENV.values():
            assert secret not in out and secret not in err


def test_usage_error_exits_64() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "oktasync", "validate"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 64
    assert "Traceback" not in completed.stderr


def test_help_does_not_import_the_okta_sdk() -> None:
    probe = "import sys; from oktasync.cli import main; main(['--help']); print('okta' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert completed.stdout.strip().endswith("False")


def test_validate_does_not_import_the_okta_sdk() -> None:
    probe = (
        "import sys; from oktasync.cli import main; "
        f"code = main(['validate', {str(HERE / 'valid_base.yaml')!r}]); "
        "print(code, 'okta' in sys.modules, 'aiohttp' in sys.modules)"
    )
    env = {**ENV, "PATH": ""}
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert completed.stdout.strip().splitlines()[-1] == "0 False False"
