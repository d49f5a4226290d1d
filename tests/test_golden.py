"""Golden transcripts: the text a user sees, compared with files in fixtures/golden/.

Run-dependent parts (ports, timings, the random catch-all address, certificate dates)
are normalised. To accept a deliberate change of output:
SMTPDIAG_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os
import re

import pytest

from smtpdiag.testing.rig import Rig

from .conftest import FIXTURES, base_args, run_cli

GOLDEN = FIXTURES / "golden"
CASES = {
    "deliverable": ["alice@example.test"],
    "unknown-user": ["nobody@example.test"],
    "failover": ["bob@failover.example.test"],
    "starttls": ["user@tls.example.test"],
    "null-mx": ["user@null.example.test"],
    "escape": ["user@escape.example.test"],
    "sender-rejected": ["--from", "me@sender.test", "user@badsender.example.test"],
}


def normalise(text: str, rig: Rig) -> str:
    text = text.replace(f":{rig.smtp_port}", ":PORT").replace(f"port {rig.smtp_port}", "port PORT")
    text = re.sub(r"from 127\.0\.0\.1:\d+", "from 127.0.0.1:LOCALPORT", text)
    text = re.sub(r"\(\d+(\.\d+)? ms\)", "(N ms)", text)
    text = re.sub(r"\d+(\.\d+)? ms$", "N ms", text, flags=re.MULTILINE)
    text = re.sub(r"smtpdiag-nonexistent-[0-9a-f]{12}", "smtpdiag-nonexistent-RANDOM", text)
    text = re.sub(r"valid \S+ to \S+", "valid DATES", text)
    return text


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_transcript(rig: Rig, name: str) -> None:
    result = run_cli(["probe", *base_args(rig), *CASES[name]])
    actual = normalise(result.output, rig)
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("SMTPDIAG_UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with SMTPDIAG_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8")
