"""'Is it me?': refusals about the tester never blame the mailbox (blocked_side), the
client address a refusal quotes (NAT) and --public-ip are what the PTR and blocklist
checks ask about, and a network that drops port 25 is named as such. Real fake servers
(fixtures/scenarios/tester.toml), the fake DNS, and listeners that never complete a TCP
handshake."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from smtpdiag.core.diagnose import blocked_side, quoted_client_ip
from smtpdiag.core.model import Annotation, Classification, Diagnosis, Reply, Step
from smtpdiag.testing.rig import Rig, load_scenario
from tests.conftest import FIXTURES, run_cli


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with Rig(load_scenario(FIXTURES / "scenarios" / "tester.toml")) as running:
        yield running
        assert running.forbidden_commands() == []


@pytest.fixture(scope="module")
def holes(rig: Rig) -> Iterator[None]:
    """127.0.0.77 and .78 on the rig's port: a listen queue of one, filled, never
    accepted, so every further connection waits for a SYN-ACK that never comes (what a
    network that drops outbound port 25 looks like from inside)."""
    held: list[socket.socket] = []
    for address in ("127.0.0.77", "127.0.0.78"):
        listener = socket.socket()
        listener.bind((address, rig.smtp_port))
        listener.listen(0)
        held.append(listener)
        for _ in range(2):  # fill the accept queue (backlog 0 still takes one, or two)
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect((address, rig.smtp_port))
            held.append(filler)
    time.sleep(0.2)
    yield
    for s in held:
        s.close()


def probe(rig: Rig, address: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(
        [
            "probe",
            "--resolver",
            rig.resolver,
            "--port",
            str(rig.smtp_port),
            "--helo",
            "probe.tester.test",
            "--timeout",
            "3",
            "--dnsbl",
            "dnsbl.tester.test",
            "--format",
            "json",
            *extra,
            address,
        ]
    )
    return result.exit_code, json.loads(result.output)


# -- refusals about us ---------------------------------------------------------------------


def test_a_blocklist_refusal_of_our_address_is_unknown_not_undeliverable(rig: Rig) -> None:
    code, doc = probe(rig, "alice@blocked.tester.test")
    assert (code, doc["verdict"], doc["reason"], doc["blocked_side"]) == (
        4,
        "unknown",
        "client-blocked",
        "tester",
    )
    assert doc["summary"].startswith("The status of alice@blocked.tester.test is unknown")
    assert doc["client"]["local_ip"] == "127.0.0.1" and doc["client"]["nat"] is False
    # the attempt says the same as the result: nothing was learnt about the mailbox
    assert [a["verdict"] for a in doc["attempts"]] == ["unknown"]


def test_behind_nat_the_quoted_address_is_the_one_checked(rig: Rig) -> None:
    code, doc = probe(rig, "alice@nat.tester.test")
    assert doc["client"] == {
        "local_ip": "127.0.0.1",
        "seen_ip": "198.51.100.23",
        "seen_from": "reply",
        "nat": True,
        "checked_ip": "198.51.100.23",
    }
    # the auth checks asked about 198.51.100.23, found it listed: our problem, not the box's
    assert doc["auth"]["ip"] == "198.51.100.23"
    listed = [d for d in doc["auth"]["dnsbl"] if d["listed"]]
    assert [d["zone"] for d in listed] == ["dnsbl.tester.test"]
    assert doc["auth"]["finding"]["source"] == "dnsbl"
    assert (code, doc["verdict"], doc["blocked_side"]) == (4, "unknown", "tester")
    assert "198.51.100.23" in doc["summary"]


def test_public_ip_is_what_the_checks_ask_about(rig: Rig) -> None:
    _, doc = probe(rig, "alice@quoted.tester.test", "--public-ip", "203.0.113.9")
    assert doc["client"]["seen_ip"] == "203.0.113.9"
    assert doc["client"]["seen_from"] == "public-ip"
    assert doc["auth"]["ip"] == "203.0.113.9"


def test_a_ptr_refusal_is_ours_even_when_temporary(rig: Rig) -> None:
    code, doc = probe(rig, "alice@ptr.tester.test")
    assert (code, doc["verdict"], doc["reason"], doc["blocked_side"]) == (
        4,
        "unknown",
        "ptr-required",
        "tester",
    )


def test_a_rate_limit_is_ours(rig: Rig) -> None:
    code, doc = probe(rig, "alice@rate.tester.test")
    assert (code, doc["verdict"], doc["reason"], doc["blocked_side"]) == (
        4,
        "unknown",
        "rate-limited",
        "tester",
    )


def test_a_policy_refusal_that_names_our_address_is_ours(rig: Rig) -> None:
    code, doc = probe(rig, "alice@quoted.tester.test")
    assert (code, doc["verdict"], doc["blocked_side"]) == (4, "unknown", "tester")


def test_a_refusal_of_the_mailbox_is_still_undeliverable(rig: Rig) -> None:
    # the text quotes our address too, but it is about the mailbox
    code, doc = probe(rig, "alice@mailbox.tester.test")
    assert (code, doc["verdict"], doc["reason"], doc["blocked_side"]) == (
        1,
        "undeliverable",
        "mailbox-unknown",
        "recipient",
    )


def test_a_refused_sender_is_the_senders_side(rig: Rig) -> None:
    code, doc = probe(rig, "alice@sender.tester.test", "--from", "probe@tester.test")
    # tester.test publishes "v=spf1 -all": the SPF fail explains the refused MAIL FROM
    assert doc["auth"]["finding"]["source"] == "spf"
    assert (code, doc["reason"], doc["blocked_side"]) == (1, "auth-failed", "sender")


def test_an_accepted_address_blames_no_one(rig: Rig) -> None:
    code, doc = probe(rig, "alice@ok.tester.test")
    assert (code, doc["verdict"], doc["blocked_side"]) == (0, "accept-all", None)


def test_text_output_says_who_must_act(rig: Rig) -> None:
    result = run_cli(
        [
            "probe",
            "--resolver",
            rig.resolver,
            "--port",
            str(rig.smtp_port),
            "--helo",
            "probe.tester.test",
            "--dnsbl",
            "dnsbl.tester.test",
            "alice@nat.tester.test",
        ]
    )
    assert "who must act: this tester" in result.output
    assert "the server saw this tester as 198.51.100.23 (quoted in its reply)" in result.output
    assert "behind NAT" in result.output
    th = run_cli(
        ["probe", "--lang", "th", "--resolver", rig.resolver, "--port", str(rig.smtp_port),
         "--helo", "probe.tester.test", "alice@blocked.tester.test"],
    )  # fmt: skip
    assert "ฝ่ายที่ต้องแก้ไข: เครื่องที่ใช้ตรวจ" in th.output


# -- port 25 blocked -----------------------------------------------------------------------


def test_every_mx_timing_out_means_port_25_looks_blocked(rig: Rig, holes: None) -> None:
    started = time.monotonic()
    code, doc = probe(rig, "alice@blocked25.tester.test", "--timeout", "1")
    assert time.monotonic() - started < 8
    assert (code, doc["verdict"], doc["reason"], doc["blocked_side"]) == (
        4,
        "unknown",
        "timeout",
        "tester",
    )
    assert "Outbound port 25 looks blocked on this network" in doc["summary"]
    assert "--proxy" in doc["summary"]
    assert {a["address"] for a in doc["attempts"]} == {"127.0.0.77", "127.0.0.78"}
    assert all(a["local_address"] is None for a in doc["attempts"])


def test_one_silent_mx_is_not_called_a_blocked_network(rig: Rig, holes: None) -> None:
    code, doc = probe(rig, "alice@onehole.tester.test", "--timeout", "1")
    assert (code, doc["verdict"], doc["blocked_side"]) == (4, "unknown", None)
    assert "port 25" not in doc["summary"]


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--public-ip", "not-an-ip", "--public-ip 'not-an-ip': give an IP address"),
        ("--proxy", "127.0.0.1:1080", "give a URL such as socks5://"),
        ("--proxy", "ftp://127.0.0.1:21", "scheme 'ftp' is not supported"),
        ("--proxy", "socks4://u:p@127.0.0.1:1080", "SOCKS4 has a user id but no password"),
    ],
)
def test_bad_options_are_one_line_errors(rig: Rig, flag: str, value: str, words: str) -> None:
    result = run_cli(["probe", flag, value, "alice@ok.tester.test"])
    assert result.exit_code == 2
    assert words in result.output
    assert len(result.output.strip().splitlines()) == 1


# -- the rule itself (pure) ----------------------------------------------------------------


def _refusal(code: int, text: str, reason: str, rule: str | None = None) -> Diagnosis:
    cls = Classification(reason, "high", "test", rule, "Example" if rule else None)  # type: ignore[arg-type]
    reply = Reply(code, None, (text,))
    step = Step("rcpt", "RCPT TO:<a@b.test>", reply, 1.0, annotation=Annotation("t", "m", cls))
    return Diagnosis("undeliverable", reason, "s", step)  # type: ignore[arg-type]


def test_the_rule_in_order() -> None:
    assert blocked_side(_refusal(550, "no such user", "mailbox-unknown")) == "recipient"
    assert blocked_side(_refusal(550, "user unknown from 192.0.2.1", "mailbox-unknown"),
                        client_ips=("192.0.2.1",)) == "recipient"  # fmt: skip
    assert blocked_side(_refusal(554, "listed", "client-blocked")) == "tester"
    assert blocked_side(_refusal(550, "spf fail", "auth-failed")) == "sender"
    assert blocked_side(_refusal(550, "denied", "policy")) is None
    assert blocked_side(_refusal(550, "denied to 192.0.2.1", "policy"),
                        client_ips=("192.0.2.1",)) == "tester"  # fmt: skip
    assert blocked_side(_refusal(550, "denied to 192.0.2.10", "policy"),
                        client_ips=("192.0.2.1",)) is None  # fmt: skip
    # the auth checks' finding decides first
    assert blocked_side(_refusal(550, "denied", "policy"), finding_source="ptr") == "tester"
    assert blocked_side(_refusal(550, "denied", "policy"), finding_source="spf") == "sender"
    # a provider pattern about the connecting host
    assert blocked_side(_refusal(550, "HELO", "policy", rule="ms-bad-helo")) == "tester"


def test_quoted_client_ip() -> None:
    def reply(text: str) -> Reply:
        return Reply(550, "5.7.1", (text,))

    assert quoted_client_ip(reply("Client host [192.0.2.9] blocked"), "203.0.113.1") == "192.0.2.9"
    assert quoted_client_ip(reply("from 203.0.113.1 to 192.0.2.9"), "203.0.113.1") == "192.0.2.9"
    assert quoted_client_ip(reply("2001:db8::9 is blocked"), None) == "2001:db8::9"
    assert quoted_client_ip(reply("5.7.1 blocked by policy 1.2"), None) is None
    assert quoted_client_ip(reply("192.0.2.9 and 192.0.2.10"), None) is None  # which one?
    assert quoted_client_ip(Reply(250, None, ("ok 192.0.2.9",)), None) is None


def test_a_list_says_how_many_results_are_about_the_tester(rig: Rig) -> None:
    import csv
    import io

    result = run_cli(
        ["probe", "--resolver", rig.resolver, "--port", str(rig.smtp_port), "--helo",
         "probe.tester.test", "--format", "csv", "--no-progress",
         "a@blocked.tester.test", "b@blocked.tester.test", "c@mailbox.tester.test"],
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted((r["address"], r["verdict"], r["blocked_side"]) for r in rows) == [
        ("a@blocked.tester.test", "unknown", "tester"),
        ("b@blocked.tester.test", "unknown", "tester"),
        ("c@mailbox.tester.test", "undeliverable", "recipient"),
    ]
    assert "this tester was refused for 2 address(es)" in result.stderr
    assert result.exit_code == 1  # the worst: the mailbox that does not exist


def test_timeouts_through_a_proxy_are_not_called_a_blocked_network() -> None:
    from smtpdiag.core.diagnose import port25_blocked
    from smtpdiag.core.model import Attempt

    silent = [Attempt("mx1", "192.0.2.1", 25, error_kind="timeout"),
              Attempt("mx2", "192.0.2.2", 25, error_kind="timeout")]  # fmt: skip
    assert port25_blocked(silent)
    route = "socks5://p:1080"
    proxied = [Attempt("mx1", "192.0.2.1", 25, error_kind="timeout", route=route),
               Attempt("mx2", "192.0.2.2", 25, error_kind="timeout", route=route)]  # fmt: skip
    assert not port25_blocked(proxied)
    assert not port25_blocked(silent[:1])
    # a host without IPv6: the AAAA addresses have no route, the IPv4 ones time out
    why = "2001:db8::1 is unreachable from here: Network is unreachable"
    no_v6 = Attempt("mx1", "2001:db8::1", 25, error_kind="network", error=why)
    assert port25_blocked([*silent, no_v6])
    refused = Attempt("mx3", "192.0.2.3", 25, error_kind="network", error="connection refused")
    assert not port25_blocked([*silent, refused])
