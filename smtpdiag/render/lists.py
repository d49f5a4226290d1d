"""Renderers for list runs: JSONL and CSV rows, JUnit XML, a Markdown summary, the stderr
summary and the progress line. Pure: strings in, strings out.

A list run keeps one small :class:`Outcome` per input line (not the whole result) for the
reports written at the end, so 100,000 addresses stay well under 200 MB.
"""

from __future__ import annotations

import collections
import csv
import io
import re
from collections.abc import Sequence
from typing import Any

from smtpdiag.core.listinput import ListLine
from smtpdiag.core.model import ProbeResult, Verdict
from smtpdiag.core.records import record
from smtpdiag.render.text import Fragments, escape, to_dict

#: CSV columns, in order
CSV_COLUMNS = (
    "line",
    "address",
    "verdict",
    "reason",
    "code",
    "enhanced",
    "mx_host",
    "summary",
    "expected",
    "met",
    "blocked_side",
)

#: verdicts a line without its own expectation must have in JUnit (and with --expect unset)
DEFAULT_PASS: tuple[Verdict, ...] = ("deliverable", "accept-all")


@record
class Outcome:
    """What the end-of-run reports need about one input line."""

    line: int | None
    address: str
    verdict: Verdict | None  # None: a bad line
    reason: str
    code: int | None
    enhanced: str | None
    mx_host: str
    summary: str
    deciding: str  # the deciding reply, "550 5.1.1 ..." (escaped), or ""
    elapsed_s: float
    expect: tuple[Verdict, ...] | None
    met: bool | None  # None: no expectation
    blocked_side: str | None = None  # tester, sender, recipient (core/data/sides.toml)


def outcome(
    result: ProbeResult, line: ListLine | None, expect: tuple[Verdict, ...] | None
) -> Outcome:
    step = result.diagnosis.deciding
    reply = step.reply if step is not None else None
    host = ""
    for attempt in result.attempts:
        if step is not None and any(s is step for s in attempt.steps):
            host = attempt.host
            break
    if not host and result.attempts:
        host = result.attempts[-1].host
    deciding = ""
    if reply is not None:
        head = f"{reply.code} {reply.enhanced} " if reply.enhanced else f"{reply.code} "
        first = reply.lines[0] if reply.lines else ""
        if reply.enhanced and first.startswith(reply.enhanced):
            first = first[len(reply.enhanced) :].lstrip()
        deciding = escape(head + " ".join([first, *reply.lines[1:]]).strip())[:500]
    return Outcome(
        line=line.line if line is not None else None,
        address=result.address.original,
        verdict=result.verdict,
        reason=result.reason,
        code=reply.code if reply is not None else None,
        enhanced=reply.enhanced if reply is not None else None,
        mx_host=host,
        summary=result.summary,
        deciding=deciding,
        elapsed_s=result.elapsed_ms / 1000,
        expect=expect,
        met=None if expect is None else result.verdict in expect,
        blocked_side=result.blocked_side,
    )


def bad_line_outcome(line: ListLine, expect: tuple[Verdict, ...] | None) -> Outcome:
    return Outcome(
        line=line.line,
        address=line.text,
        verdict=None,
        reason="syntax",
        code=None,
        enhanced=None,
        mx_host="",
        summary=f"line {line.line}: {line.error}",
        deciding="",
        elapsed_s=0.0,
        expect=expect,
        met=None if expect is None else False,
    )


def jsonl_record(
    result: ProbeResult,
    line: ListLine | None,
    expect: tuple[Verdict, ...] | None,
    lang: str,
    shared: Fragments | None = None,
) -> dict[str, Any]:
    """One probe result as a JSONL object: schema 2, plus where it came from (with
    ``shared``: to be encoded by ``shared.line``)."""
    doc = to_dict(result, lang, shared)
    doc["input"] = line.text if line is not None else result.address.original
    doc["line"] = line.line if line is not None else None
    doc["expect"] = list(expect) if expect is not None else None
    doc["met"] = None if expect is None else result.verdict in expect
    return doc


def bad_line_record(line: ListLine, schema: int) -> dict[str, Any]:
    return {
        "schema": schema,
        "input": line.text,
        "line": line.line,
        "address": line.text,
        "verdict": None,
        "reason": "syntax",
        "error": "usage",
        "summary": f"line {line.line}: {line.error}",
        "expect": None,
        "met": None,
    }


