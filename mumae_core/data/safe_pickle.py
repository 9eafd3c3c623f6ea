"""A restricted unpickler: numpy arrays and plain containers only, foreign classes as inert stubs.

`pickle.load` runs whatever callable a pickle names, so a downloaded pickle is code. `restricted_load`
resolves a global only when it is on an explicit allow-list and refuses everything else with a
`pickle.UnpicklingError` that names the refused global; nothing from a refused module is imported.

The allow-list always holds the numpy reconstruction helpers (`_reconstruct`, `ndarray`, `dtype`,
`scalar`, `_frombuffer`, under both `numpy.core` and `numpy._core`), a guarded `_codecs.encode` (latin-1
only: how protocol-2 pickles carry bytes) and a few inert builtins (`slice`, `set`, `frozenset`, `object`).
Callers add their own names, typically mapping a foreign library's classes (pandas) to `Stub` classes
made by `stub_class`, which record their constructor arguments and pickled state and run nothing:

    stubs = {("pandas.core.frame", "DataFrame"): stub_class("pandas.core.frame.DataFrame")}
    obj = restricted_load(fileobj, extra=stubs, source="HAPT.pkl.gz")
    obj.state  # the DataFrame's pickled __dict__, with numpy arrays inside
"""

from __future__ import annotations

import codecs
import io
import pickle
from collections.abc import Callable, Mapping
from typing import IO, Any

import numpy as np

# Python 2 module names found in protocol <= 2 pickles (the C unpickler hands them to find_class raw).
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class Stub:
    """Inert stand-in for a class the unpickler must not import: it only records what it is given.

    `args` / `kwargs`: constructor arguments (from a REDUCE or a stub function); `state`: what BUILD passed
    (`__setstate__`). The class attribute `qualname` names the class it stands for.
    """

    qualname = "Stub"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<Stub {self.qualname} args={len(self.args)} kwargs={sorted(self.kwargs)}>"


def stub_class(qualname: str) -> type[Stub]:
    """A fresh `Stub` subclass standing for the class `qualname` (e.g. 'pandas.core.frame.DataFrame')."""
    return type(qualname.rsplit(".", 1)[-1] + "Stub", (Stub,), {"qualname": qualname})


def _numpy_attr(name: str) -> Any:
    """numpy._core.multiarray.<name> on numpy >= 2, numpy.core.multiarray.<name> before (no deprecation)."""
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray  # type: ignore[no-redef]
    return getattr(multiarray, name)


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
    """Protocol-5 numpy arrays: the same as numpy's own helper, without importing it by name."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError(
            f"refused _frombuffer with dtype {dtype!r} (object arrays need no buffer)"
        )
    if order not in ("C", "F", "A", "K"):
        raise pickle.UnpicklingError(f"refused _frombuffer with order {order!r}")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)


def _latin1_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """`_codecs.encode` restricted to str -> bytes in latin-1 (how protocol 2 stores numpy's bytes)."""
    if not isinstance(obj, str) or encoding.lower().replace("_", "-") not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused _codecs.encode({type(obj).__name__}, {encoding!r})")
    return codecs.encode(obj, "latin-1", "strict")


def _stub_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """copyreg._reconstructor, allowed only to create an empty `Stub` (the pickle's BUILD fills it)."""
    if not (isinstance(cls, type) and issubclass(cls, Stub)) or base is not object or state is not None:
        raise pickle.UnpicklingError(
            f"refused copyreg._reconstructor({cls!r}, {base!r}, ...): only stub classes may be reconstructed"
        )
    obj = cls.__new__(cls)
    Stub.__init__(obj)
    return obj


def numpy_globals() -> dict[tuple[str, str], Any]:
    """The always-allowed globals: numpy reconstruction helpers, guarded codecs and inert builtins."""
    reconstruct, scalar = _numpy_attr("_reconstruct"), _numpy_attr("scalar")
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
        ("copyreg", "_reconstructor"): _stub_reconstructor,
        ("builtins", "slice"): slice,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "object"): object,
    }
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = _frombuffer
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose `find_class` only returns allow-listed objects.

    allowed: {(module, name): object}; Python 2 module names (`__builtin__`, `copy_reg`) are normalised first.
    source: named in error messages (e.g. the file being read).
    """

    def __init__(self, file: IO[bytes], allowed: Mapping[tuple[str, str], Any], source: str = "pickle"):
        super().__init__(file)
        self._allowed = dict(allowed)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        key = (_PY2_MODULES.get(module, module), name)
        if key not in self._allowed:
            raise pickle.UnpicklingError(
                f"{self._source}: refused global {module}.{name} (not on the restricted unpickler allow-list)"
            )
        return self._allowed[key]


def restricted_load(
    file: IO[bytes] | bytes,
    extra: Mapping[tuple[str, str], Any] | None = None,
    source: str = "pickle",
) -> Any:
    """Unpickle `file` (a binary file object or bytes) allowing only `numpy_globals()` plus `extra`.

    Raises pickle.UnpicklingError naming the first refused global; nothing it names is imported or run.
    """
    allowed: dict[tuple[str, str], Any] = numpy_globals()
    allowed.update(extra or {})
    if isinstance(file, bytes | bytearray):
        file = io.BytesIO(file)
    return RestrictedUnpickler(file, allowed, source=source).load()


def stub_function(qualname: str, body: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """A stand-in for a foreign function; `body(*args)` builds the result from already-safe arguments.

    Without `body` it returns a `Stub` that records the call's arguments.
    """
    cls = stub_class(qualname)

    def call(*args: Any, **kwargs: Any) -> Any:
        return body(*args, **kwargs) if body is not None else cls(*args, **kwargs)

    call.__qualname__ = call.__name__ = qualname.rsplit(".", 1)[-1]
    return call
