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
from smtpdiag.testing.rig import Rig, load_scenario

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


# -- every JSON document the tests make smtpdiag print is checked against its schema ---------

_SCHEMA_VALIDATOR: Any = None


def validate_json_output(doc: Any) -> None:
    """Check one JSON document against smtpdiag/schema/2.json (raises on a mismatch)."""
    global _SCHEMA_VALIDATOR
    if _SCHEMA_VALIDATOR is None:
        from importlib import resources

        import jsonschema

        schema = json.loads((resources.files("smtpdiag") / "schema" / "2.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        _SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(schema)
    errors = list(_SCHEMA_VALIDATOR.iter_errors(doc))
    if errors:  # say why, against the document kind it was meant to be
        import jsonschema

        kinds = (
            ("attempts", "probe"),
            ("recipients", "message"),
            ("spf", "auth"),
            ("codes", "compare"),
            ("cards", "explain"),
            ("doctor", "doctor"),
            ("tls_report", "tls_report"),
            ("error", "usage"),
        )
        kind = next((k for key, k in kinds if key in doc), "probe")
        sub = {**_SCHEMA_VALIDATOR.schema, "oneOf": [{"$ref": f"#/$defs/{kind}"}]}
        detail = next(jsonschema.Draft202012Validator(sub).iter_errors(doc), errors[0])
        raise AssertionError(
            f"JSON output ({kind}) does not match schema 2: {detail.message[:300]} "
            f"at {list(detail.absolute_path)}"
        )


@pytest.fixture(autouse=True)
def _json_outputs_match_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrap the JSON renderer (the one place every --format json document passes) so that
    each document a test produces in-process is validated as it is printed."""
    from smtpdiag.render import text as render

    original = render.dumps

    def checked(obj: dict[str, Any], indent: int | None = 2) -> str:
        text = original(obj, indent)
        validate_json_output(json.loads(text))
        return text

    monkeypatch.setattr(render, "dumps", checked)
    spliced = render.Fragments.line  # a list run's JSONL lines (shared fragments)

    def checked_line(self: Any, doc: dict[str, Any]) -> bytes:
        data = spliced(self, doc)
        validate_json_output(json.loads(data.decode("utf-8")))  # strict: valid UTF-8
        return data

    monkeypatch.setattr(render.Fragments, "line", checked_line)
