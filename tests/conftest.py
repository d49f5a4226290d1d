"""Shared fixtures: real fake servers (aiosmtpd + fake DNS) on loopback, and a CLI runner."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from smtpdiag.cli import main
from smtpdiag.fakes.rig import Rig, load_scenario

# Safety net: a test that forgets --resolver gets a dead resolver on loopback, never the
# machine's own (tests must not send traffic off 127.0.0.0/8). Subprocesses inherit it.
os.environ["SMTPDIAG_RESOLVER"] = "127.0.0.1:9"

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@pytest.fixture(scope="session")
def rig() -> Iterator[Rig]:
    """The probe-test servers of fixtures/scenarios/probe.toml, shared by all tests."""
    with Rig(load_scenario(FIXTURES / "scenarios" / "probe.toml")) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_data_ever(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that used the rig: no fake server may ever have received DATA or BDAT."""
    yield
    if "rig" in request.fixturenames:
        running: Rig = request.getfixturevalue("rig")
        assert running.forbidden_commands() == []


def base_args(rig: Rig) -> list[str]:
    return [
        "--resolver",
        rig.resolver,
        "--port",
        str(rig.smtp_port),
        "--helo",
        "probe.example.test",
        "--timeout",
        "3",
        "--dns-timeout",
        "1",
        "--no-shuffle",
        "--no-color",
    ]


def run_cli(args: list[str], input: str | None = None) -> Result:
    return CliRunner().invoke(main, args, input=input, catch_exceptions=False)


def probe_json(rig: Rig, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(["probe", *base_args(rig), "--format", "json", *args])
    return result.exit_code, json.loads(result.output)
