"""``@node`` (alias ``task``): a plain function becomes a node.

The decorator builds a class (a subclass of our ``Node``, ``AsyncNode`` for ``async def``,
a batch class for ``batch=``) whose ``prep`` reads the function's parameters from the
store, ``exec`` calls the function and ``post`` writes its result and picks the action;
it returns the one instance of that class. Every option is a class attribute, so the
retry, ``when`` and cache mixins read them as they read a hand-written class's.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from ..graph import base_name
from .cached import CachedExec
from .when import WHOLE_STORE, ConditionalRun, input_names, read_input

_NOTHING = object()  # no fallback given
_EMPTY = inspect.Parameter.empty


@dataclass(frozen=True, slots=True)
class Action:
    """Return ``Action("approve", value)`` from a function node to follow the ``"approve"``
    edge; ``value`` is what is written to the store."""

    action: str
    value: Any = None


class FunctionNodeMixin:
    """``prep``/``exec``/``post`` of a function node; the settings are class attributes."""

    __wrapped__: Callable[..., Any]
    inputs: tuple[tuple[str, str, Any], ...] = ()  # (parameter, store key, default)
    plain_inputs: tuple[tuple[str, str], ...] | None = None  # when no defaults/whole store
    reads: Mapping[str, str] = {}
    writes: tuple[str, ...] = ()
    batch_param: str | None = None
    route: Callable[[Any], str] | None = None
    fallback: Any = _NOTHING
    function_options: Mapping[str, Any] = {}

    def prep(self, shared: Any) -> Any:
        plain = self.plain_inputs
        args: dict[str, Any] | None = None
        if plain is not None:
            try:
                args = {param: shared[key] for param, key in plain}
            except KeyError:
                args = None  # read again below, to name the missing key
        if args is None:
            args = {p: read_input(self, shared, p, k, d) for p, k, d in self.inputs}
        batch = self.batch_param
        if batch is None:
            return args
        items = args[batch]
        try:
            return [{**args, batch: item} for item in items]
        except TypeError:
            raise ConfigurationError(
                f"node {base_name(self)!r} maps over parameter {batch!r}, but its value is a "
                f"{type(items).__name__}, not an iterable; write a list (or any iterable) there"
            ) from None

    def exec(self, args: dict[str, Any]) -> Any:
        return self.__wrapped__(**args)

    def exec_fallback(self, args: Any, exc: Exception) -> Any:
        fallback = self.fallback
        if fallback is _NOTHING:
            raise exc
        return fallback(exc) if callable(fallback) else fallback

    def post(self, shared: Any, args: Any, result: Any) -> Any:
        action = "default"
        if isinstance(result, Action):
            action, result = result.action, result.value
        elif self.route is not None:
            action = self.route(result)
            if not isinstance(action, str):
                raise ConfigurationError(
                    f"route= of node {base_name(self)!r} must return an action string, "
                    f"got {action!r} for result {result!r}"
                )
        writes = self.writes
        if len(writes) == 1:
            shared[writes[0]] = result
        elif writes:
            if not isinstance(result, (tuple, list)) or len(result) != len(writes):
                raise ConfigurationError(
                    f"node {base_name(self)!r} writes {len(writes)} keys {list(writes)}, so it "
                    f"must return a tuple of {len(writes)} values, got {result!r}"
                )
            for key, value in zip(writes, result, strict=True):
                shared[key] = value
        return action

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function itself (for tests): ``summarise("text")``."""
        return self.__wrapped__(*args, **kwargs)

    def clone(self, *, name: str | None = None) -> Any:
        """A new node of the same function and settings, without edges (to use the same
        function at two places of a graph, or in two flows)."""
        cls: Any = type(self)
        fresh = cls(name=name) if name is not None else cls()
        for attr in ("name", "executor"):
            if name is None and attr in self.__dict__:
                fresh.__dict__[attr] = self.__dict__[attr]
        return fresh

    # Upstream copies each node before running it; the class of a function node is made
    # at run time, so copies and pickles rebuild it from the function and options.
    def __copy__(self) -> Any:
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        clone.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return clone

    def __reduce__(self) -> Any:
        fn = type(self).__wrapped__
        if "<" in fn.__qualname__:  # <locals>, <lambda>: not importable by name
            raise pickle.PicklingError(
                f"function node {base_name(self)!r} cannot be pickled: its function "
                f"{fn.__module__}.{fn.__qualname__} is not defined at module level; define it "
                "at the top of a module to send it to other processes"
            )
        options = dict(self.function_options)
        return (_rebuild, (fn.__module__, fn.__qualname__, options), dict(self.__dict__))


