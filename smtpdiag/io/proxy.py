"""Open a TCP connection to an MX through a SOCKS4/5 or HTTP CONNECT proxy (python-socks),
and say in words what went wrong, and whose fault it was.

python-socks is imported only here, and this module only when ``--proxy`` is given: it
costs 21-27 ms of imports (python -X importtime, asyncio already loaded) that a probe
without a proxy does not pay.
"""

from __future__ import annotations

import socket
from struct import error as struct_error
from typing import Any, Literal

from smtpdiag.core.proxyurl import ProxyConfig

#: SOCKS5 (RFC 1928) reply codes: the proxy's own refusals, and what it says of the MX
_SOCKS5_PROXY = {
    1: "the proxy failed (SOCKS general failure)",
    2: "the proxy does not allow this connection (its rules refuse it: port 25 is often "
    "blocked on proxies)",
    7: "the proxy does not support CONNECT",
    8: "the proxy does not support this address type",
}
_SOCKS5_DEST = {
    3: "network unreachable from the proxy",
    4: "host unreachable from the proxy",
    5: "connection refused (the proxy reached the server, which refused port {port})",
    6: "timed out between the proxy and the server",
}
#: an HTTP proxy's answers that are about the server it could not reach (tinyproxy: 500
#: "Unable to connect"; squid: 502/503; 504: timed out)
_HTTP_DEST = (500, 502, 503, 504)
_SOCKS4 = {
    0x5B: "the proxy rejected the request (or could not reach the server)",
    0x5C: "the proxy could not reach its identd to check the user id",
    0x5D: "the proxy's identd check of the user id failed",
}

Kind = Literal["proxy", "network", "timeout"]


class ProxyFailure(Exception):
    """The connection through the proxy failed: ``kind`` "proxy" when the proxy itself
    failed or refused, "network" when it reports that the server could not be reached."""

    def __init__(self, message: str, kind: Kind) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


async def open_via_proxy(
    proxy: ProxyConfig, host: str, port: int, timeout: float, local: str | None = None
) -> socket.socket:
    """A connected socket to ``host`` (an IP, or a name the proxy resolves) port ``port``."""
    if proxy.scheme == "http":
        return await _http_connect(proxy, host, port, timeout, local)
    from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError, ProxyType
    from python_socks.async_.asyncio import Proxy

    types = {
        "socks5": ProxyType.SOCKS5,
        "socks5h": ProxyType.SOCKS5,
        "socks4": ProxyType.SOCKS4,
        "socks4a": ProxyType.SOCKS4,
        "http": ProxyType.HTTP,
    }
    client = Proxy(
        types[proxy.scheme],
        proxy.host,
        proxy.port,
        username=proxy.username,
        password=proxy.password,
        rdns=proxy.remote_dns,
    )
    where = f"proxy {proxy.shown}"
    try:
        return await client.connect(
            host, port, timeout=timeout, local_addr=(local, 0) if local else None
        )
    except ProxyTimeoutError:
        raise ProxyFailure(
            f"{where} did not complete the connection to {host} port {port} within "
            f"{timeout:g}s (the proxy is slow, or it waits on a server that does not answer)",
            "timeout",
        ) from None
    except ProxyConnectionError as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        raise ProxyFailure(_unreachable(where, proxy, cause), "proxy") from None
    except ProxyError as exc:
        raise ProxyFailure(_explain(where, proxy, exc, host, port), _kind(proxy, exc)) from None
    except OSError as exc:  # the proxy closed or reset the connection mid-handshake
        raise ProxyFailure(
            f"{where} closed the connection during its handshake ({exc.strerror or exc}): "
            "check the proxy type in the URL",
            "proxy",
        ) from None
    except (ValueError, IndexError, UnicodeError, struct_error) as exc:  # a garbled answer
        raise ProxyFailure(
            f"{where} answered something that is not {proxy.scheme.upper()} ({exc}): check "
            "the proxy type and port in the URL",
            "proxy",
        ) from None


def _unreachable(where: str, proxy: ProxyConfig, exc: OSError) -> str:
    """Why the proxy itself could not be reached, in words."""
    import os

    if isinstance(exc, socket.gaierror):
        return (
            f"could not connect to {where}: its name {proxy.host!r} does not resolve "
            f"({exc.strerror or exc}): check the proxy host in the URL"
        )
    errno = exc.errno
    reason = os.strerror(errno) if isinstance(errno, int) and errno > 0 else str(exc)
    return (
        f"could not connect to {where}: {reason} (is the proxy running, and is this its "
        "address and port?)"
    )


def _kind(proxy: ProxyConfig, exc: Exception) -> Kind:
    code = getattr(exc, "error_code", None)
    if proxy.scheme.startswith("socks5") and code in _SOCKS5_DEST:
        return "network"
    if proxy.scheme == "http" and code in _HTTP_DEST:
        return "network"
    return "proxy"


