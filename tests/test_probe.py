"""End-to-end probes against real aiosmtpd servers and a real DNS server on loopback.

Each test runs the CLI (through click's CliRunner) or the async API, and checks the
verdict, the reason, the captured replies and the exit code.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from smtpdiag import ProbeOptions, probe
from smtpdiag.testing.rig import Rig

from .conftest import base_args, probe_json, run_cli


def rcpt_steps(doc: dict[str, Any], attempt: int = -1) -> list[dict[str, Any]]:
    return [s for s in doc["attempts"][attempt]["steps"] if s["stage"] == "rcpt"]


def commands(doc: dict[str, Any], attempt: int = -1) -> list[str | None]:
    return [s["command"] for s in doc["attempts"][attempt]["steps"]]


def test_existing_mailbox_is_deliverable(rig: Rig) -> None:
    code, doc = probe_json(rig, "alice@example.test")
    assert code == 0
    assert (doc["verdict"], doc["reason"]) == ("deliverable", "accepted")
    assert doc["schema"] == 2
    assert doc["mx"]["source"] == "mx"
    assert doc["mx"]["hosts"] == [
        {"host": "mx1.example.test", "preference": 10, "addresses": ["127.0.0.2"], "error": None}
    ]
    att = doc["attempts"][0]
    assert att["address"] == "127.0.0.2"
    assert att["local_address"] == "127.0.0.1"
    assert "SMTPUTF8" in att["extensions"] and "8BITMIME" in att["extensions"]
    assert commands(doc) == [
        None,
        "EHLO probe.example.test",
        "MAIL FROM:<>",
        "RCPT TO:<alice@example.test>",
        doc["catch_all"] and f"RCPT TO:<{doc['catch_all']['address']}>",
        "QUIT",
    ]
    assert att["pipelined"] is True  # the fake MX offers PIPELINING, as Postfix does
    assert att["flights"] == 2  # EHLO; MAIL + RCPT + RCPT + QUIT
    greeting = att["steps"][0]
    assert greeting["reply"] == {
        "code": 220,
        "enhanced": None,
        "lines": ["mx1.example.test ESMTP Postfix (Debian/GNU)"],
    }
    assert greeting["annotation"]["title"] == "Service Ready"
    assert doc["catch_all"]["tested"] is True
    assert doc["catch_all"]["accepted"] is False
    assert doc["catch_all"]["address"].endswith("@example.test")
    rcpt = rcpt_steps(doc)[0]
    assert rcpt["reply"]["enhanced"] == "2.1.5"
    assert rcpt["elapsed_ms"] >= 0


def test_unknown_user_is_undeliverable(rig: Rig) -> None:
    code, doc = probe_json(rig, "nobody@example.test")
    assert code == 1
    assert (doc["verdict"], doc["reason"]) == ("undeliverable", "mailbox-unknown")
    rcpt = rcpt_steps(doc)
    assert len(rcpt) == 2  # pipelined: the catch-all RCPT went in the same flight
    assert doc["catch_all"]["tested"] is True
    assert rcpt[0]["reply"]["code"] == 550
    assert rcpt[0]["reply"]["enhanced"] == "5.1.1"
    assert "User unknown" in rcpt[0]["reply"]["lines"][0]
    assert "does not exist" in doc["summary"]


def test_lock_step_sends_no_catch_all_after_a_refusal(rig: Rig) -> None:
    code, doc = probe_json(rig, "--no-pipelining", "nobody@example.test")
    assert (code, doc["verdict"], doc["reason"]) == (1, "undeliverable", "mailbox-unknown")
    assert len(rcpt_steps(doc)) == 1  # no catch-all check when the address was refused
    assert doc["attempts"][0]["pipelined"] is False
    assert commands(doc)[-3:] == ["MAIL FROM:<>", "RCPT TO:<nobody@example.test>", "QUIT"]
    assert doc["attempts"][0]["flights"] == 4  # EHLO, MAIL, RCPT, QUIT


def test_mailbox_full(rig: Rig) -> None:
    code, doc = probe_json(rig, "full@example.test")
    assert (code, doc["verdict"], doc["reason"]) == (1, "undeliverable", "mailbox-full")


def test_catch_all_server_is_accept_all(rig: Rig) -> None:
    code, doc = probe_json(rig, "anyone@catchall.example.test")
    assert code == 0
    assert (doc["verdict"], doc["reason"]) == ("accept-all", "accepted")
    assert doc["catch_all"]["accepted"] is True


def test_no_catch_all_option_sends_one_rcpt(rig: Rig) -> None:
    code, doc = probe_json(rig, "--no-catch-all", "anyone@catchall.example.test")
    assert (code, doc["verdict"]) == (0, "deliverable")
    assert len(rcpt_steps(doc)) == 1
    assert doc["catch_all"]["tested"] is False


def test_relay_denied(rig: Rig) -> None:
    code, doc = probe_json(rig, "user@relay.example.test")
    assert (code, doc["verdict"], doc["reason"]) == (1, "undeliverable", "relay-denied")


def test_failover_tries_hosts_in_preference_order(rig: Rig) -> None:
    code, doc = probe_json(rig, "bob@failover.example.test")
    assert (code, doc["verdict"]) == (0, "deliverable")
    hosts = [a["host"] for a in doc["attempts"]]
    assert hosts == ["down1.example.test", "mx-421.example.test", "mx1.example.test"]
    first, second, _ = doc["attempts"]
    assert first["error_kind"] == "network" and "refused" in first["error"]
    assert first["steps"] == []
    assert second["steps"][0]["reply"]["code"] == 421
    assert second["reason"] == "server-error"


def test_every_address_of_a_host_is_tried(rig: Rig) -> None:
    code, doc = probe_json(rig, "ivy@twoaddr.example.test")
    assert (code, doc["verdict"], doc["reason"]) == (4, "unknown", "network")
    assert sorted(a["address"] for a in doc["attempts"]) == ["127.0.0.20", "127.0.0.21"]
    assert all("refused" in a["error"] for a in doc["attempts"])


def test_421_greeting_only_host_is_temporary(rig: Rig) -> None:
    code, doc = probe_json(rig, "user@closing.example.test")
    assert (code, doc["verdict"], doc["reason"]) == (3, "temporary", "server-error")
    assert doc["attempts"][0]["steps"][0]["reply"]["enhanced"] == "4.3.2"


def test_blocked_client_in_greeting(rig: Rig) -> None:
    # a refusal of the tester never blames the mailbox: unknown, exit 4, and who must act
    code, doc = probe_json(rig, "user@blocked.example.test")
    assert (code, doc["verdict"], doc["reason"]) == (4, "unknown", "client-blocked")
    assert doc["blocked_side"] == "tester"
    assert doc["summary"].startswith("The status of user@blocked.example.test is unknown")


def test_silent_greeting_times_out(rig: Rig) -> None:
    started = time.monotonic()
    code, doc = probe_json(rig, "--timeout", "1", "user@silent.example.test")
    assert time.monotonic() - started < 5
    assert (code, doc["verdict"], doc["reason"]) == (4, "unknown", "timeout")
    step = doc["attempts"][0]["steps"][0]
    assert step["stage"] == "banner" and step["error_kind"] == "timeout"


def test_slow_rcpt_reply_times_out(rig: Rig) -> None:
    started = time.monotonic()
    code, doc = probe_json(rig, "--timeout", "1", "user@slow.example.test")
    assert time.monotonic() - started < 5
    assert (code, doc["verdict"], doc["reason"]) == (4, "unknown", "timeout")
    assert rcpt_steps(doc)[0]["error_kind"] == "timeout"


def test_overall_deadline_bounds_the_probe(rig: Rig) -> None:
    started = time.monotonic()
    code, doc = probe_json(rig, "--timeout", "30", "--deadline", "1.5", "user@slow.example.test")
    assert time.monotonic() - started < 5
    assert (code, doc["verdict"], doc["reason"]) == (4, "unknown", "timeout")


def test_connection_dropped_at_rcpt(rig: Rig) -> None:
    code, doc = probe_json(rig, "user@drop.example.test")
    assert (code, doc["verdict"], doc["reason"]) == (4, "unknown", "network")
    assert rcpt_steps(doc)[0]["error"] == "the server closed the connection without replying"


def test_helo_fallback_when_ehlo_is_refused(rig: Rig) -> None:
    code, doc = probe_json(rig, "user@noehlo.example.test")
    assert (code, doc["verdict"]) == (0, "deliverable")
    steps = doc["attempts"][0]["steps"]
    assert [s["stage"] for s in steps[:3]] == ["banner", "ehlo", "helo"]
    assert steps[1]["reply"]["code"] == 502
    assert doc["attempts"][0]["extensions"] == {}


def test_starttls_facts_are_recorded(rig: Rig) -> None:
    code, doc = probe_json(rig, "user@tls.example.test")
    assert (code, doc["verdict"]) == (0, "deliverable")
    att = doc["attempts"][0]
    assert [s["stage"] for s in att["steps"][:4]] == ["banner", "ehlo", "starttls", "ehlo"]
    tls = att["tls"]
    assert tls["version"] in ("TLSv1.2", "TLSv1.3")
    assert tls["cipher"] and tls["cipher_bits"] >= 128
    assert "DNS:mx-tls.example.test" in tls["sans"]
    assert tls["subject"].startswith("CN=")
    assert tls["issuer"] == "CN=smtpdiag fake CA"
    assert tls["hostname_matches"] is True
    assert tls["checked_name"] == "mx-tls.example.test"
    # the fake CA is not in the system store: reported, not fatal
    assert tls["trusted"] is False and tls["trust_error"]
    assert "STARTTLS" not in att["extensions"]  # extensions are those seen after TLS


def test_starttls_verifies_against_a_given_ca(rig: Rig) -> None:
    code, doc = probe_json(rig, "--ca-file", str(rig.ca_file), "user@tls.example.test")
    assert code == 0
    tls = doc["attempts"][0]["tls"]
    assert tls["trusted"] is True and tls["trust_error"] is None


def test_starttls_never_skips_tls(rig: Rig) -> None:
    code, doc = probe_json(rig, "--starttls", "never", "user@tls.example.test")
    assert code == 0
    att = doc["attempts"][0]
    assert att["tls"] is None
    assert "STARTTLS" in att["extensions"]
    assert "STARTTLS" not in commands(doc)


def test_starttls_require_without_offer_fails(rig: Rig) -> None:
    code, doc = probe_json(rig, "--starttls", "require", "alice@example.test")
    assert (code, doc["verdict"], doc["reason"]) == (4, "unknown", "tls-required")
    assert "MAIL FROM:<>" not in commands(doc)


def test_starttls_refused_with_454(rig: Rig) -> None:
    code, doc = probe_json(rig, "user@tls454.example.test")
    assert (code, doc["verdict"], doc["reason"]) == (4, "unknown", "tls-failed")
    step = next(s for s in doc["attempts"][0]["steps"] if s["stage"] == "starttls")
    assert step["reply"]["code"] == 454


def test_server_requiring_starttls_gets_it(rig: Rig) -> None:
    code, doc = probe_json(rig, "user@musttls.example.test")
    assert (code, doc["verdict"]) == (0, "deliverable")


def test_server_requiring_starttls_without_it(rig: Rig) -> None:
    code, doc = probe_json(rig, "--starttls", "never", "user@musttls.example.test")
    assert (code, doc["verdict"], doc["reason"]) == (1, "undeliverable", "tls-required")
    mail = next(s for s in doc["attempts"][0]["steps"] if s["stage"] == "mail")
    assert mail["reply"]["code"] == 530


def test_sender_rejected_at_mail_from(rig: Rig) -> None:
    code, doc = probe_json(rig, "--from", "me@sender.test", "user@badsender.example.test")
    assert (code, doc["verdict"], doc["reason"]) == (1, "undeliverable", "sender-rejected")
    assert "MAIL FROM:<me@sender.test>" in commands(doc)
    # pipelined: the RCPTs went in the same flight and got "need MAIL command"; the
    # refused MAIL FROM decides
    assert [s["reply"]["code"] for s in rcpt_steps(doc)] == [503, 503]
    assert doc["deciding"]["stage"] == "mail"
    assert "sender" in doc["summary"]
    code, doc = probe_json(
        rig, "--no-pipelining", "--from", "me@sender.test", "user@badsender.example.test"
    )
    assert (code, doc["reason"]) == (1, "sender-rejected")
    assert rcpt_steps(doc) == []  # lock-step: nothing after a refused MAIL FROM


def test_multiline_reply_is_kept_whole(rig: Rig) -> None:
    code, doc = probe_json(rig, "user@multi.example.test")
    # "not accepting mail from your network": a refusal of the client's network
    assert (code, doc["verdict"], doc["reason"]) == (4, "unknown", "client-blocked")
    assert doc["blocked_side"] == "tester"
    reply = rcpt_steps(doc)[0]["reply"]
    assert reply["enhanced"] == "5.7.1"
    assert len(reply["lines"]) == 3
    assert (
        reply["lines"][1] == "5.7.1 Please visit https://postmaster.example.test/policy for details"
    )


def test_null_mx_connects_nowhere(rig: Rig) -> None:
    code, doc = probe_json(rig, "user@null.example.test")
    assert (code, doc["verdict"], doc["reason"]) == (1, "undeliverable", "no-mail-accepted")
    assert doc["mx"]["source"] == "null"
    assert doc["attempts"] == []


def test_nxdomain_connects_nowhere(rig: Rig) -> None:
    code, doc = probe_json(rig, "user@nowhere.example.test")
    assert (code, doc["verdict"], doc["reason"]) == (1, "undeliverable", "domain-unknown")
    assert doc["attempts"] == []


def test_domain_without_mx_or_address_accepts_no_mail(rig: Rig) -> None:
    code, doc = probe_json(rig, "user@nomail.example.test")
    assert (code, doc["verdict"], doc["reason"]) == (1, "undeliverable", "no-mail-accepted")


def test_implicit_mx(rig: Rig) -> None:
    code, doc = probe_json(rig, "dan@implicit.example.test")
    assert (code, doc["verdict"]) == (0, "deliverable")
    assert doc["mx"]["source"] == "implicit"
    assert doc["mx"]["hosts"][0]["host"] == "implicit.example.test"


def test_mx_host_without_addresses_is_reported_not_replaced(rig: Rig) -> None:
    code, doc = probe_json(rig, "user@noaddr.example.test")
    assert (code, doc["verdict"], doc["reason"]) == (4, "unknown", "dns-failure")
    host = doc["mx"]["hosts"][0]
    assert host["host"] == "ghost.example.test" and host["addresses"] == []
    assert "NXDOMAIN" in host["error"]
    assert doc["attempts"] == []


def test_mx_host_without_addresses_is_skipped_for_the_next(rig: Rig) -> None:
    code, doc = probe_json(rig, "erin@noaddr2.example.test")
    assert (code, doc["verdict"]) == (0, "deliverable")
    assert doc["mx"]["hosts"][0]["error"]
    assert [a["host"] for a in doc["attempts"]] == ["mx1.example.test"]


def test_mx_target_behind_cname(rig: Rig) -> None:
    code, doc = probe_json(rig, "hal@cname.example.test")
    assert (code, doc["verdict"]) == (0, "deliverable")
    assert doc["mx"]["hosts"][0]["addresses"] == ["127.0.0.2"]


def test_dns_timeout_is_reported(rig: Rig) -> None:
    started = time.monotonic()
    code, doc = probe_json(rig, "user@slowdns.example.test")
    assert time.monotonic() - started < 5
    assert (code, doc["verdict"], doc["reason"]) == (4, "unknown", "dns-failure")
    assert "timeout" in doc["mx"]["error"].lower()


def test_dns_servfail_is_reported(rig: Rig) -> None:
    code, doc = probe_json(rig, "user@broken.example.test")
    assert (code, doc["verdict"], doc["reason"]) == (4, "unknown", "dns-failure")
    assert "SERVFAIL" in doc["mx"]["error"]


def test_dead_resolver_is_a_dns_failure(rig: Rig) -> None:
    result = run_cli(
        [
            "probe",
            "--resolver",
            "127.0.0.1:9",
            "--dns-timeout",
            "0.5",
            "--format",
            "json",
            "user@example.test",
        ]
    )
    assert result.exit_code == 4
    assert '"reason": "dns-failure"' in result.output


def test_idn_domain_is_probed_as_a_label(rig: Rig) -> None:
    code, doc = probe_json(rig, "fay@bücher.example.test")
    assert (code, doc["verdict"]) == (0, "deliverable")
    assert doc["domain"] == "xn--bcher-kva.example.test"
    assert doc["domain_unicode"] == "bücher.example.test"
    assert "RCPT TO:<fay@xn--bcher-kva.example.test>" in commands(doc)
    text = run_cli(["probe", *base_args(rig), "fay@bücher.example.test"]).output
    assert "bücher.example.test = xn--bcher-kva.example.test" in text


def test_non_ascii_local_part_without_smtputf8_is_not_sent(rig: Rig) -> None:
    code, doc = probe_json(rig, "δοκιμή@noutf8.example.test")
    assert (code, doc["verdict"]) == (1, "undeliverable")
    assert "SMTPUTF8" in doc["summary"]
    assert not any(c and c.startswith("RCPT") for c in commands(doc))


def test_non_ascii_local_part_with_smtputf8(rig: Rig) -> None:
    code, doc = probe_json(rig, "δοκιμή@catchall.example.test")
    assert code == 0
    assert "MAIL FROM:<> SMTPUTF8" in commands(doc)
    assert "RCPT TO:<δοκιμή@catchall.example.test>" in commands(doc)


def test_all_mx_probes_every_host(rig: Rig) -> None:
    code, doc = probe_json(rig, "--all-mx", "carol@allmx.example.test")
    assert code == 0
    assert [(a["host"], a["verdict"]) for a in doc["attempts"]] == [
        ("mx1.example.test", "deliverable"),
        ("mx-all.example.test", "accept-all"),
    ]
    assert doc["verdict"] == "deliverable"


def test_first_answer_ends_the_search(rig: Rig) -> None:
    code, doc = probe_json(rig, "carol@allmx.example.test")
    assert code == 0
    assert [a["host"] for a in doc["attempts"]] == ["mx1.example.test"]


def test_equal_preferences_are_shuffled(rig: Rig) -> None:
    seen = set()
    for _ in range(24):
        result = run_cli(
            [
                "probe",
                "--resolver",
                rig.resolver,
                "--port",
                str(rig.smtp_port),
                "--no-catch-all",
                "--format",
                "json",
                "gus@equal.example.test",
            ]
        )
        seen.add(result.output.split('"host": "', 2)[1].split('"')[0])
        if len(seen) == 2:
            break
    assert seen == {"mx1.example.test", "mx-all.example.test"}


def test_server_option_skips_mx_lookup(rig: Rig) -> None:
    result = run_cli(
        [
            "probe",
            "--server",
            f"127.0.0.2:{rig.smtp_port}",
            "--helo",
            "p.test",
            "--format",
            "json",
            "alice@example.test",
        ]
    )
    assert result.exit_code == 0
    assert '"source": "server-option"' in result.output


def test_ip_literal_is_probed_directly(rig: Rig) -> None:
    code, doc = probe_json(rig, "alice@[127.0.0.17]")
    assert code == 0
    assert doc["mx"]["source"] == "ip-literal"
    assert doc["attempts"][0]["address"] == "127.0.0.17"
    assert "RCPT TO:<alice@[127.0.0.17]>" in commands(doc)


def test_server_bytes_are_escaped_in_text_output(rig: Rig) -> None:
    result = run_cli(["probe", *base_args(rig), "user@escape.example.test"])
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\x9b" not in result.output
    assert "\\x1b[31mNo such user\\x1b]0;owned\\x07 here\\x9b2J" in result.output


def test_server_bytes_are_escaped_in_json_output(rig: Rig) -> None:
    result = run_cli(["probe", *base_args(rig), "--format", "json", "user@escape.example.test"])
    assert "\x1b" not in result.output and "\x9b" not in result.output
    assert "\\u001b[31mNo such user" in result.output


def test_several_addresses_give_json_lines_and_worst_exit_code(rig: Rig) -> None:
    result = run_cli(
        [
            "probe",
            *base_args(rig),
            "--format",
            "json",
            "alice@example.test",
            "nobody@example.test",
            "user@closing.example.test",
        ]
    )
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    docs = [json.loads(line) for line in lines]
    assert [d["address"] for d in docs] == [  # input order (the default for json)
        "alice@example.test",
        "nobody@example.test",
        "user@closing.example.test",
    ]
    assert [d["line"] for d in docs] == [1, 2, 3]
    assert result.exit_code == 1
    assert "smtpdiag: 3 addresses in" in result.stderr  # the list summary


def test_text_output_has_transcript_and_verdict(rig: Rig) -> None:
    result = run_cli(["probe", *base_args(rig), "nobody@example.test"])
    out = result.output
    assert "-> RCPT TO:<nobody@example.test>" in out
    assert "<- 550 5.1.1 <nobody@example.test>: Recipient address rejected" in out
    assert "Mailbox does not exist" in out
    assert "Verdict: undeliverable   reason: mailbox-unknown" in out
    assert "\x1b[" not in out  # --no-color


def test_color_flag_colours_output(rig: Rig) -> None:
    args = [a for a in base_args(rig) if a != "--no-color"]
    result = run_cli(["probe", *args, "--color", "alice@example.test"])
    assert "\x1b[32m" in result.output


def test_python_api_returns_the_same_data(rig: Rig) -> None:
    opts = ProbeOptions(
        resolvers=(rig.resolver,), port=rig.smtp_port, helo="api.test", timeout=3, shuffle=False
    )
    result = asyncio.run(probe("nobody@example.test", opts))
    assert (result.verdict, result.reason) == ("undeliverable", "mailbox-unknown")
    step = result.diagnosis.deciding
    assert step is not None and step.reply is not None and step.reply.code == 550
    result2 = asyncio.run(
        probe("alice@example.test", resolvers=(rig.resolver,), port=rig.smtp_port, helo="api.test")
    )
    assert result2.verdict == "deliverable"


def test_no_data_or_bdat_is_ever_sent(rig: Rig) -> None:
    for address in ("alice@example.test", "anyone@catchall.example.test", "user@tls.example.test"):
        run_cli(["probe", *base_args(rig), address])
    sent = [c.split(" ")[0] for log in rig.logs.values() for c in log.commands]
    assert sent, "the servers saw commands"
    assert not {"DATA", "BDAT"} & set(sent)
    assert set(sent) <= {"EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "RSET", "QUIT"}


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["user@example.com\r\nDATA"], "CR"),
        (["<user@example.com>"], "'<'"),
        (["nodomain"], "no '@'"),
        (["--port", "0", "a@example.test"], "--port"),
        (["--timeout", "-1", "a@example.test"], "--timeout"),
        (["--helo", "bad name!", "a@example.test"], "--helo"),
        (["--from", "not-an-address", "a@example.test"], "no '@'"),
        (["--resolver", "dns.example", "a@example.test"], "IP address"),
        (["--source-address", "nope", "a@example.test"], "--source-address"),
        (["--server", "mx:99999", "a@example.test"], "port"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    rig: Rig, args: list[str], fragment: str
) -> None:
    before = sum(log.connections for log in rig.logs.values())
    dns_before = len(rig.dns.queries) if rig.dns else 0
    result = CliRunnerWithStderr.invoke(["probe", "--resolver", rig.resolver, *args])
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert sum(log.connections for log in rig.logs.values()) == before
    assert (len(rig.dns.queries) if rig.dns else 0) == dns_before


class CliRunnerWithStderr:
    @staticmethod
    def invoke(args: list[str]) -> Any:
        from click.testing import CliRunner

        from smtpdiag.cli import main

        return CliRunner().invoke(main, args, catch_exceptions=False)


def test_json_deciding_reply_has_the_full_card(rig: Rig) -> None:
    _code, doc = probe_json(rig, "nobody@example.test")
    deciding = doc["deciding"]
    assert deciding["reply"]["code"] == 550
    assert [c["key"] for c in deciding["cards"]] == ["5.1.1", "550"]
    assert {"description", "when", "fix", "actor_text"} <= set(deciding["cards"][0])


def test_probe_in_thai(rig: Rig) -> None:
    result = run_cli(["probe", *base_args(rig), "--lang", "th", "nobody@example.test"])
    out = result.output
    assert result.exit_code == 1
    assert "ผลการตรวจ: undeliverable" in out  # the verdict keyword itself stays stable
    assert "ไม่พบกล่องจดหมาย" in out  # the 550 title, in Thai
    assert "วิธีแก้ไข" in out  # the deciding reply's card
    _code, doc = probe_json(rig, "--lang", "th", "nobody@example.test")
    assert doc["reason"] == "mailbox-unknown"
    assert any("\u0e00" <= ch <= "\u0e7f" for ch in doc["summary"])


def test_never_more_connections_to_one_host_than_configured(rig: Rig) -> None:
    log = rig.logs["127.0.0.19"]  # mx-lag: greets after 0.3 s, accepts everything
    log.max_live = 0
    before = log.connections
    addresses = [f"user{i}@lag.example.test" for i in range(6)]
    one_each = ["--rcpts-per-session", "1", "--no-catch-all"]
    args = ["probe", *base_args(rig), "--format", "json", *one_each, "--max-per-host", "1"]
    result = run_cli([*args, *addresses])
    assert result.exit_code == 0
    assert log.connections - before == 6  # one connection per address probed
    assert log.max_live == 1  # never two at once (--max-per-host 1)
    log.max_live = 0
    run_cli(["probe", *base_args(rig), *one_each, "--max-per-host", "3", *addresses])
    assert 2 <= log.max_live <= 3  # the limit is what holds them back


def test_a_list_shares_sessions(rig: Rig) -> None:
    log = rig.logs["127.0.0.19"]  # mx-lag: accepts everything
    before = log.connections
    log.session_rcpts.clear()
    log.session_refused.clear()
    addresses = [f"user{i}@lag.example.test" for i in range(20)]
    result = run_cli(["probe", *base_args(rig), "--format", "jsonl", *addresses])
    assert result.exit_code == 0, result.output
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(d["address"] for d in docs) == sorted(addresses)
    # 20 addresses and the domain's one catch-all RCPT, each sent once; the first session
    # carries the check alone (the domain's other addresses wait for its answer), the rest
    # is shared by the two sessions --max-per-host allows
    assert 2 <= log.connections - before <= 3
    assert sum(log.session_rcpts) == 21 and max(log.session_rcpts) > 9
    assert sum(log.session_refused) == 0  # it accepts anything, the catch-all check too
    assert all(d["verdict"] == "accept-all" for d in docs)  # the server accepts anything
    assert log.forbidden == []
