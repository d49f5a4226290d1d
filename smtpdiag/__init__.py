"""smtpdiag: diagnose email delivery by holding a real SMTP conversation.

    >>> import asyncio, smtpdiag
    >>> result = asyncio.run(smtpdiag.probe("user@example.com", resolvers=("127.0.0.1:5300",)))
    >>> result.verdict, result.reason

Nothing is imported here until it is used, so ``smtpdiag --version`` and ``--help``
start instantly; the SMTP and DNS machinery loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .errors import AddressError, SmtpdiagError, UsageError
    from .model import (
        Address,
        Annotation,
        Attempt,
        CatchAll,
        Diagnosis,
        MxHost,
        MxPlan,
        ProbeResult,
        Reply,
        Step,
        TlsInfo,
    )
    from .prober import ProbeOptions, probe, probe_many
    from .render import to_json

__all__ = [
    "Address",
    "AddressError",
    "Annotation",
    "Attempt",
    "CatchAll",
    "Diagnosis",
    "MxHost",
    "MxPlan",
    "ProbeOptions",
    "ProbeResult",
    "Reply",
    "SmtpdiagError",
    "Step",
    "TlsInfo",
    "UsageError",
    "__version__",
    "probe",
    "probe_many",
    "to_json",
]

_LAZY = {
    **dict.fromkeys(("AddressError", "SmtpdiagError", "UsageError"), "errors"),
    **dict.fromkeys(
        (
            "Address",
            "Annotation",
            "Attempt",
            "CatchAll",
            "Diagnosis",
            "MxHost",
            "MxPlan",
            "ProbeResult",
            "Reply",
            "Step",
            "TlsInfo",
        ),
        "model",
    ),
    "probe": "prober",
    "probe_many": "prober",
    "ProbeOptions": "prober",
    "to_json": "render",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'smtpdiag' has no attribute {name!r}")
