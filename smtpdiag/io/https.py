"""Fetch an MTA-STS policy: one HTTPS GET, done the way RFC 8461 §3.3 wants it and no
other way. The certificate must be valid for the policy host; no redirect is followed;
the answer must be 200 with ``text/plain``; the body is read up to 64 KB and no further;
the whole fetch has one deadline.

Our own ~100 lines on asyncio and ssl rather than an HTTP library: the rules above are
exactly what a general client makes configurable (and follows redirects by default), and
httpx or aiohttp would cost 60-150 ms of imports. This module is imported only when the
transport checks run.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence

from smtpdiag.core.mtasts import MAX_POLICY_BYTES
from smtpdiag.core.records import record

MAX_HEAD = 16 * 1024


@record
class Fetched:
    url: str
    address: str | None  # the IP connected to
    status: int | None = None
    content_type: str | None = None
    body: str | None = None
    error: str | None = None
    error_kind: str | None = None  # dns | connect | tls | timeout | http | redirect | type | size


async def fetch_policy(
    host: str,
    addresses: Sequence[str],
    timeout: float,
    ca_file: str | None = None,
    port: int = 443,
) -> Fetched:
    """GET https://HOST/.well-known/mta-sts.txt from the first address that connects."""
    url = f"https://{host}/.well-known/mta-sts.txt"
    if not addresses:
        return Fetched(url, None, error=f"{host} has no address in DNS", error_kind="dns")
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        return Fetched(url, None, error=f"cannot load the CA file {ca_file}: {exc}",
                       error_kind="tls")  # fmt: skip
    last = Fetched(url, None, error="no address answered", error_kind="connect")
    try:
        async with asyncio.timeout(timeout):
            for address in addresses:
                last = await _fetch_one(url, host, address, port, context)
                if last.error_kind != "connect":
                    return last
    except TimeoutError:
        return Fetched(
            url, last.address, error=f"no answer within {timeout:g}s", error_kind="timeout"
        )
    return last


async def _fetch_one(
    url: str, host: str, address: str, port: int, context: ssl.SSLContext
) -> Fetched:
    try:
        reader, writer = await asyncio.open_connection(
            address, port, ssl=context, server_hostname=host, limit=MAX_HEAD
        )
    except ssl.SSLCertVerificationError as exc:
        why = exc.verify_message or str(exc)
        return Fetched(
            url, address, error=f"the certificate of {host} is not valid: {why}", error_kind="tls"
        )
    except ssl.SSLError as exc:
        return Fetched(
            url, address, error=f"TLS with {host} failed: {exc.reason or exc}", error_kind="tls"
        )
    except OSError as exc:
        return Fetched(
            url,
            address,
            error=f"{address} port {port}: {exc.strerror or exc}",
            error_kind="connect",
        )
    try:
        request = (
            f"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\n"
            "User-Agent: smtpdiag\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
        )
        writer.write(request.encode("ascii"))
        await writer.drain()
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return Fetched(
                url, address, error="the answer's headers are broken or too long", error_kind="http"
            )
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(None, 2)
        if len(parts) < 2 or not parts[1].isdigit():
            return Fetched(
                url, address, error=f"not an HTTP answer: {lines[0][:80]!r}", error_kind="http"
            )
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        ctype = headers.get("content-type")
        if 300 <= status < 400:
            where = headers.get("location", "?")
            return Fetched(
                url,
                address,
                status,
                ctype,
                error=f"HTTP {status} redirect to {where} (RFC 8461: never followed)",
                error_kind="redirect",
            )
        if status != 200:
            reason = " ".join(parts[2:])
            return Fetched(
                url, address, status, ctype, error=f"HTTP {status} {reason}", error_kind="http"
            )
        body = await _read_body(reader, headers)
        if body is None:
            return Fetched(
                url,
                address,
                status,
                ctype,
                error=f"the policy is over {MAX_POLICY_BYTES // 1024} KB",
                error_kind="size",
            )
        if (ctype or "").split(";")[0].strip().lower() != "text/plain":
            return Fetched(
                url,
                address,
                status,
                ctype,
                error=f"Content-Type is {ctype!r}, not text/plain",
                error_kind="type",
            )
        return Fetched(url, address, status, ctype, body.decode("utf-8", "replace"))
    except (OSError, ssl.SSLError, ValueError, asyncio.IncompleteReadError) as exc:
        return Fetched(url, address, error=f"the answer broke off: {exc}", error_kind="http")
    finally:
        writer.close()


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes | None:
    """The body, or None when it is over the limit (reading stops there)."""
    limit = MAX_POLICY_BYTES
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out = b""
        while True:
            size_line = await reader.readline()
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return out
            if len(out) + size > limit:
                return None
            out += await reader.readexactly(size)
            await reader.readline()
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        if int(length) > limit:
            return None
        return await reader.readexactly(int(length))
    data = await reader.read(limit + 1)
    while len(data) <= limit:
        more = await reader.read(limit + 1 - len(data))
        if not more:
            break
        data += more
    return None if len(data) > limit else data
