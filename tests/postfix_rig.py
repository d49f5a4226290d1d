"""Start a private Postfix instance for the interop tests, from fixtures/postfix/.

It runs from its own configuration, queue and data directories (nothing under
/etc/postfix or /var/spool/postfix is touched), listens on the LISTENERS below (see
fixtures/postfix/master.cf for what each one does), and is stopped afterwards. The
greylisting listener asks a private postgrey (Debian's package), started beside it with a
2 s delay. Needs Debian's postfix and postgrey packages and root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from smtpdiag.testing.certs import make_certificates

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "postfix"
LISTENERS = (
    ("127.0.0.40", 2525),
    ("127.0.0.41", 2525),
    ("127.0.0.46", 2525),
    ("127.0.0.47", 2525),
    ("127.0.0.48", 2525),
    ("127.0.0.49", 2525),
    ("127.0.0.50", 2525),
    ("127.0.0.51", 2525),
)
#: how long postgrey greylists a new (client, sender, recipient) triplet, in seconds
GREYLIST_DELAY = 2


def postfix_binary() -> str | None:
    return shutil.which("postfix") or (
        "/usr/sbin/postfix" if Path("/usr/sbin/postfix").exists() else None
    )


class PostfixInstance:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="smtpdiag-postfix-"))
        self.binary = postfix_binary()
        self.postgrey: subprocess.Popen[bytes] | None = None

    @property
    def maillog(self) -> str:
        path = self.dir / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        if self.binary is None:
            raise RuntimeError("postfix is not installed (apt-get install postfix)")
        os.chmod(self.dir, 0o755)
        for sub in ("queue", "data"):
            (self.dir / sub).mkdir()
        shutil.chown(self.dir / "data", user="postfix")
        policy_port = self._start_postgrey()
        for name in ("main.cf", "master.cf", "virtual_mailbox", "virtual_regexp"):
            text = (FIXTURE / name).read_text()
            text = text.replace("@CONF@", str(self.dir)).replace("@QUEUE@", str(self.dir / "queue"))
            text = text.replace("@DATA@", str(self.dir / "data"))
            text = text.replace("@POLICY_PORT@", str(policy_port))
            (self.dir / name).write_text(text)
        ca, cert, key = make_certificates(
            self.dir / "tls", ["mx.interop.test", "mx-tls.interop.test"]
        )
        shutil.copy(cert, self.dir / "cert.pem")
        shutil.copy(key, self.dir / "key.pem")
        self.ca_file = ca
        self._run("check")
        self._run("start")
        deadline = time.monotonic() + 20
        for host, port in LISTENERS:
            while True:
                try:
                    socket.create_connection((host, port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"Postfix did not listen on {host}:{port}:\n{self.maillog[-2000:]}"
                        ) from None
                    time.sleep(0.1)

    def _start_postgrey(self) -> int:
        """A private postgrey on a free loopback port, greylisting for GREYLIST_DELAY s."""
        binary = shutil.which("postgrey") or "/usr/sbin/postgrey"
        if not Path(binary).exists():
            raise RuntimeError("postgrey is not installed (apt-get install postgrey)")
        db = self.dir / "postgrey"
        db.mkdir()
        shutil.chown(db, user="postgrey")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        self.postgrey = subprocess.Popen(
            [
                binary,
                f"--inet=127.0.0.1:{port}",
                f"--delay={GREYLIST_DELAY}",
                f"--dbdir={db}",
                f"--pidfile={db}/pid",
                "--auto-whitelist-clients=0",
                "--whitelist-clients=/dev/null",
                "--whitelist-recipients=/dev/null",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                if self.postgrey.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("postgrey did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.postgrey is not None:
            self.postgrey.terminate()
            try:
                self.postgrey.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.postgrey.kill()
        if self.binary is not None:
            subprocess.run(
                [self.binary, "-c", str(self.dir), "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(self.dir, ignore_errors=True)

    def _run(self, command: str) -> None:
        assert self.binary is not None
        proc = subprocess.run(
            [self.binary, "-c", str(self.dir), command],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"postfix {command} failed ({proc.returncode}): {proc.stderr}\n"
                f"{self.maillog[-2000:]}"
            )
