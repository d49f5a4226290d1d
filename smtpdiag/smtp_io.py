"""SMTP edge: one session with one server address, every step captured (aiosmtplib).

The session drives each command itself so that nothing is hidden: greeting, EHLO
(HELO fallback), STARTTLS and EHLO again, MAIL FROM, one RCPT TO per recipient,
then RSET and QUIT. DATA and BDAT are never sent. Replies, refusals, timeouts and
dropped connections all become :class:`Step` records; nothing escapes as an
exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import aiosmtplib
from aiosmtplib import errors as smtp_errors

from .model import Attempt, RecipientResult, Reply, Stage, Step, TlsInfo
from .reply import make_reply, parse_extensions

StartTls = Literal["auto", "require", "never"]

#: Commands this module may send. DATA and BDAT are deliberately absent.
ALLOWED_VERBS = frozenset({"EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "RSET", "QUIT"})


@dataclass(frozen=True)
class SessionOptions:
    helo: str
    mail_from: str = ""  # "" is the null reverse-path <>
    starttls: StartTls = "auto"
    timeout: float = 30.0
    source_address: str | None = None
    ca_file: str | None = None


@dataclass(frozen=True)
class Recipient:
    address: str
    random: bool = False
    needs_smtputf8: bool = False


class _Stop(Exception):
    """Internal: the session cannot go on (recorded already)."""


class _Session:
    def __init__(
        self, host: str, address: str, port: int, opts: SessionOptions, deadline: float
    ) -> None:
        self.host = host
        self.address = address
        self.port = port
        self.opts = opts
        self.deadline = deadline
        self.steps: list[Step] = []
        self.recipients: list[RecipientResult] = []
        self.extensions: tuple[tuple[str, str], ...] = ()
        self.tls: TlsInfo | None = None
        self.error: str | None = None
        self.error_kind: str | None = None
        self.local: tuple[str, int] | None = None
        self.smtp: aiosmtplib.SMTP | None = None

    # -- helpers -------------------------------------------------------------------------

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.fail("the overall deadline was reached", "timeout")
        return min(self.opts.timeout, left)

    def fail(self, error: str, kind: str) -> None:
        if self.error is None:
            self.error, self.error_kind = error, kind
        raise _Stop

    def record(
        self,
        stage: Stage,
        command: str | None,
        started: float,
        reply: Reply | None = None,
        error: str | None = None,
        error_kind: str | None = None,
    ) -> Step:
        step = Step(
            stage=stage,
            command=command,
            reply=reply,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
            error=error,
            error_kind=error_kind,
        )
        self.steps.append(step)
        return step

    async def command(
        self,
        stage: Stage,
        line: str,
        call: Callable[[float], Awaitable[aiosmtplib.SMTPResponse]] | None = None,
    ) -> Step:
        """Send one command line (or run ``call``) and record what came back."""
        verb = line.split(" ", 1)[0].upper()
        if verb not in ALLOWED_VERBS:  # the one place every command passes through
            raise AssertionError(f"refusing to send {verb}")
        timeout = self._remaining()
        started = time.perf_counter()
        smtp = self.smtp
        if smtp is None or not smtp.is_connected:
            return self.record(stage, line, started, None, "connection already closed", "network")
        try:
            if call is not None:
                resp = await call(timeout)
            else:
                data = line.encode("utf-8")
                resp = await smtp.execute_command(data, timeout=timeout)
        except smtp_errors.SMTPResponseException as exc:
            if exc.code < 0:  # aiosmtplib's code for an unparseable or over-long reply
                return self.record(stage, line, started, None, _bad_reply(exc), "protocol-error")
            if not 200 <= exc.code <= 599:
                return self.record(
                    stage, line, started, None, _bad_code(exc.code, exc.message), "protocol-error"
                )
            return self.record(stage, line, started, make_reply(exc.code, exc.message))
        except (smtp_errors.SMTPTimeoutError, TimeoutError) as exc:
            return self.record(
                stage, line, started, None, f"no reply within {timeout:g}s ({exc})", "timeout"
            )
        except smtp_errors.SMTPServerDisconnected as exc:
            return self.record(stage, line, started, None, _disconnected(exc), "network")
        except ssl.SSLError as exc:
            return self.record(stage, line, started, None, f"TLS error: {exc}", "tls-failed")
        except (OSError, smtp_errors.SMTPException, ValueError, RuntimeError) as exc:
            return self.record(
                stage, line, started, None, f"{type(exc).__name__}: {exc}", "network"
            )
        return self.record(stage, line, started, make_reply(resp.code, resp.message))

    def _check_unsolicited(self) -> None:
        """Bytes left over after a complete reply were sent before any command asked for
        them: the replies that follow would be paired with the wrong commands."""
        protocol = self.smtp.protocol if self.smtp is not None else None
        leftover = bytes(getattr(protocol, "_buffer", b""))[:300]
        if leftover.strip():
            text = leftover.decode("utf-8", "surrogateescape")
            self.steps.append(
                Step(
                    stage=self.steps[-1].stage,
                    command=None,
                    reply=None,
                    elapsed_ms=0.0,
                    error=f"the server sent data nobody asked for: {text!r}",
                    error_kind="protocol-error",
                )
            )
            self.fail("the server sent replies before any command asked for them", "protocol-error")

    # -- the conversation ----------------------------------------------------------------

    async def run(self, recipients: Sequence[Recipient]) -> None:
        await self.connect()
        await self.hello()
        await self.maybe_starttls()
        if not await self.mail(recipients):
            await self.finish()
            return
        for rcpt in recipients:
            if rcpt.random and not self._any_accepted():
                continue  # the catch-all check only matters once a real address was accepted
            step = await self.rcpt(rcpt)
            if step.reply is None or step.reply.code == 421:
                self.fail(step.error or "the server closed the session (421)", _kind(step))
        await self.finish()

    def _any_accepted(self) -> bool:
        return any(
            not r.random and r.step.reply is not None and r.step.reply.code // 100 == 2
            for r in self.recipients
        )

    async def connect(self) -> None:
        opts = self.opts
        source = (opts.source_address, 0) if opts.source_address else None
        self.smtp = aiosmtplib.SMTP(
            hostname=self.address,
            port=self.port,
            local_hostname=opts.helo,
            source_address=source,
            timeout=opts.timeout,
            start_tls=False,
            use_tls=False,
            validate_certs=False,
        )
        timeout = self._remaining()
        started = time.perf_counter()
        try:
            resp = await self.smtp.connect(timeout=timeout)
        except smtp_errors.SMTPConnectTimeoutError as exc:
            if "ready message" in str(exc):
                self.record(
                    "banner", None, started, None, f"no greeting within {timeout:g}s", "timeout"
                )
                self.fail(
                    f"connected, but the server sent no greeting within {timeout:g}s", "timeout"
                )
            self.fail(
                f"connection to {self.address} port {self.port} timed out after {timeout:g}s",
                "timeout",
            )
        except smtp_errors.SMTPConnectResponseError as exc:
            if exc.code < 0 or not 200 <= exc.code <= 599:
                error = _bad_reply(exc) if exc.code < 0 else _bad_code(exc.code, exc.message)
                self.record("banner", None, started, None, error, "protocol-error")
                self.fail("the greeting was not a valid SMTP reply", "protocol-error")
            if exc.code < 0:
                self.record("banner", None, started, None, _bad_reply(exc), "protocol-error")
                self.fail("the greeting was not a valid SMTP reply", "protocol-error")
            self.record("banner", None, started, make_reply(exc.code, exc.message))
            self.fail(f"the server refused the session in its greeting ({exc.code})", "greeting")
        except smtp_errors.SMTPResponseException as exc:
            self.record("banner", None, started, None, _bad_reply(exc), "protocol-error")
            self.fail("the greeting was not a valid SMTP reply", "protocol-error")
        except smtp_errors.SMTPConnectError as exc:
            cause = exc.__cause__
            detail = f"{cause} ({type(cause).__name__})" if cause is not None else str(exc)
            self.fail(_connect_error(detail, self.address, self.port), "network")
        except (OSError, smtp_errors.SMTPException, ValueError) as exc:
            self.fail(f"cannot connect to {self.address} port {self.port}: {exc}", "network")
        self.record("banner", None, started, make_reply(resp.code, resp.message))
        self._check_unsolicited()
        try:
            sockname = self.smtp.get_transport_info("sockname")
            self.local = (str(sockname[0]), int(sockname[1]))
        except (smtp_errors.SMTPServerDisconnected, TypeError, IndexError):
            self.local = None

    async def hello(self) -> None:
        smtp = self.smtp
        assert smtp is not None
        name = self.opts.helo
        step = await self.command("ehlo", f"EHLO {name}", lambda t: smtp.ehlo(timeout=t))
        if step.reply is not None and step.reply.code == 250:
            self.extensions = parse_extensions(step.reply)
            return
        if step.reply is not None and step.reply.code in (500, 501, 502, 504):
            step = await self.command("helo", f"HELO {name}", lambda t: smtp.helo(timeout=t))
            if step.reply is not None and step.reply.code == 250:
                self.extensions = ()
                return
        self.fail(step.error or "the server did not accept EHLO or HELO", _kind(step, "ehlo"))

    async def maybe_starttls(self) -> None:
        offered = any(name == "STARTTLS" for name, _ in self.extensions)
        mode = self.opts.starttls
        if mode == "never":
            return
        if not offered:
            if mode == "require":
                await self.quit()
                self.fail(
                    "the server does not offer STARTTLS and --starttls require is set",
                    "tls-required",
                )
            return
        smtp = self.smtp
        assert smtp is not None
        from .tlsinfo import client_context, peer_chain, tls_info

        ctx = client_context()
        sni = None if _is_ip(self.host) else self.host

        async def upgrade(timeout: float) -> aiosmtplib.SMTPResponse:
            return await smtp.starttls(server_hostname=sni, tls_context=ctx, timeout=timeout)

        step = await self.command("starttls", "STARTTLS", upgrade)
        if step.reply is None or step.reply.code != 220:
            if step.reply is not None and smtp.is_connected:
                await self.quit()
            what = step.error or f"the server refused STARTTLS ({step.reply and step.reply.code})"
            self.fail(what, "tls-failed")
        try:
            ssl_object = smtp.get_transport_info("ssl_object")
            with warnings.catch_warnings():  # odd certificates make cryptography warn
                warnings.simplefilter("ignore")
                self.tls = tls_info(
                    ssl_object.version(),
                    ssl_object.cipher(),
                    peer_chain(ssl_object),
                    self.host,
                    self.opts.ca_file,
                )
        except (smtp_errors.SMTPServerDisconnected, AttributeError, ssl.SSLError) as exc:
            self.fail(f"TLS session unusable after the handshake: {exc}", "tls-failed")
        step = await self.command("ehlo", f"EHLO {self.opts.helo}", lambda t: smtp.ehlo(timeout=t))
        if step.reply is None or step.reply.code != 250:
            self.fail(
                step.error or "the server did not accept EHLO after STARTTLS", _kind(step, "ehlo")
            )
        if step.reply is not None:
            self.extensions = parse_extensions(step.reply)

    async def mail(self, recipients: Sequence[Recipient]) -> bool:
        params = ""
        wants_utf8 = any(r.needs_smtputf8 for r in recipients) or not self.opts.mail_from.isascii()
        if wants_utf8 and any(name == "SMTPUTF8" for name, _ in self.extensions):
            params = " SMTPUTF8"
        step = await self.command("mail", f"MAIL FROM:<{self.opts.mail_from}>{params}")
        if step.reply is None:
            self.fail(step.error or "no reply to MAIL FROM", _kind(step))
            return False
        return step.reply.code // 100 == 2

    async def rcpt(self, rcpt: Recipient) -> Step:
        if rcpt.needs_smtputf8 and not any(n == "SMTPUTF8" for n, _ in self.extensions):
            step = Step(
                stage="rcpt",
                command=None,
                reply=None,
                elapsed_ms=0.0,
                error=(
                    f"not sent: {rcpt.address} has a non-ASCII local part and the server does "
                    "not offer SMTPUTF8 (RFC 6531), so it cannot receive mail for it this way"
                ),
                error_kind="smtputf8-unsupported",
            )
            self.steps.append(step)
        else:
            step = await self.command("rcpt", f"RCPT TO:<{rcpt.address}>")
        self.recipients.append(RecipientResult(rcpt.address, step, rcpt.random))
        return step

    async def finish(self) -> None:
        smtp = self.smtp
        if smtp is None or not smtp.is_connected:
            return
        step = await self.command("rset", "RSET")
        if step.reply is not None and smtp.is_connected:
            await self.quit()

    async def quit(self) -> None:
        smtp = self.smtp
        if smtp is None or not smtp.is_connected:
            return
        with contextlib.suppress(_Stop):
            await self.command("quit", "QUIT")

    async def close(self) -> None:
        """Close the connection and wait (briefly, bounded) until the socket is really
        closed: after TLS the shutdown takes a few loop turns, and a caller that ends its
        event loop at once would otherwise leak the socket."""
        smtp = self.smtp
        if smtp is None:
            return
        protocol = smtp.protocol
        smtp.close()
        if protocol is None:
            return
        for _ in range(200):  # at most ~1 s
            if protocol.transport is None:
                return
            await asyncio.sleep(0.005)
        transport = protocol.transport
        if isinstance(transport, asyncio.WriteTransport):
            transport.abort()


def _kind(step: Step, stage_default: str | None = None) -> str:
    if step.error_kind:
        return step.error_kind
    if step.reply is not None and step.reply.code == 421:
        return "greeting" if step.stage == "banner" else "server-closed"
    return stage_default or "protocol-error"


def _bad_reply(exc: smtp_errors.SMTPResponseException) -> str:
    return f"the server's reply is not valid SMTP: {exc.message[:300]}"


def _bad_code(code: int, message: str) -> str:
    return f"the server's reply has code {code}, which SMTP does not define: {message[:300]}"


def _disconnected(exc: Exception) -> str:
    text = str(exc)
    if "EOF" in text or "lost" in text.lower():
        return "the server closed the connection without replying"
    return f"connection lost: {text}"


def _connect_error(text: str, address: str, port: int) -> str:
    low = text.lower()
    if "refused" in low or "errno 111" in low:
        return f"connection refused by {address} port {port}: nothing is listening there"
    if "unreachable" in low:
        return f"{address} is unreachable from here: {text}"
    if "closed" in low or "disconnect" in low or "eof" in low or "lost" in low:
        return f"{address} port {port} closed the connection before greeting"
    if "cannot assign" in low or "address not available" in low:
        return f"cannot use that source address: {text}"
    return text


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
) -> Attempt:
    """Hold one SMTP session with ``address`` (an IP of MX ``host``) and record it all.

    ``deadline`` is a :func:`time.monotonic` value: the session ends there, whatever
    the server does. Many recipients can share the session (batch probing).
    """
    session = _Session(host, address, port, opts, deadline)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic()) + 0.5):
            await session.run(recipients)
    except _Stop:
        pass
    except TimeoutError:
        if session.error is None:
            session.error, session.error_kind = "the overall deadline was reached", "timeout"
    finally:
        await session.close()
    return Attempt(
        host=host,
        address=address,
        port=port,
        steps=tuple(session.steps),
        error=session.error,
        error_kind=session.error_kind,
        local_address=session.local[0] if session.local else None,
        local_port=session.local[1] if session.local else None,
        extensions=session.extensions,
        tls=session.tls,
        recipients=tuple(session.recipients),
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )
