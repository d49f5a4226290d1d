#!/usr/bin/env python3
"""The yardstick for a plain probe: a bare asyncio + aiosmtplib script doing the same
commands as ``smtpdiag probe --starttls never --no-catch-all``: EHLO, MAIL, RCPT, QUIT.

    python bench/bare_aiosmtplib.py HOST PORT ADDRESS
"""

from __future__ import annotations

import asyncio
import sys

import aiosmtplib


async def main(host: str, port: int, address: str) -> int:
    smtp = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False, local_hostname="bench.test")
    await smtp.connect()
    await smtp.ehlo()
    await smtp.execute_command(b"MAIL FROM:<>")
    code, _ = await smtp.execute_command(f"RCPT TO:<{address}>".encode())
    await smtp.quit()
    return 0 if code == 250 else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3])))
