"""Pure diagnosis: from an MX plan and the recorded attempts to a verdict, a reason,
a one-line summary, and an annotation under every reply. No I/O."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import assert_never

from smtpdiag.core.classify import classify, describe
from smtpdiag.core.datafiles import load as load_data
from smtpdiag.core.model import (
    Address,
    Annotation,
    Attempt,
    CatchAll,
    Classification,
    Diagnosis,
    ErrorKind,
    MxPlan,
    Reason,
    RecipientResult,
    Reply,
    Retry,
    Side,
    Step,
    Verdict,
)
from smtpdiag.core.records import evolve, record


def error_reason(kind: ErrorKind | None) -> Reason:
    """The reason a session failure without a usable reply stands for. Exhaustive: a new
    :data:`ErrorKind` that is not mapped here fails mypy (``assert_never``)."""
    match kind:
        case None:
            return "unknown"
        case "network" | "timeout" | "protocol-error" | "tls-failed" | "tls-required":
            return kind
        case "proxy":
            return "network"  # ours, not the server's: blocked_side says so
        case "greeting" | "server-closed":
            return "server-error"  # a 421/4xx/5xx banner or a 421 mid-session
        case "ehlo" | "smtputf8-unsupported":
            return "protocol-error"
        case _:
            assert_never(kind)


@functools.cache
def _summaries() -> dict[str, dict[str, str]]:
    data = load_data("smtpdiag.core.data", "summaries")
    return {lang: {k: str(v) for k, v in table.items()} for lang, table in data.items()}


def summary_text(key: str, lang: str = "en", **values: str) -> str:
    table = _summaries().get(lang) or _summaries()["en"]
    template = table.get(key) or _summaries()["en"].get(key) or _summaries()["en"]["unknown"]
    return template.format_map(_Default(values))


class _Default(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def reply_brief(reply: Reply, width: int = 140) -> str:
    """``550 5.1.1 first line...`` for summaries."""
    first = reply.lines[0] if reply.lines else ""
    if reply.enhanced and first.startswith(reply.enhanced):
        first = first[len(reply.enhanced) :].lstrip()
    head = f"{reply.code} {reply.enhanced} " if reply.enhanced else f"{reply.code} "
    text = head + first
    return text if len(text) <= width else text[: width - 3] + "..."


def annotate_reply(reply: Reply, stage: str, lang: str = "en") -> Annotation:
    """Title, one-line meaning and reason for a reply, from the catalog and classifier;
    remembered for the run as :func:`classify_reply` is (a list's thousand "550 5.1.1
    <userN@...>: User unknown" get one annotation)."""
    key = _reply_key(reply.code, reply.enhanced, reply.text, stage)
    found = None if key is None else _ANNOTATIONS.get((*key, lang))
    if found is None:
        cls = classify_reply(reply.code, reply.enhanced, reply.text, stage)
        title, meaning = describe(reply.code, reply.enhanced, cls, lang)
        found = Annotation(title=title, meaning=meaning, classification=cls)
        if key is not None:
            if len(_ANNOTATIONS) >= _REMEMBERED:
                _ANNOTATIONS.clear()
            _ANNOTATIONS[(*key, lang)] = found
    return found


#: a recipient's local part in a reply ("<bob@": "<@"): a list run's refusals differ only
#: there, and no rule reads it
_LOCAL_PART = re.compile(r"<[^<>@\s]{1,64}@")
#: replies remembered (classification, annotation), each at most this long: a hostile
#: server's 64 KB replies are worked out each time rather than kept
_REMEMBERED, _REMEMBERED_CHARS = 4096, 2000
_CLASSIFIED: dict[tuple[int | None, str | None, str, str], Classification] = {}
_ANNOTATIONS: dict[tuple[int | None, str | None, str, str, str], Annotation] = {}


def _reply_key(
    code: int | None, enhanced: str | None, text: str, stage: str
) -> tuple[int | None, str | None, str, str] | None:
    """What a reply is remembered by: its text up to the recipient's local part (None: too
    long to keep)."""
    if len(text) > _REMEMBERED_CHARS:
        return None
    return (code, enhanced, _LOCAL_PART.sub("<@", text) if "<" in text else text, stage)


def classify_reply(code: int | None, enhanced: str | None, text: str, stage: str) -> Classification:
    """:func:`classify`, remembered for the run: the same reply text (up to the recipient's
    local part) is classified once, however many sessions and addresses see it."""
    key = _reply_key(code, enhanced, text, stage)
    found = None if key is None else _CLASSIFIED.get(key)
    if found is None:
        found = classify(code, enhanced, text, stage)
        if key is not None:
            if len(_CLASSIFIED) >= _REMEMBERED:
                _CLASSIFIED.clear()
            _CLASSIFIED[key] = found
    return found


def recipient_view(
    attempt: Attempt, address: str, domain: str, catch_all: RecipientResult | None = None
) -> Attempt:
    """One address's share of a session that carried several recipients: the session's
    steps without the other addresses' RCPTs, its own RCPT result and the catch-all check
    of its domain (from this session, else ``catch_all``, answered in another)."""
    mine = [r for r in attempt.recipients if not r.random and r.address == address][:1]
    randoms = [r for r in attempt.recipients if r.random and r.address.endswith("@" + domain)]
    conclusive = [
        r for r in randoms if r.step.reply is not None and r.step.reply.code // 100 in (2, 5)
    ]
    if not conclusive and catch_all is not None and mine and mine[0].step.reply is not None:
        randoms = [catch_all]  # a yes/no from another session beats this one's 4xx
    keep = {id(r.step) for r in mine} | {id(r.step) for r in randoms[:1]}
    others = {id(r.step) for r in attempt.recipients} - keep
    steps = tuple(s for s in attempt.steps if id(s) not in others)
    return evolve(attempt, steps=steps, recipients=(*mine, *randoms[:1]))


def retry_note(retries: Sequence[Retry], verdict: str, lang: str = "en") -> str:
    """ " It said "try later" twice first (450 4.2.0); retried after 60 s, 300 s: cleared." """
    if not retries:
        return ""
    first = retries[0]
    brief = " ".join(str(x) for x in (first.code, first.enhanced) if x is not None) or first.reason
    waits = ", ".join(f"{r.after_s:g} s" for r in retries)
    key = "retry-still" if verdict == "temporary" else "retry-cleared"
    return summary_text(key, lang, count=str(len(retries)), first=brief, waits=waits)


def turned_away_note(count: int, server: str, greeting: Reply, lang: str = "en") -> str:
    """ " mx [ip] turned away 3 connections first (421 4.7.0 ...): too many from us at once
    or in a short time; smtpdiag backed off and connected again." """
    return summary_text(
        "turned-away", lang, count=str(count), server=server, reply=reply_brief(greeting)
    )


#: annotated copies of the last steps seen (kept with the step itself, so an id is never
#: reused): the addresses of one session share its greeting, EHLO and MAIL steps, and so
#: share their annotated copies too (which the JSON renderer then encodes once)
_ANNOTATED: dict[tuple[int, str], tuple[Step, Step]] = {}


def annotate_step(step: Step, lang: str = "en") -> Step:
    if step.reply is None:
        return step
    key = (id(step), lang)
    hit = _ANNOTATED.get(key)
    if hit is not None and hit[0] is step:
        return hit[1]
    done = evolve(step, annotation=annotate_reply(step.reply, step.stage, lang))
    if len(_ANNOTATED) >= 4096:
        del _ANNOTATED[next(iter(_ANNOTATED))]
    _ANNOTATED[key] = (step, done)
    return done


def annotate_steps(steps: Sequence[Step], lang: str = "en") -> tuple[Step, ...]:
    return tuple(annotate_step(s, lang) for s in steps)


@record
class Outcome:
    verdict: Verdict
    reason: Reason
    step: Step | None
    decisive: bool  # True: this answer ends the search for other hosts
    error: str | None = None


def _reply_verdict(reply: Reply) -> Verdict:
    if reply.code // 100 in (2, 3):
        return "deliverable"
    return "temporary" if reply.code // 100 == 4 else "undeliverable"


def attempt_outcome(attempt: Attempt) -> Outcome:
    """What one attempt established about the target address."""
    for step in attempt.steps:  # a refused MAIL FROM decides (pipelined RCPTs then get 503)
        if step.stage == "mail" and step.reply is not None and step.reply.code // 100 != 2:
            reply = step.reply
            reason = classify_reply(reply.code, reply.enhanced, reply.text, "mail").reason
            return Outcome(_reply_verdict(reply), reason, step, reply.code != 421)
    targets = [r for r in attempt.recipients if not r.random]
    if targets:
        step = targets[0].step
        if step.reply is not None:
            reply = step.reply
            if reply.code // 100 == 2:
                randoms = [r for r in attempt.recipients if r.random]
                rnd = randoms[0].step.reply if randoms else None
                if rnd is not None and rnd.code // 100 == 2:
                    return Outcome("accept-all", "accepted", step, True)
                return Outcome("deliverable", "accepted", step, True)
            reason = classify_reply(reply.code, reply.enhanced, reply.text, "rcpt").reason
            return Outcome(_reply_verdict(reply), reason, step, reply.code != 421)
        if step.error_kind == "smtputf8-unsupported":
            return Outcome("undeliverable", "protocol-error", step, True, step.error)
    # The session ended before an answer about the address: find what stopped it.
    said = [s for s in attempt.steps if s.stage != "quit"]  # QUIT's 221 decides nothing
    last = said[-1] if said else (attempt.steps[-1] if attempt.steps else None)
    if last is not None and last.reply is not None and last.reply.code // 100 in (4, 5):
        reply = last.reply
        kind = attempt.error_kind
        if kind in ("tls-failed", "tls-required"):
            return Outcome("unknown", kind, last, False, attempt.error)
        reason = classify_reply(reply.code, reply.enhanced, reply.text, last.stage).reason
        return Outcome(_reply_verdict(reply), reason, last, False, attempt.error)
    reason = error_reason(attempt.error_kind or (last.error_kind if last else None))
    return Outcome("unknown", reason, last, False, attempt.error or (last.error if last else None))


_RANK = {"undeliverable": 3, "temporary": 2, "unknown": 1, "deliverable": 4, "accept-all": 4}


def choose(outcomes: Sequence[tuple[Attempt, Outcome]]) -> tuple[Attempt, Outcome] | None:
    """The attempt whose outcome decides the verdict: the first decisive one, else the
    most informative (a refusal beats a transient failure beats no answer)."""
    for pair in outcomes:
        if pair[1].decisive:
            return pair
    best: tuple[Attempt, Outcome] | None = None
    for pair in outcomes:
        if best is None or _RANK[pair[1].verdict] > _RANK[best[1].verdict]:
            best = pair
    return best


def catch_all_of(attempt: Attempt | None) -> CatchAll:
    if attempt is None:
        return CatchAll(tested=False)
    if any(
        s.stage == "mail" and (s.reply is None or s.reply.code // 100 != 2) for s in attempt.steps
    ):
        return CatchAll(tested=False)  # a pipelined RCPT after a refused MAIL says nothing
    for r in attempt.recipients:
        if r.random:
            reply = r.step.reply
            return CatchAll(
                tested=True,
                address=r.address,
                accepted={2: True, 5: False}.get(reply.code // 100) if reply else None,
                code=None if reply is None else reply.code,
            )
    return CatchAll(tested=False)


def _position(steps: Sequence[Step], step: Step | None) -> int | None:
    """Where ``step`` itself is in ``steps`` (by identity: comparing records field by field
    was a tenth of a list run's diagnosis)."""
    if step is not None:
        for i, s in enumerate(steps):
            if s is step:
                return i
    return None


def diagnose(
    address: Address, plan: MxPlan, attempts: Sequence[Attempt], lang: str = "en"
) -> tuple[Diagnosis, CatchAll, tuple[Attempt, ...]]:
    """Verdict, catch-all result and annotated attempts for one probed address."""
    values = {"address": address.original, "domain": address.domain_unicode, "error": "?"}
    annotated: list[Attempt] = []
    outcomes: list[tuple[Attempt, Outcome]] = []
    for att in attempts:
        out = attempt_outcome(att)
        steps = annotate_steps(att.steps, lang)
        at = _position(att.steps, out.step)
        if at is not None:
            out = evolve(out, step=steps[at])
        att = evolve(att, steps=steps, verdict=out.verdict, reason=out.reason)
        annotated.append(att)
        outcomes.append((att, out))
    result_attempts = tuple(annotated)

    if plan.source == "null" or plan.error_kind in ("domain-unknown", "no-mail-accepted"):
        reason: Reason = (
            "no-mail-accepted" if plan.error_kind != "domain-unknown" else "domain-unknown"
        )
        values["error"] = plan.error or reason
        diag = Diagnosis("undeliverable", reason, summary_text(reason, lang, **values))
        return diag, CatchAll(tested=False), result_attempts
    if not attempts:
        errors = [f"{h.host}: {h.error}" for h in plan.hosts if h.error]
        values["error"] = plan.error or "; ".join(errors) or "no address to connect to"
        if not plan.error and errors:
            values["error"] += " (the MX host names have no usable addresses)"
        diag = Diagnosis("unknown", "dns-failure", summary_text("dns-failure", lang, **values))
        return diag, CatchAll(tested=False), result_attempts

    chosen = choose(outcomes)
    assert chosen is not None
    att, out = chosen
    values["server"] = f"{att.host} [{att.address}]"
    step = out.step
    if step is not None and step.reply is not None:
        values["reply"] = reply_brief(step.reply)
    values["error"] = out.error or (step.error if step and step.error else None) or "?"
    catch_all = catch_all_of(att)
    if out.verdict == "accept-all":
        key = "accept-all"
    elif out.verdict == "deliverable":
        key = "deliverable" if catch_all.accepted is False else "deliverable-unsure"
        if not catch_all.tested:
            key = "accepted"
    elif out.step is not None and out.step.error_kind == "smtputf8-unsupported":
        key = "smtputf8"
    else:
        key = out.reason
    if out.verdict == "unknown" and len(outcomes) > 1:
        values["error"] = "; ".join(
            f"{a.host} [{a.address}]: {o.error or o.reason}" for a, o in outcomes
        )
    summary = summary_text(key, lang, **values)
    return Diagnosis(out.verdict, out.reason, summary, step), catch_all, result_attempts


# -- who is blocked (pure) ---------------------------------------------------------------


@functools.cache
def _sides() -> dict[str, dict[str, str]]:
    data = load_data("smtpdiag.core.data", "sides")
    by_reason = {
        reason: side for side in ("tester", "sender", "recipient") for reason in data[side]
    }
    return {"reasons": by_reason, "findings": dict(data["findings"])}


@functools.cache
def _pattern_sides() -> dict[str, str]:
    from smtpdiag.core.classify import pattern_sides

    return pattern_sides()


def _quotes(text: str, ip: str) -> bool:
    """Whether ``text`` names ``ip`` as a whole address ("[192.0.2.9]", "from 192.0.2.9:")."""
    at = text.lower().find(ip.lower())
    while at >= 0:
        before = text[at - 1] if at else " "
        after = text[at + len(ip)] if at + len(ip) < len(text) else " "
        if not (before.isalnum() or before in ".:") and not (after.isalnum() or after == "."):
            return True
        at = text.lower().find(ip.lower(), at + 1)
    return False


def blocked_side(
    diagnosis: Diagnosis, finding_source: str | None = None, client_ips: Sequence[str] = ()
) -> Side | None:
    """Who must act on the refusal that decided ``diagnosis`` (core/data/sides.toml):
    the auth checks' finding first (a blocklisted or PTR-less client IP is the tester's,
    a failing SPF/DMARC the sender's), then the reason when it is about the mailbox, then a
    provider pattern about the connecting host, the reason's own side, and last a refusal
    whose text quotes the address we connected from."""
    if diagnosis.verdict in ("deliverable", "accept-all"):
        return None
    sides = _sides()
    if finding_source is not None and finding_source in sides["findings"]:
        return sides["findings"][finding_source]  # type: ignore[return-value]
    own = sides["reasons"].get(diagnosis.reason)
    if own == "recipient":
        return "recipient"
    step = diagnosis.deciding
    reply = step.reply if step is not None else None
    ann = step.annotation if step is not None else None
    if ann is not None and ann.rule and _pattern_sides().get(ann.rule):
        return _pattern_sides()[ann.rule]  # type: ignore[return-value]
    if own is not None:
        return own  # type: ignore[return-value]
    if reply is not None and reply.code // 100 in (4, 5):
        text = reply.text
        if any(ip and _quotes(text, ip) for ip in client_ips):
            return "tester"
    return None


_IPV4 = re.compile(r"(?<![\w.:])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:.])(?=[0-9a-f:]*:[0-9a-f:]*:)[0-9a-f:]{2,39}(?![\w:])", re.I)


def quoted_client_ip(reply: Reply | None, server_ip: str | None) -> str | None:
    """The client address a refusal quotes ("Client host [192.0.2.9] blocked"): the one IP
    in its text that is not the server's own. None when it quotes none, or several."""
    if reply is None or reply.code // 100 not in (4, 5):
        return None
    text = reply.text
    # remembered: a list run's refusals quote the same client address thousands of times
    # (a long reply is not kept, as in _reply_key)
    if len(text) > _REMEMBERED_CHARS:
        return _find_quoted_ip(text, server_ip)
    return _quoted_ip(text, server_ip)


@functools.lru_cache(maxsize=1024)
def _quoted_ip(text: str, server_ip: str | None) -> str | None:
    return _find_quoted_ip(text, server_ip)


def _find_quoted_ip(text: str, server_ip: str | None) -> str | None:
    import ipaddress

    found: list[str] = []
    for m in (*_IPV4.finditer(text), *_IPV6.finditer(text)):
        try:
            ip = str(ipaddress.ip_address(m.group()))
        except ValueError:
            continue
        if ip != server_ip and ip not in found:
            found.append(ip)
    return found[0] if len(found) == 1 else None


def port25_blocked(attempts: Sequence[Attempt]) -> bool:
    """Every connection, to at least two server addresses, timed out before the TCP
    handshake completed (none was refused or answered; IPv6 ones may have found no route):
    the signature of a network that drops outbound port 25, not of one dead server."""
    if any(a.route for a in attempts):
        return False  # through a proxy: the silence is the proxy's network, its error says so
    silent = {a.address for a in attempts if _silent(a)}
    return len(silent) >= 2 and all(_silent(a) or _no_route(a) for a in attempts)


def _silent(attempt: Attempt) -> bool:
    return attempt.error_kind == "timeout" and attempt.local_address is None


def _no_route(attempt: Attempt) -> bool:
    """An IPv6 address on a host without IPv6 fails at once, "unreachable from here"
    (io/smtp.py): that says nothing about port 25, so it does not spoil the pattern."""
    return attempt.error_kind == "network" and "unreachable from here" in (attempt.error or "")


def settle_side(
    diagnosis: Diagnosis,
    address: Address,
    attempts: Sequence[Attempt] = (),
    lang: str = "en",
    finding_source: str | None = None,
    client_ips: Sequence[str] = (),
) -> Diagnosis:
    """``diagnosis`` with its ``blocked_side``; a refusal about the tester never blames the
    mailbox: its verdict becomes ``unknown`` and the summary says so, then what to fix."""
    if attempts and all(a.error_kind == "proxy" for a in attempts):
        error = next((a.error for a in attempts if a.error), "the proxy failed")
        summary = summary_text("proxy-failed", lang, address=address.original, error=error)
        return evolve(diagnosis, verdict="unknown", blocked_side="tester", summary=summary)
    if diagnosis.verdict == "unknown" and port25_blocked(attempts):
        hosts = len({a.address for a in attempts})
        summary = summary_text("port25-blocked", lang, address=address.original, count=str(hosts))
        return evolve(diagnosis, blocked_side="tester", summary=summary)
    side = blocked_side(diagnosis, finding_source, client_ips)
    if side is None:
        return diagnosis
    settled = evolve(diagnosis, blocked_side=side)
    if side == "tester" and diagnosis.verdict in ("undeliverable", "temporary"):
        summary = summary_text(
            "tester-blocked", lang, address=address.original, detail=diagnosis.summary
        )
        settled = evolve(settled, verdict="unknown", summary=summary)
    return settled
