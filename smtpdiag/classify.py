"""Pure classification of one SMTP reply into a reason, with the evidence for it.

Order of precedence: a specific text pattern beats the enhanced status code, which
beats the basic code; the SMTP stage turns a generic refusal into what it means
there (a 5xx to MAIL FROM is about the sender). The rules are data
(``smtpdiag/data/rules.toml``), not code.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from . import catalog
from .datafiles import load as load_data
from .reply import find_enhanced

MAX_TEXT = 20_000


@dataclass(frozen=True)
class Classification:
    reason: str
    confidence: str  # "high", "medium", "low"
    evidence: str


@dataclass(frozen=True)
class _TextRule:
    id: str
    pattern: re.Pattern[str]
    reason: str
    stages: frozenset[str]
    classes: frozenset[str]


@dataclass(frozen=True)
class _Rules:
    text: tuple[_TextRule, ...]
    stage_defaults: dict[tuple[str, str], str]
    generic_enhanced: frozenset[str]


@functools.cache
def _rules() -> _Rules:
    raw = load_data("smtpdiag.data", "rules")
    text = tuple(
        _TextRule(
            id=str(r["id"]),
            pattern=re.compile(str(r["pattern"]), re.IGNORECASE),
            reason=str(r["reason"]),
            stages=frozenset(r.get("stages", [])),
            classes=frozenset(str(c) for c in r.get("classes", ["4", "5"])),
        )
        for r in raw.get("text", [])
    )
    stage_defaults = {
        (str(r["stage"]), str(r["class"])): str(r["reason"]) for r in raw.get("stage", [])
    }
    generic = frozenset(str(g) for g in raw.get("generic_enhanced", []))
    return _Rules(text=text, stage_defaults=stage_defaults, generic_enhanced=generic)


def classify(
    code: int | None, enhanced: str | None, text: str, stage: str | None
) -> Classification:
    """Classify a reply. ``code`` may be None for a text without one. Never raises."""
    text = text[:MAX_TEXT]
    if enhanced is None:
        enhanced = find_enhanced(text)
    klass = (
        str(code)[0]
        if code is not None and 200 <= code < 600
        else (enhanced[0] if enhanced else "")
    )
    if klass in ("2", "3"):
        return Classification("accepted", "high", f"{code or enhanced} is a positive reply")
    rules = _rules()
    for rule in rules.text:
        if rule.stages and stage not in rule.stages:
            continue
        if klass and klass not in rule.classes:
            continue
        m = rule.pattern.search(text)
        if m:
            return Classification(rule.reason, "high", f'text "{m.group(0)}" (rule {rule.id})')
    cat = catalog.load("en")
    generic = enhanced is None or f"X.{enhanced.split('.', 1)[1]}" in rules.generic_enhanced
    if stage and klass and generic:
        reason = rules.stage_defaults.get((stage, klass))
        if reason:
            what = enhanced or code
            return Classification(reason, "medium", f"{what} at the {stage} stage")
    if enhanced is not None:
        entry = cat.enhanced(enhanced)
        if entry is not None and entry.reason:
            return Classification(
                entry.reason, "medium", f"enhanced code {enhanced} ({entry.title})"
            )
    if code is not None:
        entry = cat.basic(code)
        if entry is not None and entry.reason:
            return Classification(entry.reason, "low", f"reply code {code} ({entry.title})")
    return Classification("unknown", "low", "no rule matched")
