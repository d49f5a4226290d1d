"""A test rig: a fake DNS server and several fake MX servers, described by a scenario
file, running in a background thread on loopback.

Scenario files are TOML::

    zones = "zones"              # directory of <origin>.zone files, relative to the file

    [[server]]                   # one fake MX (see smtpdiag.testing.mx.MxConfig)
    address = "127.0.0.2"
    hostname = "mx1.example.test"
    starttls = true
    [server.rcpt]
    "alice@example.test" = "250 2.1.5 Ok"

    [[case]]                     # optional: addresses to probe and what to expect
    title = "An existing mailbox"
    address = "alice@example.test"
    verdict = "deliverable"
    reason = "accepted"

All servers share one port (on different loopback addresses), so a probe with
``--port`` reaches every one of them, as real MX hosts all listen on 25.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import tempfile
import threading
import tomllib
from dataclasses import field, fields
from pathlib import Path
from typing import Any, Self

from smtpdiag.core.records import record
from smtpdiag.testing.dns_server import FakeDNSServer, load_directory
from smtpdiag.testing.mx import MxConfig, ServerLog, start_mx


@record
class Case:
    title: str
    address: str
    verdict: str
    reason: str
    options: dict[str, Any] = field(default_factory=dict)


@record
class Scenario:
    zones: Path
    servers: tuple[MxConfig, ...]
    cases: tuple[Case, ...] = ()


_MX_FIELDS = {f.name for f in fields(MxConfig)}


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file. Raises ValueError naming the bad key."""
    path = Path(path)
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    servers = []
    for entry in raw.get("server", []):
        unknown = set(entry) - _MX_FIELDS
        if unknown:
            raise ValueError(f"{path}: unknown server keys {sorted(unknown)}")
        entry = dict(entry)
        for key in ("rcpt", "senders"):
            if key in entry:
                entry[key] = {k.lower(): v for k, v in entry[key].items()}
        if "drop" in entry:
            entry["drop"] = tuple(entry["drop"])
        if "cert_names" in entry:
            entry["cert_names"] = tuple(entry["cert_names"])
        servers.append(MxConfig(**entry))
    cases = tuple(
        Case(c["title"], c["address"], c["verdict"], c["reason"], dict(c.get("options", {})))
        for c in raw.get("case", [])
    )
    return Scenario(
        zones=path.parent / raw.get("zones", "zones"), servers=tuple(servers), cases=cases
    )


class Rig:
    """Run a scenario's fake DNS and MX servers in a background thread.

    ``with Rig(load_scenario(path)) as rig:`` then probe with
    ``resolvers=(rig.resolver,)`` and ``port=rig.smtp_port``.
    """

    def __init__(self, scenario: Scenario, dns_host: str = "127.0.0.1") -> None:
        self.scenario = scenario
        self.dns_host = dns_host
        self.logs: dict[str, ServerLog] = {s.address: ServerLog() for s in scenario.servers}
        self.smtp_port = 0
        self.dns_port = 0
        self.ca_file: Path | None = None
        self.ca_key_file: Path | None = None  # to sign more certificates (tests' HTTPS)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="smtpdiag-rig-")
        self._own_tls: dict[str, Any] = {}  # servers with a certificate of their own
        self.dns: FakeDNSServer | None = None

    @property
    def resolver(self) -> str:
        """The ``--resolver`` value that reaches the fake DNS."""
        return f"{self.dns_host}:{self.dns_port}"

    def forbidden_commands(self) -> list[str]:
        """DATA/BDAT commands any server received (must stay empty)."""
        return [c for log in self.logs.values() for c in log.forbidden]

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="smtpdiag-rig", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError(f"the fake servers did not start: {self._error}") from self._error
        if not self._ready.is_set():
            raise RuntimeError("the fake servers did not start within 30 s")
        return self

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(10)
        self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        zones, behaviour = load_directory(self.scenario.zones)
        self.dns = FakeDNSServer(zones, behaviour, host=self.dns_host, port=0)
        await self.dns.start()
        self.dns_port = self.dns.address[1]
        tls = None
        if any(s.starttls for s in self.scenario.servers):
            from smtpdiag.testing.certs import make_certificates, server_context

            own_names = [s for s in self.scenario.servers if s.cert_names or s.cert_file]
            names = sorted({s.hostname for s in self.scenario.servers if s not in own_names})
            root = Path(self._tmp.name)
            ca, cert, key = make_certificates(root, names or ["mx.invalid"])
            self.ca_file = ca
            self.ca_key_file = root / "ca-key.pem"
            tls = server_context(cert, key)
            for s in self.scenario.servers:  # its own certificate: another name, or expired
                if s.cert_file is not None and s.key_file is not None:
                    self._own_tls[s.address] = server_context(Path(s.cert_file), Path(s.key_file))
                elif s.cert_names:
                    own = root / s.address
                    _, c, k = make_certificates(
                        own, s.cert_names, (ca, root / "ca-key.pem"), s.cert_expired
                    )
                    self._own_tls[s.address] = server_context(c, k)
        servers = await self._bind_all(tls)
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            for srv in servers:
                srv.close()
            for log in self.logs.values():
                log.close_all()
            for srv in servers:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(srv.wait_closed(), 2)
            await self.dns.stop()

    def _tls(self, cfg: MxConfig, shared: Any) -> Any:
        return self._own_tls.get(cfg.address, shared)

    async def _bind_all(self, tls: Any) -> list[asyncio.AbstractServer]:
        """Bind every MX on one shared port, retrying with another port on a clash."""
        if not self.scenario.servers:
            return []
        for _ in range(50):
            servers: list[asyncio.AbstractServer] = []
            try:
                first = self.scenario.servers[0]
                srv = await start_mx(first, 0, self._tls(first, tls), self.logs[first.address])
                servers.append(srv)
                port = int(srv.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
                for cfg in self.scenario.servers[1:]:
                    ctx = self._tls(cfg, tls)
                    servers.append(await start_mx(cfg, port, ctx, self.logs[cfg.address]))
            except OSError as exc:
                for srv in servers:
                    srv.close()
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            self.smtp_port = port
            return servers
        raise RuntimeError("no free port shared by every fake MX address")
