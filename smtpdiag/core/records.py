"""``@record``: a frozen dataclass that costs a tenth as much to define.

On CPython 3.11, ``@record`` compiles six generated methods from source
for every class (``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__``,
``__delattr__``): ~1 ms a class. A probe's code path defines ~40 record types, so that was
~40 ms of every CLI run, more than the rest of smtpdiag's imports together (measured with
``bench/importcheck.py``; see ``bench/README.md``).

A record *is* a dataclass (``dataclasses.fields``, ``replace``, ``asdict`` and
``is_dataclass`` all work, and mypy treats ``@record`` as ``@record``
through :func:`typing.dataclass_transform`), with the same behaviour:

* ``__init__`` takes the fields positionally or by name, with defaults and
  ``field(default_factory=...)``, then calls ``__post_init__``. It is compiled the first
  time the class is instantiated, so classes a run never builds cost nothing; after that
  it stores the fields straight into the instance's ``__dict__`` (faster than the
  dataclass one, which calls ``object.__setattr__`` per field).
* ``__repr__``, ``__eq__`` and ``__hash__`` compare and hash the fields in order (shared
  functions, not compiled per class);
* assigning or deleting an attribute raises :class:`dataclasses.FrozenInstanceError`.

Not supported (refused when the class is defined): ``field(init=False)``, ``kw_only``
and ``InitVar`` fields. Use ``@dataclass`` for those.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, FrozenInstanceError
from typing import Any, TypeVar, dataclass_transform

_T = TypeVar("_T")

_FIELD_NAMES = "__record_fields__"


def _setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _repr(self: object) -> str:
    names: tuple[str, ...] = getattr(self, _FIELD_NAMES)
    inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
    return f"{self.__class__.__qualname__}({inner})"


def _eq(self: object, other: object) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    names: tuple[str, ...] = getattr(self, _FIELD_NAMES)
    return all(getattr(self, n) == getattr(other, n) for n in names)


def _hash(self: object) -> int:
    names: tuple[str, ...] = getattr(self, _FIELD_NAMES)
    return hash(tuple(getattr(self, n) for n in names))


class _Factory:
    """The default of a field with a ``default_factory``: call the factory."""

    __slots__ = ()


_HAS_FACTORY = _Factory()


def _compile_init(cls: type) -> Any:
    """The class's ``__init__``, generated the way dataclasses does it (one compile)."""
    fields = dataclasses.fields(cls)
    env: dict[str, Any] = {"_HAS_FACTORY": _HAS_FACTORY}
    params = ["self"]
    # the fields go straight into the instance's __dict__ (one store each, where
    # object.__setattr__ was a call each: records are built several times per address)
    body = ["    _self_dict = self.__dict__"] if fields else []
    for i, f in enumerate(fields):
        if f.default is not MISSING:
            env[f"_d{i}"] = f.default
            params.append(f"{f.name}=_d{i}")
            body.append(f"    _self_dict[{f.name!r}] = {f.name}")
        elif f.default_factory is not MISSING:
            env[f"_f{i}"] = f.default_factory
            params.append(f"{f.name}=_HAS_FACTORY")
            body.append(
                f"    _self_dict[{f.name!r}] = _f{i}() if {f.name} is _HAS_FACTORY else {f.name}"
            )
        else:
            params.append(f.name)
            body.append(f"    _self_dict[{f.name!r}] = {f.name}")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__({', '.join(params)}):\n" + ("\n".join(body) or "    pass") + "\n"
    namespace: dict[str, Any] = {}
    exec(source, env, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def record(cls: type[_T], /) -> type[_T]:
    """Make ``cls`` a frozen dataclass (see the module's docstring)."""
    if not cls.__dict__.get("__doc__"):
        cls.__doc__ = cls.__name__  # else dataclasses builds one with inspect.signature
    done: Any = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
    fields = dataclasses.fields(done)
    for f in fields:
        if not f.init or f.kw_only is True:
            raise TypeError(f"@record {cls.__qualname__}.{f.name}: init=False or kw_only")
        if f.name in ("_self_dict", "_HAS_FACTORY") or (
            f.name[:2] in ("_d", "_f") and f.name[2:].isdigit()
        ):
            raise TypeError(f"@record {cls.__qualname__}.{f.name}: a reserved name")
    names = tuple(f.name for f in fields)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        # first instance: compile the real __init__, install it, use it from now on
        init = _compile_init(done)
        type.__setattr__(done, "__init__", init)
        init(self, *args, **kwargs)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    setattrs = {
        _FIELD_NAMES: names,
        "__init__": __init__,
        "__repr__": _repr,
        "__eq__": _eq,
        "__hash__": _hash,
        "__setattr__": _setattr,
        "__delattr__": _delattr,
    }
    for name, value in setattrs.items():
        type.__setattr__(done, name, value)
    result: type[_T] = done
    return result


def evolve(obj: _T, /, **changes: Any) -> _T:
    """``dataclasses.replace`` for a record, about ten times cheaper (a list run derives a
    few records per address): the fields are copied, not passed through ``__init__``, so
    a class with a ``__post_init__`` has it called on the copy, as ``replace`` would."""
    state = obj.__dict__
    for name in changes:
        if name not in state:
            raise TypeError(f"{obj.__class__.__qualname__} has no field {name!r}")
    new: Any = object.__new__(obj.__class__)
    new.__dict__.update(state)
    new.__dict__.update(changes)
    post = getattr(new, "__post_init__", None)
    if post is not None:
        post()
    return new  # type: ignore[no-any-return]
