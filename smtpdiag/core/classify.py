"""Pure classification of one SMTP reply into a reason, with the evidence for it.

Order of precedence:
1. a known provider or MTA pattern (``data/providers.toml``: Gmail, Microsoft, Postfix ...);
2. a generic text pattern (``data/rules.toml``);
3. for a generic enhanced code (X.0.0, X.1.0, X.5.0), what a refusal means at that stage
   (a 5xx to MAIL FROM is about the sender; at the greeting it is about the client);
4. the enhanced status code's own reason (catalog);
5. the basic code's reason (catalog).
Texts are matched case-insensitively; the stage, when not given, is read from bounce
wording such as "(in reply to RCPT TO command)".
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

from smtpdiag.core import catalog
from smtpdiag.core.datafiles import load as load_data
from smtpdiag.core.datafiles import load_derived, load_prefilter
from smtpdiag.core.model import Classification, Confidence, Reason, as_reason
from smtpdiag.core.records import record
from smtpdiag.core.reply import detect_stage, find_enhanced, find_trailing_enhanced

MAX_TEXT = 20_000


@record
class _TextRule:
    id: str
    source: str  # the regex
    #: its top-level branches, each compiled on first use and tried only when one of its
    #: required literals occurs in the text (None: no hint, always tried)
    branches: tuple[tuple[str, tuple[str, ...] | None], ...]
    reason: Reason
    stages: frozenset[str]
    classes: frozenset[str]
    provider: str | None
    coded: bool = False  # only for replies that carry a code (not for MTA-written text)
    confidence: Confidence = "high"  # "medium" for catch-alls that other evidence may override
    yields: bool = False  # an expiry: a cause given in the same text wins over it

    def search(self, text: str, lowered: str) -> re.Match[str] | None:
        """The first match in ``text`` of the rule's earliest matching branch."""
        best: re.Match[str] | None = None
        for branch, literals in self.branches:
            if literals is not None and not any(lit in lowered for lit in literals):
                continue
            m = _compiled(branch).search(text)
            if m and (best is None or m.start() < best.start()):
                best = m
        return best


@functools.lru_cache(maxsize=4096)
def _compiled(source: str) -> re.Pattern[str]:
    return re.compile(source, re.IGNORECASE)


@record
class PatternInfo:
    """A provider pattern's explanation and remedy in one language, and its source."""

    id: str
    provider: str
    explanation: str
    remedy: str
    source: str
    generic: bool = False  # wording common to many MTAs, not one provider's


@record
class _Rules:
    text: tuple[_TextRule, ...]
    stage_defaults: dict[tuple[str, str], Reason]
    generic_enhanced: frozenset[str]
    subject_defaults: dict[str, Reason]


#: a _TextRule as plain data (the cached form): its fields in order
_RuleRow = tuple[Any, ...]


def _row(raw: dict[str, Any], provider: str | None, prefilter: Any) -> _RuleRow:
    source = str(raw["match"])
    entry = prefilter.get(source)
    if entry is None:  # a rule the prefilter does not know yet: the whole regex, always
        branches: tuple[tuple[str, tuple[str, ...] | None], ...] = ((source, None),)
    else:
        branches = tuple((b, tuple(lits) if lits else None) for b, lits in entry)
    return (
        str(raw["id"]),
        source,
        branches,
        str(as_reason(str(raw["reason"]))),
        frozenset(raw.get("stages", [])),
        frozenset(str(c) for c in raw.get("classes", ["4", "5"])),
        provider,
        bool(raw.get("coded", False)),
        str(raw.get("confidence", "high")),
        bool(raw.get("yields", False)),
    )


_INPUTS = [("smtpdiag.core.data", "rules"), ("smtpdiag.core.data", "providers")]


def _build_table() -> dict[str, Any]:
    """The rule table in precedence order, as marshal-able rows (cached by content)."""
    generic = load_data("smtpdiag.core.data", "rules")
    providers = load_data("smtpdiag.core.data", "providers").get("pattern", [])
    try:
        prefilter: Any = load_prefilter()
    except (OSError, ValueError):
        prefilter = {}
    specific = [r for r in providers if not r.get("fallback")]
    fallback = [r for r in providers if r.get("fallback")]
    early = [r for r in generic.get("text", []) if r.get("early")]
    later = [r for r in generic.get("text", []) if not r.get("early")]
    rows = (
        [_row(r, None, prefilter) for r in early]
        + [_row(r, str(r.get("provider", "")), prefilter) for r in specific]
        + [_row(r, None, prefilter) for r in later]
        + [_row(r, str(r.get("provider", "")), prefilter) for r in fallback]
    )
    return {
        "rows": rows,
        "stage": [
            (str(r["stage"]), str(r["class"]), str(r["reason"])) for r in generic.get("stage", [])
        ],
        "generic_enhanced": [str(g) for g in generic.get("generic_enhanced", [])],
        "subject_defaults": {
            str(k): str(v) for k, v in generic.get("subject_defaults", {}).items()
        },
    }


