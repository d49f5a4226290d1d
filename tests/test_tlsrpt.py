"""SMTP TLS Reporting (RFC 8460): the _smtp._tls record parser, and `explain --tls-report`
on reports as providers send them (fixtures/tlsrpt: gzip'd JSON, plain JSON)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from smtpdiag.core.data import __file__ as data_init
from smtpdiag.core.datafiles import load
from smtpdiag.core.tlsrpt import parse_record
from tests.conftest import FIXTURES, run_cli

REPORTS = FIXTURES / "tlsrpt"
GOOGLE = next(REPORTS.glob("google.com!*.json.gz"))

#: RFC 8460 §4.3's result types
RESULT_TYPES = (
    "starttls-not-supported",
    "certificate-host-mismatch",
    "certificate-expired",
    "certificate-not-trusted",
    "validation-failure",
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
)


def test_every_result_type_is_explained_in_both_languages() -> None:
    assert Path(data_init).parent.joinpath("tlsrpt.toml").exists()
    data = load("smtpdiag.core.data", "tlsrpt")
    for lang in ("en", "th"):
        for kind in (*RESULT_TYPES, "unknown"):
            entry = data[lang][kind]
            assert entry["title"] and entry["meaning"] and entry["fix"], (lang, kind)


def test_a_gzipped_report_from_a_provider() -> None:
    result = run_cli(["explain", "--tls-report", str(GOOGLE), "--format", "json"])
    assert result.exit_code == 1  # some sessions failed
    report = json.loads(result.output)["tls_report"]
    assert (report["organization"], report["failures"]) == ("Google Inc.", 23)
    policy = report["policies"][0]
    assert (policy["policy_type"], policy["successes"], policy["failures"]) == ("sts", 4817, 23)
    assert policy["failures_by_mx"] == {"mx2.example.com": 19, "mx1.example.com": 4}
    first = policy["details"][0]
    assert (first["result_type"], first["count"], first["mx"]) == (
        "certificate-expired",
        19,
        "mx2.example.com",
    )
    assert first["title"] == "Certificate expired" and "Renew" in first["fix"]


def test_a_plain_json_report_with_a_tlsa_policy_and_no_policy() -> None:
    result = run_cli(["explain", "--tls-report", str(REPORTS / "microsoft-example.org.json")])
    assert result.exit_code == 1
    out = result.output
    assert "TLS report from Microsoft Corporation" in out
    assert "tlsa-invalid: TLSA records do not match (DANE), 7 session(s)" in out
    assert "TLSA record digest does not match certificate" in out
    assert "policy no-policy-found for example.org: 12 of 12 sessions with TLS, 0 failed" in out


def test_a_clean_report_exits_0_and_thai() -> None:
    assert run_cli(["explain", "--tls-report", str(REPORTS / "clean.json")]).exit_code == 0
    th = run_cli(["explain", "--lang", "th", "--tls-report", str(GOOGLE)]).output
    assert "รายงาน TLS จาก Google Inc." in th and "ใบรับรองหมดอายุ" in th


def test_stdin_and_an_unknown_result_type(tmp_path: Path) -> None:
    doc = json.loads(gzip.decompress(GOOGLE.read_bytes()))
    doc["policies"][0]["failure-details"][0]["result-type"] = "quantum-failure"
    result = run_cli(["explain", "--tls-report", "-", "--format", "json"], input=json.dumps(doc))
    detail = json.loads(result.output)["tls_report"]["policies"][0]["details"][0]
    assert detail["title"].startswith("quantum-failure (Unknown result type")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"not json at all", "is not JSON"),
        (b'{"hello": 1}', "no 'policies' list"),
        (b"\x1f\x8bnot really gzip", "not valid gzip"),
        (gzip.compress(b" " * (21 * 1024 * 1024)), "over 20 MB once decompressed"),
    ],
)
def test_bad_reports_are_one_line_errors(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "report.json"
    path.write_bytes(content)
    result = run_cli(["explain", "--tls-report", str(path)])
    assert result.exit_code == 2
    assert words in result.output and len(result.output.strip().splitlines()) == 1


def test_a_missing_file() -> None:
    result = run_cli(["explain", "--tls-report", "/nonexistent/report.json"])
    assert result.exit_code == 2 and "No such file" in result.output


def test_record_parser() -> None:
    assert parse_record(["v=spf1 -all"]).found is False
    rec = parse_record(["v=TLSRPTv1; rua=mailto:tls@example.com,https://r.example.com/tls"])
    assert (rec.found, rec.rua, rec.problems) == (
        True,
        ("mailto:tls@example.com", "https://r.example.com/tls"),
        (),
    )
    assert "no rua=" in parse_record(["v=TLSRPTv1;"]).problems[0]
    assert "only mailto: and https:" in parse_record(["v=TLSRPTv1; rua=ftp://x"]).problems[0]
    two = parse_record(["v=TLSRPTv1; rua=mailto:a@b.c", "v=TLSRPTv1; rua=mailto:d@e.f"])
    assert "exactly one" in two.problems[0]
