"""Bounce-message accuracy over labelled .eml corpora (default: the blind holdout).

    python bench/bounce_accuracy.py [DIR ...] [--misses]

Each DIR holds .eml files and a labels.toml / expected.toml (``[[bounce]]`` entries with
``file``, ``kind`` and ``[[bounce.recipient]]`` ``address`` / ``reason``). Three figures:
- kind: the message's kind (bounce, delay, delivered, auto-reply, ...) is right;
- recipients found: labelled recipients that smtpdiag lists (case-insensitive);
- reason: found recipients whose reason is right, over all labelled recipients.
`--misses` prints what went wrong, file by file (do not use it on the blind holdout
while tuning: it stops being blind).
"""

from __future__ import annotations

import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

from smtpdiag.core.explanation import explain_message


def labels(directory: Path) -> list[dict[str, Any]]:
    for name in ("labels.toml", "expected.toml"):
        path = directory / name
        if path.exists():
            with path.open("rb") as fh:
                return list(tomllib.load(fh)["bounce"])
    return []


def score(directories: list[Path], show: bool) -> tuple[int, ...]:
    files = kinds = wanted = found = right = 0
    misses: Counter[tuple[str, str]] = Counter()
    for directory in directories:
        for entry in labels(directory):
            files += 1
            data = (directory / entry["file"]).read_bytes()
            got = explain_message(data)
            if got.bounce.kind == entry.get("kind", "bounce"):
                kinds += 1
            elif show:
                print(
                    f"KIND {directory.name}/{entry['file']}: {got.bounce.kind} != {entry['kind']}"
                )
            by_address = got.by_address()
            for rcpt in entry.get("recipient", []):
                wanted += 1
                mine = by_address.get(rcpt["address"].lower())
                if mine is None:
                    if show:
                        print(
                            f"MISSING {directory.name}/{entry['file']}: {rcpt['address']} "
                            f"(found {sorted(by_address)})"
                        )
                    continue
                found += 1
                if mine.classification.reason == rcpt["reason"]:
                    right += 1
                else:
                    misses[(rcpt["reason"], mine.classification.reason)] += 1
                    if show:
                        print(
                            f"REASON {directory.name}/{entry['file']} {rcpt['address']}: "
                            f"{mine.classification.reason} != {rcpt['reason']}  "
                            f"({mine.classification.evidence[:100]})"
                        )
    print(
        f"files {files}: kind right {kinds} ({100 * kinds / max(files, 1):.1f}%); "
        f"recipients found {found}/{wanted} ({100 * found / max(wanted, 1):.1f}%); "
        f"reason right {right}/{wanted} ({100 * right / max(wanted, 1):.1f}%)"
    )
    if show:
        for (want, got_reason), n in misses.most_common():
            print(f"  {n} x expected {want}, got {got_reason}")
    return files, kinds, wanted, found, right


def main(argv: list[str]) -> int:
    show = "--misses" in argv
    dirs = [Path(a) for a in argv if not a.startswith("--")] or [
        Path(__file__).with_name("bounce_holdout")
    ]
    expanded: list[Path] = []
    for d in dirs:
        if labels(d):
            expanded.append(d)
        else:
            expanded.extend(sorted(p.parent for p in d.glob("**/expected.toml")))
            expanded.extend(sorted(p.parent for p in d.glob("**/labels.toml")))
    score(expanded, show)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
