"""DMARC: record discovery (RFC 9989 DNS tree walk, compared with the RFC 7489 public-suffix
method), tag parsing and validation, the policy in force, and report-destination checks.

Pure logic over an injected async ``Query`` (see :mod:`smtpdiag.auth.spf`).
"""

from __future__ import annotations

import re
from dataclasses import field

from smtpdiag.auth.psl import organizational_domain as _from_list
from smtpdiag.core.dnstypes import Answer, Query
from smtpdiag.core.records import record

POLICIES = ("none", "quarantine", "reject")
KNOWN_TAGS = (
    "v",
    "p",
    "sp",
    "np",
    "adkim",
    "aspf",
    "pct",
    "rua",
    "ruf",
    "fo",
    "t",
    "psd",
    "rf",
    "ri",
)


@record
class DmarcRecord:
    text: str
    tags: dict[str, str]
    problems: tuple[str, ...]


@record
class ReportDestination:
    uri: str
    domain: str
    external: bool
    authorized: bool | None  # None: not external, or the check failed (DNS error)
    note: str = ""


@record
class DmarcReport:
    domain: str
    record: str | None
    location: str | None  # the name the record was found at (_dmarc.<domain>)
    organizational_domain: str | None
    policy: str | None  # the policy in force for `domain`
    policy_source: str | None  # "p", "sp" or "np"
    tags: dict[str, str]
    alignment_dkim: str
    alignment_spf: str
    testing: bool
    psl_location: str | None  # where the RFC 7489 public-suffix method finds a record
    destinations: tuple[ReportDestination, ...]
    problems: tuple[str, ...]
    error: str | None = None
    queries: tuple[str, ...] = field(default=())


def parse_record(text: str) -> DmarcRecord:
    """Parse ``v=DMARC1; p=...``: tags, and every syntax or value problem found."""
    problems: list[str] = []
    tags: dict[str, str] = {}
    parts = [p.strip() for p in text.split(";")]
    for i, part in enumerate(parts):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not sep or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            problems.append(f"'{part}' is not a tag=value pair")
            continue
        if name in tags:
            problems.append(f"tag {name} appears twice; the first is used")
            continue
        if i == 0 and name != "v":
            problems.append("the record must start with v=DMARC1")
        tags[name] = value
    if tags.get("v") != "DMARC1":
        problems.append(f"v={tags.get('v', '')} is not DMARC1")
    for name in ("p", "sp", "np"):
        if name in tags and tags[name].lower() not in POLICIES:
            problems.append(f"{name}={tags[name]} is not none, quarantine or reject")
    if "p" not in tags:
        problems.append("no p= tag: the record has no policy (treated as p=none if rua= is valid)")
    for name in ("adkim", "aspf"):
        if name in tags and tags[name].lower() not in ("r", "s"):
            problems.append(f"{name}={tags[name]} must be r (relaxed) or s (strict)")
    if "pct" in tags:
        if not tags["pct"].isdigit() or not 0 <= int(tags["pct"]) <= 100:
            problems.append(f"pct={tags['pct']} must be a number from 0 to 100")
        else:
            problems.append("pct= is obsolete in RFC 9989; use t=y for testing")
    if "t" in tags and tags["t"].lower() not in ("y", "n"):
        problems.append(f"t={tags['t']} must be y or n")
    if "psd" in tags and tags["psd"].lower() not in ("y", "n", "u"):
        problems.append(f"psd={tags['psd']} must be y, n or u")
    if "fo" in tags:
        for opt in tags["fo"].split(":"):
            if opt.strip() not in ("0", "1", "d", "s"):
                problems.append(f"fo= option {opt!r} must be 0, 1, d or s")
    if "ri" in tags and not tags["ri"].isdigit():
        problems.append(f"ri={tags['ri']} must be a number of seconds")
    for name in ("rua", "ruf"):
        for uri in _uris(tags.get(name, "")):
            if not uri.lower().startswith("mailto:") or "@" not in uri:
                problems.append(f"{name} destination {uri!r} is not a mailto: address")
    unknown = [t for t in tags if t not in KNOWN_TAGS]
    if unknown:
        problems.append(f"unknown tags ignored: {', '.join(unknown)}")
    return DmarcRecord(text, tags, tuple(problems))


def _uris(value: str) -> list[str]:
    return [u.strip() for u in value.split(",") if u.strip()]


def _is_dmarc(value: bytes | str) -> str | None:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text if re.match(r"^\s*v\s*=\s*DMARC1\s*(;|$)", text) else None


async def _record_at(
    query: Query, domain: str, queries: list[str]
) -> tuple[str | None, str | None, Answer]:
    """(record, problem, answer) for _dmarc.<domain>."""
    name = f"_dmarc.{domain}"
    answer = await query(name, "TXT")
    queries.append(f"TXT {name} -> {answer.error or len(answer.values)}")
    if answer.failed:
        return None, f"DNS {answer.error} looking up {name}", answer
    records = [r for r in (_is_dmarc(v) for v in answer.values) if r]
    if len(records) > 1:
        return None, f"{name} has {len(records)} DMARC records: receivers ignore them all", answer
    return (records[0] if records else None), None, answer