def csv_header() -> str:
    return _csv_line(list(CSV_COLUMNS))


def csv_row(o: Outcome) -> str:
    return _csv_line(
        [
            "" if o.line is None else str(o.line),
            o.address,
            o.verdict or "",
            o.reason,
            "" if o.code is None else str(o.code),
            o.enhanced or "",
            o.mx_host,
            o.summary,
            "|".join(o.expect) if o.expect else "",
            "" if o.met is None else ("yes" if o.met else "no"),
            o.blocked_side or "",
        ]
    )


def _csv_line(cells: list[str]) -> str:
    buf = io.StringIO()
    # a cell starting with = + - @ would be a formula in a spreadsheet: quote it as text
    safe = ["'" + c if c[:1] in ("=", "+", "-", "@") and not c[1:2].isdigit() else c for c in cells]
    csv.writer(buf, lineterminator="\n").writerow([escape(c) for c in safe])
    return buf.getvalue().rstrip("\n")


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_escape(text: str) -> str:
    """Text for XML 1.0: markup escaped, and the characters XML cannot hold at all (most
    control characters) shown as \\xHH, so a hostile server cannot break the report."""
    text = _XML_BAD.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quoteattr(text: str) -> str:
    escaped = xml_escape(text).replace('"', "&quot;").replace("\n", "&#10;")
    return f'"{escaped}"'


def _fails(o: Outcome) -> bool:
    if o.met is not None:
        return not o.met
    return o.verdict not in DEFAULT_PASS


def junit_xml(outcomes: Sequence[Outcome], elapsed_s: float, timestamp: str) -> str:
    """JUnit XML (the schema Jenkins, GitLab and GitHub reporters read): one testcase per
    input line; a failure when its expectation does not hold (no expectation: when the
    verdict is not deliverable/accept-all); a bad line is an error."""
    failures = sum(1 for o in outcomes if o.verdict is not None and _fails(o))
    errors = sum(1 for o in outcomes if o.verdict is None)
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    attrs = (
        f'name="smtpdiag" tests="{len(outcomes)}" failures="{failures}" '
        f'errors="{errors}" time="{elapsed_s:.3f}"'
    )
    out.append(f"<testsuites {attrs}>")
    out.append(
        f'  <testsuite {attrs} skipped="0" timestamp={quoteattr(timestamp)} hostname="smtpdiag">'
    )
    for o in outcomes:
        domain = o.address.rpartition("@")[2] or "invalid"
        name = o.address + (f" (line {o.line})" if o.line is not None else "")
        head = (
            f"    <testcase classname={quoteattr('smtpdiag.' + domain)} "
            f'name={quoteattr(name)} time="{o.elapsed_s:.3f}"'
        )
        if o.verdict is None:
            out.append(head + ">")
            out.append(
                f'      <error message={quoteattr(o.summary)} type="syntax">'
                f"{xml_escape(o.summary)}</error>"
            )
            out.append("    </testcase>")
        elif _fails(o):
            wanted = "|".join(o.expect or DEFAULT_PASS)
            message = f"expected {wanted}, got {o.verdict} ({o.reason})"
            body = o.summary + (f"\nDeciding reply: {o.deciding}" if o.deciding else "")
            out.append(head + ">")
            out.append(
                f"      <failure message={quoteattr(message)} type={quoteattr(o.verdict)}>"
                f"{xml_escape(body)}</failure>"
            )
            out.append("    </testcase>")
        else:
            out.append(head + " />")
    out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return escape(text).replace("|", "\\|").replace("\n", " ")


def _count(n: int, noun: str) -> str:
    """``1 address``, ``2 addresses``, ``1 SMTP session``, ``3 SMTP sessions``."""
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun}es" if noun.endswith("ss") else f"{n} {noun}s"


