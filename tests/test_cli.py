"""The command line as users run it: help, version, exit codes, the demo, the installed script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smtpdiag import __version__
from smtpdiag.cli import EXIT_CODES_HELP

from .conftest import run_cli

HEAVY = ("aiosmtplib", "dns", "cryptography", "aiosmtpd", "asyncio", "idna")


def _imported_modules(*args: str) -> set[str]:
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['smtpdiag', {', '.join(repr(a) for a in args)}]\n"
        "try:\n    runpy.run_module('smtpdiag', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    return {line.split(".")[0] for line in proc.stderr.splitlines()}


def test_version_and_help_import_nothing_heavy() -> None:
    for args in (("--version",), ("--help",), ("probe", "--help")):
        loaded = _imported_modules(*args)
        assert "click" in loaded  # the check itself works
        assert not loaded & set(HEAVY), (args, loaded & set(HEAVY))


def test_version() -> None:
    result = run_cli(["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"smtpdiag, version {__version__}"


def test_help_documents_exit_codes() -> None:
    result = run_cli(["probe", "--help"])
    assert result.exit_code == 0
    for line in ("0  deliverable", "1  undeliverable", "2  usage", "3  temporary", "4  unknown"):
        assert line in result.output
    assert "--resolver" in result.output and "--starttls" in result.output
    assert EXIT_CODES_HELP.splitlines()[1] in run_cli(["--help"]).output


def test_missing_address_is_a_usage_error() -> None:
    result = run_cli(["probe"])
    assert result.exit_code == 2


def test_demo_runs_every_scenario() -> None:
    result = run_cli(["demo", "--no-color"])
    assert result.exit_code == 0, result.output
    assert "Demo: 9 of 9 scenarios gave the expected verdict" in result.output
    for verdict in ("deliverable", "undeliverable", "temporary", "accept-all"):
        assert f"Verdict: {verdict}" in result.output


def test_demo_json_is_one_object_per_line() -> None:
    result = run_cli(["demo", "--format", "json"])
    assert result.exit_code == 0
    docs = [json.loads(line) for line in result.output.splitlines()]
    assert [d["verdict"] for d in docs] == [
        "deliverable",
        "undeliverable",
        "temporary",
        "undeliverable",
        "deliverable",
        "deliverable",
        "accept-all",
        "deliverable",
        "undeliverable",
    ]


def _console_script() -> str | None:
    beside = Path(sys.executable).with_name("smtpdiag")
    return str(beside) if beside.exists() else shutil.which("smtpdiag")


def test_installed_console_script_runs_the_demo() -> None:
    script = _console_script()
    assert script is not None, "the smtpdiag console script is not installed (pip install -e .)"
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run(
        [script, "demo"], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in proc.stdout
    assert "Verdict: deliverable" in proc.stdout


def test_python_dash_m_bad_address_exits_2_with_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "smtpdiag", "probe", "--resolver", "127.0.0.1:9", "not-an-address"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("smtpdiag: error: 'not-an-address' has no '@'")


def test_bad_address_with_json_output_gives_a_json_refusal() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "smtpdiag",
            "probe",
            "--format",
            "json",
            "--resolver",
            "127.0.0.1:9",
            "user@example.test\r\nDATA",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert (doc["verdict"], doc["reason"], doc["exit_code"]) == (None, "syntax", 2)
    assert "\r" not in proc.stdout and "CR" in doc["summary"]
    assert proc.stderr.startswith("smtpdiag: error:")


def test_the_json_schema_names_every_reason_stage_and_error_kind() -> None:
    """smtpdiag/schema/2.json is data: its enums must follow the typed vocabulary."""
    import json
    from importlib import resources

    from smtpdiag.core.model import ERROR_KINDS, REASONS, STAGES, VERDICTS

    schema = json.loads((resources.files("smtpdiag") / "schema" / "2.json").read_text())
    defs = schema["$defs"]
    assert defs["reason"]["enum"] == list(REASONS)
    assert defs["step"]["properties"]["stage"]["enum"] == list(STAGES)
    assert defs["step"]["properties"]["error_kind"]["enum"] == [*ERROR_KINDS, None]
    assert defs["probe"]["properties"]["verdict"]["enum"] == list(VERDICTS)


def test_the_schema_rejects_what_it_must() -> None:
    from .conftest import validate_json_output

    good = {"schema": 2, "error": "usage", "summary": "x", "exit_code": 2}
    validate_json_output(good)
    for bad in ({**good, "schema": 1}, {**good, "exit_code": 0}, {"schema": 2}):
        with pytest.raises(AssertionError, match="does not match schema 2"):
            validate_json_output(bad)
