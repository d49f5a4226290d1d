#!/usr/bin/env python3
"""The yardstick for a list run: a bare asyncio + aiosmtplib client that sends the same
RCPTs as ``smtpdiag probe --file``, with the same per-server cap and sessions of at most
9 RCPTs: per session EHLO, MAIL FROM:<>, RCPT x <=9 (lock-step: aiosmtplib cannot
pipeline), QUIT. MX hosts are tried in order (the first refused connection costs one
try per session, as it would cost a client without a down-host cache). No DNS: the
domain -> MX addresses map is given, as the benchmark's zone has it. Prints counts.

    python bench/bare_list.py LIST PORT DOMAIN=IP[,IP...] ... [--cap 2] [--per-session 9]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys

import aiosmtplib


async def session(
    ips: list[str], port: int, batch: list[str], counts: collections.Counter[int], tls: bool
) -> None:
    for ip in ips:
        smtp = aiosmtplib.SMTP(
            hostname=ip,
            port=port,
            start_tls=tls,
            validate_certs=False,
            local_hostname="bench.test",
            timeout=10,
        )
        try:
            await smtp.connect()
        except (aiosmtplib.SMTPException, OSError):
            continue
        try:
            await smtp.ehlo()
            await smtp.execute_command(b"MAIL FROM:<>")
            for address in batch:
                code, _ = await smtp.execute_command(f"RCPT TO:<{address}>".encode())
                counts[code] += 1
            await smtp.quit()
        except aiosmtplib.SMTPException:
            counts[0] += len(batch)
        return
    counts[-1] += len(batch)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("list")
    ap.add_argument("port", type=int)
    ap.add_argument("mx", nargs="+", metavar="DOMAIN=IP,IP")
    ap.add_argument("--cap", type=int, default=2, help="sessions at once per server address")
    ap.add_argument("--per-session", type=int, default=9)
    ap.add_argument("--tls", action="store_true", help="STARTTLS, as smtpdiag does by default")
    args = ap.parse_args()
    mx = {d: ips.split(",") for d, ips in (m.split("=", 1) for m in args.mx)}
    by_server: dict[tuple[str, ...], list[str]] = collections.defaultdict(list)
    with open(args.list) as fh:
        for line in fh:
            address = line.split("#")[0].strip()
            if address:
                by_server[tuple(mx[address.rpartition("@")[2]])].append(address)
    counts: collections.Counter[int] = collections.Counter()
    sems: dict[str, asyncio.Semaphore] = collections.defaultdict(
        lambda: asyncio.Semaphore(args.cap)
    )

    async def worker(ips: tuple[str, ...], queue: collections.deque[str]) -> None:
        while queue:
            batch = [queue.popleft() for _ in range(min(args.per_session, len(queue)))]
            async with sems[ips[-1]]:
                await session(list(ips), args.port, batch, counts, args.tls)

    tasks = []
    for ips, addresses in by_server.items():
        queue = collections.deque(addresses)
        tasks += [worker(ips, queue) for _ in range(args.cap)]
    await asyncio.gather(*tasks)
    print(" ".join(f"{code}:{n}" for code, n in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