@functools.cache
def _rules() -> _Rules:
    table = load_derived("classifier", _INPUTS, _build_table)
    return _Rules(
        text=tuple(_TextRule(*row) for row in table["rows"]),
        stage_defaults={(st, kl): as_reason(reason) for st, kl, reason in table["stage"]},
        generic_enhanced=frozenset(table["generic_enhanced"]),
        subject_defaults={k: as_reason(v) for k, v in table["subject_defaults"].items()},
    )


@functools.cache
def _providers() -> dict[str, dict[str, Any]]:
    """Provider patterns by id, with their texts (only read to explain a match)."""
    patterns = load_data("smtpdiag.core.data", "providers").get("pattern", [])
    return {str(r["id"]): r for r in patterns}


@functools.cache
def _ranks() -> dict[str, int]:
    return {rule.id: i for i, rule in enumerate(_rules().text)}


def rule_rank(rule_id: str | None) -> int:
    """A rule's place in the order of precedence (lower: more specific); codes: last."""
    if rule_id is None:
        return 1_000_000
    return _ranks().get(rule_id, 1_000_000)


def _yields(rule_id: str | None) -> bool:
    return any(rule.id == rule_id and rule.yields for rule in _rules().text)


def classify_in_context(
    code: int | None, enhanced: str | None, reply: str, context: str, stage: str | None
) -> Classification:
    """Classify a reply found inside a longer text (a bounce's paragraph, a pasted NDR):
    the reply decides, unless the text around it matches a more specific rule (an MTA's
    own words about its delivery, a localized explanation that says more than "Rejected")."""
    own = classify(code, enhanced, reply, stage)
    if context.strip() == reply.strip():
        return own
    around = classify(code, enhanced, context, stage)
    if own.reason == "accepted" and reply.strip() and reply in context:
        # a positive reply inside an error message or a session log ("Unable to connect
        # with TLS encryption ... << 220 ready"): the words around it are the question
        rest = context.replace(reply, " ")
        if len(re.findall(r"[^\W\d_]{2,}", rest)) >= 3:
            words = classify(None, None, rest, stage)
            if words.confidence == "high" and words.reason != "accepted":
                return words
    # "gave up", "expired" around a reply never hide the cause the reply itself gives
    if around.reason == "timeout" and own.confidence == "high":
        return own
    # the reply only says the message expired ("4.4.7 Message delayed"): a cause the text
    # around it gives ("Connection dropped ...") is the one to fix
    if own.reason == "timeout" and around.confidence == "high" and _yields(own.rule):
        return around
    if around.confidence == "high" and (
        own.confidence != "high" or rule_rank(around.rule) < rule_rank(own.rule)
    ):
        return around
    return own


def pattern_sides() -> dict[str, str]:
    """The patterns that say who is blocked (``side``): the id, and "tester", "sender" or
    "recipient"."""
    return {rid: str(raw["side"]) for rid, raw in _providers().items() if raw.get("side")}


def pattern_info(rule_id: str, lang: str = "en") -> PatternInfo | None:
    """Explanation, remedy and source of a provider pattern, in ``lang`` (else English)."""
    raw = _providers().get(rule_id)
    if raw is None:
        return None

    def text(field: str) -> str:
        value = raw.get(field, {})
        if isinstance(value, dict):
            return str(value.get(lang) or value.get("en") or "")
        return str(value)

    return PatternInfo(
        id=rule_id,
        provider=str(raw.get("provider", "")),
        explanation=text("explanation"),
        remedy=text("remedy"),
        source=str(raw.get("source", "")),
        generic=bool(raw.get("generic", False)),
    )


def _klass(code: int | None, enhanced: str | None) -> str:
    if code is not None and 200 <= code < 600:
        return str(code)[0]
    return enhanced[0] if enhanced else ""


