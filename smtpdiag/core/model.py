"""Data types shared by every layer: plain frozen dataclasses, no I/O.

A probe produces a :class:`ProbeResult`: the MX plan, one :class:`Attempt` per
address tried (each a list of :class:`Step`), and the :class:`Diagnosis`.
Server replies, refusals and timeouts are recorded here as data, never raised.
"""

from __future__ import annotations

import typing
from dataclasses import field
from typing import TYPE_CHECKING, Literal

from smtpdiag.core.records import record

if TYPE_CHECKING:
    from smtpdiag.auth.findings import AuthReport, Finding
    from smtpdiag.core.mtasts import TransportReport

SCHEMA_VERSION = 2

Verdict = Literal["deliverable", "accept-all", "undeliverable", "temporary", "unknown"]
VERDICTS: tuple[Verdict, ...] = (
    "deliverable",
    "accept-all",
    "undeliverable",
    "temporary",
    "unknown",
)

#: Every reason a diagnosis or a classification may give.
Reason = Literal[
    "accepted",
    "mailbox-unknown",
    "mailbox-full",
    "mailbox-disabled",
    "mailbox-moved",
    "domain-unknown",
    "no-mail-accepted",
    "relay-denied",
    "sender-rejected",
    "client-blocked",
    "bad-reputation",
    "ptr-required",
    "auth-failed",
    "auth-required",
    "policy",
    "spam",
    "virus",
    "content-rejected",
    "message-too-big",
    "limit-exceeded",
    "rate-limited",
    "too-many-connections",
    "greylisted",
    "tls-required",
    "tls-failed",
    "syntax",
    "protocol-error",
    "server-error",
    "server-full",
    "dns-failure",
    "network",
    "timeout",
    "unknown",
]
REASONS: tuple[Reason, ...] = typing.get_args(Reason)

#: Why a session step or a whole session produced no usable reply.
ErrorKind = Literal[
    "network",  # refused, reset, closed, unreachable
    "timeout",  # no reply (or no greeting) in time, or the overall deadline
    "protocol-error",  # a reply that is not SMTP, unsolicited data, an out-of-range code
    "tls-failed",  # STARTTLS refused, or the handshake failed
    "tls-required",  # STARTTLS required but not offered
    "greeting",  # the server refused the session in its greeting (4xx/5xx banner)
    "server-closed",  # 421 mid-session: the server closes the channel
    "ehlo",  # EHLO (and HELO) refused
    "smtputf8-unsupported",  # an address needs SMTPUTF8 and the server lacks it
    "proxy",  # --proxy: the proxy could not be reached, refused, or failed
]
ERROR_KINDS: tuple[ErrorKind, ...] = typing.get_args(ErrorKind)


def as_reason(value: str) -> Reason:
    """``value`` as a :data:`Reason`; a value outside the list (a data-file typo) raises."""
    if value not in REASONS:
        raise ValueError(f"{value!r} is not a reason (see smtpdiag.core.model.REASONS)")
    return value


#: SMTP stages a reply can come from.
Stage = Literal[
    "connect", "banner", "ehlo", "helo", "starttls", "auth", "mail", "rcpt", "data", "rset", "quit"
]
STAGES: tuple[str, ...] = (
    "connect",
    "banner",
    "ehlo",
    "helo",
    "starttls",
    "auth",
    "mail",
    "rcpt",
    "data",
    "rset",
    "quit",
)

#: How the list of hosts to try was obtained.
MxSource = Literal["mx", "implicit", "null", "server-option", "ip-literal", "none"]


@record
class Reply:
    """One SMTP reply: basic code, RFC 3463 enhanced code (if any), every line's text."""

    code: int
    enhanced: str | None
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """All lines joined by a space, enhanced codes kept."""
        return " ".join(self.lines)

    @property
    def is_positive(self) -> bool:
        return 200 <= self.code < 400

    @property
    def is_transient(self) -> bool:
        return 400 <= self.code < 500

    @property
    def is_permanent(self) -> bool:
        return 500 <= self.code < 600


Confidence = Literal["high", "medium", "low"]


@record
class Classification:
    """The classifier's verdict on one reply or text: the reason and what shows it."""

    reason: Reason
    confidence: Confidence
    evidence: str
    rule: str | None = None  # id of the text or provider rule that matched
    provider: str | None = None  # provider/MTA name when a provider pattern matched


@record
class Annotation:
    """What a reply in a transcript means: the catalog's title and meaning over the
    classifier's :class:`Classification` (whose fields it also answers for)."""

    title: str
    meaning: str
    classification: Classification

    @property
    def reason(self) -> Reason:
        return self.classification.reason

    @property
    def confidence(self) -> Confidence:
        return self.classification.confidence

    @property
    def evidence(self) -> str:
        return self.classification.evidence

    @property
    def rule(self) -> str | None:
        return self.classification.rule

    @property
    def provider(self) -> str | None:
        return self.classification.provider


@record
class Step:
    """One command and its reply (or the greeting, whose ``command`` is None).

    ``error`` is set when no usable reply came (timeout, connection lost, garbage);
    ``error_kind`` is then a reason such as ``timeout`` or ``protocol-error``.
    """

    stage: Stage
    command: str | None
    reply: Reply | None
    elapsed_ms: float
    error: str | None = None
    error_kind: ErrorKind | None = None
    annotation: Annotation | None = None


