"""Pure logic of ``smtpdiag explain`` and ``smtpdiag compare``: catalog cards, the
classification of pasted replies and bounces, and the comparison page of two codes."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from smtpdiag.core import catalog
from smtpdiag.core.catalog import Entry
from smtpdiag.core.classify import (
    PatternInfo,
    classify,
    classify_in_context,
    describe,
    pattern_info,
)
from smtpdiag.core.model import Classification
from smtpdiag.core.records import record
from smtpdiag.core.reply import extract_reply, find_trailing_enhanced

if TYPE_CHECKING:
    from smtpdiag.core.bounce import AuthVerdict, ParsedBounce, Recipient

MAX_CONTEXT = 20_000
_BASIC = re.compile(r"^[2345]\d\d$")
_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


#: One catalog entry in one language, ready to show (the catalog's own type).
Card = Entry


@record
class Explanation:
    """What ``explain`` says about one argument."""

    input: str
    kind: str  # "basic", "enhanced" or "text"
    code: int | None
    enhanced: str | None
    text: str | None
    stage: str | None
    classification: Classification
    pattern: PatternInfo | None
    cards: tuple[Card, ...]
    known: bool  # False: a well-formed code the catalog does not define
    title: str = ""  # from the most specific knowledge (see classify.describe)
    meaning: str = ""


@record
class Comparison:
    a: Card
    b: Card
    title: str
    intro: str
    differences: tuple[str, ...]
    which: tuple[str, ...]
    learn_more: tuple[str, ...]


def code_kind(arg: str) -> str | None:
    """``"basic"`` for 550, ``"enhanced"`` for 5.1.1, None for anything else."""
    value = arg.strip()
    if _BASIC.match(value):
        return "basic"
    if _ENHANCED.match(value):
        return "enhanced"
    return None


def normalise_enhanced(code: str) -> str:
    klass, subject, detail = code.strip().split(".")
    return f"{klass}.{int(subject)}.{int(detail)}"


def card(key: str, lang: str = "en") -> Card | None:
    """The catalog card for ``550`` or ``5.1.1`` in ``lang``, or None if not defined."""
    cat = catalog.load(lang)
    kind = code_kind(key)
    if kind == "basic":
        entry = cat.basic(int(key))
    elif kind == "enhanced":
        entry = cat.enhanced(normalise_enhanced(key))
    else:
        return None
    if entry is None:
        return None
    return entry


def explain(arg: str, stage: str | None = None, lang: str = "en") -> Explanation:
    """Explain a basic code, an enhanced code, or a pasted reply/bounce text. Never raises."""
    kind = code_kind(arg)
    if kind is not None:
        code = int(arg.strip()) if kind == "basic" else None
        enh = normalise_enhanced(arg) if kind == "enhanced" else None
        found = card(str(code) if code is not None else str(enh), lang)
        cls = classify(code, enh, "", stage)
        cards: tuple[Card, ...] = (found,) if found else ()
        title, meaning = describe(code, enh, cls, lang)
        return Explanation(
            arg, kind, code, enh, None, stage, cls, None, cards, found is not None, title, meaning
        )
    extracted = extract_reply(arg)
    use_stage = stage or extracted.stage
    enhanced = extracted.enhanced or find_trailing_enhanced(extracted.text)
    flat = " ".join(line.strip() for line in arg[:MAX_CONTEXT].split("\n") if line.strip())
    cls = classify_in_context(extracted.code, enhanced, extracted.text, flat, use_stage)
    pattern = pattern_info(cls.rule, lang) if cls.provider and cls.rule else None
    cards = tuple(
        c
        for c in (
            card(str(extracted.code), lang) if extracted.code is not None else None,
            card(enhanced, lang) if enhanced else None,
        )
        if c is not None
    )
    title, meaning = describe(extracted.code, enhanced, cls, lang)
    return Explanation(
        arg,
        "text",
        extracted.code,
        enhanced,
        extracted.text,
        use_stage,
        cls,
        pattern,
        cards,
        True,
        title,
        meaning,
    )


def _lower_first(text: str) -> str:
    """'After sending ...' -> 'after sending ...' (for English sentence templates)."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def compare(a_key: str, b_key: str, lang: str = "en") -> Comparison | None:
    """The reference page comparing two codes; None if either has no catalog entry."""
    a, b = card(a_key, lang), card(b_key, lang)
    if a is None or b is None:
        return None
    cat = catalog.load(lang)
    t = cat.data.get("templates", {})

    def fill(name: str, **values: str) -> str:
        return str(t.get(name, name)).format(**values)

    title = fill("title", a=a.key, a_title=a.title, b=b.key, b_title=b.title)
    lower = _lower_first if lang == "en" else (lambda text: text)
    intro_parts = [
        fill(
            "intro",
            a=a.key,
            a_title=a.title,
            a_class=a.class_name,
            b=b.key,
            b_title=b.title,
            b_class=b.class_name,
        ),
        fill("indicates", code=a.key, text=lower(a.description)),
        fill("contrast", code=b.key, text=lower(b.description)),
    ]
    if a.class_name != b.class_name:
        first = fill("diff_class", a=a.key, a_class=a.class_name, b=b.key, b_class=b.class_name)
    else:
        first = fill("same_class", a=a.key, b=b.key, a_class=a.class_name)
    differences = [
        first,
        fill("diff_meaning", code=a.key, text=a.description),
        fill("diff_meaning", code=b.key, text=b.description),
        fill("diff_when", code=a.key, text=lower(a.when)),
        fill("diff_when", code=b.key, text=lower(b.when)),
    ]
    if a.actor != b.actor:
        differences.append(
            fill("diff_actor", a=a.key, a_actor=a.actor_text, b=b.key, b_actor=b.actor_text)
        )
    if a.retry != b.retry:
        differences.append(fill("diff_retry", a=a.key, a_retry=a.retry, b=b.key, b_retry=b.retry))
    which = (
        fill("which", code=a.key, title=a.title, fix=a.fix),
        fill("which", code=b.key, title=b.title, fix=b.fix),
    )
    learn = (fill("learn", code=a.key, rfc=a.rfc), fill("learn", code=b.key, rfc=b.rfc))
    return Comparison(a, b, title, " ".join(intro_parts), tuple(differences), which, learn)


