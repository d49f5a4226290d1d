"""Renderers for ``explain`` and ``compare``: text (the reference-page layout) and JSON."""

from __future__ import annotations

import dataclasses
from typing import Any

from . import catalog
from .explain import Card, Comparison, Explanation
from .model import SCHEMA_VERSION
from .render import Style, escape, plain, ui


def card_dict(c: Card) -> dict[str, Any]:
    return dataclasses.asdict(c)


def explanation_dict(e: Explanation, lang: str) -> dict[str, Any]:
    cls = e.classification
    return {
        "schema": SCHEMA_VERSION,
        "lang": lang,
        "input": e.input,
        "kind": e.kind,
        "code": e.code,
        "enhanced": e.enhanced,
        "text": e.text,
        "stage": e.stage,
        "reason": cls.reason,
        "confidence": cls.confidence,
        "evidence": cls.evidence,
        "rule": cls.rule,
        "provider": None if e.pattern is None else dataclasses.asdict(e.pattern),
        "known": e.known,
        "cards": [card_dict(c) for c in e.cards],
    }


def comparison_dict(c: Comparison, lang: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "lang": lang,
        "title": c.title,
        "intro": c.intro,
        "codes": [card_dict(c.a), card_dict(c.b)],
        "differences": list(c.differences),
        "which_applies_when": list(c.which),
        "learn_more": list(c.learn_more),
    }


def _sections(card: Card, cat: catalog.Catalog, style: Style) -> list[str]:
    """The reference page's three sections of one code: description, when, how to fix."""
    out: list[str] = []
    for field in ("description", "when", "fix"):
        out.extend([style(cat.heading(field), "head"), "", getattr(card, field), ""])
    return out


def _card_lines(c: Card, lang: str, style: Style, with_title: bool = True) -> list[str]:
    cat = catalog.load(lang)
    out: list[str] = []
    if with_title:
        prefix = "SMTP " if c.kind == "basic" else ""
        out.append(style(f"{prefix}{c.key} {c.title}", "head") + f"  ({c.class_name})")
        out.append("")
    out.extend(_sections(c, cat, style))
    out.append(f"{cat.heading('actor')}: {c.actor_text}")
    out.append(f"{cat.heading('retry')}: {c.retry}")
    out.append(f"{cat.heading('reference')}: {c.rfc}")
    return out


def render_explanation(e: Explanation, lang: str = "en", style: Style = plain) -> str:
    t = ui(lang)
    cls = e.classification
    out: list[str] = []
    if e.kind == "text":
        shown = f"{e.code} {e.text}" if e.code is not None else (e.text or "")
        out.append(style(f"{t['reply']}: ", "head") + escape(_shorten(shown)))
        if e.code is not None or e.enhanced:
            code = " ".join(str(x) for x in (e.code, e.enhanced) if x is not None)
            out.append(f"{t['code']}: {code}")
        out.append(f"{t['stage']}: {e.stage or t['stage_unknown']}")
        out.append(
            style(f"{t['classified_as']}: {cls.reason}", "warn")
            + f"  ({t['confidence']}: {cls.confidence})"
        )
        out.append(f"{t['evidence']}: {escape(cls.evidence)}")
        if e.pattern is not None:
            out.append("")
            out.append(style(f"{t['known_pattern']} ({e.pattern.provider})", "head"))
            out.append(e.pattern.explanation)
            out.append(f"{t['remedy']}: {e.pattern.remedy}")
            out.append(f"{t['source']}: {e.pattern.source}")
    elif not e.known:
        key = e.enhanced or str(e.code)
        out.append(t["no_entry"].format(code=key))
        if e.kind == "basic" and e.code is not None:
            out.append(t["not_a_code"].format(code=e.code))
    for c in e.cards:
        if out:
            out.append("")
        out.extend(_card_lines(c, lang, style))
    if e.kind != "text" and e.known:
        out.append(f"{t['classified_as']}: {cls.reason}")
    return "\n".join(out).rstrip() + "\n"


def render_comparison(c: Comparison, lang: str = "en", style: Style = plain) -> str:
    cat = catalog.load(lang)
    t = cat.data.get("templates", {})
    out = [style("SMTP", "dim"), "", style(c.title, "head"), "", c.intro, ""]
    for card in (c.a, c.b):
        out.append(
            style(str(t.get("section", "{code}")).format(code=card.key, title=card.title), "head")
        )
        out.append("")
        out.extend(_sections(card, cat, style))
    out.append(style(cat.heading("differences"), "head"))
    out.append("")
    for i, diff in enumerate(c.differences, 1):
        out.append(f"{i}. {diff}")
    out.append("")
    out.append(style(cat.heading("which"), "head"))
    out.append("")
    out.append(" ".join(c.which))
    out.append("")
    out.append(style(cat.heading("learn_more"), "head"))
    out.append("")
    out.extend(c.learn_more)
    return "\n".join(out) + "\n"


def _shorten(text: str, width: int = 400) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
