"""`smtpdiag doctor`: the resolver, outbound port 25, the address the servers see (NAT),
reverse DNS, the HELO name and blocklists, against the fake servers and DNS of
fixtures/scenarios/tester.toml (and a real SOCKS proxy)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from smtpdiag.testing.rig import Rig, load_scenario
from tests import proxy_rig
from tests.conftest import FIXTURES, run_cli
from tests.test_tester import holes  # noqa: F401  (the fixture)


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with Rig(load_scenario(FIXTURES / "scenarios" / "tester.toml")) as running:
        yield running
        assert running.forbidden_commands() == []


def doctor(rig: Rig, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(
        ["doctor", "--resolver", rig.resolver, "--port", str(rig.smtp_port), "--helo",
         "probe.tester.test", "--dnsbl", "dnsbl.tester.test", "--timeout", "1",
         "--format", "json", *extra],
    )  # fmt: skip
    return result.exit_code, json.loads(result.output)


def statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in doc["checks"]}


def test_a_healthy_host(rig: Rig) -> None:
    code, doc = doctor(rig, "ok.tester.test")
    assert code == 0
    assert statuses(doc) == {
        "resolver": "ok",
        "port25": "ok",
        "client-ip": "ok",
        "ptr": "ok",
        "helo": "ok",
        "dnsbl": "ok",
    }
    assert doc["local_ip"] == "127.0.0.1"
    # greeting and EHLO only: the server saw no MAIL or RCPT
    assert [c.split()[0] for c in rig.logs["127.0.0.79"].commands] == ["EHLO", "QUIT"]


def test_nat_seen_in_the_ehlo_reply_and_that_address_checked(rig: Rig) -> None:
    code, doc = doctor(rig, "seen.tester.test")
    assert (doc["seen_ip"], doc["seen_from"]) == ("198.51.100.23", "ehlo")
    checks = {c["id"]: c for c in doc["checks"]}
    assert (
        checks["client-ip"]["status"] == "warning" and "Behind NAT" in checks["client-ip"]["text"]
    )
    assert checks["ptr"]["status"] == "problem"  # a PTR that does not resolve back
    assert checks["dnsbl"]["status"] == "problem"
    assert "dnsbl.tester.test" in checks["dnsbl"]["text"]
    assert code == 1


def test_public_ip(rig: Rig) -> None:
    _, doc = doctor(rig, "ok.tester.test", "--public-ip", "198.51.100.23")
    assert (doc["seen_ip"], doc["seen_from"]) == ("198.51.100.23", "public-ip")
    assert statuses(doc)["dnsbl"] == "problem"


def test_port_25_blocked(rig: Rig, holes: None) -> None:  # noqa: F811
    code, doc = doctor(rig, "blocked25.tester.test")
    port25 = next(c for c in doc["checks"] if c["id"] == "port25")
    assert port25["status"] == "problem"
    assert "looks blocked on this network" in port25["text"]
    assert "--proxy" in port25["advice"]
    assert code == 1


def test_a_dead_resolver_is_exit_4(rig: Rig) -> None:
    result = run_cli(["doctor", "--resolver", "127.0.0.1:9", "--dns-timeout", "0.5",
                      "--format", "json", "ok.tester.test"])  # fmt: skip
    doc = json.loads(result.output)
    assert result.exit_code == 4
    assert [c["id"] for c in doc["checks"]] == ["resolver"]


def test_text_report(rig: Rig) -> None:
    result = run_cli(["doctor", "--resolver", rig.resolver, "--port", str(rig.smtp_port),
                      "--helo", "probe.tester.test", "--dnsbl", "dnsbl.tester.test",
                      "seen.tester.test"])  # fmt: skip
    assert "[!!] dnsbl" in result.output
    assert "-> Servers using these lists refuse this host" in result.output
    th = run_cli(["doctor", "--lang", "th", "--resolver", rig.resolver, "--port",
                  str(rig.smtp_port), "ok.tester.test"])  # fmt: skip
    assert "DNS resolver ตอบกลับปกติ" in th.output


def test_through_a_proxy(rig: Rig) -> None:
    if proxy_rig.missing():
        if proxy_rig.REQUIRED:
            pytest.fail("microsocks is not installed (SMTPDIAG_REQUIRE_PROXIES=1)")
        pytest.skip("microsocks is not installed")
    port = proxy_rig.free_port()
    with proxy_rig.microsocks(port):
        code, doc = doctor(rig, "ok.tester.test", "--proxy", f"socks5://127.0.0.1:{port}")
    assert doc["route"] == f"socks5://127.0.0.1:{port}"
    assert statuses(doc)["port25"] == "ok"
    dead = proxy_rig.free_port()
    code, doc = doctor(rig, "ok.tester.test", "--proxy", f"socks5://127.0.0.1:{dead}")
    port25 = next(c for c in doc["checks"] if c["id"] == "port25")
    assert port25["status"] == "problem" and "could not connect to proxy" in port25["text"]
    assert code == 1


def test_bad_input_is_one_line(rig: Rig) -> None:
    result = run_cli(["doctor", "--public-ip", "nope", "ok.tester.test"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    result = run_cli(["doctor", "exa mple.com"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


def test_without_a_domain_the_resolver_is_asked_for_the_root(tmp_path: Any) -> None:
    from smtpdiag.testing.dns_server import ThreadedFakeDNS

    (tmp_path / "..zone").write_text(
        "$TTL 300\n. SOA a.root.test. hostmaster.root.test. 1 3600 600 86400 60\n"
        ". NS a.root.test.\n"
    )
    with ThreadedFakeDNS.from_directory(tmp_path) as dns:
        host, port = dns.address
        result = run_cli(["doctor", "--resolver", f"{host}:{port}", "--format", "json"])
        doc = json.loads(result.output)
        assert statuses(doc)["resolver"] == "ok" and statuses(doc)["port25"] == "skipped"
        assert (".", "NS", "udp") in dns.queries
    empty = tmp_path / "empty"
    empty.mkdir()
    with ThreadedFakeDNS.from_directory(empty) as dns:  # a server that refuses the root
        host, port = dns.address
        result = run_cli(["doctor", "--resolver", f"{host}:{port}", "--format", "json",
                          "--dns-timeout", "1"])  # fmt: skip
        assert statuses(json.loads(result.output))["resolver"] == "problem"
