"""``--proxy URL``: parsed and checked (pure; the connection itself is io/proxy.py).

socks5://[user:pass@]host:port    SOCKS5; smtpdiag resolves the MX names itself
socks5h://[user:pass@]host:port   SOCKS5; the proxy resolves the MX host names
socks4://host:port                SOCKS4 (IPv4 destinations only)
socks4a://host:port               SOCKS4a; the proxy resolves the MX host names
http://[user:pass@]host:port      an HTTP proxy's CONNECT method
"""

from __future__ import annotations

from smtpdiag.core.errors import UsageError
from smtpdiag.core.records import record

#: scheme -> whether the proxy resolves the MX host names (else we send the IP we resolved;
#: an HTTP CONNECT gets the IP too, so the transcript's address is the one connected to)
SCHEMES = {"socks5": False, "socks5h": True, "socks4": False, "socks4a": True, "http": False}
DEFAULT_PORTS = {"socks5": 1080, "socks5h": 1080, "socks4": 1080, "socks4a": 1080, "http": 8080}


@record
class ProxyConfig:
    scheme: str  # a key of SCHEMES
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def remote_dns(self) -> bool:
        """Whether the proxy resolves destination names (we then send the MX host name)."""
        return SCHEMES[self.scheme]

    @property
    def shown(self) -> str:
        """The URL to show in a transcript: never the password."""
        user = f"{self.username}:***@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{user}{host}:{self.port}"


def parse_proxy(url: str) -> ProxyConfig:
    """``socks5://user:pass@127.0.0.1:1080`` -> :class:`ProxyConfig`, or UsageError."""
    from urllib.parse import unquote, urlsplit

    text = url.strip()
    if "://" not in text:
        raise UsageError(
            f"proxy {url!r}: give a URL such as socks5://127.0.0.1:1080 or http://proxy:3128",
            "proxy",
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"proxy {url!r}: {exc}", "proxy") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UsageError(
            f"proxy {url!r}: scheme {scheme!r} is not supported; use "
            "socks5://, socks5h://, socks4://, socks4a:// or http://",
            "proxy",
        )
    if not parts.hostname:
        raise UsageError(f"proxy {url!r}: no proxy host", "proxy")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(f"proxy {url!r}: give only scheme://[user:pass@]host:port", "proxy")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if scheme.startswith("socks4") and password:
        raise UsageError(f"proxy {url!r}: SOCKS4 has a user id but no password", "proxy")
    return ProxyConfig(
        scheme=scheme,
        host=parts.hostname,
        port=port or DEFAULT_PORTS[scheme],
        username=username or None,
        password=password,
    )