class AsyncFunctionNodeMixin(FunctionNodeMixin):
    """The same for ``async def`` functions: the coroutine is awaited in ``exec_async``."""

    async def exec_async(self, args: dict[str, Any]) -> Any:
        return await self.__wrapped__(**args)

    async def exec_fallback_async(self, args: Any, exc: Exception) -> Any:
        return self.exec_fallback(args, exc)


def _rebuild(module: str, qualname: str, options: dict[str, Any]) -> Any:
    """Unpickling: the node class of the module-level function ``module.qualname``."""
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    fn = type(found).__wrapped__ if isinstance(found, FunctionNodeMixin) else found
    cls = node_class(fn, **options)
    return object.__new__(cls)


_classes: dict[tuple[Any, str], type] = {}


def node_class(fn: Callable[..., Any], **options: Any) -> type:
    """The node class for ``fn`` with ``options`` (those of :func:`node`, except ``name``
    and ``executor``, which belong to the instance); one class per function and options."""
    key = (fn, repr(sorted(options.items(), key=lambda kv: kv[0])))
    cls = _classes.get(key)
    if cls is None:
        cls = _classes[key] = _make_class(fn, options)
    return cls


def _make_class(fn: Callable[..., Any], options: dict[str, Any]) -> type:
    import pocketflow_ext as ext  # the drop-in classes are defined in the package itself

    what = f"@node function {getattr(fn, '__qualname__', fn)!r}"
    if not inspect.isfunction(fn):
        raise ConfigurationError(f"@node needs a function (def or async def), got {fn!r}")
    is_async = inspect.iscoroutinefunction(fn)
    params = inspect.signature(fn).parameters
    names = input_names(fn, what + " has a parameter that")
    reads = dict(options.get("reads") or {})
    unknown = set(reads) - set(names)
    if unknown:
        raise ConfigurationError(
            f"reads= of {what} maps {sorted(unknown)}, which are not its parameters "
            f"({', '.join(names) or 'none'})"
        )
    for param, key in reads.items():
        if not isinstance(key, str) or not key:
            raise ConfigurationError(
                f"reads= of {what}: key for {param!r} must be a str, got {key!r}"
            )
    inputs = tuple((p, reads.get(p, p), params[p].default) for p in names)
    plain = all(d is _EMPTY and not (p == WHOLE_STORE == k) for p, k, d in inputs)
    batch = options.get("batch")
    if batch is True:
        if not names:
            raise ConfigurationError(f"batch=True on {what}: it has no parameter to map over")
        batch = names[0]
    elif batch is not None and batch not in names:
        raise ConfigurationError(
            f"batch={batch!r} on {what}: not one of its parameters ({', '.join(names) or 'none'})"
        )
    parallel = options.get("parallel", False)
    if parallel and not (is_async and batch):
        raise ConfigurationError(
            f"parallel=True on {what} needs an async def function and batch=; for sync "
            "functions run items concurrently with executor="
        )
    if batch is None:
        base: type = ext.AsyncNode if is_async else ext.Node
    elif is_async:
        base = ext.AsyncParallelBatchNode if parallel else ext.AsyncBatchNode
    else:
        base = ext.BatchNode
    body: dict[str, Any] = {
        "__module__": fn.__module__,
        "__qualname__": fn.__qualname__,
        "__doc__": fn.__doc__,
        "__wrapped__": staticmethod(fn),
        "inputs": inputs,
        "plain_inputs": tuple((p, k) for p, k, _ in inputs) if plain else None,
        "reads": reads,
        "writes": _writes(options.get("writes", _NOTHING), fn, what),
        "batch_param": batch,
        "function_options": dict(options),
    }
    for option in ("route", "when"):
        value = options.get(option)
        if value is not None:
            if not callable(value):
                raise ConfigurationError(f"{option}= of {what} must be callable, got {value!r}")
            body[option] = staticmethod(value)
    fallback = options.get("fallback", _NOTHING)
    if fallback is not _NOTHING:
        body["fallback"] = staticmethod(fallback) if callable(fallback) else fallback
    body.update(_retry_settings(options, what))
    for option, attribute in (
        ("cache", "cache"),
        ("cache_ttl", "cache_ttl"),
        ("version", "cache_version"),
    ):
        if options.get(option) is not None:
            body[attribute] = options[option]
    mixin = AsyncFunctionNodeMixin if is_async else FunctionNodeMixin
    # The layers a node of another class gets when it is made with when=/cache= (its
    # class's variant, nodes/variants.py) are this class's own bases.
    layers: tuple[type, ...] = (CachedExec,) if body.get("cache") else ()
    layers += (ConditionalRun,) if "when" in body else ()
    return type(fn.__name__, (*layers, mixin, base), body)


