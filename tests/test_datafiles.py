"""Every data file's JSON twin (what the package loads, for speed) matches its TOML source.

After editing a TOML file under smtpdiag/catalog or smtpdiag/data, run
``python -m smtpdiag.datafiles`` to regenerate the twins.
"""

from __future__ import annotations

import pytest

from smtpdiag import datafiles

SOURCES = datafiles.sources()


def test_there_are_data_files() -> None:
    names = {p.name for p in SOURCES}
    assert {"en.toml", "rules.toml", "summaries.toml"} <= names


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_json_twin_matches_toml(source: object) -> None:
    from pathlib import Path

    assert isinstance(source, Path)
    twin = source.with_suffix(".json")
    assert twin.exists(), f"{twin.name} missing: run python -m smtpdiag.datafiles"
    assert twin.read_text(encoding="utf-8") == datafiles.twin_text(source), (
        f"{twin.name} is stale: run python -m smtpdiag.datafiles"
    )