@record
class CertFacts:
    """One certificate the server sent (leaf first), as DANE needs it: the DER of the
    certificate and of its public key (SubjectPublicKeyInfo), and whether the next
    certificate in the chain signed it."""

    subject: str | None
    issuer: str | None
    not_before: str | None
    not_after: str | None
    der: bytes
    spki: bytes | None = None
    signed_by_next: bool | None = None  # None: the last one, or not checkable


@record
class TlsInfo:
    """Facts about a STARTTLS handshake and the server's certificate."""

    version: str | None
    cipher: str | None
    cipher_bits: int | None
    subject: str | None
    issuer: str | None
    sans: tuple[str, ...]
    not_before: str | None
    not_after: str | None
    trusted: bool | None
    trust_error: str | None
    hostname_matches: bool | None
    checked_name: str | None
    trust_store: str = "system"  # "system" or the --ca-file path
    chain: tuple[CertFacts, ...] = ()  # what the server sent, leaf first (at most 10)


@record
class RecipientResult:
    """What one RCPT TO in a session got."""

    address: str
    step: Step
    random: bool = False


@record
class Attempt:
    """One connection to one address of one MX host, with every step taken."""

    host: str
    address: str
    port: int
    steps: tuple[Step, ...] = ()
    error: str | None = None
    error_kind: ErrorKind | None = None
    local_address: str | None = None
    local_port: int | None = None
    extensions: tuple[tuple[str, str], ...] = ()
    tls: TlsInfo | None = None
    recipients: tuple[RecipientResult, ...] = ()
    elapsed_ms: float = 0.0
    verdict: Verdict | None = None
    reason: Reason | None = None
    pipelined: bool = False  # MAIL, RCPTs and QUIT went in one flight (RFC 2920)
    flights: int = 0  # writes that waited for replies (the round trips the client caused)
    route: str | None = None  # "socks5://127.0.0.1:1080": the proxy the session went through
    #: addresses the session was given but did not send (its refusal budget was spent):
    #: the list scheduler sends them in another session; never part of a result
    unsent: tuple[str, ...] = ()

    @property
    def extension_names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.extensions)


@record
class MxHost:
    """One host to try: its name (A-label), preference and addresses."""

    host: str
    preference: int | None
    addresses: tuple[str, ...]
    error: str | None = None


@record
class MxPlan:
    """The hosts to try for a domain, in order, and how they were found."""

    source: MxSource
    hosts: tuple[MxHost, ...]
    error: str | None = None
    error_kind: Reason | None = None  # domain-unknown, dns-failure, no-mail-accepted


@record
class Address:
    """A validated recipient address."""

    original: str
    local: str
    domain: str  # A-label form (or the IP literal, brackets included)
    domain_unicode: str
    ip_literal: str | None = None  # the bare IP for user@[192.0.2.1]

    @property
    def ascii(self) -> str:
        return f"{self.local}@{self.domain}"

    @property
    def needs_smtputf8(self) -> bool:
        return not self.local.isascii()


@record
class CatchAll:
    """The result of probing a random local part in the same domain."""

    tested: bool
    address: str | None = None
    accepted: bool | None = None
    code: int | None = None


#: Who must act on the refusal that decided a probe (see core/data/sides.toml): the host
#: running smtpdiag, the envelope sender or message, or the recipient's side.
Side = Literal["tester", "sender", "recipient"]


@record
class Diagnosis:
    verdict: Verdict
    reason: Reason
    summary: str
    deciding: Step | None = None
    blocked_side: Side | None = None


@record
class Retry:
    """An earlier try of the same address that ended "try later" (greylisting, 4xx), kept
    when ``--retry-temporary`` tried again."""

    after_s: float  # seconds after the first try started
    verdict: Verdict
    reason: str
    code: int | None
    enhanced: str | None
    summary: str


@record
class ClientView:
    """The tester's address as we and the servers saw it."""

    local_ip: str | None  # where our sessions came from
    seen_ip: str | None  # the address the world sees: --public-ip, or quoted in a refusal
    seen_from: str | None = None  # "public-ip" or "reply"

    @property
    def nat(self) -> bool:
        """Behind NAT: the servers see another address than our own."""
        return bool(self.seen_ip and self.local_ip and self.seen_ip != self.local_ip)


@record
class ProbeResult:
    """Everything one probe of one address found."""

    address: Address
    mx: MxPlan
    attempts: tuple[Attempt, ...]
    diagnosis: Diagnosis
    catch_all: CatchAll = field(default_factory=lambda: CatchAll(tested=False))
    started_at: str = ""
    elapsed_ms: float = 0.0
    options: tuple[tuple[str, str], ...] = ()
    auth: AuthReport | None = None  # SPF/DMARC/DKIM/PTR/DNSBL, run for rejections (or --auth)
    finding: Finding | None = None  # what in `auth` explains the rejection
    retries: tuple[Retry, ...] = ()  # earlier "try later" results (--retry-temporary)
    client: ClientView | None = None
    transport: TransportReport | None = None  # --transport, or when TLS decided the verdict

    @property
    def verdict(self) -> Verdict:
        return self.diagnosis.verdict

    @property
    def reason(self) -> str:
        return self.diagnosis.reason

    @property
    def summary(self) -> str:
        return self.diagnosis.summary

    @property
    def blocked_side(self) -> Side | None:
        return self.diagnosis.blocked_side
