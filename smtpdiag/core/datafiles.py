"""Loading the package's data files: TOML is the only source, a cache keyed by content.

The catalog, rules and provider patterns are TOML (commented, easy to review), and only
TOML is in git. Parsing ~1 MB of TOML takes tens of milliseconds, a large share of a CLI
run, so the parsed data is kept in a cache file named by the BLAKE2 hash of the TOML bytes
(``marshal`` format, which loads ~50x faster than the TOML parses). An edited, copied or
reinstalled TOML file has another hash, so a stale cache can never be read; a cache that
cannot be written (read-only home, no space) only costs the parse. The classifier's
prefilter (each rule branch's required literals) is derived from the patterns by
:func:`required_literals` and cached the same way.

Cache directory: ``$SMTPDIAG_CACHE_DIR``, else ``$XDG_CACHE_HOME/smtpdiag``, else
``~/.cache/smtpdiag``. ``python -m smtpdiag.core.datafiles`` fills it (and checks every file).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import marshal
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

#: packages whose ``*.toml`` files are data
PACKAGES = ("smtpdiag.core.catalog", "smtpdiag.core.data")
#: bump when the cached form changes
_CACHE_FORMAT = "2"

Prefilter = dict[str, list[tuple[str, list[str] | None]]]


def cache_dir() -> str | None:
    """The cache folder (a path string: pathlib costs ~3 ms of imports a run)."""
    explicit = os.environ.get("SMTPDIAG_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        home = os.path.expanduser("~")
        if home in ("~", "/", ""):
            return None
        base = os.path.join(home, ".cache")
    return os.path.join(base, "smtpdiag")


def _cached(name: str, key: bytes, build: Any) -> Any:
    """``build()``'s result, cached under ``name`` and the hash of ``key``."""
    digest = hashlib.blake2b(key + _CACHE_FORMAT.encode(), digest_size=16).hexdigest()
    folder = cache_dir()
    path = os.path.join(folder, f"{name}-{digest}.marshal") if folder else None
    if path is not None:
        try:
            with open(path, "rb") as fh:
                return marshal.loads(fh.read())
        except (OSError, ValueError, EOFError, TypeError):
            pass
    value = build()
    if folder is not None and path is not None:
        try:
            os.makedirs(folder, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(marshal.dumps(value))
            os.replace(tmp, path)
            for old in os.listdir(folder):  # older contents: not needed
                stale = os.path.join(folder, old)
                if old.startswith(f"{name}-") and old.endswith(".marshal") and stale != path:
                    with contextlib.suppress(OSError):
                        os.unlink(stale)
        except (OSError, ValueError):
            pass  # no cache: every run parses (slower, still right)
    return value


def package_dir(package: str) -> str:
    """The folder of a package of ours (a plain directory: the wheel is not zip-safe).

    ``importlib.resources`` would do the same through zipfile, tempfile and shutil: ~10 ms
    of imports on every run for nothing.
    """
    module = importlib.import_module(package)
    return os.path.dirname(module.__file__ or "")


def _read(package: str, stem: str) -> bytes:
    with open(os.path.join(package_dir(package), f"{stem}.toml"), "rb") as fh:
        return fh.read()


def _parse_toml(raw: bytes) -> Any:
    import tomllib  # only when the cache misses: ~3 ms of imports otherwise

    return tomllib.loads(raw.decode())


def load(package: str, stem: str) -> dict[str, Any]:
    """The data of ``<package>/<stem>.toml`` (parsed once per content, then cached)."""
    raw = _read(package, stem)
    data: dict[str, Any] = _cached(f"{package}.{stem}", raw, lambda: _parse_toml(raw))
    return data


def load_derived(name: str, inputs: list[tuple[str, str]], build: Any) -> Any:
    """``build()``'s result (marshal-able data), cached by the content of the ``inputs``
    TOML files: the classifier's whole rule table, say, in one read instead of three."""
    raw = b"\0".join(_read(package, stem) for package, stem in inputs)
    return _cached(name, raw, build)


def cached_file(name: str, path: str, build: Any) -> Any:
    """``build(data)`` for the bytes of the file at ``path`` (marshal-able data), cached by
    the file's content: a data file another package ships, parsed once per version."""
    with open(path, "rb") as fh:
        raw = fh.read()
    return _cached(name, raw, lambda: build(raw))


def load_prefilter() -> Prefilter:
    """The classifier prefilter: regex source -> [(branch, required literals), ...]."""
    raw = _read("smtpdiag.core.data", "providers") + b"\0" + (_read("smtpdiag.core.data", "rules"))
    built: Prefilter = _cached("prefilter", raw, _prefilter)
    return {k: [(b, lits) for b, lits in v] for k, v in built.items()}


def _prefilter() -> Prefilter:
    patterns: Prefilter = {}
    for stem, key in (("providers", "pattern"), ("rules", "text")):
        for rule in load("smtpdiag.core.data", stem).get(key, []):
            patterns[str(rule["match"])] = prefilter_entry(str(rule["match"]))
    return patterns


def sources() -> list[Path]:
    """Every TOML data file of the package."""
    from pathlib import Path

    out: list[Path] = []
    for package in PACKAGES:
        root = Path(package_dir(package))
        out.extend(sorted(root.glob("*.toml")))
    return out


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


_BREAKING_ESCAPES = frozenset("bBdDsSwWAZzG0123456789")


def required_literals(pattern: str) -> list[str] | None:
    """Lower-case substrings one of which any match of ``pattern`` must contain, or None.

    For each top-level branch, its longest run of plain characters that every match of the
    branch must contain: text inside groups, classes, escapes like ``\\b`` or ``\\s`` and
    characters made optional by ``?``, ``*`` or ``{0,...}`` end a run. None when some branch
    has no such run of 3 or more characters (2 for non-ASCII, as in CJK words). A small
    reader of the regex text of our own (never ``re``'s private parser); conservative: a
    run it reports is always required.
    """
    out: list[str] = []
    for branch in split_branches(pattern):
        runs: list[str] = []
        current = ""
        i = 0
        depth = 0
        while i < len(branch):
            ch = branch[i]
            nxt = branch[i + 1] if i + 1 < len(branch) else ""
            if depth:
                if ch == "\\":
                    i += 2
                    continue
                if ch == "[":  # a class inside a group: skip it whole
                    i = _class_end(branch, i)
                    continue
                depth += 1 if ch == "(" else -1 if ch == ")" else 0
                i += 1
                continue
            literal: str | None = None
            step = 1
            if ch == "\\":
                if nxt and nxt not in _BREAKING_ESCAPES and not nxt.isalpha():
                    literal = nxt  # an escaped punctuation character: itself
                step = {"x": 4, "u": 6, "U": 10}.get(nxt, 2)  # \\xhh, \\uhhhh: skipped
            elif ch == "(":
                depth = 1
            elif ch == "[":
                step = _class_end(branch, i) - i
            elif ch in ".^$|)?*+":
                pass  # anchors, any character, quantifiers: the run ends here
            elif ch == "{" and re_quantifier(branch, i):
                step = branch.find("}", i) - i + 1
            else:
                literal = ch
            after = branch[i + step] if i + step < len(branch) else "\0"
            optional = after in "?*" or (after == "{" and re_quantifier(branch, i + step))
            if literal is not None and optional and not _at_least_one(branch, i + step):
                literal = None  # optional: "s?" or "x*" or "x{0,3}"
            if literal is not None:
                current += literal
                if after == "+" or (after == "{" and _at_least_one(branch, i + step)):
                    runs.append(current)  # a repeated character ends the run after itself
                    current = ""
            else:
                if current:
                    runs.append(current)
                current = ""
            i += step
        if current:
            runs.append(current)
        best = max(runs, key=len) if runs else ""
        if len(best) < (2 if not best.isascii() else 3):
            return None
        out.append(best.lower())
    return out


def re_quantifier(text: str, at: int) -> bool:
    """True when ``{`` at ``text[at]`` opens a ``{m}``, ``{m,}`` or ``{m,n}`` quantifier."""
    end = text.find("}", at)
    inner = text[at + 1 : end] if end > at else ""
    return bool(inner) and all(c.isdigit() or c == "," for c in inner) and inner[0] != ","


def _class_end(text: str, start: int) -> int:
    """The index after the ``[...]`` class starting at ``start``."""
    i = start + 1
    if i < len(text) and text[i] == "^":
        i += 1
    if i < len(text) and text[i] == "]":
        i += 1
    while i < len(text) and text[i] != "]":
        i += 2 if text[i] == "\\" else 1
    return i + 1


def _at_least_one(text: str, at: int) -> bool:
    """True when the quantifier at ``text[at]`` requires one repetition or more."""
    if at >= len(text) or text[at] not in "{+":
        return False
    if text[at] == "+":
        return True
    end = text.find("}", at)
    if end < 0:
        return False
    low = text[at + 1 : end].split(",", 1)[0].strip()
    return low.isdigit() and int(low) >= 1


def prefilter_entry(pattern: str) -> list[tuple[str, list[str] | None]]:
    """A rule's regex as its top-level branches, each with its required literals: the
    classifier compiles and runs only the branches whose literals occur in a text."""
    return [(branch, required_literals(branch)) for branch in split_branches(pattern)]


def build() -> int:
    """Parse every data file and derive the prefilter, filling the cache; returns how many
    files were read. Raises on a file that does not parse."""
    for source in sources():
        load(f"smtpdiag.core.{source.parent.name}", source.stem)
    load_prefilter()
    from smtpdiag.core import classify

    classify._rules()  # the classifier's rule table
    return len(sources())


if __name__ == "__main__":
    count = build()
    print(f"read {count} data files; cache: {cache_dir() or 'none'}")
