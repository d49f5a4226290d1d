#!/usr/bin/env python3
"""Issue 10's list benchmark, against a real Postfix, side by side with farm-bench:

    sudo .venv/bin/python bench/lists.py [--n 1200] [--runs 5] [--cap 2] [--memory 100000]
    sudo .venv/bin/python bench/lists.py --link-ms 25 --n 300 --runs 3   # over a slow link

Starts the interop Postfix (tests/postfix_rig.py, 127.0.0.40:2525) and the fake DNS with
fixtures/dns/interop (lists.interop.test, other.interop.test, failover.interop.test, whose
first MX is dead), writes a list of N addresses over the three domains (user0, user2 ...
exist; odd-numbered users do not), then times

    A  smtpdiag probe --file LIST --format jsonl -o /dev/null --max-per-host CAP
    B  bench/bare_list.py: aiosmtplib, the same RCPTs, CAP sessions per server, <=9 a session

and prints throughput (addresses per second), CPU per address, and (with --memory N) the
peak memory of one run over N addresses. With --link-ms D, both clients go through
bench/delayproxy.py (D ms each way, listening on 127.0.0.40:2526 in front of Postfix): a
real network's round trips, where lock-step costs what pipelining saves. Needs root
(Postfix) and farm-bench.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from smtpdiag.testing.dns_server import ThreadedFakeDNS  # noqa: E402
from tests.postfix_rig import PostfixInstance  # noqa: E402

DOMAINS = ("lists.interop.test", "other.interop.test", "failover.interop.test")


def write_list(path: Path, n: int) -> None:
    with path.open("w") as fh:
        for i in range(n):
            fh.write(f"user{i // len(DOMAINS)}@{DOMAINS[i % len(DOMAINS)]}\n")


def median(block: str, row: str) -> float:
    m = re.search(rf"^{re.escape(row)}\s+(\S+)\s+(\S+)\s+(\S+)", block, re.M)
    return float(m.group(2)) if m else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cap", type=int, default=2)
    ap.add_argument("--memory", type=int, default=0, help="also: peak memory over N addresses")
    ap.add_argument("--link-ms", type=float, default=0.0, help="one-way delay of a proxy link")
    args = ap.parse_args()
    port = "2526" if args.link_ms else "2525"
    link = None
    if args.link_ms:
        link = subprocess.Popen(
            [sys.executable, str(HERE / "delayproxy.py"), "--listen", "127.0.0.40:2526",
             "--target", "127.0.0.40:2525", "--delay-ms", str(args.link_ms)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert link.stdout is not None
        print("slow link:", link.stdout.readline().strip(), f"{args.link_ms:g} ms each way")
    smtpdiag = str(Path(sys.executable).with_name("smtpdiag"))
    postfix = PostfixInstance()
    postfix.start()
    try:
        with ThreadedFakeDNS.from_directory(ROOT / "fixtures" / "dns" / "interop") as dns:
            host, dport = dns.address
            tmp = Path(tempfile.mkdtemp(prefix="smtpdiag-lists-"))
            listing = tmp / "list.txt"
            write_list(listing, args.n)
            common = [
                "--resolver", f"{host}:{dport}", "--port", port, "--helo", "bench.test",
                "--dnsbl", "interop.test", "--dns-timeout", "2", "--no-progress",
                "--max-per-host", str(args.cap),
            ]  # fmt: skip
            a = [smtpdiag, "probe", "--file", str(listing), "--format", "jsonl",
                 "-o", "/dev/null", *common]  # fmt: skip
            b = [sys.executable, str(HERE / "bare_list.py"), str(listing), port,
                 "lists.interop.test=127.0.0.40", "other.interop.test=127.0.0.40",
                 "failover.interop.test=127.0.0.42,127.0.0.40", "--cap", str(args.cap)]  # fmt: skip
            check = subprocess.run(a, capture_output=True, text=True, timeout=600)
            print("smtpdiag:", check.stderr.strip().splitlines()[:3])
            print("bare:", subprocess.run(b, capture_output=True, text=True).stdout.strip())
            one = tmp / "one.txt"
            one.write_text("user0@lists.interop.test\n")
            for label, a_extra, b_extra in (
                ("plain (--starttls never vs bare without TLS)", ["--starttls", "never"], []),
                ("STARTTLS (smtpdiag's default vs bare with --tls)", [], ["--tls"]),
            ):
                out = subprocess.run(
                    ["farm-bench", "-n", str(args.runs), "--warmup", "1", "--timeout", "1800",
                     "--vs", " ".join(b + b_extra), "--", *a, *a_extra],
                    capture_output=True, text=True, timeout=2000,
                ).stdout  # fmt: skip
                print(f"## {label}\n{out}")
                wall_a, wall_b = median(out, "A wall s"), median(out, "B wall s")
                cpu_a = median(out, "A cpu s")
                single = subprocess.run(
                    ["farm-bench", "-n", "5", "--", smtpdiag, "probe", "--file", str(one),
                     "--format", "jsonl", "-o", "/dev/null", *common, *a_extra],
                    capture_output=True, text=True,
                ).stdout  # fmt: skip
                cpu_one = median(single, "A cpu s")
                print(f"throughput: smtpdiag {args.n / wall_a:.0f}/s, bare {args.n / wall_b:.0f}/s,"
                      f" ratio {wall_b / wall_a:.2f} (target >= 0.8)")  # fmt: skip
                print(f"CPU per address: {(cpu_a - cpu_one) / args.n * 1000:.2f} ms (whole run "
                      f"{cpu_a:.2f} s, minus a one-address run {cpu_one:.2f} s)\n")  # fmt: skip
            if args.memory:
                big = tmp / "big.txt"
                write_list(big, args.memory)
                mem = subprocess.run(
                    ["farm-bench", "-n", "1", "--warmup", "0", "--timeout", "3600", "--",
                     smtpdiag, "probe", "--file", str(big), "--format", "jsonl",
                     "-o", str(tmp / "big.jsonl"), *common],
                    capture_output=True, text=True, timeout=3700,
                ).stdout  # fmt: skip
                print(mem)
                lines = sum(1 for _ in (tmp / "big.jsonl").open())
                print(f"{args.memory} addresses: peak {median(mem, 'A peak MiB'):.0f} MiB, "
                      f"{lines} JSONL lines, wall {median(mem, 'A wall s'):.0f} s")  # fmt: skip
            peaks = [int(n) for n in re.findall(r"max connection count (\d+) for \(127\.0\.0\.40:",
                                                postfix.maillog)]  # fmt: skip
            print(f"Postfix's anvil: at most {max(peaks, default=0)} connections at once from "
                  f"us to 127.0.0.40 in any second of the runs (cap {args.cap})")  # fmt: skip
    finally:
        if link is not None:
            link.terminate()
        postfix.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
