"""Tell dnspython which of its optional features are present without ``importlib.metadata``.

``dns._features`` imports ``importlib.metadata`` (with zipfile, email and more: 30-40 ms on
the lab's machines, a tenth of a probe's start-up) only to read the installed versions of
optional packages. dnspython documents ``dns._features.force`` as the workaround for cases
where that is unwanted. This module answers each feature from the packages' own version
attributes (the same minimum versions dnspython asks for), or ``False`` for the ones smtpdiag
never uses (DNS over HTTPS/QUIC, trio, WMI), and imports ``dns._features`` without loading
``importlib.metadata`` at all.

Import this before the first ``import dns``: ``smtpdiag.io.dns`` does.
"""

from __future__ import annotations

import sys
from types import ModuleType

#: dnspython features smtpdiag never uses.
UNUSED = ("doh", "doq", "trio", "wmi")


def _import_features() -> ModuleType:
    """``dns._features``, imported with a placeholder for ``importlib.metadata``.

    The placeholder is removed again at once: if dnspython ever asks a question this module
    did not answer, its lookup fails inside its own ``try`` (the feature reads as absent)
    unless something has imported the real ``importlib.metadata`` by then.
    """
    if "importlib.metadata" in sys.modules:
        import dns._features

        return dns._features
    import importlib

    placeholder = ModuleType("importlib.metadata")
    sys.modules["importlib.metadata"] = placeholder
    try:
        import dns._features
    finally:
        if sys.modules.get("importlib.metadata") is placeholder:
            del sys.modules["importlib.metadata"]
        if getattr(importlib, "metadata", None) is placeholder:
            delattr(importlib, "metadata")
    return dns._features


def _version(module_name: str, attribute: str) -> str | None:
    try:
        module = __import__(module_name, fromlist=["_"])
    except ImportError:
        return None
    value = getattr(module, attribute, None)
    return value if isinstance(value, str) else None


def _meets(features: object, requirement: str, version: str | None) -> bool:
    if version is None:
        return False
    _, _, minimum = requirement.partition(">=")
    parse = getattr(features, "_tuple_from_text")  # noqa: B009 - dnspython's own parser
    return bool(parse(version) >= parse(minimum))


#: How to read each feature's package version: feature -> (requirement prefix, module, attr).
_SOURCES = {
    "idna": ("idna", "idna.package_data", "__version__"),
    "dnssec": ("cryptography", "cryptography", "__version__"),
}


def configure() -> None:
    """Force every dnspython feature smtpdiag's paths ask about (idempotent)."""
    if "dns._features" in sys.modules:
        return
    features = _import_features()

    requirements: dict[str, list[str]] = getattr(features, "_requirements", {})
    for name in UNUSED:
        features.force(name, False)
    for name, (package, module, attribute) in _SOURCES.items():
        needed = [r for r in requirements.get(name, []) if r.startswith(package + ">=")]
        if len(needed) != len(requirements.get(name, [])) or not needed:
            continue  # a requirement this module does not know: let dnspython ask
        version = _version(module, attribute)
        features.force(name, all(_meets(features, r, version) for r in needed))


configure()
