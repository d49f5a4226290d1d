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


def load_prefilter() -> dict[str, list[tuple[str, list[str] | None]]]:
    """The classifier prefilter written by :func:`build` (empty if missing)."""
    path = prefilter_path()
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        data: dict[str, list[tuple[str, list[str] | None]]] = json.load(fh)
    return data


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


def split_branches(pattern: str) -> list[str]:
    """The top-level alternatives of a regex: ``a|(b|c)|d`` -> ``["a", "(b|c)", "d"]``."""
    out: list[str] = []
    depth = 0
    in_class = False
    start = 0
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            out.append(pattern[start:i])
            start = i + 1
        i += 1
    out.append(pattern[start:])
    return out


def required_literals(pattern: str) -> list[str] | None:
    """Lower-case substrings one of which any match of ``pattern`` must contain, or None.

    For ``a|b|c`` at the top level, each branch's longest run of plain characters; None
    when some branch has no run of 3 or more characters (2 for non-ASCII, as in CJK
    words). Uses the regex parser, so it runs at build time only.
    """
    import re
    import re._constants as sre_constants  # type: ignore[import-not-found]
    import re._parser as sre_parser  # type: ignore[import-not-found]

    tree = sre_parser.parse(pattern, re.IGNORECASE)
    items = list(tree)
    single_branch = len(items) == 1 and items[0][0] is sre_constants.BRANCH
    branches = items[0][1][1] if single_branch else [tree]
    out: list[str] = []
    for branch in branches:
        runs: list[str] = []
        current = ""
        for op, arg in branch:
            if op is sre_constants.LITERAL:
                current += chr(arg)
            elif current:
                runs.append(current)
                current = ""
        if current:
            runs.append(current)
        best = max(runs, key=len) if runs else ""
        if len(best) < (2 if not best.isascii() else 3):
            return None
        out.append(best.lower())
    return out


def prefilter_entry(pattern: str) -> list[tuple[str, list[str] | None]]:
    """A rule's regex as its top-level branches, each with its required literals: the
    classifier compiles and runs only the branches whose literals occur in a text."""
    return [(branch, required_literals(branch)) for branch in split_branches(pattern)]


def prefilter_text() -> str:
    """The classifier's prefilter: regex source -> [(branch, required literals), ...]."""
    patterns: dict[str, list[tuple[str, list[str] | None]]] = {}
    for stem, key in (("providers", "pattern"), ("rules", "text")):
        with (Path(str(resources.files("smtpdiag.data"))) / f"{stem}.toml").open("rb") as fh:
            for rule in tomllib.load(fh).get(key, []):
                patterns[str(rule["match"])] = prefilter_entry(str(rule["match"]))
    return json.dumps(patterns, ensure_ascii=False, sort_keys=True, indent=0) + "\n"


def prefilter_path() -> Path:
    return Path(str(resources.files("smtpdiag.data"))) / "prefilter.json"


def build() -> list[Path]:
    """Regenerate every JSON twin and the classifier prefilter; returns the files written."""
    written = []
    outputs = [(source.with_suffix(".json"), twin_text(source)) for source in sources()]
    outputs.append((prefilter_path(), prefilter_text()))
    for path, text in outputs:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


if __name__ == "__main__":
    for path in build():
        print(f"wrote {path}")
