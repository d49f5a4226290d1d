"""Pure logic of ``smtpdiag explain`` and ``smtpdiag compare``: catalog cards, the
classification of pasted replies and bounces, and the comparison page of two codes."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from . import catalog
from .classify import Classification, PatternInfo, classify, pattern_info
from .reply import extract_reply

_BASIC = re.compile(r"^[2345]\d\d$")
_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


@dataclass(frozen=True)
class Card:
    """One catalog entry in one language, ready to show."""

    key: str  # "550" or "5.1.1"
    kind: str  # "basic" or "enhanced"
    class_name: str
    title: str
    meaning: str
    description: str
    when: str
    fix: str
    actor: str
    actor_text: str
    retry: str
    rfc: str
    reason: str


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
    return Card(**dataclasses.asdict(entry), actor_text=cat.actor_text(entry.actor))


def explain(arg: str, stage: str | None = None, lang: str = "en") -> Explanation:
    """Explain a basic code, an enhanced code, or a pasted reply/bounce text. Never raises."""
    kind = code_kind(arg)
    if kind is not None:
        code = int(arg.strip()) if kind == "basic" else None
        enh = normalise_enhanced(arg) if kind == "enhanced" else None
        found = card(str(code) if code is not None else str(enh), lang)
        cls = classify(code, enh, "", stage)
        cards: tuple[Card, ...] = (found,) if found else ()
        return Explanation(arg, kind, code, enh, None, stage, cls, None, cards, found is not None)
    extracted = extract_reply(arg)
    use_stage = stage or extracted.stage
    cls = classify(extracted.code, extracted.enhanced, extracted.text, use_stage)
    pattern = pattern_info(cls.rule, lang) if cls.provider and cls.rule else None
    cards = tuple(
        c
        for c in (
            card(str(extracted.code), lang) if extracted.code is not None else None,
            card(extracted.enhanced, lang) if extracted.enhanced else None,
        )
        if c is not None
    )
    return Explanation(
        arg,
        "text",
        extracted.code,
        extracted.enhanced,
        extracted.text,
        use_stage,
        cls,
        pattern,
        cards,
        True,
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
