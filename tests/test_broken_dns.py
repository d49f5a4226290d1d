"""Broken DNS: truncated answers, CNAME loops, hundreds of MX records, huge TXT records.
Every case ends in bounded time with a clear reason."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import dns.name
import dns.zone
import pytest

from smtpdiag.testing.dns_server import Behaviour, ThreadedFakeDNS

from .conftest import run_cli

MANY_MX = "\n".join(f"manymx MX {i} mx{i}.broken.test." for i in range(300))
BIG_SPF = " ".join(f"ip4:198.51.100.{i}" for i in range(1, 100)) + " -all"
CHUNKS = " ".join(f'"{BIG_SPF[i : i + 250]}"' for i in range(0, len(BIG_SPF), 250))
ZONE = f"""
$TTL 300
@        SOA   ns.broken.test. hostmaster.broken.test. 1 3600 600 86400 300
@        NS    ns.broken.test.
ns       A     127.0.0.1
{MANY_MX}
loop     MX    10 loop1.broken.test.
loop1    CNAME loop2.broken.test.
loop2    CNAME loop1.broken.test.
bigspf   TXT   "v=spf1 " {CHUNKS}
"""


@pytest.fixture(scope="module")
def broken_dns() -> Iterator[ThreadedFakeDNS]:
    origin = dns.name.from_text("broken.test.")
    zone = dns.zone.from_text(ZONE, origin=origin, relativize=False, check_origin=False)
    with ThreadedFakeDNS({origin: zone}, Behaviour.of(truncate_udp_over=512)) as server:
        yield server


def resolver(server: ThreadedFakeDNS) -> str:
    host, port = server.address
    return f"{host}:{port}"


def test_hundreds_of_mx_records_are_capped(broken_dns: ThreadedFakeDNS) -> None:
    started = time.monotonic()
    result = run_cli(
        [
            "probe",
            "--resolver",
            resolver(broken_dns),
            "--dns-timeout",
            "1",
            "--timeout",
            "1",
            "--port",
            "9",
            "--deadline",
            "10",
            "--format",
            "json",
            "--dnsbl",
            "broken.test",
            "user@manymx.broken.test",
        ]
    )
    assert time.monotonic() - started < 20
    doc = json.loads(result.output)
    assert len(doc["mx"]["hosts"]) == 20
    assert "300 MX records" in doc["mx"]["error"]
    # the 300-record answer does not fit UDP: the resolver retried over TCP
    assert ("manymx.broken.test.", "MX", "tcp") in {
        (q[0].lower(), q[1], q[2]) for q in broken_dns.queries
    }
    assert result.exit_code == 4  # no MX host has an address


def test_cname_loop_mx_target(broken_dns: ThreadedFakeDNS) -> None:
    result = run_cli(
        [
            "probe",
            "--resolver",
            resolver(broken_dns),
            "--dns-timeout",
            "1",
            "--format",
            "json",
            "user@loop.broken.test",
        ]
    )
    doc = json.loads(result.output)
    assert (result.exit_code, doc["verdict"], doc["reason"]) == (4, "unknown", "dns-failure")
    assert doc["mx"]["hosts"][0]["error"]


def test_huge_spf_record_over_tcp(broken_dns: ThreadedFakeDNS) -> None:
    result = run_cli(
        [
            "auth",
            "bigspf.broken.test",
            "--resolver",
            resolver(broken_dns),
            "--dns-timeout",
            "1",
            "--no-common-selectors",
            "--format",
            "json",
        ]
    )
    doc = json.loads(result.output)
    assert doc["spf"]["record"].startswith("v=spf1 ip4:198.51.100.1 ")
    assert any("512" in p for p in doc["spf"]["problems"])
