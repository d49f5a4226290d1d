"""Loading the package's data files.

The source of truth is TOML (commented, easy to review). Parsing the catalog with tomllib
takes ~15 ms, a large share of a CLI run, so each TOML file has a JSON twin generated
from it, which loads ~40x faster. A TOML file edited after its twin was built is read
directly, so an edit is never silently ignored. ``python -m smtpdiag.datafiles``
regenerates the twins; ``tests/test_datafiles.py`` fails when a twin differs from its
TOML source.
"""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

#: (package, file stem) of every data file that has a JSON twin
PACKAGES = ("smtpdiag.catalog", "smtpdiag.data")


def load(package: str, stem: str) -> dict[str, Any]:
    """The data of ``<package>/<stem>.toml``, read from its JSON twin when present."""
    base = Path(str(resources.files(package)))
    twin, source = base / f"{stem}.json", base / f"{stem}.toml"
    try:
        fresh = twin.stat().st_mtime >= source.stat().st_mtime
    except OSError:
        fresh = twin.is_file()
    if fresh:
        with twin.open("rb") as fh:
            data: dict[str, Any] = json.load(fh)
        return data
    # the TOML was edited after the twin was built: read the source of truth
    with source.open("rb") as fh:
        return tomllib.load(fh)


def sources() -> list[Path]:
    """Every TOML data file of the package (in a source checkout)."""
    out: list[Path] = []
    for package in PACKAGES:
        root = Path(str(resources.files(package)))
        out.extend(sorted(root.glob("*.toml")))
    return out


def twin_text(source: Path) -> str:
    with source.open("rb") as fh:
        data = tomllib.load(fh)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n"


def build() -> list[Path]:
    """Regenerate every JSON twin; returns the files written."""
    written = []
    for source in sources():
        twin = source.with_suffix(".json")
        text = twin_text(source)
        if not twin.exists() or twin.read_text(encoding="utf-8") != text:
            twin.write_text(text, encoding="utf-8")
            written.append(twin)
    return written


if __name__ == "__main__":
    for path in build():
        print(f"wrote {path}")
