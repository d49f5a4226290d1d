"""The pure core imports no I/O library: it can be tested, and reasoned about, as data in,
data out (the architecture's main rule)."""

from __future__ import annotations

import subprocess
import sys

PURE = [
    "smtpdiag.model",
    "smtpdiag.reply",
    "smtpdiag.addresses",
    "smtpdiag.catalog",
    "smtpdiag.classify",
    "smtpdiag.diagnose",
    "smtpdiag.render",
    "smtpdiag.errors",
]
FORBIDDEN = ("asyncio", "aiosmtplib", "dns", "click", "aiosmtpd", "socket", "ssl")


def test_pure_modules_import_no_io() -> None:
    code = (
        "import sys\n"
        f"for m in {PURE!r}:\n    __import__(m)\n"
        "print(' '.join(sorted({n.split('.')[0] for n in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert "smtpdiag" in out
    assert not set(FORBIDDEN) & set(out), set(FORBIDDEN) & set(out)
