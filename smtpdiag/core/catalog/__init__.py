"""The reply catalog: what every SMTP reply code means, loaded from data files.

One TOML file per language lives beside this module (``en.toml``, ...). Each holds
``basic`` entries keyed by reply code (``550``) and ``enhanced`` entries keyed by
``X.subject.detail`` (``X.1.1``: the class digit gives the severity). Files are
read once, on first use.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from smtpdiag.core.records import record

DEFAULT_LANGUAGE = "en"
ENTRY_FIELDS = ("title", "meaning", "description", "when", "fix", "actor", "retry", "rfc", "reason")


@record
class Entry:
    """One catalog card."""

    key: str  # "550" or "5.1.1"
    kind: str  # "basic" or "enhanced"
    title: str
    meaning: str
    description: str
    when: str
    fix: str
    actor: str
    retry: str
    rfc: str
    reason: str
    class_name: str
    actor_text: str = ""  # who must act, in words of this language


@record
class Catalog:
    language: str
    data: dict[str, Any]

    def heading(self, key: str) -> str:
        return str(self.data.get("headings", {}).get(key, key))

    def actor_text(self, actor: str) -> str:
        return str(self.data.get("actors", {}).get(actor, actor))

    def reason(self, reason: str) -> tuple[str, str]:
        """Title and meaning of a reason (``mailbox-unknown`` ...), in this language."""
        raw = self.data.get("reasons", {}).get(reason) or {}
        return str(raw.get("title", reason)), str(raw.get("meaning", ""))

    def basic(self, code: int) -> Entry | None:
        raw = self.data.get("basic", {}).get(str(code))
        if raw is None:
            return None
        class_name = self.data.get("classes", {}).get(str(code)[0], f"{str(code)[0]}xx")
        return _entry(str(code), "basic", raw, class_name, self)

    def enhanced(self, code: str) -> Entry | None:
        parts = code.split(".")
        if len(parts) != 3:
            return None
        raw = self.data.get("enhanced", {}).get(f"X.{parts[1]}.{parts[2]}")
        if raw is None:
            return None
        class_name = self.data.get("enhanced_classes", {}).get(parts[0], parts[0])
        return _entry(code, "enhanced", raw, class_name, self)

    def subject(self, code: str) -> str | None:
        parts = code.split(".")
        if len(parts) != 3:
            return None
        value = self.data.get("subjects", {}).get(parts[1])
        return str(value) if value is not None else None

    def basic_codes(self) -> list[int]:
        return sorted(int(k) for k in self.data.get("basic", {}))

    def enhanced_keys(self) -> list[str]:
        return list(self.data.get("enhanced", {}))


def _entry(key: str, kind: str, raw: dict[str, Any], class_name: str, cat: Catalog) -> Entry:
    values = {name: str(raw.get(name, "")) for name in ENTRY_FIELDS}
    actor_text = cat.actor_text(values.get("actor", ""))
    return Entry(key=key, kind=kind, class_name=str(class_name), actor_text=actor_text, **values)


@functools.cache
def available_languages() -> list[str]:
    names = os.listdir(os.path.dirname(__file__))
    return sorted(n[:-5] for n in names if n.endswith(".toml") and n.count(".") == 1)


def load(language: str = DEFAULT_LANGUAGE) -> Catalog:
    """Load one language's catalog (cached). Unknown languages raise ValueError."""
    return _load(language)


@functools.cache
def _load(language: str) -> Catalog:
    if language not in available_languages():
        raise ValueError(
            f"no catalog for language {language!r}; available: {', '.join(available_languages())}"
        )
    from smtpdiag.core.datafiles import load as load_data

    return Catalog(language=language, data=load_data(__name__, language))
