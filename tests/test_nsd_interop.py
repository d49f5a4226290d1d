"""DANE against a real authoritative server: Debian's nsd serving the same DNSSEC-signed
zones as tests/test_dane.py (exported by the fake DNS, keys and all), with our own
validation from the zones' trust anchor. The fake DNS could agree with our validator by
sharing its mistakes; nsd cannot.

CI sets SMTPDIAG_REQUIRE_NSD=1, which makes a missing nsd a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpdiag.testing.dns_server import export_signed
from smtpdiag.testing.rig import Rig, Scenario
from tests.conftest import run_cli
from tests.nsd_rig import NSD, running_nsd
from tests.test_dane import _write_world

REQUIRED = os.environ.get("SMTPDIAG_REQUIRE_NSD") == "1"


@pytest.fixture(scope="module")
def nsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Rig, str, Path]]:
    if NSD is None:
        if REQUIRED:
            pytest.fail("nsd is not installed (SMTPDIAG_REQUIRE_NSD=1): apt-get install nsd")
        pytest.skip("nsd is not installed (apt-get install nsd)")
    root = tmp_path_factory.mktemp("nsd")
    zones, servers = _write_world(root)
    signed = root / "signed"
    export_signed(zones, signed)
    scenario = Scenario(zones=zones, servers=tuple(servers))  # type: ignore[arg-type]
    with running_nsd(signed, root) as address, Rig(scenario) as rig:
        yield rig, address, signed / "trust-anchor.txt"


CASES = [  # address, MX records' DNSSEC, the host's status, its TLSA records' DNSSEC
    ("a@good.dane.test", "secure", "ok", "secure"),
    ("a@rolled.dane.test", "secure", "mismatch", "secure"),
    ("a@ta.dane.test", "secure", "ok", "secure"),
    ("a@taname.dane.test", "secure", "mismatch", "secure"),
    ("a@eename.dane.test", "secure", "ok", "secure"),
    ("a@notls.dane.test", "secure", "no-tls", "secure"),
    ("a@none.dane.test", "secure", "no-tlsa", "secure"),
    ("a@bogus.dane.test", "secure", "bogus", "bogus"),
    ("a@unusable.dane.test", "secure", "unusable", "secure"),
    ("a@plain.test", "insecure", "insecure", "insecure"),
    ("a@island.test", "insecure", "insecure", "insecure"),
    ("a@expired.test", "bogus", None, None),
    ("a@hashed.test", "secure", "no-tlsa", "secure"),  # NSEC3
    ("a@alias.dane.test", "secure", "ok", "secure"),  # a CNAME: the target's TLSA
    ("a@odd.test", "insecure", None, None),  # a DS of an unsupported algorithm
]


@pytest.mark.parametrize(("address", "mx", "status", "tlsa"), CASES)
def test_dane_over_nsd(
    nsd: tuple[Rig, str, Path], address: str, mx: str, status: str | None, tlsa: str | None
) -> None:
    rig, resolver, anchor = nsd
    started = time.monotonic()
    result = run_cli(["probe", "--resolver", resolver, "--port", str(rig.smtp_port),
                      "--transport", "--format", "json", "--trust-anchor", str(anchor),
                      "--timeout", "3", address])  # fmt: skip
    assert time.monotonic() - started < 20  # bounded
    dane = json.loads(result.output)["transport"]["dane"]
    assert dane["mx_records"]["dnssec"] == mx, dane["mx_records"]
    if status is not None:
        host = dane["hosts"][0]
        assert (host["status"], host["tlsa_dnssec"]) == (status, tlsa), host["text"]
