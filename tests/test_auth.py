"""SPF, DMARC, DKIM, reverse DNS and blocklists: `smtpdiag auth` and probes refused for
sender authentication, against real servers on loopback (fixtures/scenarios/auth.toml)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from smtpdiag.auth.checks import AuthReport, Finding, PtrReport, attribute
from smtpdiag.auth.dkim import parse_key
from smtpdiag.auth.dmarc import parse_record, walk_targets
from smtpdiag.testing.rig import Rig, load_scenario

from .conftest import FIXTURES, run_cli

LISTS = ["--dnsbl", "bl.example.test", "--dnsbl", "clean.example.test"]


@pytest.fixture(scope="module")
def auth_rig() -> Iterator[Rig]:
    with Rig(load_scenario(FIXTURES / "scenarios" / "auth.toml")) as running:
        yield running


def auth_json(rig: Rig, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(
        ["auth", "--resolver", rig.resolver, "--dns-timeout", "1", "--format", "json", *args]
    )
    return result.exit_code, json.loads(result.output)


def probe_doc(rig: Rig, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(
        [
            "probe",
            "--resolver",
            rig.resolver,
            "--port",
            str(rig.smtp_port),
            "--helo",
            "helo.example.test",
            "--timeout",
            "3",
            "--dns-timeout",
            "1",
            "--dnsbl",
            "clean.example.test",
            "--format",
            "json",
            *args,
        ]
    )
    return result.exit_code, json.loads(result.output)


def test_spf_fail_with_trace(auth_rig: Rig) -> None:
    code, doc = auth_json(
        auth_rig,
        "badspf.example.test",
        "--ip",
        "127.0.0.1",
        "--mail-from",
        "x@badspf.example.test",
        *LISTS,
    )
    assert code == 1
    spf = doc["spf"]
    assert (spf["result"], spf["mechanism"], spf["domain"]) == (
        "fail",
        "-all",
        "badspf.example.test",
    )
    assert spf["record"] == "v=spf1 ip4:192.0.2.0/24 -all"
    terms = [(t["term"], t["matched"]) for t in spf["trace"] if t["term"] != "(record)"]
    assert terms == [("ip4:192.0.2.0/24", False), ("-all", True)]
    assert (spf["lookups"], spf["void_lookups"]) == (0, 0)


def test_spf_pass_and_exit_zero(auth_rig: Rig) -> None:
    code, doc = auth_json(
        auth_rig,
        "goodspf.example.test",
        "--ip",
        "127.0.0.1",
        "--mail-from",
        "x@goodspf.example.test",
        "--dnsbl",
        "clean.example.test",
    )
    assert code == 0
    assert doc["spf"]["result"] == "pass"
    assert doc["dnsbl"] == [
        {
            "zone": "clean.example.test",
            "name": "clean.example.test",
            "listed": False,
            "answers": [],
            "meanings": [],
            "text": None,
            "delist": None,
            "error": None,
        }
    ]


def test_two_spf_records_are_a_permerror(auth_rig: Rig) -> None:
    code, doc = auth_json(
        auth_rig,
        "twospf.example.test",
        "--ip",
        "127.0.0.1",
        "--mail-from",
        "x@twospf.example.test",
        "--dnsbl",
        "clean.example.test",
    )
    assert code == 1
    assert doc["spf"]["result"] == "permerror"
    assert "2 SPF records" in doc["spf"]["error"]


def test_lookup_limit_names_what_each_include_costs(auth_rig: Rig) -> None:
    code, doc = auth_json(
        auth_rig,
        "toomany.example.test",
        "--ip",
        "127.0.0.1",
        "--mail-from",
        "x@toomany.example.test",
        "--dnsbl",
        "clean.example.test",
    )
    assert code == 1
    spf = doc["spf"]
    assert spf["result"] == "permerror"
    assert "more than 10" in spf["error"]
    assert spf["lookups"] == 11
    assert any("cost by include" in p for p in spf["problems"])
    assert {c["domain"] for c in spf["include_costs"]} >= {"inc1.example.test"}


def test_null_sender_checks_postmaster_at_helo(auth_rig: Rig) -> None:
    _code, doc = auth_json(
        auth_rig,
        "goodspf.example.test",
        "--ip",
        "127.0.0.1",
        "--mail-from",
        "",
        "--helo",
        "goodspf.example.test",
        "--dnsbl",
        "clean.example.test",
    )
    assert doc["spf"]["sender"] == "postmaster@goodspf.example.test"
    assert doc["spf"]["result"] == "pass"


def test_without_ip_the_record_is_checked_not_evaluated(auth_rig: Rig) -> None:
    code, doc = auth_json(auth_rig, "toomany.example.test")
    assert code == 0
    assert doc["spf"]["result"] is None and doc["spf"]["evaluated"] is False
    assert doc["spf"]["lookups"] == 11
    assert doc["ptr"] is None and doc["dnsbl"] == []


def test_dmarc_record_and_external_destination(auth_rig: Rig) -> None:
    _code, doc = auth_json(auth_rig, "badspf.example.test")
    dmarc = doc["dmarc"]
    assert (dmarc["policy"], dmarc["policy_source"]) == ("reject", "p")
    assert dmarc["location"] == "_dmarc.badspf.example.test"
    assert dmarc["alignment_dkim"] == "s"
    dest = dmarc["destinations"][0]
    assert dest["domain"] == "reports.other.test" and dest["external"] is True


def test_dmarc_subdomain_policy_from_the_parent(auth_rig: Rig) -> None:
    _code, doc = auth_json(auth_rig, "sub.nodmarc.example.test")
    dmarc = doc["dmarc"]
    assert dmarc["location"] == "_dmarc.example.test"
    assert (dmarc["policy"], dmarc["policy_source"]) == ("quarantine", "sp")


def test_dkim_keys(auth_rig: Rig) -> None:
    _code, doc = auth_json(
        auth_rig,
        "badspf.example.test",
        "--no-common-selectors",
        "--dkim-selector",
        "s1",
        "--dkim-selector",
        "old",
        "--dkim-selector",
        "ed",
        "--dkim-selector",
        "missing",
    )
    keys = {k["selector"]: k for k in doc["dkim"]}
    assert set(keys) == {"s1", "old", "ed"}
    assert (keys["s1"]["key_type"], keys["s1"]["bits"]) == ("rsa", 1024)
    assert any("weak" in p for p in keys["s1"]["problems"])
    assert keys["old"]["revoked"] is True
    assert (keys["ed"]["key_type"], keys["ed"]["bits"]) == ("ed25519", 256)


def test_reverse_dns_and_blocklists(auth_rig: Rig) -> None:
    code, doc = auth_json(
        auth_rig,
        "goodspf.example.test",
        "--ip",
        "127.0.0.1",
        "--mail-from",
        "x@goodspf.example.test",
        "--helo",
        "localhost.example.test",
        *LISTS,
    )
    assert code == 1  # listed on bl.example.test
    assert doc["ptr"]["names"] == ["localhost.example.test"]
    assert doc["ptr"]["confirmed"] == ["localhost.example.test"]
    assert doc["ptr"]["helo_matches"] is True
    listed = {b["zone"]: b for b in doc["dnsbl"]}
    assert listed["bl.example.test"]["listed"] is True
    assert listed["bl.example.test"]["answers"] == ["127.0.0.2"]
    assert "Listed for testing" in listed["bl.example.test"]["text"]
    assert listed["clean.example.test"]["listed"] is False


def test_auth_bad_input_is_a_usage_error(auth_rig: Rig) -> None:
    result = run_cli(["auth", "example.test", "--ip", "not-an-ip"])
    assert result.exit_code == 2
    result = run_cli(["auth", "bad name.example"])
    assert result.exit_code == 2


# -- probes refused for sender authentication --------------------------------------------------


def test_probe_spf_fail_at_mail_from(auth_rig: Rig) -> None:
    code, doc = probe_doc(auth_rig, "--from", "x@badspf.example.test", "user@auth.example.test")
    assert (code, doc["verdict"], doc["reason"]) == (1, "undeliverable", "auth-failed")
    assert doc["auth"]["spf"]["result"] == "fail"
    assert doc["auth"]["finding"]["source"] == "spf"
    assert doc["summary"].startswith(
        "550 5.7.23 at MAIL FROM: SPF for badspf.example.test is fail for 127.0.0.1"
    )
    assert "Add ip4:127.0.0.1" in doc["summary"]


def test_probe_spf_fail_reported_at_rcpt(auth_rig: Rig) -> None:
    code, doc = probe_doc(auth_rig, "--from", "x@badspf.example.test", "user@spfrcpt.example.test")
    assert (code, doc["reason"]) == (1, "auth-failed")
    assert doc["auth"]["spf"]["result"] == "fail"
    assert "at RCPT TO" in doc["summary"]


def test_probe_two_spf_records(auth_rig: Rig) -> None:
    code, doc = probe_doc(auth_rig, "--from", "x@twospf.example.test", "user@auth.example.test")
    assert (code, doc["reason"]) == (1, "auth-failed")
    assert doc["auth"]["spf"]["result"] == "permerror"
    assert "broken" in doc["summary"]


def test_probe_too_many_lookups(auth_rig: Rig) -> None:
    _code, doc = probe_doc(auth_rig, "--from", "x@toomany.example.test", "user@auth.example.test")
    assert doc["reason"] == "auth-failed"
    assert doc["auth"]["spf"]["result"] == "permerror"
    assert "Lookups by include" in doc["summary"]


def test_probe_accepted_sender_stays_deliverable(auth_rig: Rig) -> None:
    code, doc = probe_doc(
        auth_rig, "--from", "x@goodspf.example.test", "ok@spfrcpt.example.test", "--no-catch-all"
    )
    assert (code, doc["verdict"]) == (0, "deliverable")
    assert doc["auth"] is None


def test_probe_auth_flag_always_reports(auth_rig: Rig) -> None:
    _code, doc = probe_doc(
        auth_rig,
        "--auth",
        "--from",
        "x@goodspf.example.test",
        "ok@spfrcpt.example.test",
        "--no-catch-all",
    )
    assert doc["auth"]["spf"]["result"] == "pass"
    assert doc["verdict"] == "deliverable"


# -- pure parts ---------------------------------------------------------------------------------


def _report(**kw: Any) -> AuthReport:
    base: dict[str, Any] = dict(
        domain="d.test",
        spf_domain="d.test",
        sender="a@d.test",
        ip="192.0.2.1",
        helo="h.test",
        spf=None,
        spf_evaluated=True,
        dmarc=None,
        dkim=(),
        ptr=None,
        dnsbl=(),
    )
    return AuthReport(**{**base, **kw})


def test_attribute_prefers_what_the_reply_names() -> None:
    no_ptr = PtrReport("192.0.2.1", (), (), "h.test", None, ("192.0.2.1 has no PTR record",))
    report = _report(ptr=no_ptr)
    found = attribute(report, "ptr-required", "550 at RCPT TO")
    assert isinstance(found, Finding) and found.reason == "ptr-required"
    assert attribute(report, "mailbox-unknown", "550 at RCPT TO") is None


def test_dmarc_tag_validation() -> None:
    rec = parse_record("v=DMARC1; p=maybe; adkim=x; pct=150; rua=http://x; fo=2; foo=bar")
    text = " ".join(rec.problems)
    for fragment in ("p=maybe", "adkim=x", "pct=150", "not a mailto", "fo= option", "unknown"):
        assert fragment in text
    assert parse_record("v=DMARC1; p=reject").problems == ()
    assert "must start with v=DMARC1" in " ".join(parse_record("p=none; v=DMARC1").problems)


def test_dmarc_tree_walk_targets() -> None:
    assert walk_targets("a.b.example.com") == [
        "a.b.example.com",
        "b.example.com",
        "example.com",
        "com",
    ]
    long = "1.2.3.4.5.6.7.8.9.example.com"
    assert walk_targets(long)[1] == "5.6.7.8.9.example.com"


def test_dkim_key_parsing() -> None:
    key = parse_key("s", "s._domainkey.d", "v=DKIM1; k=rsa; t=y; p=")
    assert key.revoked and key.testing
    bad = parse_key("s", "s._domainkey.d", "v=DKIM2; k=dsa; p=!!!")
    assert any("DKIM1" in p for p in bad.problems)
    assert any("not valid base64" in p for p in bad.problems)


def test_auth_report_in_thai(auth_rig: Rig) -> None:
    result = run_cli(
        [
            "auth",
            "badspf.example.test",
            "--resolver",
            auth_rig.resolver,
            "--dns-timeout",
            "1",
            "--ip",
            "127.0.0.1",
            "--mail-from",
            "x@badspf.example.test",
            "--dnsbl",
            "clean.example.test",
            "--lang",
            "th",
            "--no-color",
        ]
    )
    assert "SPF fail สำหรับ x@badspf.example.test จาก 127.0.0.1" in result.output
    assert "ไม่อยู่ใน clean.example.test" in result.output