def summary_markdown(outcomes: Sequence[Outcome], elapsed_s: float, limit: int = 200) -> str:
    """A Markdown report (for ``$GITHUB_STEP_SUMMARY``): counts, then what did not pass."""
    counts = collections.Counter(o.verdict or "bad line" for o in outcomes)
    expected = [o for o in outcomes if o.met is not None]
    lines = ["## smtpdiag probe", ""]
    rate = len(outcomes) / elapsed_s if elapsed_s > 0 else 0.0
    lines.append(f"{_count(len(outcomes), 'address')} in {elapsed_s:.1f} s ({rate:.0f}/s).")
    if expected:
        held = sum(1 for o in expected if o.met)
        lines.append(f"Expectations: {held} of {len(expected)} held.")
    lines += ["", "| verdict | addresses |", "| --- | ---: |"]
    for verdict, n in counts.most_common():
        lines.append(f"| {verdict} | {n} |")
    bad = [o for o in outcomes if o.verdict is None or _fails(o)]
    if bad:
        lines += [
            "",
            "| line | address | verdict | expected | reason | reply |",
            "| ---: | --- | --- | --- | --- | --- |",
        ]
        for o in bad[:limit]:
            wanted = " or ".join(o.expect or DEFAULT_PASS)
            lines.append(
                f"| {o.line if o.line is not None else ''} | {_md(o.address)} | "
                f"{o.verdict or 'bad line'} | {wanted} | "
                f"{o.reason} | {_md(o.deciding or o.summary)[:200]} |"
            )
        if len(bad) > limit:
            lines.append(f"\n{len(bad) - limit} more not shown; see the JSONL or JUnit output.")
    return "\n".join(lines) + "\n"


class Tally:
    """The end-of-run summary, counted as results come (a 100,000-line run keeps counts,
    not results)."""

    def __init__(self) -> None:
        self.n = 0
        self.verdicts: collections.Counter[str] = collections.Counter()
        self.reasons: collections.Counter[str] = collections.Counter()
        self.domains: collections.Counter[str] = collections.Counter()
        self.expected = 0
        self.failed: list[Outcome] = []  # the first few failed expectations
        self.failed_count = 0
        self.tester = 0  # refusals about this tester: those results say nothing of the box

    def add(self, o: Outcome) -> None:
        self.n += 1
        if o.blocked_side == "tester":
            self.tester += 1
        self.verdicts[o.verdict or "bad line"] += 1
        if o.verdict not in DEFAULT_PASS:
            self.reasons[o.reason] += 1
        if o.verdict is not None:  # a bad line has no domain to count
            self.domains[o.address.rpartition("@")[2].lower()] += 1
        if o.met is not None:
            self.expected += 1
            if not o.met:
                self.failed_count += 1
                if len(self.failed) < 10:
                    self.failed.append(o)

    def text(self, elapsed_s: float, sessions: int) -> str:
        """Counts per verdict, reason and domain, time, rate, expectations."""
        rate = self.n / elapsed_s if elapsed_s > 0 else 0.0
        out = [
            f"smtpdiag: {_count(self.n, 'address')} in {elapsed_s:.1f} s ({rate:.1f}/s, "
            f"{_count(sessions, 'SMTP session')})",
            "  verdicts: " + ", ".join(f"{v} {c}" for v, c in self.verdicts.most_common()),
        ]
        if self.reasons:
            top = self.reasons.most_common(8)
            out.append("  reasons:  " + ", ".join(f"{r} {c}" for r, c in top))
        if len(self.domains) > 1:
            top = self.domains.most_common(8)
            more = f", +{len(self.domains) - 8} more" if len(self.domains) > 8 else ""
            out.append("  domains:  " + ", ".join(f"{d} {c}" for d, c in top) + more)
        if self.tester:
            out.append(
                f"  this tester was refused for {self.tester} address(es): those results say "
                "nothing about the mailboxes (blocked_side tester; run smtpdiag doctor)"
            )
        if self.expected:
            held = self.expected - self.failed_count
            out.append(f"  expectations: {held} of {self.expected} held")
            for o in self.failed:
                where = f"line {o.line}: " if o.line is not None else ""
                wanted = "|".join(o.expect or ())
                got = o.verdict or "bad line"
                out.append(f"    {where}{o.address}: expected {wanted}, got {got}")
            if self.failed_count > len(self.failed):
                out.append(f"    ... {self.failed_count - len(self.failed)} more")
        return "\n".join(out)


def summary_text(outcomes: Sequence[Outcome], elapsed_s: float, sessions: int) -> str:
    """The end-of-run summary for stderr: counts per verdict, reason and domain."""
    tally = Tally()
    for o in outcomes:
        tally.add(o)
    return tally.text(elapsed_s, sessions)


def progress_line(done: int, total: int, elapsed_s: float, width: int = 24) -> str:
    filled = int(width * done / total) if total else width
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {rate:.1f}/s"
