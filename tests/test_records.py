"""``@record`` behaves as ``@dataclass(frozen=True)`` does, field for field."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import field

import pytest

from smtpdiag.core.records import evolve, record


@record
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


@record
class Checked:
    n: int

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError("negative")


@dataclasses.dataclass(frozen=True)
class Twin:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


def test_init_positional_keyword_defaults_and_factories() -> None:
    a = Point(1)
    b = Point(1, 2, ["t"])
    c = Point(y=3, x=4)
    assert (a.x, a.y, a.tags) == (1, 0, [])
    assert (b.x, b.y, b.tags) == (1, 2, ["t"])
    assert (c.x, c.y) == (4, 3)
    assert Point(1).tags is not Point(1).tags  # a fresh list each time


def test_same_errors_as_a_dataclass() -> None:
    for cls in (Point, Twin):
        with pytest.raises(TypeError):
            cls()  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            cls(1, 2, [], 4)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            cls(1, z=2)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            cls(1, x=2)  # type: ignore[misc]


def test_frozen() -> None:
    p = Point(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del p.x


def test_repr_eq_hash_match_a_dataclass() -> None:
    assert repr(Point(1, 2)) == repr(Twin(1, 2)).replace("Twin", "Point")
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(2, 1)
    assert Point(1) != Twin(1)  # type: ignore[comparison-overlap]  # another class is never equal
    with pytest.raises(TypeError):
        hash(Point(1, 2, []))  # a list field is unhashable, as in the dataclass
    with pytest.raises(TypeError):
        hash(Twin(1, 2, []))
    assert len({Checked(1), Checked(1), Checked(2)}) == 2


def test_post_init_runs() -> None:
    with pytest.raises(ValueError, match="negative"):
        Checked(-1)


def test_dataclasses_functions_work() -> None:
    p = Point(1, 2, ["a"])
    assert dataclasses.is_dataclass(p)
    assert [f.name for f in dataclasses.fields(p)] == ["x", "y", "tags"]
    assert dataclasses.replace(p, y=5) == Point(1, 5, ["a"])
    assert dataclasses.asdict(p) == {"x": 1, "y": 2, "tags": ["a"]}
    assert pickle.loads(pickle.dumps(p)) == p
    match p:
        case Point(x, y):
            assert (x, y) == (1, 2)
        case _:
            pytest.fail("positional match failed")


def test_unsupported_fields_are_refused() -> None:
    with pytest.raises(TypeError, match="init=False"):

        @record
        class Bad:
            x: int = field(init=False, default=0)


def test_names_the_generated_init_uses_are_refused() -> None:
    # the compiled __init__ has a local _self_dict and globals _d0, _f0 ... _HAS_FACTORY:
    # a field of one of those names would silently take their place
    for name in ("_self_dict", "_f0", "_d1", "_HAS_FACTORY"):
        with pytest.raises(TypeError, match="reserved"):
            record(type("Bad", (), {"__annotations__": {name: "int"}}))


def test_evolve_is_replace() -> None:
    a = Point(1, 2, ["t"])
    b = evolve(a, y=5)
    assert b == dataclasses.replace(a, y=5) and b is not a and a.y == 2
    assert b.tags is a.tags  # a shallow copy, as replace makes
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.x = 3  # type: ignore[misc]
    with pytest.raises(TypeError, match="no field 'z'"):
        evolve(a, z=1)
    assert evolve(Checked(1), n=2) == Checked(2)
    with pytest.raises(ValueError, match="negative"):  # __post_init__ runs on the copy
        evolve(Checked(1), n=-1)