def _explain(where: str, proxy: ProxyConfig, exc: Exception, host: str, port: int) -> str:
    code = getattr(exc, "error_code", None)
    text = str(exc)
    if proxy.scheme.startswith("socks5"):
        if code in _SOCKS5_DEST:
            return f"{where}: {host} port {port}: " + _SOCKS5_DEST[code].format(port=port)
        if code in _SOCKS5_PROXY:
            return f"{where}: {_SOCKS5_PROXY[code]} (SOCKS5 reply {code})"
        if "no acceptable authentication methods" in text.lower():
            return (
                f"{where}: the proxy wants a user name and password: give them in the URL "
                "(socks5://user:password@host:port)"
            )
        if "authentication" in text.lower() or "auth" in text.lower():
            return (
                f"{where}: authentication failed ({text}): check the user name and password "
                "in the URL"
            )
    elif proxy.scheme.startswith("socks4") and code in _SOCKS4:
        return f"{where}: {_SOCKS4[code]} (SOCKS4 reply {code:#x})"
    elif proxy.scheme == "http" and isinstance(code, int):
        if code == 407:
            return (
                f"{where}: the proxy wants authentication, or refused ours (HTTP 407): put "
                "user:password@ in the URL"
            )
        if code in (403, 405):
            return (
                f"{where}: the proxy does not allow CONNECT to port {port} (HTTP {code}); "
                "many HTTP proxies allow only 443. Allow port 25 in its configuration "
                "(tinyproxy: ConnectPort 25; squid: an SSL_ports/CONNECT rule)"
            )
        if code in _HTTP_DEST:
            return f"{where}: could not reach {host} port {port} (HTTP {text} from the proxy)"
        return f"{where}: CONNECT to {host} port {port} refused: HTTP {text}"
    return f"{where}: {text}"


# -- HTTP CONNECT ---------------------------------------------------------------------------
#
# Our own, not python-socks': its HTTP connector reads the proxy's answer with one recv of up
# to 64 KB and parses that, so bytes the server sent right behind the "200" (an SMTP
# server's greeting, which comes unasked) were thrown away, and the session waited for a
# greeting that had already come (seen with tinyproxy, about one connection in three). Here
# the answer's head is peeked at and only it is taken off the socket.

_MAX_HEAD = 16384


class _HttpRefused(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.error_code = code


async def _http_connect(
    proxy: ProxyConfig, host: str, port: int, timeout: float, local: str | None
) -> socket.socket:
    import asyncio

    where = f"proxy {proxy.shown}"
    loop = asyncio.get_running_loop()
    sock: socket.socket | None = None
    try:
        async with asyncio.timeout(timeout):
            try:
                infos = await loop.getaddrinfo(proxy.host, proxy.port, type=socket.SOCK_STREAM)
                family, kind, proto, _, address = infos[0]
                sock = socket.socket(family, kind, proto)
                sock.setblocking(False)
                if local:
                    sock.bind((local, 0))
                await loop.sock_connect(sock, address)
            except OSError as exc:
                raise ProxyFailure(_unreachable(where, proxy, exc), "proxy") from None
            await loop.sock_sendall(sock, _connect_request(proxy, host, port))
            code, text = await _read_head(loop, sock, where)
    except TimeoutError:
        if sock is not None:
            sock.close()
        raise ProxyFailure(
            f"{where} did not complete the connection to {host} port {port} within "
            f"{timeout:g}s (the proxy is slow, or it waits on a server that does not answer)",
            "timeout",
        ) from None
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    if code != 200:
        sock.close()
        refused = _HttpRefused(code, f"{code} {text}".strip())
        raise ProxyFailure(_explain(where, proxy, refused, host, port), _kind(proxy, refused))
    return sock


def _connect_request(proxy: ProxyConfig, host: str, port: int) -> bytes:
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if proxy.username is not None:
        import binascii

        secret = f"{proxy.username}:{proxy.password or ''}".encode()
        lines.append(
            "Proxy-Authorization: Basic " + binascii.b2a_base64(secret, newline=False).decode()
        )
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _readable(loop: Any, sock: socket.socket) -> None:
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())


async def _read_head(loop: Any, sock: socket.socket, where: str) -> tuple[int, str]:
    """The status of the proxy's answer, taking nothing from the socket beyond its head."""
    import asyncio

    head = b""
    while True:
        await _readable(loop, sock)
        try:
            peek = sock.recv(_MAX_HEAD, socket.MSG_PEEK)
        except BlockingIOError:
            continue
        except OSError as exc:
            raise ProxyFailure(f"{where} reset the connection ({exc})", "proxy") from None
        if not peek:
            raise ProxyFailure(
                f"{where} closed the connection without answering CONNECT: is it an HTTP proxy?",
                "proxy",
            )
        end = (head + peek).find(b"\r\n\r\n")
        take = end + 4 - len(head) if end >= 0 else len(peek)
        head += sock.recv(take)
        if end >= 0:
            break
        if len(head) > _MAX_HEAD:
            raise ProxyFailure(f"{where} sent an over-long answer to CONNECT", "proxy")
        await asyncio.sleep(0)
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProxyFailure(
            f"{where} did not answer CONNECT like an HTTP proxy ({status[:60]!r})", "proxy"
        )
    return int(parts[1]), parts[2] if len(parts) > 2 else ""
