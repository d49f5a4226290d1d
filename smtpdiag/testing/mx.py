"""Scriptable fake MX servers built on aiosmtpd, for the demo, the tests and users.

Each :class:`MxConfig` says how one server behaves: its greeting (any code, any
delay, or none at all), EHLO/MAIL replies, per-recipient replies, greylisting,
STARTTLS, slow replies and dropped connections. Every command a server receives is
logged, and DATA/BDAT are refused and flagged so tests can prove a probe never
sends them.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from smtpdiag.core.records import record

DEFAULT_RCPT_REJECT = (
    "550 5.1.1 <{address}>: Recipient address rejected: User unknown in local recipient table"
)
GREYLIST_REPLY = "450 4.2.0 <{address}>: Recipient address rejected: Greylisted, try again later"


@record
class MxConfig:
    """How one fake server behaves. Replies are full lines ("550 5.1.1 text");
    several lines are separated by newlines and sent as a multi-line reply. In RCPT
    replies, {address} is the recipient and {client} the connecting IP."""

    address: str  # loopback address to listen on, e.g. 127.0.0.2
    hostname: str
    greeting: str | None = "220 {hostname} ESMTP smtpdiag fake MX"  # None or "": never greet
    greeting_delay: float = 0.0
    starttls: bool = False
    require_starttls: bool = False
    smtputf8: bool = True
    pipelining: bool = True  # advertise PIPELINING (RFC 2920), as Postfix and Exim do
    ehlo: str | None = None  # replace the EHLO reply (e.g. "502 5.5.2 Error")
    helo: str | None = None
    mail: str | None = None  # reply to MAIL FROM (default 250 2.1.0 Ok)
    senders: dict[str, str] = field(default_factory=dict)  # "a@b" or "@domain" -> MAIL reply
    starttls_reply: str | None = None  # replace the 220 to STARTTLS (e.g. "454 4.7.0 ...")
    rcpt: dict[str, str] = field(default_factory=dict)  # address -> reply
    rcpt_default: str = DEFAULT_RCPT_REJECT
    accept_all: bool = False
    greylist: bool = False
    delays: dict[str, float] = field(default_factory=dict)  # verb -> seconds before replying
    drop: tuple[str, ...] = ()  # verbs after which the connection is closed without reply
    #: more connections than this open at once: greet the extra ones with 421 and close
    busy_over: int | None = None
    #: RCPTs one transaction may carry; later ones get 452 4.5.3 (RFC 5321 4.5.3.1.10)
    max_rcpts: int | None = None
    #: STARTTLS with a certificate of its own, for these names (not its hostname), signed
    #: by the rig's CA; ``cert_expired``: one whose validity ended yesterday
    cert_names: tuple[str, ...] = ()
    cert_expired: bool = False
    #: or STARTTLS with these files (PEM; the certificate file may hold the chain after
    #: the server's own certificate), made by the caller: tests that must know the
    #: certificate before the rig starts (DANE's TLSA records in the zones)
    cert_file: str | None = None
    key_file: str | None = None
    #: refused RCPTs in one session before "421 4.7.0 Error: too many errors" and a close
    #: (Postfix's smtpd_hard_error_limit is 20)
    error_limit: int | None = None


@dataclass
class ServerLog:
    """What one fake server saw."""

    commands: list[str] = field(default_factory=list)
    connections: int = 0
    forbidden: list[str] = field(default_factory=list)  # DATA or BDAT, if ever received
    live: set[asyncio.BaseTransport] = field(default_factory=set)  # open connections
    max_live: int = 0  # most connections open at once
    busy: int = 0  # connections turned away with 421 (busy_over)
    session_rcpts: list[int] = field(default_factory=list)  # RCPTs of each closed session
    session_refused: list[int] = field(default_factory=list)  # RCPTs refused (4xx/5xx) in each

    def close_all(self) -> None:
        for transport in list(self.live):
            transport.close()
        self.live.clear()


def _lines(reply: str, **values: str) -> str:
    """Turn "550 text" or several lines into SMTP reply lines joined by CRLF."""
    text = reply.format(**values)
    rows = text.split("\n")
    if len(rows) == 1:
        return text
    out = []
    for i, row in enumerate(rows):
        code, rest = row[:3], row[4:] if len(row) > 3 else ""
        sep = " " if i == len(rows) - 1 else "-"
        out.append(f"{code}{sep}{rest}")
    return "\r\n".join(out)


class _Handler:
    """aiosmtpd's handler: only the EHLO hook, to advertise PIPELINING."""

    def __init__(self, config: MxConfig) -> None:
        self.config = config

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.config.pipelining:
            return [responses[0], "250-PIPELINING", *responses[1:]]
        return responses


