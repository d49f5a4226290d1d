"""The layers and the arrows between them, read from every module's source (imports inside
functions and under TYPE_CHECKING count too), and checked at run time for the pure core.

    core           pure: data in, data out (smtpdiag.core: model, parsing, catalog,
                   classification, diagnosis, bounces, the sans-IO conversation;
                   smtpdiag.auth's SPF/DMARC/DKIM logic and report types; smtpdiag.render)
    io             the edges that touch sockets, DNS and TLS (smtpdiag.io: smtp, dns, tls)
    orchestration  async flows over the edges (smtpdiag.prober, smtpdiag.auth.checks)
    cli            the click commands, the demo, the package's public API
    testing        fake DNS, fake MX and hostile servers (smtpdiag.testing)

An arrow may only point down this list (cli -> orchestration -> io -> core), and testing
may use anything but the CLI.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "smtpdiag"

#: module (or package prefix) -> layer; the longest matching prefix decides
LAYERS = {
    "smtpdiag.core": "core",
    "smtpdiag.auth": "core",  # SPF, DMARC, DKIM logic and the report's types: pure
    "smtpdiag.auth.checks": "orchestration",  # runs them over DNS
    "smtpdiag.render": "core",  # renderers: data in, text out
    "smtpdiag.io": "io",
    "smtpdiag.prober": "orchestration",
    "smtpdiag.batch": "orchestration",  # the list scheduler
    "smtpdiag.doctor": "orchestration",  # smtpdiag doctor: checks of this host and network
    "smtpdiag.dnssec": "orchestration",  # DNSSEC validation over the DNS edge (DANE)
    "smtpdiag.listrun": "cli",  # a list run of the probe command: input, outputs, reports
    "smtpdiag.cli": "cli",
    "smtpdiag.demo": "cli",
    "smtpdiag.__main__": "cli",
    "smtpdiag._entry": "cli",
    "smtpdiag": "cli",  # the package itself: the public API
    "smtpdiag.testing": "testing",
}
RANK = {"core": 0, "io": 1, "orchestration": 2, "cli": 3, "testing": 2}
#: libraries that do I/O (or drive an event loop): never in the core
IO_LIBRARIES = {
    "asyncio", "socket", "ssl", "selectors", "threading", "subprocess", "dns",
    "aiosmtplib", "aiosmtpd", "click", "urllib.request", "http",
}  # fmt: skip


def layer(module: str) -> str:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        found = LAYERS.get(".".join(parts[:n]))
        if found is not None and (n > 1 or len(parts) == 1 or module == "smtpdiag"):
            return found
    raise AssertionError(f"{module}: in no layer; add it to tests/test_layering.py")


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(("smtpdiag", *parts)).removesuffix(".__init__")
        out[name] = path
    return out


def imports_of(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, anywhere in its source, as absolute names."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
                if node.module is None:  # from . import x, y
                    found.update(f"{target}.{alias.name}" for alias in node.names)
                else:
                    found.add(target)
            elif node.module:
                found.add(node.module)
    return found


MODULES = modules()


def test_every_module_has_a_layer() -> None:
    for name in MODULES:
        layer(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_arrows_point_down(name: str) -> None:
    mine = layer(name)
    for target in sorted(imports_of(name, MODULES[name])):
        if target.startswith("smtpdiag"):
            if target in ("smtpdiag", "smtpdiag.__version__"):
                continue
            theirs = layer(target)
            if mine == "testing" and theirs != "cli":
                continue
            if theirs == "testing":
                assert mine in ("cli", "testing"), f"{name} -> {target}: only the CLI uses fakes"
                continue
            assert RANK[theirs] <= RANK[mine], f"{name} ({mine}) -> {target} ({theirs})"
        elif mine == "core":
            root = target.split(".")[0]
            assert root not in IO_LIBRARIES and target not in IO_LIBRARIES, (
                f"{name} is core and imports {target}"
            )


def test_the_walk_sees_imports_inside_functions() -> None:
    """The check can fail: a function-level import is found like any other."""
    found = imports_of("smtpdiag.prober", MODULES["smtpdiag.prober"])
    assert "smtpdiag.core.diagnose" in found  # imported inside _probe, not at the top


def test_core_modules_import_no_io_at_run_time() -> None:
    """Importing the whole core pulls in no I/O library (transitively, at run time)."""
    core = [n for n in MODULES if layer(n) == "core"]
    code = (
        "import sys\n"
        f"for m in {core!r}:\n    __import__(m)\n"
        "print(' '.join(sorted({n.split('.')[0] for n in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    # the email package imports socket (and socket selectors) for email.utils.make_msgid,
    # which the core never calls
    assert not (IO_LIBRARIES - {"socket", "selectors", "http"}) & set(out), IO_LIBRARIES & set(out)