def _writes(value: Any, fn: Callable[..., Any], what: str) -> tuple[str, ...]:
    if value is _NOTHING or value is None:
        return (fn.__name__,)
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Sequence) or not all(isinstance(k, str) and k for k in value):
        raise ConfigurationError(
            f"writes= of {what} must be a key, a tuple of keys, or () to write nothing; "
            f"got {value!r}"
        )
    return tuple(value)


def _retry_settings(options: dict[str, Any], what: str) -> dict[str, Any]:
    """Retry options as the class attributes RetryMixin reads (PocoFlow's names)."""
    settings: dict[str, Any] = {}
    retries, max_retries = options.get("retries"), options.get("max_retries")
    if retries is not None and max_retries is not None:
        raise ConfigurationError(
            f"{what}: give retries= (retries after the first attempt, Flowkit's meaning) or "
            "max_retries= (attempts in all, PocketFlow's meaning), not both"
        )
    if retries is not None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError(f"retries= of {what} must be an int >= 0, got {retries!r}")
        settings["max_retries"] = retries + 1
    elif max_retries is not None:
        settings["max_retries"] = max_retries
    for option, attribute in (
        ("delay", "retry_delay"),
        ("backoff", "backoff"),
        ("jitter", "jitter"),
        ("max_delay", "max_delay"),
        ("retry_on", "retry_on"),
    ):
        if options.get(option) is not None:
            settings[attribute] = options[option]
    return settings


def node(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    reads: Mapping[str, str] | None = None,
    writes: str | Sequence[str] | None = None,
    route: Callable[[Any], str] | None = None,
    max_retries: int | None = None,
    retries: int | None = None,
    delay: float | None = None,
    backoff: float | None = None,
    jitter: float | None = None,
    max_delay: float | None = None,
    retry_on: Any = None,
    fallback: Any = _NOTHING,
    when: Callable[..., Any] | None = None,
    cache: Any = None,
    cache_ttl: float | None = None,
    version: str | int | None = None,
    batch: bool | str | None = None,
    parallel: bool = False,
    executor: Any = None,
    max_workers: int | None = None,
    chunksize: int | None = None,
) -> Any:
    """Make a node of a function: ``@node`` or ``@node(...)``. See docs/functions.md.

    >>> @node
    ... def shout(text):
    ...     return text.upper()
    >>> shout("hi"), shout.__wrapped__("hi")
    ('HI', 'HI')
    """
    options: dict[str, Any] = {
        k: v
        for k, v in (
            ("reads", reads),
            ("writes", writes),
            ("route", route),
            ("max_retries", max_retries),
            ("retries", retries),
            ("delay", delay),
            ("backoff", backoff),
            ("jitter", jitter),
            ("max_delay", max_delay),
            ("retry_on", retry_on),
            ("when", when),
            ("cache", cache),
            ("cache_ttl", cache_ttl),
            ("version", version),
            ("batch", batch),
        )
        if v is not None
    }
    if fallback is not _NOTHING:
        options["fallback"] = fallback
    if parallel:
        options["parallel"] = True

    # Where a batch's items run: settings of the node instance (see nodes/executors.py).
    placement = {
        k: v
        for k, v in (("executor", executor), ("max_workers", max_workers), ("chunksize", chunksize))
        if v is not None
    }

    def decorate(function: Callable[..., Any]) -> Any:
        if placement and batch is None:
            given = ", ".join(f"{k}=" for k in placement)
            raise ConfigurationError(
                f"{given} on @node {function.__qualname__!r} runs a batch's items "
                "elsewhere; add batch= (the parameter to map over), or leave it out"
            )
        cls = node_class(function, **options)
        kwargs: dict[str, Any] = dict(placement)
        if name is not None:
            kwargs["name"] = name
        return cls(**kwargs)

    return decorate if fn is None else decorate(fn)


task = node
"""Alias of :func:`node`, for code coming from Flowkit and Pyoco."""
