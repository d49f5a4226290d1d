"""DANE against a real authoritative server: Debian's nsd serving the same DNSSEC-signed
zones as tests/test_dane.py (exported by the fake DNS, keys and all), with our own
validation from the zones' trust anchor. The fake DNS could agree with our validator by
sharing its mistakes; nsd cannot.

CI sets SMTPDIAG_REQUIRE_NSD=1, which makes a missing nsd a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpdiag.testing.dns_server import export_signed
from smtpdiag.testing.rig import Rig, Scenario
from tests.conftest import run_cli
from tests.test_dane import _write_world

REQUIRED = os.environ.get("SMTPDIAG_REQUIRE_NSD") == "1"
NSD = shutil.which("nsd") or ("/usr/sbin/nsd" if os.path.exists("/usr/sbin/nsd") else None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    import dns.message
    import dns.query

    try:
        dns.query.udp(dns.message.make_query("dane.test", "SOA"), "127.0.0.1", 0.5, port)
    except Exception:
        return False
    return True


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
    port = _free_port()
    conf = [
        "server:", f"  ip-address: 127.0.0.1@{port}", '  username: ""', '  chroot: ""',
        f'  zonesdir: "{signed}"', '  database: ""', f'  pidfile: "{root}/nsd.pid"',
        f'  xfrdfile: "{root}/xfrd.state"', f'  zonelistfile: "{root}/zone.list"',
        f'  logfile: "{root}/nsd.log"', "remote-control:", "  control-enable: no",
    ]  # fmt: skip
    for path in sorted(signed.glob("*.zone")):
        origin = path.name.removesuffix(".zone") or "."
        conf += ["zone:", f'  name: "{origin}"', f'  zonefile: "{path.name}"']
    (root / "nsd.conf").write_text("\n".join(conf) + "\n")
    proc = subprocess.Popen([NSD, "-d", "-c", str(root / "nsd.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        for _ in range(100):
            if _answers(port) or proc.poll() is not None:
                break
            time.sleep(0.1)
        if proc.poll() is not None or not _answers(port):
            log = (root / "nsd.log").read_text() if (root / "nsd.log").exists() else ""
            pytest.fail(f"nsd did not start: {log[-2000:]}")
        with Rig(Scenario(zones=zones, servers=tuple(servers))) as rig:  # type: ignore[arg-type]
            yield rig, f"127.0.0.1:{port}", signed / "trust-anchor.txt"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


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
