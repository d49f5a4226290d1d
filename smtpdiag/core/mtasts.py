"""MTA-STS (RFC 8461), the pure part: the ``_mta-sts`` TXT record, the policy file, its
MX patterns, and what a policy says about each MX and about the certificate a live
session saw. The fetching is io/https.py; the orchestration prober.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from smtpdiag.core.dane import DaneReport
from smtpdiag.core.records import record
from smtpdiag.core.tlsrpt import RptRecord

#: RFC 8461 §3.2: max_age is at most 31557600 seconds (about one year)
MAX_AGE_LIMIT = 31_557_600
#: RFC 8461 §3.3: the policy file is at most 64 KB
MAX_POLICY_BYTES = 64 * 1024
_ID = re.compile(r"[A-Za-z0-9]{1,32}")


@record
class StsRecord:
    """What the ``_mta-sts.<domain>`` TXT records say."""

    found: bool  # at least one record starting v=STSv1
    id: str | None = None
    problems: tuple[str, ...] = ()


@record
class StsPolicy:
    version: str | None
    mode: str | None  # enforce | testing | none
    mx: tuple[str, ...]
    max_age: int | None
    problems: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems


def parse_record(texts: Sequence[str]) -> StsRecord:
    """RFC 8461 §3.1: exactly one TXT record starting ``v=STSv1``; its ``id`` is 1-32
    letters and digits. Other TXT records at the name are ignored."""
    sts = [t for t in texts if t.startswith("v=STSv1")]
    if not sts:
        return StsRecord(found=False)
    problems: list[str] = []
    if len(sts) > 1:
        problems.append(
            f"{len(sts)} v=STSv1 TXT records: RFC 8461 requires exactly one, so senders "
            "treat the domain as having no MTA-STS"
        )
    fields: dict[str, str] = {}
    for part in sts[0].split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    ident = fields.get("id")
    if ident is None:
        problems.append("the TXT record has no id= field")
    elif not _ID.fullmatch(ident):
        problems.append(f"id={ident!r} is not 1 to 32 letters and digits")
    return StsRecord(found=True, id=ident, problems=tuple(problems))


def parse_policy(text: str) -> StsPolicy:
    """RFC 8461 §3.2: ``key: value`` lines; version STSv1, mode, one or more mx (unless
    mode none), max_age 0..31557600. Unknown keys are ignored, as the RFC asks."""
    values: dict[str, list[str]] = {}
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        values.setdefault(key.strip(), []).append(value.strip())
    problems: list[str] = []
    version = _first(values, "version")
    if version != "STSv1":
        problems.append(f"version is {version!r}, not 'STSv1'")
    mode = _first(values, "mode")
    if mode not in ("enforce", "testing", "none"):
        problems.append(f"mode is {mode!r}: it must be enforce, testing or none")
    mx = tuple(p.lower().rstrip(".") for p in values.get("mx", []))
    if not mx and mode != "none":
        problems.append("no mx: line, so the policy matches no mail server")
    for pattern in mx:
        if not _valid_pattern(pattern):
            problems.append(f"mx: {pattern!r} is not a host name or a *.domain wildcard")
    raw_age = _first(values, "max_age")
    max_age: int | None = None
    if raw_age is None:
        problems.append("no max_age: line")
    elif not raw_age.isdigit() or len(raw_age) > 10:
        problems.append(f"max_age {raw_age!r} is not a number of seconds")
    else:
        max_age = int(raw_age)
        if max_age > MAX_AGE_LIMIT:
            problems.append(f"max_age {max_age} is over {MAX_AGE_LIMIT} (RFC 8461 §3.2)")
    return StsPolicy(version, mode, mx, max_age, tuple(problems))


def _first(values: dict[str, list[str]], key: str) -> str | None:
    found = values.get(key)
    return found[0] if found else None


def _valid_pattern(pattern: str) -> bool:
    name = pattern[2:] if pattern.startswith("*.") else pattern
    labels = name.split(".")
    return len(labels) >= 2 and all(
        re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", label) for label in labels
    )


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 §4.1: an exact name, or ``*.example.com``, which matches exactly one more
    label (``mx1.example.com``, not ``a.b.example.com`` nor ``example.com``)."""
    host = host.lower().rstrip(".")
    pattern = pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        first, _, rest = host.partition(".")
        return bool(first) and rest == pattern[2:]
    return host == pattern


