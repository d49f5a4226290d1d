"""smtpdiag: diagnose email delivery by holding a real SMTP conversation.

    >>> import asyncio, smtpdiag
    >>> result = asyncio.run(smtpdiag.probe("user@example.com", resolvers=("127.0.0.1:5300",)))
    >>> result.verdict, result.reason
    >>> smtpdiag.explain("550 5.1.1 no such user").classification.reason
    'mailbox-unknown'
    >>> smtpdiag.explain_message(open("bounce.eml", "rb").read()).recipients

Nothing is imported here until it is used, so ``smtpdiag --version`` and ``--help``
start instantly; the SMTP and DNS machinery loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from smtpdiag.auth.checks import check_auth
    from smtpdiag.auth.findings import AuthReport, DnsblResult, Finding, PtrReport
    from smtpdiag.core.errors import AddressError, RecordError, SmtpdiagError, UsageError
    from smtpdiag.core.explanation import (
        Card,
        Comparison,
        Explanation,
        MessageExplanation,
        RecipientExplanation,
        compare,
        explain,
        explain_message,
    )
    from smtpdiag.core.model import (
        Address,
        Annotation,
        Attempt,
        CatchAll,
        Classification,
        ClientView,
        Diagnosis,
        MxHost,
        MxPlan,
        ProbeResult,
        Reply,
        Step,
        TlsInfo,
    )
    from smtpdiag.doctor import DoctorCheck, DoctorReport, run_doctor
    from smtpdiag.prober import ProbeOptions, probe, probe_many, probe_stream
    from smtpdiag.render.text import to_json

__all__ = [
    "Address",
    "AddressError",
    "Annotation",
    "Attempt",
    "AuthReport",
    "Card",
    "CatchAll",
    "Classification",
    "ClientView",
    "Comparison",
    "Diagnosis",
    "DnsblResult",
    "DoctorCheck",
    "DoctorReport",
    "Explanation",
    "Finding",
    "MessageExplanation",
    "MxHost",
    "MxPlan",
    "ProbeOptions",
    "ProbeResult",
    "PtrReport",
    "RecipientExplanation",
    "RecordError",
    "Reply",
    "SmtpdiagError",
    "Step",
    "TlsInfo",
    "UsageError",
    "__version__",
    "check_auth",
    "compare",
    "explain",
    "explain_message",
    "probe",
    "probe_many",
    "probe_stream",
    "run_doctor",
    "to_json",
]

_LAZY = {
    **dict.fromkeys(("AddressError", "RecordError", "SmtpdiagError", "UsageError"), "core.errors"),
    **dict.fromkeys(
        (
            "Card",
            "Comparison",
            "Explanation",
            "MessageExplanation",
            "RecipientExplanation",
            "compare",
            "explain",
            "explain_message",
        ),
        "core.explanation",
    ),
    **dict.fromkeys(("AuthReport", "DnsblResult", "Finding", "PtrReport"), "auth.findings"),
    "Classification": "core.model",
    "check_auth": "auth.checks",
    **dict.fromkeys(
        (
            "Address",
            "Annotation",
            "Attempt",
            "CatchAll",
            "ClientView",
            "Diagnosis",
            "MxHost",
            "MxPlan",
            "ProbeResult",
            "Reply",
            "Step",
            "TlsInfo",
        ),
        "core.model",
    ),
    **dict.fromkeys(("DoctorCheck", "DoctorReport", "run_doctor"), "doctor"),
    "probe": "prober",
    "probe_many": "prober",
    "probe_stream": "prober",
    "ProbeOptions": "prober",
    "to_json": "render.text",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'smtpdiag' has no attribute {name!r}")
