"""The DNS vocabulary shared by the pure checks (SPF, DMARC, DKIM) and the DNS edge: what a
query answered, and the shape of the injected query function. No I/O here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from smtpdiag.core.records import record


@record
class Answer:
    """What a DNS query gave: values (by type), or an error kind.

    TXT values are the record's strings joined (bytes); A/AAAA addresses; MX
    ``"pref exchange"``; PTR names. ``error`` is one of nxdomain, nodata, timeout,
    servfail, error (None when there are values).
    """

    values: tuple[bytes | str, ...] = ()
    error: str | None = None

    @property
    def void(self) -> bool:
        return self.error in ("nxdomain", "nodata")

    @property
    def texts(self) -> list[str]:
        """TXT values as text (undecodable bytes replaced)."""
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in self.values]

    @property
    def failed(self) -> bool:
        return self.error in ("timeout", "servfail", "error")


Query = Callable[[str, str], Awaitable[Answer]]
