"""Hostile SMTP servers: raw asyncio servers that misbehave on purpose, byte by byte.

aiosmtpd is too well-behaved for this: these speak just enough SMTP to get a client to
the point where they break the rules. Each behaviour is one function; they bound what
they send and stop when the client goes away.

    with HostileServers(["silent", "huge-line"]) as servers:
        host, port = servers.address("silent")
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Self

Writer = asyncio.StreamWriter
Reader = asyncio.StreamReader
Behaviour = Callable[[Reader, Writer], Awaitable[None]]

EHLO_OK = b"250-hostile.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n"
MAX_SEND = 64 * 1024 * 1024  # never send more than this on one connection


async def _send(writer: Writer, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


async def _line(reader: Reader, timeout: float = 30.0) -> bytes:
    try:
        return await asyncio.wait_for(reader.readline(), timeout)
    except (TimeoutError, ValueError, ConnectionError):
        return b""


async def _dialogue(
    reader: Reader,
    writer: Writer,
    replies: dict[bytes, bytes],
    greeting: bytes = b"220 hostile.test ESMTP\r\n",
) -> None:
    """A tiny SMTP loop: answer each verb from ``replies`` (default 250 OK)."""
    await _send(writer, greeting)
    while True:
        line = await _line(reader)
        if not line:
            return
        verb = line.split(b" ", 1)[0].strip().upper()
        if verb == b"EHLO":
            await _send(writer, replies.get(b"EHLO", EHLO_OK))
        elif verb == b"QUIT":
            await _send(writer, replies.get(b"QUIT", b"221 bye\r\n"))
            return
        else:
            reply = replies.get(verb, b"250 2.0.0 OK\r\n")
            await _send(writer, reply)
            if reply.startswith(b"421"):
                return


async def silent(reader: Reader, writer: Writer) -> None:
    await asyncio.sleep(3600)


async def drip(reader: Reader, writer: Writer) -> None:
    """One byte a second, forever."""
    for byte in b"220 " + b"x" * 100000:
        await _send(writer, bytes([byte]))
        await asyncio.sleep(1.0)


async def huge_line(reader: Reader, writer: Writer) -> None:
    """A greeting line of 5 MB."""
    await _send(writer, b"220 ")
    chunk = b"A" * 65536
    for _ in range(80):
        await _send(writer, chunk)
    await _send(writer, b"\r\n")
    await asyncio.sleep(30)


async def endless_multiline(reader: Reader, writer: Writer) -> None:
    """EHLO answered by continuation lines that never end."""
    await _send(writer, b"220 hostile.test ESMTP\r\n")
    await _line(reader)
    sent = 0
    while sent < MAX_SEND:
        await _send(writer, b"250-more\r\n" * 1000)
        sent += 10000


async def huge_ehlo(reader: Reader, writer: Writer) -> None:
    """An EHLO reply of 300,000 lines (which does end)."""
    await _send(writer, b"220 hostile.test ESMTP\r\n")
    await _line(reader)
    for _ in range(300):
        await _send(writer, b"250-X-EXTENSION\r\n" * 1000)
    await _send(writer, b"250 OK\r\n")
    await _dialogue(reader, writer, {}, greeting=b"")


async def not_a_code(reader: Reader, writer: Writer) -> None:
    await _send(writer, b"hello there, this is not SMTP\r\n")
    await asyncio.sleep(30)


async def out_of_range(reader: Reader, writer: Writer) -> None:
    await _dialogue(reader, writer, {}, greeting=b"999 hostile.test what is this\r\n")


async def code_change(reader: Reader, writer: Writer) -> None:
    """Continuation lines whose code changes half-way."""
    await _dialogue(reader, writer, {b"RCPT": b"250-2.1.5 fine\r\n550 5.1.1 or not\r\n"})


async def bare_lf(reader: Reader, writer: Writer) -> None:
    """Every reply ends in LF alone; otherwise a normal server that knows the user."""
    await _dialogue(
        reader,
        writer,
        {
            b"EHLO": b"250-hostile.test\n250 8BITMIME\n",
            b"MAIL": b"250 2.1.0 Ok\n",
            b"RCPT": b"250 2.1.5 Ok\n",
            b"RSET": b"250 Ok\n",
            b"QUIT": b"221 Bye\n",
        },
        greeting=b"220 hostile.test ESMTP\n",
    )


async def control_bytes(reader: Reader, writer: Writer) -> None:
    """NUL, invalid UTF-8 and terminal escape sequences in replies."""
    await _dialogue(
        reader,
        writer,
        {b"RCPT": b"550 5.1.1 \x1b[2J\x1b]0;pwned\x07 no \x00 such \xff\xfe user \x9b31m\r\n"},
        greeting=b"220 hostile.test \x1b[31mred\x1b[0m \xc3\x28 ESMTP\r\n",
    )


async def close_mid_reply(reader: Reader, writer: Writer) -> None:
    await _send(writer, b"220-hostile.test first line\r\n220-and then")
    writer.close()


async def starttls_refused(reader: Reader, writer: Writer) -> None:
    await _dialogue(
        reader,
        writer,
        {
            b"EHLO": b"250-hostile.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
            b"STARTTLS": b"454 4.7.0 TLS not available due to local problem\r\n",
        },
    )


async def tls_garbage(reader: Reader, writer: Writer) -> None:
    """STARTTLS accepted, then plain garbage instead of a TLS handshake."""
    await _send(writer, b"220 hostile.test ESMTP\r\n")
    await _line(reader)
    await _send(writer, b"250-hostile.test\r\n250 STARTTLS\r\n")
    await _line(reader)
    await _send(writer, b"220 go ahead\r\n")
    await _send(writer, b"this is not a TLS server hello\r\n" * 20)
    await asyncio.sleep(5)


async def close_mid_tls(reader: Reader, writer: Writer) -> None:
    await _send(writer, b"220 hostile.test ESMTP\r\n")
    await _line(reader)
    await _send(writer, b"250-hostile.test\r\n250 STARTTLS\r\n")
    await _line(reader)
    await _send(writer, b"220 go ahead\r\n")
    with contextlib.suppress(Exception):
        await asyncio.wait_for(reader.read(10), 5)  # the ClientHello
    writer.close()


def _four21_at(verb: bytes) -> Behaviour:
    async def handler(reader: Reader, writer: Writer) -> None:
        replies = {verb: b"421 4.3.2 hostile.test Service shutting down\r\n"}
        if verb == b"EHLO":
            await _send(writer, b"220 hostile.test ESMTP\r\n")
            await _line(reader)
            await _send(writer, replies[verb])
            return
        await _dialogue(reader, writer, replies)

    return handler


async def unsolicited(reader: Reader, writer: Writer) -> None:
    """Replies nobody asked for, before EHLO and before MAIL."""
    await _send(writer, b"220 hostile.test ESMTP\r\n250 unsolicited\r\n554 5.7.1 boo\r\n")
    await _dialogue(reader, writer, {b"EHLO": EHLO_OK + b"250 extra unsolicited\r\n"}, greeting=b"")


async def accept_all(reader: Reader, writer: Writer) -> None:
    await _dialogue(reader, writer, {b"RCPT": b"250 2.1.5 Ok\r\n"})


BEHAVIOURS: dict[str, Behaviour] = {
    "silent": silent,
    "drip": drip,
    "huge-line": huge_line,
    "endless-multiline": endless_multiline,
    "huge-ehlo": huge_ehlo,
    "not-a-code": not_a_code,
    "out-of-range": out_of_range,
    "code-change": code_change,
    "bare-lf": bare_lf,
    "control-bytes": control_bytes,
    "close-mid-reply": close_mid_reply,
    "starttls-refused": starttls_refused,
    "tls-garbage": tls_garbage,
    "close-mid-tls": close_mid_tls,
    "421-at-ehlo": _four21_at(b"EHLO"),
    "421-at-mail": _four21_at(b"MAIL"),
    "421-at-rcpt": _four21_at(b"RCPT"),
    "unsolicited": unsolicited,
    "accept-all": accept_all,
}


class HostileServers:
    """Run the named behaviours, each on its own port of ``host``, in a background thread."""

    def __init__(self, names: Iterable[str], host: str = "127.0.0.1") -> None:
        self.names = list(names)
        self.host = host
        self._ports: dict[str, int] = {}
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def address(self, name: str) -> tuple[str, int]:
        return self.host, self._ports[name]

    def start(self) -> Self:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("hostile servers did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        servers = []
        for name in self.names:
            behaviour = BEHAVIOURS[name]

            async def handle(reader: Reader, writer: Writer, b: Behaviour = behaviour) -> None:
                task = asyncio.current_task()
                assert task is not None
                self._tasks.add(task)
                try:
                    await b(reader, writer)
                except (ConnectionError, OSError, asyncio.CancelledError):
                    pass
                finally:
                    writer.close()
                    self._tasks.discard(task)

            server = await asyncio.start_server(handle, self.host, 0, limit=8192)
            self._ports[name] = server.sockets[0].getsockname()[1]
            servers.append(server)
        self._ready.set()
        await self._stop.wait()
        for server in servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.sleep(0)
