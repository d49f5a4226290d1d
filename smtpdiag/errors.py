"""smtpdiag's own exceptions: bad arguments from the user, never server behaviour.

What a server or a resolver does (refusals, timeouts, garbage) is data in the
transcript; these exceptions are only for input smtpdiag cannot act on.
"""

from __future__ import annotations


class SmtpdiagError(Exception):
    """Base class for smtpdiag's errors. The message is one line, for the user."""


class UsageError(SmtpdiagError):
    """An argument or option value smtpdiag cannot use (exit code 2)."""


class AddressError(UsageError):
    """An email address or host name that is not valid."""
