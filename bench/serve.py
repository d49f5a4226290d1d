#!/usr/bin/env python3
"""Run smtpdiag's fake DNS + fake MX (bench/bench.toml) on loopback until killed.

Prints two lines on stdout, then blocks:

    SMTP_PORT=<port>
    RESOLVER=127.0.0.1:<dns port>

Usage: python bench/serve.py [scenario.toml]
Stops on SIGTERM/SIGINT. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from smtpdiag.testing.rig import Rig, load_scenario

HERE = Path(__file__).resolve().parent


def main() -> int:
    scenario_path = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "bench.toml"
    scenario = load_scenario(scenario_path)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    with Rig(scenario) as rig:
        print(f"SMTP_PORT={rig.smtp_port}", flush=True)
        print(f"RESOLVER={rig.resolver}", flush=True)
        while not stop.wait(0.5):
            pass
        if rig.forbidden_commands():  # a probe must never send DATA/BDAT
            print(f"FORBIDDEN={rig.forbidden_commands()}", file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
