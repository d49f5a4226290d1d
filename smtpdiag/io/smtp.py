"""SMTP edge: runs one :class:`~smtpdiag.core.conversation.Conversation` over a real connection.

Every decision is the conversation's; this module only connects, writes the commands it
asks for (one flight at a time: several commands at once when it pipelines), reads the
replies with the pure :class:`~smtpdiag.core.reply.ReplyReader`, does the TLS handshake, and
times it all. Replies, refusals, timeouts and dropped connections are fed back as events
and end up as :class:`~smtpdiag.core.model.Step` records; nothing escapes as an exception.

Why not aiosmtplib's protocol for the session: it drops bytes that arrive while no read is
waiting and never parses a second reply that is already buffered, so pipelined replies
(RFC 2920) and unsolicited data cannot be read through its public API. The framing is
therefore the pure reader's, and the transport is asyncio's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from smtpdiag.core.conversation import (
    Close,
    Command,
    Connect,
    Conversation,
    NoReply,
    Plan,
    Recipient,
    Replied,
    Send,
    StartTls,
    TlsDone,
    Unsolicited,
    UpgradeTls,
)
from smtpdiag.core.model import Attempt, ErrorKind, Reply, TlsInfo
from smtpdiag.core.proxyurl import ProxyConfig
from smtpdiag.core.records import record
from smtpdiag.core.reply import BadReply, ReplyReader

__all__ = ["Recipient", "SessionOptions", "StartTls", "run_session"]

_READ_CHUNK = 65536


@record
class SessionOptions:
    helo: str
    mail_from: str = ""  # "" is the null reverse-path <>
    starttls: StartTls = "auto"
    timeout: float = 30.0
    source_address: str | None = None
    ca_file: str | None = None
    pipelining: bool = True
    proxy: ProxyConfig | None = None  # connect through this SOCKS/HTTP proxy


class _Closed(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class _Wire(asyncio.Protocol):
    """Bytes in, into the reader; a future wakes the one waiting read."""

    def __init__(self) -> None:
        self.reader = ReplyReader()
        self.transport: asyncio.Transport | None = None
        self.closed: str | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] | None = None  # done when the socket is closed
        self.eof: asyncio.Future[None] | None = None  # done when the server has closed its side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        loop = asyncio.get_running_loop()
        self.lost = loop.create_future()
        self.eof = loop.create_future()

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        self._wake()

    def eof_received(self) -> bool:
        self.closed = "the server closed the connection"
        self._wake()
        if self.eof is not None and not self.eof.done():
            self.eof.set_result(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed is None:
            self.closed = f"connection lost: {exc}" if exc else "the server closed the connection"
        self.transport = None
        self._wake()
        for done in (self.lost, self.eof):
            if done is not None and not done.done():
                done.set_result(None)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def read_reply(self, timeout: float) -> Reply | BadReply:
        """The next reply; raises TimeoutError, or _Closed when the connection ends first."""
        got = self.reader.next_reply()
        if got is not None:  # already here (pipelined replies come in one read): no timer
            return got
        async with asyncio.timeout(timeout):
            while True:
                got = self.reader.next_reply()
                if got is not None:
                    return got
                if self.closed is not None:
                    raise _Closed(self.closed)
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise _Closed(self.closed or "connection already closed")
        self.transport.write(data)


class _Runner:
    """Executes a conversation's actions, with a per-step timeout and an overall deadline."""

    def __init__(
        self,
        host: str,
        address: str,
        port: int,
        opts: SessionOptions,
        deadline: float,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        self.on_connect = on_connect
        self.host, self.address, self.port = host, address, port
        self.opts = opts
        self.deadline = deadline
        self.wire = _Wire()
        self.local: tuple[str, int] | None = None
        self.tls_info: asyncio.Future[TlsInfo] | None = None

    def _timeout(self) -> float:
        return max(0.0, min(self.opts.timeout, self.deadline - time.monotonic()))

    def _timeout_text(self, timeout: float) -> str:
        if self.deadline - time.monotonic() <= 0.01:
            return "the overall deadline was reached"
        return f"no reply within {timeout:g}s"

    async def run(self, conv: Conversation) -> None:
        while True:
            action = conv.next_action()
            if isinstance(action, Close):
                return
            if isinstance(action, Connect):
                conv.receive(await self.connect())
            elif isinstance(action, Send):
                if self.wire.reader.buffered:  # bytes nobody asked for would pair wrongly
                    conv.receive(Unsolicited(self.wire.reader.peek()))
                    continue
                for event in await self.send(action.commands):
                    conv.receive(event)
                    if conv.done:
                        break
            elif isinstance(action, UpgradeTls):
                # RFC 3207 5: nothing may come between the 220 and the handshake; bytes
                # that did are plaintext a man in the middle may have injected: dropped
                self.wire.reader = ReplyReader()
                conv.receive(await self.upgrade())

    async def connect(self) -> Replied | NoReply:
        loop = asyncio.get_running_loop()
        timeout = self._timeout()
        local = (self.opts.source_address, 0) if self.opts.source_address else None
        started = time.perf_counter()
        if self.opts.proxy is not None:
            return await self._connect_via_proxy(started, timeout)
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(
                    lambda: self.wire, self.address, self.port, local_addr=local
                )
        except TimeoutError:
            return NoReply(
                f"connection to {self.address} port {self.port} timed out after {timeout:g}s",
                "timeout",
                _ms(started),
                connected=False,
            )
        except OSError as exc:
            return NoReply(
                _connect_error(exc, self.address, self.port),
                "network",
                _ms(started),
                connected=False,
            )
        if self.on_connect is not None:
            self.on_connect()  # the caller's work to overlap with the wait for a greeting
        transport = self.wire.transport
        if transport is not None:
            sockname = transport.get_extra_info("sockname")
            if isinstance(sockname, tuple) and len(sockname) >= 2:
                self.local = (str(sockname[0]), int(sockname[1]))
        return await self._reply(started, self._timeout(), greeting=True)

    async def _connect_via_proxy(self, started: float, timeout: float) -> Replied | NoReply:
        """Through ``--proxy``: the proxy opens the TCP connection, then the session runs on
        that socket (STARTTLS included). Our local address is the proxy's business, not
        what the server sees, so it is not recorded."""
        from smtpdiag.io.proxy import ProxyFailure, open_via_proxy

        proxy = self.opts.proxy
        assert proxy is not None
        # socks5h/socks4a/http: the proxy resolves the MX host name itself
        target = self.host if proxy.remote_dns and self.host else self.address
        try:
            sock = await open_via_proxy(proxy, target, self.port, timeout, self.opts.source_address)
        except ProxyFailure as exc:
            kind: ErrorKind = "proxy" if exc.kind == "proxy" else exc.kind
            return NoReply(exc.message, kind, _ms(started), connected=False)
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: self.wire, sock=sock)
        except OSError as exc:
            sock.close()
            return NoReply(f"proxy socket: {exc}", "proxy", _ms(started), connected=False)
        if self.on_connect is not None:
            self.on_connect()
        return await self._reply(started, self._timeout(), greeting=True)

    async def _reply(
        self, started: float, timeout: float, greeting: bool = False
    ) -> Replied | NoReply:
        try:
            got = await self.wire.read_reply(timeout)
        except TimeoutError:
            what = "no greeting" if greeting else "no reply"
            text = self._timeout_text(timeout).replace("no reply", what)
            return NoReply(text, "timeout", _ms(started))
        except _Closed as exc:
            if greeting:
                error = f"{self.address} port {self.port} closed the connection before greeting"
            else:
                error = "the server closed the connection without replying"
            if exc.error.startswith("connection lost: ") and "reset" in exc.error.lower():
                error = exc.error
            return NoReply(error, "network", _ms(started))
        if isinstance(got, BadReply):
            return NoReply(got.error, "protocol-error", _ms(started))
        return Replied(got, _ms(started))

    async def send(self, commands: Sequence[Command]) -> list[Replied | NoReply]:
        """Write one flight and read one reply per command; stop at the first failure."""
        timeout = self._timeout()
        started = time.perf_counter()
        try:
            self.wire.write(b"".join(c.data for c in commands))
        except _Closed as exc:
            return [NoReply(exc.error, "network", 0.0)]
        events: list[Replied | NoReply] = []
        for _ in commands:
            event = await self._reply(started, timeout)
            events.append(event)
            if isinstance(event, NoReply):
                break
        return events

    async def upgrade(self) -> TlsDone | NoReply:
        loop = asyncio.get_running_loop()
        transport = self.wire.transport
        started = time.perf_counter()
        if transport is None:
            return NoReply(
                "the server closed the connection before the TLS handshake", "tls-failed", 0.0
            )
        timeout = self._timeout()
        sni = None if _is_ip(self.host) else self.host
        try:
            async with asyncio.timeout(timeout):
                tls = await loop.start_tls(
                    transport,
                    self.wire,
                    client_context(),
                    server_hostname=sni,
                    ssl_handshake_timeout=max(timeout, 0.1),
                )
        except TimeoutError:
            return NoReply(
                f"TLS handshake not done within {timeout:g}s", "tls-failed", _ms(started)
            )
        except (ssl.SSLError, OSError, ConnectionError) as exc:
            return NoReply(f"TLS handshake failed: {_tls_error(exc)}", "tls-failed", _ms(started))
        if tls is None:
            return NoReply(
                "TLS handshake failed: the connection closed", "tls-failed", _ms(started)
            )
        self.wire.transport = tls
        ssl_object = tls.get_extra_info("ssl_object")
        if ssl_object is None:
            return NoReply("TLS session unusable after the handshake", "tls-failed", _ms(started))
        # reading and verifying the certificates takes tens of milliseconds: done in a
        # thread while the session goes on, collected when it ends
        facts = (ssl_object.version(), ssl_object.cipher(), peer_chain(ssl_object))
        self.tls_info = loop.run_in_executor(None, _tls_facts, *facts, self.host, self.opts.ca_file)
        return TlsDone(None, _ms(started))

    async def close(self, after_quit: bool = False) -> None:
        """Close, and wait (bounded) until the socket is really closed: after TLS the
        shutdown takes a few loop turns, and a caller that ends its loop at once would
        otherwise leak the socket.

        ``after_quit``: the server answered QUIT, so it closes first (RFC 5321 §4.1.1.10);
        wait for that, bounded. Postfix tells its connection counter (anvil) before it
        closes, so a list's next session is never counted as one too many there."""
        transport, lost = self.wire.transport, self.wire.lost
        if transport is None or lost is None:
            return
        eof = self.wire.eof
        if after_quit and eof is not None and not eof.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(QUIT_GRACE):
                    await asyncio.shield(eof)
        transport.close()
        try:
            async with asyncio.timeout(0.5):
                await lost
        except TimeoutError:
            transport.abort()


