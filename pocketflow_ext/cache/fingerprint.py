"""A digest of a node's code: what a cached result depends on besides its input.

The digest covers the source of the function (or ``exec``), its default values, what its
closure holds, and the global names it uses: functions and classes of the user's own
code (recursively, to ``MAX_DEPTH``) by their source, constants by their value. Library
and standard-library code is left out (upgrading a library does not invalidate the
cache; bump ``version=`` when it should). Computed once per function and process.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
import sysconfig
import types
import weakref
from typing import Any

MAX_DEPTH = 4
"""How far calls into the user's own functions are followed."""

_CONSTANTS = (type(None), bool, int, float, complex, str, bytes)
_LIBRARY_DIRS = tuple(
    sorted(
        {
            path
            for name in ("stdlib", "platstdlib", "purelib", "platlib")
            if (path := sysconfig.get_paths().get(name))
        }
    )
)
# Our own and upstream's code: a node's result does not depend on them.
_FRAMEWORK = ("pocketflow", "pocketflow_ext")

_digests: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def code_digest(fn: Any, owner: type | None = None) -> str:
    """Hex digest of ``fn``'s code; ``owner`` is the class whose methods ``self.x`` names."""
    key = owner if owner is not None else fn
    try:
        return _digests[key]
    except (KeyError, TypeError):
        pass
    digest = hashlib.sha256()
    _Walker(digest, owner).function(fn, 0)
    text = digest.hexdigest()
    try:
        _digests[key] = text
    except TypeError:  # not weak-referenceable: computed again next time
        pass
    return text


def _is_library(obj: Any) -> bool:
    module_name = getattr(obj, "__module__", None) or ""
    if module_name.partition(".")[0] in _FRAMEWORK:
        return True
    path = getattr(sys.modules.get(module_name), "__file__", None)
    return path is None or path.startswith(_LIBRARY_DIRS)


class _Walker:
    def __init__(self, digest: Any, owner: type | None) -> None:
        self.digest = digest
        self.owner = owner
        self.seen: set[int] = set()

    def add(self, *parts: Any) -> None:
        for part in parts:
            self.digest.update(str(part).encode("utf-8", "backslashreplace"))
            self.digest.update(b"\0")

    def function(self, fn: Any, depth: int) -> None:
        fn = inspect.unwrap(getattr(fn, "__func__", fn))
        if id(fn) in self.seen or depth > MAX_DEPTH:
            return
        self.seen.add(id(fn))
        code = getattr(fn, "__code__", None)
        if code is None:
            self.add("callable", type(fn).__qualname__)
            return
        try:
            self.add("source", inspect.getsource(fn))
        except (OSError, TypeError):  # defined in a REPL or by exec(): the compiled code
            self.code(code)
        for value in (*(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).values()):
            self.value("default", value, depth)
        for cell in fn.__closure__ or ():
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            self.value("closure", contents, depth)
        namespace = getattr(fn, "__globals__", {})
        for name in sorted(_names(code)):
            if name in namespace:
                self.value(f"global {name}", namespace[name], depth)
            elif self.owner is not None and depth == 0 and name in dir(self.owner):
                member = inspect.getattr_static(self.owner, name, None)
                if isinstance(member, (types.FunctionType, staticmethod, classmethod)):
                    self.add("method", name)
                    self.function(getattr(member, "__func__", member), depth + 1)

    def code(self, code: types.CodeType) -> None:
        self.add("code", code.co_code.hex(), code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const)
            else:
                self.add(repr(const))

    def value(self, label: str, value: Any, depth: int) -> None:
        if isinstance(value, _CONSTANTS):
            self.add(label, type(value).__name__, repr(value))
        elif isinstance(value, (tuple, frozenset)) and all(
            isinstance(v, _CONSTANTS) for v in value
        ):
            self.add(
                label, repr(sorted(map(repr, value)) if isinstance(value, frozenset) else value)
            )
        elif isinstance(value, types.FunctionType) and not _is_library(value):
            self.add(label, "function")
            self.function(value, depth + 1)
        elif isinstance(value, type) and not _is_library(value):
            self.add(label, "class", value.__qualname__)
            try:
                self.add(inspect.getsource(value))
            except (OSError, TypeError):
                pass
        # modules, library code and live objects (clients, data) are not code: left out


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names