# -- whole bounce messages ---------------------------------------------------------------

#: methods and results of the receiver's own checks that explain a rejection
_AUTH_METHODS = frozenset(("spf", "dkim", "dmarc", "arc", "compauth"))
_AUTH_FAILING = frozenset(("fail", "softfail", "permerror", "hardfail"))
#: reasons an authentication failure recorded in the returned headers can explain
_AUTH_EXPLAINS = frozenset(
    ("auth-failed", "policy", "spam", "sender-rejected", "unknown", "bad-reputation")
)


@record
class RecipientExplanation:
    """One recipient of a bounce: what the report says, and why it failed."""

    recipient: Recipient
    code: int | None
    enhanced: str | None
    stage: str | None
    reply: str | None  # the server reply found in the diagnostic, if any
    classification: Classification
    title: str
    meaning: str
    pattern: PatternInfo | None
    cards: tuple[Card, ...]
    auth: tuple[AuthVerdict, ...]  # the receiver's own failing verdicts behind a rejection
    expired: bool  # a temporary failure that became final: the sender gave up retrying


@record
class MessageExplanation:
    bounce: ParsedBounce
    recipients: tuple[RecipientExplanation, ...]

    @property
    def reason(self) -> str | None:
        """The first failed recipient's reason (else the first recipient's)."""
        failed = [r for r in self.recipients if r.recipient.action in (None, "failed")]
        chosen = failed or list(self.recipients)
        return chosen[0].classification.reason if chosen else None

    def by_address(self) -> dict[str, RecipientExplanation]:
        """Recipients by lower-case address, and by the address they were sent to before an
        alias expanded them (``Original-Recipient``)."""
        out = {r.recipient.address.lower(): r for r in self.recipients}
        for r in self.recipients:
            if r.recipient.original_recipient:
                out.setdefault(r.recipient.original_recipient.lower(), r)
        return out

    @property
    def auth_failures(self) -> tuple[AuthVerdict, ...]:
        original = self.bounce.original
        if original is None:
            return ()
        return tuple(
            v for v in original.auth if v.method in _AUTH_METHODS and v.result in _AUTH_FAILING
        )


@functools.cache
def _expired_when() -> frozenset[str]:
    from smtpdiag.core.datafiles import load as load_data

    return frozenset(
        str(r) for r in load_data("smtpdiag.core.data", "rules").get("expired_when", [])
    )


def _flat(text: str) -> str:
    return " ".join(line.strip() for line in text.split("\n") if line.strip())


def _pick_enhanced(found: str | None, status: str | None) -> str | None:
    """The text's enhanced code, unless it is generic (X.0.0) and the DSN Status is not."""
    if found and status and found.endswith(".0.0") and not status.endswith(".0.0"):
        return status
    return found or status