#: how long to wait for the server to close after answering QUIT
QUIT_GRACE = 0.5

_ENCODING_DER = 2  # _ssl.ENCODING_DER; the ssl module does not re-export it


def client_context() -> ssl.SSLContext:
    """A client context that completes any handshake; trust is checked separately, after
    the handshake (no CA store is loaded here: that alone takes ~50 ms)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # report old servers instead of failing on them
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    with contextlib.suppress(ssl.SSLError):  # depends on the OpenSSL build
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def peer_chain(ssl_object: Any) -> list[bytes]:
    """DER certificates the server sent, leaf first (leaf only if the chain is unavailable)."""
    chain: list[bytes] = []
    getter = getattr(ssl_object, "get_unverified_chain", None)
    if getter is None:
        inner = getattr(ssl_object, "_sslobj", None)
        getter = getattr(inner, "get_unverified_chain", None)
    if getter is not None:
        try:
            for cert in getter() or []:
                der = cert if isinstance(cert, bytes) else cert.public_bytes(_ENCODING_DER)
                chain.append(der)
        except Exception:
            chain = []
    if not chain:
        leaf = ssl_object.getpeercert(binary_form=True)
        if leaf:
            chain.append(leaf)
    return chain


def _tls_facts(
    version: str | None, cipher: Any, chain: list[bytes], host: str, ca_file: str | None
) -> TlsInfo:
    return _tls_facts_cached(version, tuple(cipher or ()), tuple(chain), host, ca_file)


@functools.lru_cache(maxsize=256)
def _tls_facts_cached(
    version: str | None,
    cipher: tuple[Any, ...],
    chain: tuple[bytes, ...],
    host: str,
    ca_file: str | None,
) -> TlsInfo:
    # cached: a list run sees the same certificate chain in every session to a server
    from smtpdiag.io.tls import tls_info

    with warnings.catch_warnings():  # odd certificates make cryptography warn
        warnings.simplefilter("ignore")
        return tls_info(version, cipher or None, list(chain), host, ca_file)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _tls_error(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.lower().replace("_", " ")
    return str(exc) or type(exc).__name__


def _connect_error(exc: OSError, address: str, port: int) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {address} port {port}: nothing is listening there"
    text = exc.strerror or str(exc)
    low = text.lower()
    if "unreachable" in low:
        return f"{address} is unreachable from here: {text}"
    if "cannot assign" in low or "address not available" in low:
        return f"cannot use that source address: {text}"
    return f"cannot connect to {address} port {port}: {text}"


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def run_session(
    host: str,
    address: str,
    port: int,
    recipients: Sequence[Recipient],
    opts: SessionOptions,
    deadline: float,
    on_connect: Callable[[], None] | None = None,
    max_refusals: int | None = None,
) -> Attempt:
    """Hold one SMTP session with ``address`` (an IP of MX ``host``) and record it all.

    ``deadline`` is a :func:`time.monotonic` value: the session ends there, whatever
    the server does. Many recipients can share the session (batch probing); with
    ``max_refusals``, the session stops sending RCPTs once that many were refused, and
    the addresses it did not get to are in ``Attempt.unsent``.
    """
    conv = Conversation(
        Plan(
            helo=opts.helo,
            recipients=tuple(recipients),
            mail_from=opts.mail_from,
            starttls=opts.starttls,
            pipelining=opts.pipelining,
            max_refusals=max_refusals,
        )
    )
    runner = _Runner(host, address, port, opts, deadline, on_connect)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic()) + 0.5):
            await runner.run(conv)
    except TimeoutError:
        conv.abort("the overall deadline was reached", "timeout")
    finally:
        out = conv.outcome()
        answered = any(s.stage == "quit" and s.reply is not None for s in out.steps)
        await runner.close(after_quit=answered)
    tls = out.tls
    if runner.tls_info is not None:
        try:
            tls = await asyncio.wait_for(runner.tls_info, timeout=10)
        except Exception:  # a certificate the reader chokes on: no facts, not a crash
            tls = None
    return Attempt(
        host=host,
        address=address,
        port=port,
        steps=out.steps,
        error=out.error,
        error_kind=out.error_kind,
        local_address=runner.local[0] if runner.local else None,
        local_port=runner.local[1] if runner.local else None,
        extensions=out.extensions,
        tls=tls,
        recipients=out.recipients,
        pipelined=out.pipelined,
        flights=out.flights,
        route=opts.proxy.shown if opts.proxy is not None else None,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        unsent=tuple(r.address for r in out.unsent),
    )
