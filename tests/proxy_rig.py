"""Real proxies on loopback for the --proxy tests, each a private instance of a Debian
package (installed by .ci/run): microsocks (SOCKS5, with or without a user and password,
optionally bound to another egress address), Dante (SOCKS4/4a/5, with a rule that refuses
a port) and tinyproxy (HTTP CONNECT, with a port allow-list and Basic auth)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REQUIRED = os.environ.get("SMTPDIAG_REQUIRE_PROXIES") == "1"
BINARIES = {"microsocks": "microsocks", "dante": "danted", "tinyproxy": "tinyproxy"}


def missing() -> list[str]:
    """The proxy packages that are not installed."""
    return [name for name, exe in BINARIES.items() if _which(exe) is None]


def _which(exe: str) -> str | None:
    return shutil.which(exe) or next(
        (p for p in (f"/usr/sbin/{exe}", f"/usr/bin/{exe}") if os.access(p, os.X_OK)), None
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class _Proc:
    def __init__(self, argv: Sequence[str], port: int, host: str = "127.0.0.1") -> None:
        self.argv, self.host, self.port = list(argv), host, port
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="smtpdiag-proxy-", suffix=".log")  # noqa: SIM115

    def __enter__(self) -> Any:
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited: {self.output()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.argv[0]} did not listen on {self.port}: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def microsocks(
    port: int, user: str | None = None, password: str | None = None, bind: str | None = None
) -> _Proc:
    argv = [_which("microsocks") or "microsocks", "-i", "127.0.0.1", "-p", str(port)]
    if user:
        argv += ["-u", user, "-P", password or ""]
    if bind:
        argv += ["-b", bind]
    return _Proc(argv, port)


def dante(port: int, tmp: Path, block_ports: Sequence[int] = ()) -> _Proc:
    """Dante with SOCKS4 and SOCKS5 and no authentication; CONNECTs to ``block_ports`` are
    refused by a rule (SOCKS5 reply 2, SOCKS4 0x5B)."""
    blocks = "".join(
        f"socks block {{\n  from: 0.0.0.0/0 to: 0.0.0.0/0 port = {p}\n  log: error\n}}\n"
        for p in block_ports
    )
    conf = tmp / f"danted-{port}.conf"
    conf.write_text(
        f"logoutput: stderr\n"
        f"internal: 127.0.0.1 port = {port}\n"
        f"external: 127.0.0.1\n"
        f"clientmethod: none\n"
        f"socksmethod: none\n"
        f"user.privileged: root\n"
        f"user.unprivileged: nobody\n"
        f"client pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n}}\n"
        f"{blocks}"
        f"socks pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  protocol: tcp\n"
        f"  command: connect\n  socksmethod: none\n}}\n"
    )
    pid = tmp / f"danted-{port}.pid"
    return _Proc([_which("danted") or "danted", "-f", str(conf), "-p", str(pid)], port)


def tinyproxy(
    port: int, tmp: Path, connect_ports: Sequence[int] = (), auth: tuple[str, str] | None = None
) -> _Proc:
    """tinyproxy in the foreground; with ``connect_ports``, CONNECT is allowed to those
    ports only (tinyproxy answers others 403), else to any port (no ConnectPort line)."""
    lines = [
        f"Port {port}",
        "Listen 127.0.0.1",
        "Timeout 30",
        "MaxClients 20",
        "LogLevel Info",
        "Allow 127.0.0.0/8",
        "DisableViaHeader Yes",
    ]
    lines += [f"ConnectPort {p}" for p in connect_ports]  # none: every port
    if auth is not None:
        lines.append(f"BasicAuth {auth[0]} {auth[1]}")
    conf = tmp / f"tinyproxy-{port}.conf"
    conf.write_text("\n".join(lines) + "\n")
    return _Proc([_which("tinyproxy") or "tinyproxy", "-d", "-c", str(conf)], port)
