"""The public suffix list (RFC 7489's organizational domain), from the copy that the
``publicsuffixlist`` package ships (offline, updated with the package).

That package parses its 15,000-line file on every start, ~75 ms, and a list run's first
refusal paid it (as did every single probe that ended in a refusal). Here the parsed rules
are cached as one marshal (``datafiles.load_derived``: rebuilt when the file changes) and the
lookup is the list's own algorithm (https://publicsuffix.org/list/): the rule with the most
labels wins, an exception rule (``!``) beats all, and an unlisted TLD is a public suffix
(the implicit ``*`` rule). Private-section suffixes count, as they do for DMARC.
"""

from __future__ import annotations

import functools
import os

from smtpdiag.core.datafiles import cached_file

_Rules = tuple[frozenset[str], frozenset[str], frozenset[str]]  # normal, "*.x" as x, "!x" as x


def _data_file() -> str:
    import importlib.util

    spec = importlib.util.find_spec("publicsuffixlist")
    if spec is None or not spec.origin:  # a declared dependency: only a broken install
        raise RuntimeError("the publicsuffixlist package is missing: pip install publicsuffixlist")
    return os.path.join(os.path.dirname(spec.origin), "public_suffix_list.dat")


def _ascii(name: str) -> str:
    """``name``'s labels as A-labels (the form DNS and our lookups use)."""
    if name.isascii():
        return name.lower()
    return ".".join(
        label.lower() if label.isascii() else label.lower().encode("idna").decode("ascii")
        for label in name.split(".")
    )


def _parse(data: bytes) -> list[list[str]]:
    normal: list[str] = []
    wild: list[str] = []
    exceptions: list[str] = []
    for raw in data.decode("utf-8").splitlines():
        words = raw.split()
        if not words or words[0].startswith("//"):
            continue
        line = words[0]
        if line.startswith("!"):
            exceptions.append(_ascii(line[1:]))
        elif line.startswith("*."):
            wild.append(_ascii(line[2:]))
        else:
            normal.append(_ascii(line))
    return [normal, wild, exceptions]


@functools.cache
def _rules() -> _Rules:
    normal, wild, exceptions = cached_file("psl", _data_file(), _parse)
    return frozenset(normal), frozenset(wild), frozenset(exceptions)


def suffix_labels(labels: list[str], rules: _Rules) -> int:
    """How many of ``labels`` (lower-case A-labels) are the public suffix."""
    normal, wild, exceptions = rules
    longest = 1  # the implicit "*" rule: an unlisted TLD is a public suffix
    count = len(labels)
    for i in range(count):
        name = ".".join(labels[i:])
        n = count - i
        if name in exceptions:  # the longest exception prevails over every other rule
            return n - 1
        if n > longest and (name in normal or (n > 1 and ".".join(labels[i + 1 :]) in wild)):
            longest = n
    return longest


def organizational_domain(domain: str) -> str | None:
    """The registrable domain of ``domain`` (one label under its public suffix), in the
    form it was given (U- or A-labels); None for a public suffix itself or a malformed
    name."""
    name = domain.rstrip(".") if domain.endswith(".") and not domain.endswith("..") else domain
    given = name.split(".")
    if not name or "" in given:
        return None
    try:
        labels = _ascii(name).split(".")
    except UnicodeError:
        return None
    n = suffix_labels(labels, _rules())
    if len(labels) <= n:
        return None
    return ".".join(given[-(n + 1) :]).lower()