#: tokens that may be an address or a host name (linear to find: tokens do not overlap)
_TOKEN = re.compile(r"[^\s<>()\[\],;:\"']+")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^`{|}~-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\.?")
_HOST = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\.?")
#: host names under the reserved test TLDs (RFC 2606): lab names such as mx.refused.test
_RESERVED_TLDS = (".test", ".example", ".invalid", ".localhost")


def _mask_token(m: re.Match[str]) -> str:
    token = m.group(0)
    if "@" in token:
        token = _EMAIL.sub("x@x", token)
    if "." in token:
        token = _HOST.sub(_mask_host, token)
    return token


def _mask_host(m: re.Match[str]) -> str:
    host = m.group(0)
    return "x.x" if host.lower().rstrip(".").endswith(_RESERVED_TLDS) else host


_URL = re.compile(r"(?:\bhttps?://|\bwww\.)[^\s<>\"')\]]+", re.IGNORECASE)


def _mask(text: str) -> str:
    """The text with its addresses, links (and reserved-TLD host names) masked, for the
    generic rules: a domain such as spammer.example, a link to .../residential/... must not
    decide (provider patterns, which know their own links, see everything)."""
    if "@" not in text and "." not in text:
        return text
    return _TOKEN.sub(_mask_token, _URL.sub(" url ", text))


def classify(
    code: int | None, enhanced: str | None, text: str, stage: str | None
) -> Classification:
    """Classify a reply. ``code`` may be None for a text without one. Never raises."""
    text = text[:MAX_TEXT]
    if enhanced is None:
        enhanced = find_enhanced(text) or find_trailing_enhanced(text)
    if stage is None:
        stage = detect_stage(text)
    klass = _klass(code, enhanced)
    what = " ".join(str(x) for x in (code, enhanced) if x is not None)
    rules = _rules()
    lowered = text.lower()
    # generic rules read the text with its addresses masked: a domain such as
    # nullmx.example or spammer.example must not decide (provider patterns see it all)
    masked = _mask(text)
    masked_lowered = masked.lower()
    deferred: Classification | None = None
    for rule in rules.text:
        if rule.stages and (stage or "none") not in rule.stages:
            continue
        if klass and klass not in rule.classes:
            continue
        if not klass and (rule.coded or rule.classes == {"2"}):
            continue
        if deferred is not None and (
            rule.yields or rule.confidence != "high" or rule.reason == "accepted"
        ):
            continue  # an expiry yields to a cause, never to "delivered" wording
        m = rule.search(text, lowered) if rule.provider else rule.search(masked, masked_lowered)
        if m:
            source = f"{rule.provider} pattern" if rule.provider else "rule"
            found = Classification(
                rule.reason,
                rule.confidence,
                f'text "{m.group(0)[:80]}" ({source} {rule.id})',
                rule.id,
                rule.provider,
            )
            if deferred is not None:
                # "expired ... Connection refused": the cause the attempts gave
                return dataclasses.replace(found, evidence=f"{found.evidence}; {deferred.evidence}")
            if not rule.yields:
                return found
            deferred = found  # an expiry: a more specific cause later in the text wins
    if deferred is not None:
        return deferred
    if klass in ("2", "3"):
        return Classification("accepted", "high", f"{what} is a positive reply")
    cat = catalog.load("en")
    generic = enhanced is None or f"X.{enhanced.split('.', 1)[1]}" in rules.generic_enhanced
    # 500-504 and 555 say what went wrong themselves (syntax, sequence): no stage default
    specific_code = code is not None and (500 <= code <= 504 or code == 555)
    if stage and klass and generic and not specific_code:
        reason = rules.stage_defaults.get((stage, klass))
        if reason:
            return Classification(reason, "medium", f"{what or 'a refusal'} at the {stage} stage")
    if enhanced is not None:
        entry = cat.enhanced(enhanced)
        if entry is not None and entry.reason:
            return Classification(
                as_reason(entry.reason), "medium", f"enhanced code {enhanced} ({entry.title})"
            )
        # a code the registry does not list (providers invent many): its subject still says
        # what kind of problem it is
        subject = rules.subject_defaults.get(enhanced.split(".")[1])
        if subject and klass in ("4", "5"):
            return Classification(subject, "low", f"enhanced code {enhanced} (its subject)")
    if code is not None:
        entry = cat.basic(code)
        if entry is not None and entry.reason:
            return Classification(
                as_reason(entry.reason), "low", f"reply code {code} ({entry.title})"
            )
    return Classification("unknown", "low", "no rule matched")


def describe(
    code: int | None, enhanced: str | None, cls: Classification, lang: str = "en"
) -> tuple[str, str]:
    """Title and one-line meaning of a reply, from its most specific knowledge: a provider
    pattern, then the enhanced code, then the basic code. A code whose own reason the
    reply's text contradicts (a 550 that is an SPF failure, a 5.7.1 that is an unknown
    user) gives way to the reason the text shows."""
    cat = catalog.load(lang)
    reason_title, reason_meaning = cat.reason(cls.reason)
    if cls.provider and cls.rule:
        info = pattern_info(cls.rule, lang)
        if info is not None and not info.generic:
            return f"{reason_title} ({info.provider})", info.explanation or reason_meaning
    by_text = cls.rule is not None
    positive = code is not None and code < 400
    entries = []
    if enhanced and not positive:
        entries.append((enhanced, cat.enhanced(enhanced)))
    if code is not None:
        entries.append((str(code), cat.basic(code)))
    for key, entry in entries:
        if entry is None:
            continue
        if by_text and entry.reason and entry.reason != cls.reason:
            continue  # the text says more than this code: the next, or the reason itself
        prefix = f"{key} " if "." in key else ""
        return f"{prefix}{entry.title}", entry.meaning
    return reason_title, reason_meaning
