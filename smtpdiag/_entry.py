"""The console script's entry point: start-up with the cyclic garbage collector paused.

Start-up creates tens of thousands of objects (modules, classes, the catalog) that all live
until exit; the collector's passes over them during imports are ~5% of a probe's CPU and
free nothing. :func:`smtpdiag.cli.started` moves them out of its reach (``gc.freeze``) and
turns it back on before any session runs, so long runs (lists of addresses) collect as usual.
"""

from __future__ import annotations


def run() -> None:
    import gc

    gc.disable()
    from smtpdiag.cli import main

    main()