def walk_targets(domain: str) -> list[str]:
    """RFC 9989 §4.10 tree walk: the author domain, then (at most) 7 labels, then shorter."""
    labels = domain.rstrip(".").split(".")
    targets = [".".join(labels)]
    if len(labels) >= 8:
        labels = labels[-7:]
        targets.append(".".join(labels))
    while len(labels) > 1:
        labels = labels[1:]
        targets.append(".".join(labels))
    out: list[str] = []
    for t in targets:
        if t not in out:
            out.append(t)
    return out


def organizational_domain(domain: str) -> str | None:
    """The RFC 7489 organizational domain from the public suffix list (offline copy)."""
    return _from_list(domain)


async def discover(query: Query, domain: str, author_exists: bool = True) -> DmarcReport:
    """Find and evaluate the DMARC policy that applies to mail from ``domain``."""
    domain = domain.rstrip(".").lower()
    queries: list[str] = []
    problems: list[str] = []
    found: str | None = None
    location: str | None = None
    error: str | None = None
    for target in walk_targets(domain):
        record, problem, _ = await _record_at(query, target, queries)
        if problem:
            problems.append(problem)
            if problem.startswith("DNS"):
                error = problem
                break
            continue  # several records: all are ignored, the walk goes on
        if record:
            found, location = record, target
            break
    psl_org = organizational_domain(domain)
    psl_location = None
    if psl_org:
        psl_queries: list[str] = []
        for target in dict.fromkeys((domain, psl_org)):
            record, _, _ = await _record_at(query, target, psl_queries)
            if record:
                psl_location = target
                break
    org = location if location and location != domain else (psl_org or location)
    if found is None:
        return DmarcReport(
            domain,
            None,
            None,
            org,
            None,
            None,
            {},
            "r",
            "r",
            False,
            psl_location,
            (),
            tuple(problems or [f"no DMARC record for {domain}"]),
            error,
            tuple(queries),
        )
    parsed = parse_record(found)
    problems.extend(parsed.problems)
    tags = parsed.tags
    policy_source = "p"
    if location != domain:
        if not author_exists and "np" in tags:
            policy_source = "np"
        elif "sp" in tags:
            policy_source = "sp"
    policy = tags.get(policy_source, "").lower() or None
    if policy is None and "p" not in tags and tags.get("rua"):
        policy, policy_source = "none", "p"
    if psl_location is not None and psl_location != location:
        problems.append(
            f"the RFC 7489 public-suffix method finds a record at _dmarc.{psl_location}, the "
            f"RFC 9989 tree walk at _dmarc.{location}: older receivers may apply another policy"
        )
    if policy == "none":
        problems.append("p=none: receivers only monitor; nothing is quarantined or rejected")
    testing = tags.get("t", "n").lower() == "y" or tags.get("pct", "100") not in ("100", "")
    destinations = await _destinations(query, location or domain, tags, queries)
    for dest in destinations:
        if dest.external and dest.authorized is False:
            problems.append(
                f"report destination {dest.uri} is in another domain that has not authorised "
                f"it (no v=DMARC1 at {location}._report._dmarc.{dest.domain}): reports are "
                "not sent there"
            )
    return DmarcReport(
        domain=domain,
        record=found,
        location=f"_dmarc.{location}",
        organizational_domain=org,
        policy=policy,
        policy_source=policy_source,
        tags=tags,
        alignment_dkim=tags.get("adkim", "r").lower(),
        alignment_spf=tags.get("aspf", "r").lower(),
        testing=testing,
        psl_location=f"_dmarc.{psl_location}" if psl_location else None,
        destinations=destinations,
        problems=tuple(problems),
        error=error,
        queries=tuple(queries),
    )


async def _destinations(
    query: Query, policy_domain: str, tags: dict[str, str], queries: list[str]
) -> tuple[ReportDestination, ...]:
    out: list[ReportDestination] = []
    own_org = organizational_domain(policy_domain) or policy_domain
    for name in ("rua", "ruf"):
        for uri in _uris(tags.get(name, ""))[:10]:
            address = uri.split(":", 1)[-1].split("!", 1)[0]
            dest_domain = address.rpartition("@")[2].lower().rstrip(".")
            if not dest_domain:
                continue
            dest_org = organizational_domain(dest_domain) or dest_domain
            if dest_org == own_org:
                out.append(ReportDestination(uri, dest_domain, False, None))
                continue
            check = f"{policy_domain}._report._dmarc.{dest_domain}"
            answer = await query(check, "TXT")
            queries.append(f"TXT {check} -> {answer.error or len(answer.values)}")
            if answer.failed:
                out.append(
                    ReportDestination(
                        uri, dest_domain, True, None, f"DNS {answer.error} checking {check}"
                    )
                )
                continue
            ok = any(_is_dmarc(v) for v in answer.values)
            out.append(ReportDestination(uri, dest_domain, True, ok))
    return tuple(out)
