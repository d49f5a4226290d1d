"""smtpdiag's own exceptions: bad arguments from the user, never server behaviour.

What a server or a resolver does (refusals, timeouts, garbage) is data in the
transcript; these exceptions are only for input smtpdiag cannot act on.
"""

from __future__ import annotations


class SmtpdiagError(Exception):
    """Base class for smtpdiag's errors. The message is one line, for the user."""


class UsageError(SmtpdiagError):
    """An argument or option value smtpdiag cannot use (exit code 2).

    ``option`` names the :class:`~smtpdiag.ProbeOptions` field (or argument) at fault, so
    that a front end can name it its own way (the CLI says ``--port``)."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class AddressError(UsageError):
    """An email address or host name that is not valid."""


class RecordError(SmtpdiagError):
    """A DNS record (SPF ...) that does not parse; ``result`` is the RFC's verdict for it
    (``permerror``, or ``temperror`` for a DNS failure met while evaluating)."""

    def __init__(self, result: str, message: str) -> None:
        super().__init__(message)
        self.result = result
        self.message = message
