"""Hostile servers: every case ends in bounded time, with a documented exit code, a JSON
verdict, bounded memory, no traceback and no raw control bytes on the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from smtpdiag.testing.hostile import BEHAVIOURS, HostileServers

from .conftest import validate_json_output

# behaviour -> (verdict, reason); exit codes follow from the verdict
EXPECTED = {
    "silent": ("unknown", "timeout"),
    "drip": ("unknown", "timeout"),
    "huge-line": ("unknown", "protocol-error"),
    "endless-multiline": ("unknown", "protocol-error"),
    "huge-ehlo": ("unknown", "protocol-error"),
    "not-a-code": ("unknown", "protocol-error"),
    "out-of-range": ("unknown", "protocol-error"),
    "code-change": ("undeliverable", "mailbox-unknown"),
    "bare-lf": ("deliverable", "accepted"),
    "control-bytes": ("undeliverable", "mailbox-unknown"),
    "close-mid-reply": ("unknown", "network"),
    "starttls-refused": ("unknown", "tls-failed"),
    "tls-garbage": ("unknown", "tls-failed"),
    "close-mid-tls": ("unknown", "tls-failed"),
    "421-at-ehlo": ("temporary", "server-error"),
    "421-at-mail": ("temporary", "server-error"),
    "421-at-rcpt": ("temporary", "server-error"),
    "unsolicited": ("unknown", "protocol-error"),
    "accept-all": ("deliverable", "accepted"),
}
EXIT = {"deliverable": 0, "accept-all": 0, "undeliverable": 1, "temporary": 3, "unknown": 4}
MAX_RSS_MB = 100


def test_every_behaviour_has_an_expectation() -> None:
    assert set(EXPECTED) == set(BEHAVIOURS)


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServers]:
    with HostileServers(BEHAVIOURS) as servers:
        yield servers


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    max_rss_mb: float


# A dead resolver on loopback: the auth checks run for refusals must never leave it.
NO_DNS = ["--resolver", "127.0.0.1:9", "--dns-timeout", "0.5"]


def probe_cmd(host: str, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "smtpdiag",
        "probe",
        "--server",
        f"{host}:{port}",
        "--helo",
        "probe.test",
        "--timeout",
        "2",
        "--deadline",
        "8",
        "--no-catch-all",
        *NO_DNS,
        *extra,
        "user@victim.test",
    ]


def _vm_hwm_kb(pid: int) -> int:
    """The peak resident set of a running process's current program, in kB (0 if gone).
    Read only once it is exec'd: before that, the fork still holds the parent's memory."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if b"\x00-m\x00smtpdiag\x00" not in fh.read():
                return 0
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_probe(host: str, port: int, *extra: str) -> tuple[Result, float]:
    cmd = probe_cmd(host, port, "--format", "json", *extra)
    started = time.monotonic()
    env = {**os.environ, "NO_COLOR": "1"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        deadline = time.monotonic() + 60
        # The child's peak memory: VmHWM of its own address space, read while it runs (its
        # ru_maxrss would also count the pytest parent it was forked from, before exec)
        peak_kb = 0
        while True:
            peak_kb = max(peak_kb, _vm_hwm_kb(child.pid))
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                child.kill()
                raise AssertionError("the probe did not end within 60 s")
            time.sleep(0.02)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = Result(
            child.returncode,
            out.read().decode("utf-8", "surrogateescape"),
            err.read().decode("utf-8", "surrogateescape"),
            (peak_kb or usage.ru_maxrss) / 1024,
        )
    return result, time.monotonic() - started


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_server(hostile: HostileServers, name: str) -> None:
    host, port = hostile.address(name)
    proc, elapsed = run_probe(host, port)
    assert elapsed < 12, f"{name} took {elapsed:.1f}s"
    assert "Traceback" not in proc.stderr and proc.stderr == "", proc.stderr
    doc = json.loads(proc.stdout)
    assert_strict_json(proc.stdout)
    verdict, reason = EXPECTED[name]
    assert (doc["verdict"], doc["reason"]) == (verdict, reason), doc["summary"]
    assert proc.returncode == EXIT[verdict]
    # nothing the server sent reaches the terminal raw
    assert not any(ord(c) < 0x20 and c not in "\n" for c in proc.stdout)
    assert not any(0x7F <= ord(c) <= 0x9F for c in proc.stdout)
    assert 10 < proc.max_rss_mb < MAX_RSS_MB, f"the probe used {proc.max_rss_mb:.0f} MB"


def assert_strict_json(text: str) -> None:
    """What a strict parser (Rust serde, Go) needs: valid UTF-8 and no lone surrogates,
    neither raw nor as \\udcxx escapes."""
    data = text.encode("utf-8", "surrogateescape")
    data.decode("utf-8")  # strict: raises on any byte that is not UTF-8

    def walk(value: object) -> None:
        if isinstance(value, str):
            assert not any(0xD800 <= ord(c) <= 0xDFFF for c in value), repr(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(json.loads(data))
    validate_json_output(json.loads(data))


def test_non_utf8_bytes_are_visible_and_kept_raw_in_json(hostile: HostileServers) -> None:
    import base64

    host, port = hostile.address("control-bytes")
    proc, _ = run_probe(host, port)
    assert_strict_json(proc.stdout)
    doc = json.loads(proc.stdout)
    rcpt = next(s for s in doc["attempts"][0]["steps"] if s["stage"] == "rcpt")
    assert "\\xff\\xfe" in rcpt["reply"]["lines"][0]  # visible, four characters each
    raw = base64.b64decode(rcpt["reply"]["raw"])
    assert b"\xff\xfe user" in raw and b"\x1b[2J" in raw  # the bytes, exactly


def test_text_output_escapes_hostile_bytes(hostile: HostileServers) -> None:
    host, port = hostile.address("control-bytes")
    cmd = probe_cmd(host, port, "--color")
    proc = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    out = proc.stdout
    # only our own colour codes (ESC [ digits m) may appear; no other escape sequence
    import re

    stripped = re.sub(rb"\x1b\[[0-9;]*m", b"", out)
    assert b"\x1b" not in stripped and b"\x07" not in stripped and b"\x00" not in stripped
    assert b"\\x1b[2J\\x1b]0;pwned\\x07" in out
    assert b"\\xff\\xfe" in out


def test_escaped_bytes_are_shown_in_json(hostile: HostileServers) -> None:
    host, port = hostile.address("not-a-code")
    proc, _ = run_probe(host, port)
    doc = json.loads(proc.stdout)
    step = doc["attempts"][0]["steps"][0]
    assert step["error_kind"] == "protocol-error"
    assert "hello there, this is not SMTP" in step["error"]
