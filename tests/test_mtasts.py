"""MTA-STS (RFC 8461): the record and policy parsers (pure), and `probe --transport`
against the fake MX servers of fixtures/scenarios/sts.toml, with the policies served by a
real HTTPS server on loopback (127.0.0.85 a valid certificate, .86 one for another name,
.87 an expired one; all from the rig's CA, given with --ca-file)."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from smtpdiag.core.mtasts import mx_matches, parse_policy, parse_record
from smtpdiag.testing.certs import make_certificates, server_context
from smtpdiag.testing.rig import Rig, load_scenario
from tests.conftest import FIXTURES, run_cli

ENFORCE = "version: STSv1\nmode: enforce\nmx: mx1.sts.test\nmax_age: 604800\n"
POLICIES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "mta-sts.good.sts.test": (200, {"Content-Type": "text/plain"}, ENFORCE.encode()),
    "mta-sts.missing.sts.test": (200, {"Content-Type": "text/plain"}, ENFORCE.encode()),
    "mta-sts.wild.sts.test": (
        200,
        {"Content-Type": "text/plain; charset=utf-8"},
        b"version: STSv1\r\nmode: enforce\r\nmx: *.sts.test\r\nmax_age: 86400\r\n",
    ),
    "mta-sts.testing.sts.test": (
        200,
        {"Content-Type": "text/plain"},
        ENFORCE.replace("enforce", "testing").encode(),
    ),
    "mta-sts.badcert.sts.test": (
        200,
        {"Content-Type": "text/plain"},
        ENFORCE.replace("mx1.sts.test", "mx-wrong.sts.test").encode(),
    ),
    "mta-sts.notls.sts.test": (
        200,
        {"Content-Type": "text/plain"},
        ENFORCE.replace("mx1.sts.test", "mx-plain.sts.test").encode(),
    ),
    "mta-sts.wrongname.sts.test": (200, {"Content-Type": "text/plain"}, ENFORCE.encode()),
    "mta-sts.expired.sts.test": (200, {"Content-Type": "text/plain"}, ENFORCE.encode()),
    "mta-sts.redirect.sts.test": (301, {"Location": "https://elsewhere.test/policy"}, b""),
    "mta-sts.html.sts.test": (200, {"Content-Type": "text/html"}, b"<html>" + ENFORCE.encode()),
    "mta-sts.big.sts.test": (200, {"Content-Type": "text/plain"}, ENFORCE.encode() * 2000),
    "mta-sts.broken.sts.test": (
        200,
        {"Content-Type": "text/plain"},
        b"version: STSv2\nmode: strict\nmax_age: 99999999\n",
    ),
}


#: policies sent with Transfer-Encoding: chunked
CHUNKED = {"mta-sts.wild.sts.test"}


class PolicyServers:
    """HTTPS on 127.0.0.85/86/87, one port: the answer for each Host of POLICIES."""

    def __init__(self, rig: Rig, tmp: Any) -> None:
        assert rig.ca_file is not None and rig.ca_key_file is not None
        issuer = (rig.ca_file, rig.ca_key_file)
        names = sorted(POLICIES)
        self.contexts = {
            "127.0.0.85": _context(tmp / "good", names, issuer),
            "127.0.0.86": _context(tmp / "wrong", ["mta-sts.elsewhere.test"], issuer),
            "127.0.0.87": _context(tmp / "expired", names, issuer, expired=True),
        }
        self.requests: list[str] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PolicyServers:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        first = await asyncio.start_server(
            self._serve, "127.0.0.85", 0, ssl=self.contexts["127.0.0.85"]
        )
        self.port = int(first.sockets[0].getsockname()[1])
        for ip in ("127.0.0.86", "127.0.0.87"):
            await asyncio.start_server(self._serve, ip, self.port, ssl=self.contexts[ip])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            host = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in head.split("\r\n")
                    if line.lower().startswith("host:")
                ),
                "",
            )
            self.requests.append(f"{host} {head.split()[1]}")
            status, headers, body = POLICIES.get(host, (404, {"Content-Type": "text/plain"}, b"no"))
            lines = [f"HTTP/1.1 {status} X", "Connection: close"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            if host in CHUNKED:  # in two chunks, as an HTTP/1.1 server may send it
                half = len(body) // 2
                parts = [body[:half], body[half:]]
                body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
                lines.append("Transfer-Encoding: chunked")
            else:
                lines.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()


def _context(
    directory: Any, names: list[str], issuer: Any, expired: bool = False
) -> ssl.SSLContext:
    _, cert, key = make_certificates(directory, names, issuer, expired)
    return server_context(cert, key)


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with Rig(load_scenario(FIXTURES / "scenarios" / "sts.toml")) as running:
        yield running
        assert running.forbidden_commands() == []


@pytest.fixture(scope="module")
def https(rig: Rig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyServers]:
    with PolicyServers(rig, tmp_path_factory.mktemp("sts")) as servers:
        yield servers


def transport(
    rig: Rig, https: PolicyServers, address: str, *extra: str
) -> tuple[int, dict[str, Any]]:
    result = run_cli(
        ["probe", "--resolver", rig.resolver, "--port", str(rig.smtp_port), "--helo",
         "probe.sts.test", "--ca-file", str(rig.ca_file), "--timeout", "5", "--transport",
         "--mta-sts-port", str(https.port), "--format", "json", *extra, address],
    )  # fmt: skip
    doc = json.loads(result.output)
    return result.exit_code, doc["transport"]["mta_sts"]


def by_host(sts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["host"]: m for m in sts["mx"]}


# -- through the CLI, against live servers -------------------------------------------------


def test_a_sound_policy_and_a_valid_certificate(rig: Rig, https: PolicyServers) -> None:
    code, sts = transport(rig, https, "a@good.sts.test")
    assert code == 0
    assert sts["record"] == {"found": True, "id": "20261201T000000", "problems": []}
    assert sts["policy"] == {"version": "STSv1", "mode": "enforce", "mx": ["mx1.sts.test"],
                             "max_age": 604800, "problems": []}  # fmt: skip
    assert by_host(sts)["mx1.sts.test"]["status"] == "ok"
    assert sts["summary"].startswith("MTA-STS mode enforce")
    assert "mta-sts.good.sts.test /.well-known/mta-sts.txt" in https.requests


def test_an_mx_missing_from_an_enforced_policy(rig: Rig, https: PolicyServers) -> None:
    _, sts = transport(rig, https, "a@missing.sts.test", "--all-mx")
    mx2 = by_host(sts)["mx2.sts.test"]
    assert mx2["status"] == "not-in-policy" and mx2["pattern"] is None
    assert "senders that enforce MTA-STS refuse it" in mx2["text"]
    assert by_host(sts)["mx1.sts.test"]["status"] == "ok"


def test_a_wildcard_matches_one_label(rig: Rig, https: PolicyServers) -> None:
    # (this policy comes chunked, CRLF line ends and a charset in its Content-Type)
    _, sts = transport(rig, https, "a@wild.sts.test")
    assert sts["policy"]["max_age"] == 86400
    assert by_host(sts)["mx1.sts.test"]["pattern"] == "*.sts.test"


def test_testing_mode_says_it_would_fail(rig: Rig, https: PolicyServers) -> None:
    _, sts = transport(rig, https, "a@testing.sts.test", "--all-mx")
    assert "in enforce mode senders would refuse it" in by_host(sts)["mx2.sts.test"]["text"]
    assert "testing" in sts["summary"]


def test_an_mx_certificate_for_another_name(rig: Rig, https: PolicyServers) -> None:
    _, sts = transport(rig, https, "a@badcert.sts.test")
    mx = by_host(sts)["mx-wrong.sts.test"]
    assert (mx["status"], mx["tls"], mx["cert_ok"]) == ("bad-cert", True, False)
    assert "senders that enforce MTA-STS refuse it" in mx["text"]


def test_an_mx_without_starttls(rig: Rig, https: PolicyServers) -> None:
    _, sts = transport(rig, https, "a@notls.sts.test")
    assert by_host(sts)["mx-plain.sts.test"]["status"] == "no-tls"


@pytest.mark.parametrize(
    ("domain", "kind", "words"),
    [
        ("wrongname", "tls", "certificate of mta-sts.wrongname.sts.test is not valid"),
        ("expired", "tls", "expired"),
        ("redirect", "redirect", "HTTP 301 redirect to https://elsewhere.test/policy"),
        ("html", "type", "not text/plain"),
        ("big", "size", "over 64 KB"),
    ],
)
def test_policy_fetch_failures(
    rig: Rig, https: PolicyServers, domain: str, kind: str, words: str
) -> None:
    _, sts = transport(rig, https, f"a@{domain}.sts.test")
    assert sts["fetch_error_kind"] == kind
    assert words in sts["fetch_error"]
    assert sts["policy"] is None and sts["mx"] == []
    assert sts["summary"].startswith("The MTA-STS policy at https://mta-sts.")


def test_an_invalid_policy(rig: Rig, https: PolicyServers) -> None:
    _, sts = transport(rig, https, "a@broken.sts.test")
    problems = " ".join(sts["policy"]["problems"])
    assert "not 'STSv1'" in problems and "mode is 'strict'" in problems
    assert "no mx" in problems and "over 31557600" in problems


def test_two_records_and_none(rig: Rig, https: PolicyServers) -> None:
    before = len(https.requests)
    _, sts = transport(rig, https, "a@two.sts.test")
    assert "2 v=STSv1 TXT records" in sts["record"]["problems"][0]
    _, sts = transport(rig, https, "a@none.sts.test")
    assert sts["record"]["found"] is False and "publishes no MTA-STS" in sts["summary"]
    assert len(https.requests) == before  # nothing fetched when the record says no


def test_text_output_in_both_languages(rig: Rig, https: PolicyServers) -> None:
    args = ["probe", "--resolver", rig.resolver, "--port", str(rig.smtp_port), "--helo",
            "probe.sts.test", "--ca-file", str(rig.ca_file), "--transport",
            "--mta-sts-port", str(https.port)]  # fmt: skip
    en = run_cli([*args, "a@badcert.sts.test"]).output
    assert "Transport security (MTA-STS RFC 8461, DANE RFC 7672, TLS-RPT)" in en
    assert "mx-wrong.sts.test's certificate does not verify" in en
    th = run_cli([*args, "--lang", "th", "a@badcert.sts.test"]).output
    assert "ความปลอดภัยของการส่ง" in th and "ใบรับรองของ mx-wrong.sts.test" in th


def test_no_transport_checks_unless_asked(rig: Rig, https: PolicyServers) -> None:
    before = len(https.requests)
    result = run_cli(
        ["probe", "--resolver", rig.resolver, "--port", str(rig.smtp_port),
         "--ca-file", str(rig.ca_file), "--format", "json", "a@good.sts.test"],
    )  # fmt: skip
    assert json.loads(result.output)["transport"] is None
    assert len(https.requests) == before


# -- the parsers (pure) --------------------------------------------------------------------


def test_record_parser() -> None:
    assert parse_record(["v=spf1 -all"]).found is False
    rec = parse_record(["v=STSv1; id=abc123;", "other"])
    assert (rec.found, rec.id, rec.problems) == (True, "abc123", ())
    assert parse_record(["v=STSv1;"]).problems == ("the TXT record has no id= field",)
    assert "not 1 to 32" in parse_record(["v=STSv1; id=a-b"]).problems[0]


def test_policy_parser() -> None:
    policy = parse_policy(
        "version: STSv1\nmode: testing\nmx: MX1.Example.COM.\nmx: *.example.net\n"
        "max_age: 0\nextra: ignored\n"
    )
    assert (policy.mode, policy.mx, policy.max_age, policy.valid) == (
        "testing", ("mx1.example.com", "*.example.net"), 0, True
    )  # fmt: skip
    assert parse_policy("version: STSv1\nmode: none\nmax_age: 1\n").valid  # none needs no mx
    assert not parse_policy("version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n").valid


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("mx1.example.com", "MX1.example.com.", True),
        ("*.example.com", "mx1.example.com", True),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", "example.com", False),
        ("mx1.example.com", "mx2.example.com", False),
    ],
)
def test_mx_patterns(pattern: str, host: str, matches: bool) -> None:
    assert mx_matches(pattern, host) is matches


def test_transport_in_a_list_fetches_each_policy_once(rig: Rig, https: PolicyServers) -> None:
    before = len(https.requests)
    result = run_cli(
        ["probe", "--resolver", rig.resolver, "--port", str(rig.smtp_port), "--ca-file",
         str(rig.ca_file), "--transport", "--mta-sts-port", str(https.port), "--format",
         "jsonl", "--no-progress", "a@good.sts.test", "b@good.sts.test", "c@badcert.sts.test"],
    )  # fmt: skip
    docs = {d["address"]: d for d in map(json.loads, result.stdout.splitlines())}
    assert (
        by_host(docs["a@good.sts.test"]["transport"]["mta_sts"])["mx1.sts.test"]["status"] == "ok"
    )
    assert docs["b@good.sts.test"]["transport"]["mta_sts"]["policy"]["mode"] == "enforce"
    bad = by_host(docs["c@badcert.sts.test"]["transport"]["mta_sts"])["mx-wrong.sts.test"]
    assert bad["status"] == "bad-cert"
    fetched = https.requests[before:]
    assert sorted(fetched) == [
        "mta-sts.badcert.sts.test /.well-known/mta-sts.txt",
        "mta-sts.good.sts.test /.well-known/mta-sts.txt",
    ]


def test_runs_by_itself_when_tls_decides(rig: Rig, https: PolicyServers) -> None:
    # --starttls require against an MX without STARTTLS: the verdict is about TLS, so the
    # MTA-STS checks run without --transport
    result = run_cli(
        ["probe", "--resolver", rig.resolver, "--port", str(rig.smtp_port), "--ca-file",
         str(rig.ca_file), "--starttls", "require", "--mta-sts-port", str(https.port),
         "--format", "json", "a@notls.sts.test"],
    )  # fmt: skip
    doc = json.loads(result.output)
    assert doc["reason"] == "tls-required"
    assert by_host(doc["transport"]["mta_sts"])["mx-plain.sts.test"]["status"] == "no-tls"


def test_the_tls_rpt_record_is_checked_too(rig: Rig, https: PolicyServers) -> None:
    def rpt(address: str) -> dict[str, Any]:
        result = run_cli(
            ["probe", "--resolver", rig.resolver, "--port", str(rig.smtp_port), "--ca-file",
             str(rig.ca_file), "--transport", "--mta-sts-port", str(https.port),
             "--format", "json", address],
        )  # fmt: skip
        return dict(json.loads(result.output)["transport"]["tls_rpt"])

    assert rpt("a@good.sts.test") == {
        "found": True, "rua": ["mailto:tlsrpt@good.sts.test"], "problems": []
    }  # fmt: skip
    assert "only mailto: and https:" in rpt("a@missing.sts.test")["problems"][0]
    assert rpt("a@wild.sts.test")["found"] is False


def test_auth_checks_the_transport_records(rig: Rig) -> None:
    base = ["auth", "--resolver", rig.resolver, "--dns-timeout", "2", "--no-common-selectors"]
    doc = json.loads(run_cli([*base, "--format", "json", "good.sts.test"]).output)
    assert doc["mta_sts_record"] == {"found": True, "id": "20261201T000000", "problems": []}
    assert doc["tls_rpt_record"]["rua"] == ["mailto:tlsrpt@good.sts.test"]
    text = run_cli([*base, "two.sts.test"]).output
    assert "MTA-STS: 2 v=STSv1 TXT records" in text
    assert "TLS-RPT: no _smtp._tls record" in text
