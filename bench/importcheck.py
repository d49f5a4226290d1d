#!/usr/bin/env python3
"""Which modules does smtpdiag import at start-up, and how long do they take?

Runs ``python -X importtime -m smtpdiag <args>`` in a subprocess (several times,
keeping the fastest run of each module), prints the top N imports by cumulative
time, and checks that the heavy dependencies (aiosmtplib, dnspython, cryptography)
are NOT imported by ``--version`` and ``--help``.

Usage:
    python bench/importcheck.py                   # --version and --help, checked
    python bench/importcheck.py --top 15 --repeat 5
    python bench/importcheck.py --code "import smtpdiag.cli"     # any code, unchecked
    python bench/importcheck.py --run "probe --server 127.0.0.1:PORT user@bench.test"
                                  # any smtpdiag command line, unchecked

Exit status: 0 if no heavy module was imported by --version/--help, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys

# Heavy top-level packages: FORBIDDEN must not be imported by --version/--help (the
# check); the others are only reported.
FORBIDDEN = ("aiosmtplib", "dns", "cryptography")
HEAVY = (*FORBIDDEN, "aiosmtpd", "ssl", "asyncio")

_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def importtime(python: str, argv: list[str]) -> dict[str, tuple[int, int, int]]:
    """Run python -X importtime argv; return {module: (self_us, cumulative_us, depth)}."""
    env = dict(os.environ)
    env.pop("PYTHONIMPORTTIME", None)
    proc = subprocess.run(
        [python, "-X", "importtime", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        sys.exit(f"importcheck: {' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    out: dict[str, tuple[int, int, int]] = {}
    for line in proc.stderr.splitlines():
        m = _LINE.match(line)
        if m:
            depth = (len(m.group(3)) - 1) // 2
            out[m.group(4)] = (int(m.group(1)), int(m.group(2)), depth)
    return out


def best_of(python: str, argv: list[str], repeat: int) -> dict[str, tuple[int, int, int]]:
    """Minimum self/cumulative time of each module over *repeat* runs (less noise)."""
    best: dict[str, tuple[int, int, int]] = {}
    for _ in range(repeat):
        for mod, (s, c, d) in importtime(python, argv).items():
            if mod in best:
                s0, c0, _ = best[mod]
                best[mod] = (min(s, s0), min(c, c0), d)
            else:
                best[mod] = (s, c, d)
    return best


def report(title: str, mods: dict[str, tuple[int, int, int]], top: int) -> None:
    total = sum(s for s, _, _ in mods.values())
    print(f"## {title}")
    print(
        f"{len(mods)} modules imported, {total / 1000:.1f} ms of import time in total "
        "(sum of self times; best of the runs)\n"
    )
    print("| # | module | cumulative ms | self ms | depth |")
    print("|--:|--------|--------------:|--------:|------:|")
    ranked = sorted(mods.items(), key=lambda kv: kv[1][1], reverse=True)[:top]
    for i, (mod, (s, c, d)) in enumerate(ranked, 1):
        print(f"| {i} | `{mod}` | {c / 1000:.1f} | {s / 1000:.1f} | {d} |")
    print()
    own = {m: v for m, v in mods.items() if m == "smtpdiag" or m.startswith("smtpdiag.")}
    print("smtpdiag modules loaded: " + ", ".join(f"`{m}`" for m in sorted(own)) + "\n")


def heavy_present(mods: dict[str, tuple[int, int, int]], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in names)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable, help="interpreter (default: this one)")
    ap.add_argument("--top", type=int, default=10, help="how many imports to list (10)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per command, best kept (5)")
    ap.add_argument(
        "--code",
        action="append",
        default=[],
        help="also report `python -c CODE` (informational, not checked)",
    )
    ap.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="ARGS",
        help="also report `python -m smtpdiag ARGS` (informational, not checked)",
    )
    args = ap.parse_args()

    failed = False
    for flag in ("--version", "--help"):
        argv = ["-m", "smtpdiag", flag]
        mods = best_of(args.python, argv, args.repeat)
        report(f"`python -X importtime -m smtpdiag {flag}`", mods, args.top)
        bad = heavy_present(mods, FORBIDDEN)
        others = heavy_present(mods, tuple(h for h in HEAVY if h not in FORBIDDEN))
        if bad:
            failed = True
            print(f"**FAIL**: heavy modules imported by `{flag}`: {', '.join(bad)}\n")
        else:
            print(
                f"OK: `{flag}` imports none of {', '.join(FORBIDDEN)}"
                + (
                    f" (but it does import {', '.join(others)})"
                    if others
                    else f" (nor {', '.join(h for h in HEAVY if h not in FORBIDDEN)})"
                )
                + "\n"
            )
    extra = [(["-c", code], f"-c {code!r}") for code in args.code]
    extra += [(["-m", "smtpdiag", *shlex.split(a)], f"-m smtpdiag {a}") for a in args.run]
    for argv, label in extra:
        mods = best_of(args.python, argv, args.repeat)
        report(f"`python -X importtime {label}`", mods, args.top)
        print(
            "heavy modules imported: "
            + (", ".join(sorted({m.split(".")[0] for m in heavy_present(mods, HEAVY)})) or "none")
            + "\n"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