def matching_pattern(policy: StsPolicy, host: str) -> str | None:
    return next((p for p in policy.mx if mx_matches(p, host)), None)


# -- the report --------------------------------------------------------------------------


@record
class MxCheck:
    """One MX against the policy and, when a session reached it, against what it showed."""

    host: str
    pattern: str | None  # the mx: pattern that matches it (None: not in the policy)
    tls: bool | None  # the live session's STARTTLS: True done, False not, None no session
    cert_ok: bool | None  # certificate trusted and valid for the MX name (None: no TLS)
    cert_error: str | None
    status: str  # ok | not-in-policy | no-tls | bad-cert | unchecked
    text: str


@record
class MtaStsReport:
    domain: str
    record: StsRecord
    policy_url: str
    http_status: int | None
    fetch_error: str | None
    fetch_error_kind: str | None
    policy: StsPolicy | None
    mx: tuple[MxCheck, ...]
    summary: str

    @property
    def mode(self) -> str | None:
        return self.policy.mode if self.policy is not None else None


@record
class Session:
    """What a live session showed of one MX's TLS (from its Attempt)."""

    host: str
    tls: bool
    trusted: bool | None
    hostname_matches: bool | None
    error: str | None


def evaluate(
    domain: str,
    rec: StsRecord,
    policy_url: str,
    http_status: int | None,
    fetch_error: str | None,
    fetch_error_kind: str | None,
    policy_text: str | None,
    mx_hosts: Sequence[str],
    sessions: Sequence[Session],
    texts: dict[str, str],
) -> MtaStsReport:
    """The MTA-STS report of ``domain``: the record, the policy, and every MX."""
    policy = parse_policy(policy_text) if policy_text is not None else None
    checks: list[MxCheck] = []
    if policy is not None and policy.valid:
        seen = {s.host.lower().rstrip("."): s for s in sessions}
        for host in dict.fromkeys(h.lower().rstrip(".") for h in mx_hosts):
            checks.append(_check_mx(host, policy, seen.get(host), texts))
    if not rec.found:
        summary = texts["none"].format(domain=domain)
    elif rec.problems:
        summary = texts["record-bad"].format(domain=domain, problems="; ".join(rec.problems))
    elif fetch_error is not None:
        summary = texts["fetch-failed"].format(url=policy_url, error=fetch_error)
    elif policy is None or not policy.valid:
        problems = "; ".join(policy.problems) if policy is not None else "empty"
        summary = texts["policy-bad"].format(url=policy_url, problems=problems)
    else:
        bad = [c for c in checks if c.status not in ("ok", "unchecked")]
        key = "ok" if not bad else f"bad-{policy.mode}"
        summary = texts.get(key, texts["bad-testing"]).format(
            domain=domain, mode=policy.mode, count=len(bad), max_age=policy.max_age
        )
    return MtaStsReport(
        domain,
        rec,
        policy_url,
        http_status,
        fetch_error,
        fetch_error_kind,
        policy,
        tuple(checks),
        summary,
    )


def _check_mx(host: str, policy: StsPolicy, session: Session | None, t: dict[str, str]) -> MxCheck:
    pattern = matching_pattern(policy, host)
    enforce = policy.mode == "enforce"
    who = t["enforcing"] if enforce else t["would"]
    if pattern is None:
        return MxCheck(
            host,
            None,
            None,
            None,
            None,
            "not-in-policy",
            t["not-in-policy"].format(host=host, who=who),
        )
    if session is None:
        return MxCheck(
            host,
            pattern,
            None,
            None,
            None,
            "unchecked",
            t["unchecked"].format(host=host, pattern=pattern),
        )
    if not session.tls:
        return MxCheck(
            host, pattern, False, None, None, "no-tls", t["no-tls"].format(host=host, who=who)
        )
    ok = bool(session.trusted) and bool(session.hostname_matches)
    if not ok:
        why = session.error or (t["name-mismatch"] if not session.hostname_matches else "?")
        return MxCheck(
            host,
            pattern,
            True,
            False,
            why,
            "bad-cert",
            t["bad-cert"].format(host=host, who=who, error=why),
        )
    return MxCheck(
        host, pattern, True, True, None, "ok", t["mx-ok"].format(host=host, pattern=pattern)
    )


@record
class TransportReport:
    """The ``transport`` section of a probe: MTA-STS, DANE and the TLS-RPT record."""

    mta_sts: MtaStsReport | None = None
    tls_rpt: RptRecord | None = None
    dane: DaneReport | None = None