def _classify_recipient(
    r: Recipient, report: str
) -> tuple[int | None, str | None, str | None, str | None, Classification]:
    """(code, enhanced, stage, reply text, classification) for one recipient: the first
    source whose text a rule recognises with high confidence decides (the DSN's
    Diagnostic-Code, then the report's paragraph about the recipient, then the rest of the
    report without its bounce boilerplate and without the other recipients' paragraphs);
    when none does, the first source's best guess stands."""
    from smtpdiag.core.bounce import strip_boilerplate
    from smtpdiag.core.reply import detect_stage

    stage = detect_stage(r.text) or (detect_stage(r.diagnostic) if r.diagnostic else None)
    sources = [s for s in (r.diagnostic, r.text) if s and s.strip()]
    whole = strip_boilerplate(report)
    if whole.strip():
        sources.append(whole)
    first: tuple[int | None, str | None, str | None, str | None, Classification] | None = None
    for source in sources:
        ex = extract_reply(source)
        code, text = ex.code, ex.text
        found = ex.enhanced or find_trailing_enhanced(source)
        if code is not None and code < 400:
            # a positive reply in a failure report (a session transcript) is not the
            # failure: read the report's words instead
            code, text, found = None, _flat(source), find_trailing_enhanced(source)
        enhanced = _pick_enhanced(found, r.status)
        use_stage = stage or ex.stage
        cls = classify_in_context(code, enhanced, text, _flat(source), use_stage)
        if cls.reason == "accepted" and r.action in ("failed", "delayed"):
            continue  # "successfully delivered" wording cannot explain a failure
        reply = f"{code} {text}" if code is not None else None
        candidate = (code, enhanced, use_stage, reply, cls)
        if first is None or (first[4].rule is None and cls.rule is not None):
            first = candidate
        if cls.confidence == "high":
            return candidate
    if first is not None:
        return first
    return None, r.status, stage, None, classify(None, r.status, "", stage)


def _expired(r: Recipient, code: int | None, enhanced: str | None) -> bool:
    """A temporary failure that became final: the reporting server gave up retrying."""
    temporary = (code is not None and 400 <= code < 500) or (
        code is None and bool(enhanced) and str(enhanced).startswith("4.")
    )
    if r.status and r.status.startswith("4."):
        temporary = True
    return r.action == "failed" and temporary


def explain_recipient(
    r: Recipient, report: str, auth: tuple[AuthVerdict, ...], lang: str = "en"
) -> RecipientExplanation:
    """One recipient of a bounce explained; ``report`` is the report's text about it
    (without the other recipients' paragraphs)."""
    code, enhanced, stage, reply, cls = _classify_recipient(r, report)
    expired = _expired(r, code, enhanced)
    if expired and cls.reason in _expired_when() and cls.reason != "timeout":
        cls = Classification(
            "timeout",
            "high",
            f"a temporary failure ({cls.reason}: {cls.evidence}) became final: "
            "the reporting server gave up retrying",
            cls.rule,
            cls.provider,
        )
    pattern = pattern_info(cls.rule, lang) if cls.provider and cls.rule else None
    title, meaning = describe(code, enhanced, cls, lang)
    keys = [str(code)] if code is not None else []
    if enhanced:
        keys.append(enhanced)
    cards = tuple(c for c in (card(k, lang) for k in keys) if c is not None)
    tied = auth if cls.reason in _AUTH_EXPLAINS and r.action in (None, "failed", "delayed") else ()
    return RecipientExplanation(
        r, code, enhanced, stage, reply, cls, title, meaning, pattern, cards, tied, expired
    )


def explain_message(
    data: bytes | str, lang: str = "en", size: int | None = None
) -> MessageExplanation:
    """Explain a whole bounce message (an RFC 3464 DSN, a plain-text or HTML bounce, an SES
    notification): every recipient it reports, each with its reason. Never raises."""
    from smtpdiag.core.bounce import parse_message

    parsed = parse_message(data, size)
    auth: tuple[AuthVerdict, ...] = ()
    if parsed.original is not None:
        auth = tuple(
            v
            for v in parsed.original.auth
            if v.method in _AUTH_METHODS and v.result in _AUTH_FAILING
        )
    from smtpdiag.core.bounce import without_others

    paragraphs = {r.address.lower(): r.text for r in parsed.recipients}
    recipients = tuple(
        explain_recipient(r, without_others(parsed.text, paragraphs, r.address), auth, lang)
        for r in parsed.recipients
    )
    return MessageExplanation(parsed, recipients)
