#!/usr/bin/env python3
"""A TCP proxy on loopback that delays every chunk by a fixed one-way latency: a slow link.

    python bench/delayproxy.py --listen 127.0.0.1:0 --target 127.0.0.40:2525 --delay-ms 25

Each direction forwards what it reads ``delay`` after it arrived, in order (a link's
propagation delay; no bandwidth limit). 25 ms each way is a 50 ms round trip. Prints
``PROXY_PORT=<port>`` and counts the client's flights: the number of times the client
sent data after having received some (a write that answers a read is one round trip the
client made the server wait for), printed on SIGTERM as ``FLIGHTS total=N sessions=M``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time


class Stats:
    def __init__(self) -> None:
        self.sessions = 0
        self.flights = 0


async def pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    delay: float,
    on_data: object = None,
) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def forward() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    task = asyncio.create_task(forward())
    try:
        while True:
            data = await reader.read(65536)
            if callable(on_data) and data:
                on_data()
            await queue.put((time.monotonic() + delay, data))
            if not data:
                break
    except OSError:
        await queue.put((0.0, b""))
    with contextlib.suppress(OSError, asyncio.CancelledError):
        await task
    writer.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--target", required=True)
    ap.add_argument("--delay-ms", type=float, default=25.0)
    args = ap.parse_args()
    lhost, lport = args.listen.rsplit(":", 1)
    thost, tport = args.target.rsplit(":", 1)
    delay = args.delay_ms / 1000
    stats = Stats()

    async def handle(creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        stats.sessions += 1
        sreader, swriter = await asyncio.open_connection(thost, int(tport))
        state = {"server_spoke": False}

        def client_sent() -> None:
            if state["server_spoke"]:
                stats.flights += 1
                state["server_spoke"] = False

        def server_sent() -> None:
            state["server_spoke"] = True

        await asyncio.gather(
            pump(creader, swriter, delay, client_sent),
            pump(sreader, cwriter, delay, server_sent),
            return_exceptions=True,
        )

    server = await asyncio.start_server(handle, lhost, int(lport))
    port = server.sockets[0].getsockname()[1]
    print(f"PROXY_PORT={port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print(f"FLIGHTS total={stats.flights} sessions={stats.sessions}", flush=True)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
