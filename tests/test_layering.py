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


def test_bounce_parsing_imports_no_io() -> None:
    """The bounce parser and explainer are pure too; the standard library's email package
    imports socket (for email.utils.make_msgid), which the parser never calls."""
    code = (
        "import sys\nimport smtpdiag.bounce, smtpdiag.explain, smtpdiag.render_explain\n"
        "print(' '.join(sorted({n.split('.')[0] for n in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert not (set(FORBIDDEN) - {"socket"}) & set(out)
