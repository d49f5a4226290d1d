"""Start Debian's nsd on a free loopback port, serving a directory of zone files (each
``ORIGIN.zone``; ``.zone`` is the root), for the interop tests: a real authoritative server,
as in the lab, where the fake DNS could share our resolver code's mistakes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NSD = shutil.which("nsd") or ("/usr/sbin/nsd" if os.path.exists("/usr/sbin/nsd") else None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int, name: str) -> bool:
    import dns.message
    import dns.query

    try:
        dns.query.udp(dns.message.make_query(name, "SOA"), "127.0.0.1", 0.5, port)
    except Exception:
        return False
    return True


@contextmanager
def running_nsd(zonesdir: Path, workdir: Path) -> Iterator[str]:
    """nsd serving every ``*.zone`` of ``zonesdir``; yields its address, ``127.0.0.1:PORT``.
    Raises RuntimeError (with nsd's log) when it does not start."""
    if NSD is None:
        raise RuntimeError("nsd is not installed (apt-get install nsd)")
    port = _free_port()
    conf = [
        "server:", f"  ip-address: 127.0.0.1@{port}", '  username: ""', '  chroot: ""',
        f'  zonesdir: "{zonesdir}"', '  database: ""', f'  pidfile: "{workdir}/nsd.pid"',
        f'  xfrdfile: "{workdir}/xfrd.state"', f'  zonelistfile: "{workdir}/zone.list"',
        f'  logfile: "{workdir}/nsd.log"', "remote-control:", "  control-enable: no",
    ]  # fmt: skip
    origins = []
    for path in sorted(zonesdir.glob("*.zone")):
        origin = path.name.removesuffix(".zone") or "."
        origins.append(origin)
        conf += ["zone:", f'  name: "{origin}"', f'  zonefile: "{path.name}"']
    (workdir / "nsd.conf").write_text("\n".join(conf) + "\n")
    proc = subprocess.Popen([NSD, "-d", "-c", str(workdir / "nsd.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        probe_name = origins[0] if origins else "."
        for _ in range(100):
            if _answers(port, probe_name) or proc.poll() is not None:
                break
            time.sleep(0.1)
        if proc.poll() is not None or not _answers(port, probe_name):
            log = workdir / "nsd.log"
            raise RuntimeError(
                f"nsd did not start: {log.read_text()[-2000:] if log.exists() else ''}"
            )
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