class FakeSMTP(SMTP):
    """aiosmtpd's SMTP server with scripted replies. One instance per connection."""

    def __init__(
        self,
        config: MxConfig,
        log: ServerLog,
        greylist_seen: set[tuple[str, str]],
        tls_context: ssl.SSLContext | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(
            _Handler(config),
            hostname=config.hostname,
            ident="smtpdiag fake MX",
            tls_context=tls_context if config.starttls else None,
            require_starttls=config.require_starttls,
            enable_SMTPUTF8=config.smtputf8,
            timeout=30,
            loop=loop,
        )
        self.config = config
        self.log = log
        self.greylist_seen = greylist_seen
        self._greeted = False
        self._errors = 0
        self._rcpts = 0  # in this transaction
        self._session_rcpts = 0
        self._session_refused = 0
        self._in_rcpt = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._greeted:
            self.log.connections += 1
            self.log.live.add(transport)
            self.log.max_live = max(self.log.max_live, len(self.log.live))
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._greeted and self.transport is not None:
            self.log.session_rcpts.append(self._session_rcpts)
            self.log.session_refused.append(self._session_refused)
        for transport in (self.transport, getattr(self, "_original_transport", None)):
            self.log.live.discard(transport)
        super().connection_lost(error)

    async def push(self, status: Any) -> None:
        if self._in_rcpt and str(status)[:1] in ("4", "5"):
            self._session_refused += 1
        if not self._greeted:
            self._greeted = True
            cfg = self.config
            if cfg.busy_over is not None and len(self.log.live) > cfg.busy_over:
                self.log.busy += 1
                await super().push("421 4.7.0 Error: too many connections, try again later")
                if self.transport is not None:
                    self.transport.close()
                return
            if cfg.greeting_delay:
                await asyncio.sleep(cfg.greeting_delay)
            if not cfg.greeting:
                await asyncio.sleep(3600)  # never greet; the client must time out
                return
            status = _lines(cfg.greeting, hostname=cfg.hostname)
        await super().push(status)

    async def _scripted(self, verb: str, arg: str | None) -> bool:
        """Log the command, apply delay/drop. True: the connection was dropped."""
        self.log.commands.append(f"{verb} {arg}".rstrip() if arg else verb)
        delay = self.config.delays.get(verb)
        if delay:
            await asyncio.sleep(delay)
        if verb in self.config.drop:
            if self.transport is not None:
                self.transport.close()
            return True
        return False

    async def smtp_EHLO(self, hostname: str) -> None:
        if await self._scripted("EHLO", hostname):
            return
        if self.config.ehlo is not None:
            await self.push(_lines(self.config.ehlo, hostname=self.config.hostname))
            return
        await super().smtp_EHLO(hostname)

    async def smtp_HELO(self, hostname: str) -> None:
        if await self._scripted("HELO", hostname):
            return
        if self.config.helo is not None:
            await self.push(_lines(self.config.helo, hostname=self.config.hostname))
            return
        await super().smtp_HELO(hostname)

    async def smtp_STARTTLS(self, arg: str) -> None:
        if await self._scripted("STARTTLS", arg):
            return
        if self.config.starttls_reply is not None:
            await self.push(_lines(self.config.starttls_reply))
            return
        await super().smtp_STARTTLS(arg)

    async def smtp_MAIL(self, arg: str | None) -> None:
        if await self._scripted("MAIL", arg):
            return
        if await self.check_helo_needed() or await self.check_auth_needed("MAIL"):
            return
        self._rcpts = 0
        stripped = self._strip_command_keyword("FROM:", arg or "")
        sender = (stripped or "").strip().split(" ")[0].strip("<>").lower()
        scripted = (
            self.config.senders.get(sender)
            or self.config.senders.get("@" + sender.rpartition("@")[2])
            if sender
            else None
        )
        if scripted is not None or self.config.mail is not None:
            reply = _lines(scripted or self.config.mail or "", address=sender)
            if reply.startswith("2") and self.envelope is not None:
                self.envelope.mail_from = (stripped or "<>").strip() or "<>"
            await self.push(reply)
            return
        if stripped is not None and stripped.lstrip().startswith("<>"):
            # RFC 5321 §4.5.5: the null reverse-path; aiosmtpd refuses it on its own
            assert self.envelope is not None
            if self.envelope.mail_from:
                await self.push("503 5.5.1 Error: nested MAIL command")
                return
            self.envelope.mail_from = "<>"
            await self.push("250 2.1.0 Ok")
            return
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str | None) -> None:
        self._in_rcpt = True
        try:
            await self._rcpt(arg)
        finally:
            self._in_rcpt = False

    async def _rcpt(self, arg: str | None) -> None:
        if await self._scripted("RCPT", arg):
            return
        if await self.check_helo_needed() or await self.check_auth_needed("RCPT"):
            return
        assert self.envelope is not None and self.session is not None
        if not self.envelope.mail_from:
            await self.push("503 5.5.1 Error: need MAIL command")
            return
        stripped = self._strip_command_keyword("TO:", arg or "") or ""
        address = stripped.strip().split(" ")[0].strip("<>")
        if not address:
            await self.push("501 5.5.4 Syntax: RCPT TO:<address>")
            return
        cfg = self.config
        key = address.lower()
        self._rcpts += 1
        self._session_rcpts += 1
        if cfg.max_rcpts is not None and self._rcpts > cfg.max_rcpts:
            await self.push("452 4.5.3 Error: too many recipients")
            return
        if cfg.greylist:
            peer = str(self.session.peer[0]) if self.session.peer else "?"
            if (peer, key) not in self.greylist_seen:
                self.greylist_seen.add((peer, key))
                await self.push(_lines(GREYLIST_REPLY, address=address))
                return
        if key in cfg.rcpt:
            reply = cfg.rcpt[key]
        elif cfg.accept_all:
            reply = "250 2.1.5 Ok"
        else:
            reply = cfg.rcpt_default
        if reply.startswith("2"):
            self.envelope.rcpt_tos.append(address)
        elif reply[:1] in ("4", "5") and cfg.error_limit is not None:
            self._errors += 1
            if self._errors >= cfg.error_limit:
                await self.push("421 4.7.0 Error: too many errors")
                if self.transport is not None:
                    self.transport.close()
                return
        client = str(self.session.peer[0]) if self.session.peer else "?"
        await self.push(_lines(reply, address=address, client=client))

    async def smtp_RSET(self, arg: str) -> None:
        if await self._scripted("RSET", arg):
            return
        self._rcpts = 0
        await super().smtp_RSET(arg)

    async def smtp_QUIT(self, arg: str) -> None:
        if await self._scripted("QUIT", arg):
            return
        await super().smtp_QUIT(arg)

    async def smtp_NOOP(self, arg: str) -> None:
        if await self._scripted("NOOP", arg):
            return
        await super().smtp_NOOP(arg)

    async def smtp_DATA(self, arg: str) -> None:
        self.log.commands.append("DATA")
        self.log.forbidden.append("DATA")
        await self.push("554 5.7.0 smtpdiag fake MX: DATA received, a probe must never send it")

    async def smtp_BDAT(self, arg: str) -> None:
        self.log.commands.append(f"BDAT {arg}".rstrip())
        self.log.forbidden.append("BDAT")
        await self.push("554 5.7.0 smtpdiag fake MX: BDAT received, a probe must never send it")


# silence "unused" for names aiosmtpd's type annotations refer to
_ = (Envelope, Session)


async def start_mx(
    config: MxConfig, port: int, tls_context: ssl.SSLContext | None, log: ServerLog
) -> asyncio.AbstractServer:
    """Listen on ``config.address``:``port`` (port 0: any free port)."""
    loop = asyncio.get_running_loop()
    seen: set[tuple[str, str]] = set()
    return await loop.create_server(
        lambda: FakeSMTP(config, log, seen, tls_context, loop),
        host=config.address,
        port=port,
        reuse_address=True,
    )
