"""Classifier accuracy over a corpus of labelled replies (default: the blind holdout).

    python bench/classifier_accuracy.py [FILE.toml ...] [--stage]

The holdout (classifier_holdout.toml, 150 texts) was written by someone who had not seen
the classifier's rules or the test corpus in fixtures/replies/; see bench/README.md for the
figures. `--stage` passes each entry's stage, as `smtpdiag explain --stage` would.
"""

from __future__ import annotations

import sys
import tomllib
from collections import Counter
from pathlib import Path

from smtpdiag.core.explanation import explain


def main(argv: list[str]) -> int:
    use_stage = "--stage" in argv
    files = [Path(a) for a in argv if not a.startswith("--")] or [
        Path(__file__).with_name("classifier_holdout.toml")
    ]
    total = right = 0
    misses: Counter[tuple[str, str]] = Counter()
    for path in files:
        with path.open("rb") as fh:
            for entry in tomllib.load(fh)["reply"]:
                got = explain(entry["text"], stage=entry.get("stage") if use_stage else None)
                total += 1
                if got.classification.reason == entry["reason"]:
                    right += 1
                else:
                    misses[(entry["reason"], got.classification.reason)] += 1
                    print(
                        f"MISS {entry['reason']:>18} got {got.classification.reason:<18} "
                        f"{entry['text'][:90]!r}"
                    )
    print(f"\n{right}/{total} right = {100 * right / max(total, 1):.1f}%")
    for (want, got), n in misses.most_common():
        print(f"  {n} x expected {want}, got {got}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
