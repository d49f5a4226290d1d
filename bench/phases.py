#!/usr/bin/env python3
"""Where does one `smtpdiag probe` spend its time? A wall-clock breakdown by phase.

Runs a child interpreter N times (fresh process each time, like the CLI). The child
does what `smtpdiag probe --no-catch-all --helo bench.test user@bench.test` does, in
the CLI's order, timing each step with time.perf_counter:

  import smtpdiag.cli      click + smtpdiag, smtpdiag.core.model (what --version needs)
  import asyncio           stdlib asyncio
  import smtpdiag.io.dns   dnspython (imported even with --server)
  import smtpdiag.io.smtp  aiosmtplib + ssl + email
  probe module             the rest (smtpdiag.probe_many's module, imported lazily by
                           the package): diagnose (tomllib), addresses, classify ...
  import smtpdiag.render.text
  catalog.load()           parse the message catalog (catalog/en.toml), done lazily
                           by the first diagnosis in the real CLI
  session                  asyncio.run(probe_many(...)): DNS (if any) + SMTP up to RCPT
  render                   render_text()

The parent passes its clock reading to the child (perf_counter is CLOCK_MONOTONIC on
Linux, shared by processes), so start-up (fork/exec, interpreter, site) and exit
(finalization of the interpreter, reaping) are measured too. Medians over the runs
are printed as a markdown table; the phases add up to the whole process time.

Usage: python bench/phases.py --server 127.0.0.1:PORT [--runs 15] [--catch-all]
       python bench/phases.py --resolver 127.0.0.1:DNSPORT --port PORT
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CHILD = r"""
import time
T = time.perf_counter
t = T()
import json, sys
out = {"interpreter start-up (exec to first line, incl. site)": t - float(sys.argv[2])}
def mark(name):
    global t
    now = T(); out[name] = now - t; t = now
import smtpdiag.cli; mark("import smtpdiag.cli (click, smtpdiag.core.model)")
import asyncio; mark("import asyncio")
import smtpdiag.io.dns; mark("import smtpdiag.io.dns (dnspython)")
import smtpdiag.io.smtp; mark("import smtpdiag.io.smtp (aiosmtplib, ssl, email)")
from smtpdiag import ProbeOptions, probe_many  # lazy: imports the probe module
mark("import the probe module (diagnose, tomllib, addresses, ...)")
import smtpdiag.render.text; mark("import smtpdiag.render.text")
cfg = json.loads(sys.argv[1])
opts = ProbeOptions(helo="bench.test", catch_all=cfg["catch_all"], server=cfg["server"],
                    port=cfg["port"], resolvers=tuple(cfg["resolvers"]))
from smtpdiag.core import catalog
# the same call (and so the same functools.cache entry) as the diagnosis makes:
# load() and load("en") are cached separately
catalog.load(opts.lang); mark("catalog.load() (parse catalog/en.toml)")
results = asyncio.run(probe_many([cfg["address"]], opts))
assert results[0].verdict == "deliverable", results[0].verdict
mark("session: asyncio.run(probe_many) (DNS + SMTP to RCPT)")
text = smtpdiag.render.text.render_text(results[0], smtpdiag.render.text.plain)
mark("render_text()")
print(json.dumps(out), T(), flush=True)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--server", help="HOST:PORT (skip the MX lookup)")
    ap.add_argument("--resolver", action="append", default=[], help="IP:PORT of the DNS")
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--catch-all", action="store_true")
    ap.add_argument("--address", default="user@bench.test")
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    if not args.server and not args.resolver:
        ap.error("give --server or --resolver (loopback fake servers: bench/serve.py)")
    cfg = json.dumps(
        {
            "server": args.server,
            "resolvers": args.resolver,
            "port": args.port,
            "catch_all": args.catch_all,
            "address": args.address,
        }
    )

    walls: list[float] = []
    phases: dict[str, list[float]] = {}
    for i in range(args.runs + 1):  # the first run is a warm-up (page cache, .pyc)
        t0 = time.perf_counter()
        # perf_counter is CLOCK_MONOTONIC on Linux: comparable across processes
        proc = subprocess.run(
            [args.python, "-c", CHILD, cfg, repr(t0)],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        t1 = time.perf_counter()
        wall = t1 - t0
        if proc.returncode != 0:
            sys.exit(f"phases: child failed:\n{proc.stderr[-2000:]}")
        if i == 0:
            continue
        walls.append(wall)
        last = proc.stdout.strip().splitlines()[-1]
        phases_json, _, t_end = last.rpartition(" ")
        data = json.loads(phases_json)
        data["interpreter exit (last line to process reaped)"] = t1 - float(t_end)
        for k, v in data.items():
            phases.setdefault(k, []).append(v)

    total = statistics.median(walls)
    print(
        f"Median of {args.runs} fresh processes; whole process {total * 1000:.1f} ms "
        f"(min {min(walls) * 1000:.1f}).\n"
    )
    print("| phase | median ms | share |")
    print("|-------|----------:|------:|")
    for k, v in phases.items():
        m = statistics.median(v)
        print(f"| {k} | {m * 1000:.1f} | {100 * m / total:.0f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
