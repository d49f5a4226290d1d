#!/usr/bin/env python3
"""Probe speed over a simulated slow link and on loopback, side by side, against real Postfix.

    sudo .venv/bin/python bench/link.py [--delay-ms 25] [--runs 15]

Starts a private Postfix (tests/postfix_rig.py: 127.0.0.40:2525, STARTTLS offered,
PIPELINING offered) and bench/delayproxy.py in front of it (25 ms each way: 50 ms round
trips), then times with farm-bench, pair by pair:

1. over the link: ``smtpdiag probe`` with its defaults (STARTTLS + catch-all) against
   ``swaks -tls --quit-after RCPT`` (which sends no catch-all RCPT);
2. the same with ``--no-pipelining`` (lock-step) against swaks, for the record;
3. on loopback: ``smtpdiag probe --starttls never --no-catch-all`` against
   ``bench/bare_aiosmtplib.py`` (EHLO, MAIL, RCPT, QUIT with aiosmtplib).

and counts the client's flights per session through the proxy. Needs root (Postfix),
swaks (with IO::Socket::SSL for -tls) and farm-bench. Prints the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.postfix_rig import PostfixInstance  # noqa: E402

ADDRESS = "alice@interop.test"
POSTFIX = ("127.0.0.40", 2525)


def start_proxy(delay_ms: float) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "delayproxy.py"),
            "--target",
            f"{POSTFIX[0]}:{POSTFIX[1]}",
            "--delay-ms",
            str(delay_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, int(line.strip().split("=", 1)[1])


def stop_proxy(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    return out.strip()


def flights(cmd: list[str], delay_ms: float) -> str:
    proc, port = start_proxy(delay_ms)
    subprocess.run([c.replace("@PORT@", str(port)) for c in cmd], capture_output=True, timeout=60)
    return stop_proxy(proc)


def bench(a: list[str], b: list[str], runs: int, port: int | None) -> str:
    def sub(cmd: list[str]) -> list[str]:
        return [c.replace("@PORT@", str(port)) for c in cmd]

    vs = " ".join(sub(b))
    out = subprocess.run(
        [
            "farm-bench",
            "-n",
            str(runs),
            "--warmup",
            "2",
            "--timeout",
            "600",
            "--vs",
            vs,
            "--",
            *sub(a),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    return out.stdout + out.stderr


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay-ms", type=float, default=25.0)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--only", choices=("link", "loopback"), help="run one part only")
    args = ap.parse_args()
    smtpdiag = str(Path(sys.executable).with_name("smtpdiag"))
    for tool in ("swaks", "farm-bench"):
        if shutil.which(tool) is None:
            print(f"link.py: {tool} not found", file=sys.stderr)
            return 2
    common = ["--helo", "bench.test", "--timeout", "10", "--format", "json"]
    probe = [smtpdiag, "probe", "--server", "127.0.0.1:@PORT@", *common, ADDRESS]
    probe_lock = [*probe[:-1], "--no-pipelining", ADDRESS]
    swaks = [
        "swaks",
        "-tls",
        "--quit-after",
        "RCPT",
        "--server",
        "127.0.0.1",
        "--port",
        "@PORT@",
        "--helo",
        "bench.test",
        "--from",
        "",
        "--to",
        ADDRESS,
    ]
    plain = [
        smtpdiag,
        "probe",
        "--server",
        f"{POSTFIX[0]}:{POSTFIX[1]}",
        "--starttls",
        "never",
        "--no-catch-all",
        *common,
        ADDRESS,
    ]
    bare = [sys.executable, str(HERE / "bare_aiosmtplib.py"), POSTFIX[0], str(POSTFIX[1]), ADDRESS]
    pf = PostfixInstance()
    pf.start()
    try:
        print(f"# one-way delay {args.delay_ms:g} ms (round trip {2 * args.delay_ms:g} ms)")
        if args.only == "loopback":
            print(bench(plain, bare, args.runs * 2, None))
            return 0
        print("flights smtpdiag (default): ", flights(probe, args.delay_ms))
        print("flights smtpdiag --no-pipelining: ", flights(probe_lock, args.delay_ms))
        print("flights swaks -tls --quit-after RCPT: ", flights(swaks, args.delay_ms))
        proxy, port = start_proxy(args.delay_ms)
        try:
            print("\n## 1. over the link: smtpdiag probe (A) vs swaks -tls --quit-after RCPT (B)")
            print(bench(probe, swaks, args.runs, port))
            print("## 2. over the link: smtpdiag probe --no-pipelining (A) vs swaks (B)")
            print(bench(probe_lock, swaks, args.runs, port))
        finally:
            stop_proxy(proxy)
        print(
            "## 3. loopback: smtpdiag probe --starttls never --no-catch-all (A) "
            "vs bare aiosmtplib (B)"
        )
        print(bench(plain, bare, args.runs * 2, None))
    finally:
        pf.stop()
    return 0


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("link.py: needs root to start Postfix", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main())
