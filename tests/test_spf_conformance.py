"""The RFC 7208 conformance suite (OpenSPF, 203 tests) against smtpdiag's SPF evaluator,
with each scenario's zone data served by a real DNS server on loopback.

The suite is vendored in tests/conformance/ (rfc7208-tests.yml, with its BSD licence
and change log beside it); if it is missing the whole module fails (it is not skipped).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import dns.name
import pytest

from smtpdiag.auth.spf import check_host, identity
from smtpdiag.io.dns import DnsConfig, DnsLookup, make_resolver
from smtpdiag.testing.dns_server import ThreadedFakeDNS

from .spf_suite import SUITE, build_zone, load_suite

assert SUITE.exists(), f"the RFC 7208 suite is missing: {SUITE}"
SCENARIOS = load_suite()
CASES = [
    (index, name, test)
    for index, scenario in enumerate(SCENARIOS)
    for name, test in scenario["tests"].items()
]


def test_suite_has_203_tests() -> None:
    assert len(CASES) == 203


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[int, ThreadedFakeDNS]]:
    running: dict[int, ThreadedFakeDNS] = {}
    for index, scenario in enumerate(SCENARIOS):
        zone, behaviour = build_zone(scenario.get("zonedata", {}))
        server = ThreadedFakeDNS({dns.name.root: zone}, behaviour)
        server.start()
        running[index] = server
    yield running
    for server in running.values():
        server.stop()


@pytest.mark.parametrize(("index", "name", "test"), CASES, ids=[c[1] for c in CASES])
def test_rfc7208(
    servers: dict[int, ThreadedFakeDNS], index: int, name: str, test: dict[str, Any]
) -> None:
    host, port = servers[index].address
    resolver = make_resolver(DnsConfig(((host, port),), timeout=0.5))
    sender, domain = identity(test["mailfrom"], test["helo"])
    result = asyncio.run(
        check_host(
            DnsLookup(resolver),
            test["host"],
            domain,
            sender,
            test["helo"],
            default_explanation="DEFAULT",
        )
    )
    expected = test["result"] if isinstance(test["result"], list) else [test["result"]]
    assert result.result in expected, (
        f"{name}: got {result.result} ({result.error}), expected {expected}; "
        f"{test.get('description', '')}"
    )
    if "explanation" in test and result.result == "fail":
        assert result.explanation == test["explanation"]


@pytest.mark.parametrize(("index", "name", "test"), CASES, ids=[c[1] for c in CASES])
def test_rfc7208_through_the_cli(
    servers: dict[int, ThreadedFakeDNS], index: int, name: str, test: dict[str, Any]
) -> None:
    """The same 203 tests as a user runs them: ``smtpdiag auth --format json`` with the
    suite's MAIL FROM and HELO as given (spaces, quotes and all)."""
    import json

    from click.testing import CliRunner

    from smtpdiag.cli import main

    host, port = servers[index].address
    _, domain = identity(test["mailfrom"], test["helo"])
    args = [
        "auth", "--format", "json", "--ip", test["host"], "--mail-from", test["mailfrom"],
        "--helo", test["helo"], "--resolver", f"{host}:{port}", "--dns-timeout", "0.5",
        "--no-common-selectors", "--dnsbl", "bl.invalid", domain,
    ]  # fmt: skip
    out = CliRunner().invoke(main, args)
    assert out.exit_code in (0, 1, 3), (name, out.output, out.exception)
    spf = json.loads(out.output)["spf"]
    expected = test["result"] if isinstance(test["result"], list) else [test["result"]]
    assert spf["result"] in expected, f"{name}: got {spf['result']} ({spf['error']})"
