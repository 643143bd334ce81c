"""RetryMixin: upstream's retry contract, plus backoff, max_delay, jitter and retry_on.

The mixins' ``_exec`` is the one seam: it runs a node's attempts (one item's, in a batch)
with the functions in ``attempts.py``, which ``instrument()`` also runs in place of
upstream's own loops. The mixin holds the settings; each node carries its own values in
its ``__dict__``, so they travel with it (copies, pickles, other processes).
"""

from __future__ import annotations

import random
from typing import Any

import pocketflow

from ..errors import ConfigurationError
from .attempts import ANY_EXCEPTION, exception_types, run_attempts, run_attempts_async

# Own generator, seeded from the OS: jitter must never draw from (or disturb) the global one.
_jitter_random = random.Random()


def _number(value: Any, what: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigurationError(f"{what} must be a number >= {minimum}, got {value!r}")
    return value


def _restore_class_setting(node: Any, name: str, attribute: str) -> bool:
    """Set ``attribute`` from class attribute ``name`` if the user's classes define one.

    The class that defines ``name`` first in the MRO wins, as for any attribute; it is the
    user's unless it is upstream's (found by identity, not by module name: classes built
    inside ``pocketflow_ext`` are users' too). Neither upstream nor our mixins define these
    names, so whatever else defines them is the user's.
    """
    for klass in type(node).__mro__:
        if name in vars(klass):
            if klass in _UPSTREAM_CLASSES:
                return False
            setattr(node, attribute, vars(klass)[name])
            return True
    return False


_UPSTREAM_CLASSES = frozenset(v for v in vars(pocketflow).values() if isinstance(v, type))

# Upstream's batch classes run each item with ``super(<batch class>, self)._exec(item)``:
# the attempts of an item are run by the next ``_exec`` after the batch class in the MRO.
_ITEM_LOOPS = (pocketflow.BatchNode, pocketflow.AsyncBatchNode, pocketflow.AsyncParallelBatchNode)


def _check_attempts_reach_the_mixin(cls: type) -> None:
    """Fail at class definition when the retry settings would be silently ignored."""
    if not issubclass(cls, pocketflow.Node):
        return  # mixins composed of mixins; checked once they meet an upstream node
    mro = cls.__mro__
    # Mixins that wrap an _exec and pass it on (executor=, max_concurrency=) decide nothing.
    definers = [
        klass
        for klass in mro
        if "_exec" in vars(klass) and not vars(klass).get("_exec_passes_through", False)
    ]
    index = 0
    while definers[index] in _ITEM_LOOPS:  # each item goes to the next definer
        index += 1
    owner = definers[index]
    is_async = issubclass(cls, pocketflow.AsyncNode)
    mixin = AsyncRetryMixin if is_async else RetryMixin
    upstream = pocketflow.AsyncNode if is_async else pocketflow.Node
    if owner not in (RetryMixin, AsyncRetryMixin, upstream):
        return  # the user's own _exec decides
    if owner is upstream:
        problem = f"upstream's {upstream.__name__}._exec would run its attempts"
    elif owner is not mixin:
        problem = f"{owner.__name__} runs its attempts, but {cls.__name__} is "
        problem += "an async node" if is_async else "not an async node"
    elif index == 0 and any(k in _ITEM_LOOPS for k in definers):
        problem = f"{owner.__name__} would be handed the whole batch instead of each item"
    elif mro.index(RetryMixin) > mro.index(pocketflow.Node):
        problem = "RetryMixin comes after pocketflow.Node, so its constructor never runs"
    else:
        return
    batch = next((k for k in mro if k in _ITEM_LOOPS), None)
    bases = [f"pocketflow.{batch.__name__}"] if batch else []
    bases += ["AsyncRetryMixin"] if is_async else []
    bases += ["RetryMixin"] if batch or not is_async else []
    bases += [f"pocketflow.{upstream.__name__}"]
    raise ConfigurationError(
        f"the retry settings of {cls.__name__} would be ignored: {problem}. List its bases "
        f"in this order: class {cls.__name__}({', '.join(bases)}) (mixins from "
        "pocketflow_ext.mixins), or use the drop-in classes of pocketflow_ext"
    )


class RetryMixin:
    """Upstream retry semantics, PocoFlow class attributes, and backoff with jitter.

    ``max_retries`` counts attempts (upstream's meaning); ``wait`` (or PocoFlow's
    ``retry_delay``) is the delay before the second attempt; each later delay is multiplied
    by ``backoff`` and capped at ``max_delay``; ``jitter`` adds up to that many random
    seconds; only exceptions in ``retry_on`` are retried, others go to ``exec_fallback`` at once.
    Async nodes take :class:`AsyncRetryMixin`.
    """

    backoff: float = 1.0
    max_delay: float | None = None
    jitter: float = 0.0

    # The function itself, not a method calling it: one call per node execution.
    _exec = run_attempts

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_attempts_reach_the_mixin(cls)

    def __init__(
        self,
        *args: Any,
        backoff: float | None = None,
        max_delay: float | None = None,
        jitter: float | None = None,
        retry_on: Any = None,
        retry_delay: float | None = None,
        **kwargs: Any,
    ) -> None:
        cls = type(self)
        explicit_retries = len(args) >= 1 or "max_retries" in kwargs
        explicit_wait = len(args) >= 2 or "wait" in kwargs
        super().__init__(*args, **kwargs)
        # Upstream's constructor writes max_retries=1, wait=0 on the instance, which would
        # hide PocoFlow-style class attributes; put the class's values back.
        if not explicit_retries:
            _restore_class_setting(self, "max_retries", "max_retries")
        if retry_delay is not None:
            self.wait = _number(retry_delay, "retry_delay", 0)
        elif not explicit_wait:
            if not _restore_class_setting(self, "retry_delay", "wait"):
                _restore_class_setting(self, "wait", "wait")
        retries = getattr(self, "max_retries", 1)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 1:
            raise ConfigurationError(
                f"max_retries of {cls.__name__} counts attempts and must be an int >= 1, "
                f"got {retries!r}"
            )
        _number(getattr(self, "wait", 0), "wait", 0)
        # Only set on the instance when given, so upstream's per-step copy stays cheap;
        # values from class attributes get the same checks, named after the class.
        if backoff is not None:
            self.backoff = _number(backoff, "backoff", 1)
        elif self.backoff != 1.0:
            _number(self.backoff, f"{cls.__name__}.backoff", 1)
        if max_delay is not None:
            self.max_delay = _number(max_delay, "max_delay", 0)
        elif self.max_delay is not None:
            _number(self.max_delay, f"{cls.__name__}.max_delay", 0)
        if jitter is not None:
            self.jitter = _number(jitter, "jitter", 0)
        elif self.jitter:
            _number(self.jitter, f"{cls.__name__}.jitter", 0)
        if retry_on is not None:
            self.retry_on = retry_on
        elif self.retry_on is not ANY_EXCEPTION:  # a class attribute: checked when a node is made
            try:
                exception_types(self.retry_on)
            except ConfigurationError as exc:
                raise ConfigurationError(f"{cls.__name__}.{exc}") from None

    @property
    def retry_on(self) -> tuple[type[BaseException], ...]:
        """Exception types worth another attempt (default: every ``Exception``)."""
        return self.__dict__.get("retry_on", ANY_EXCEPTION)

    @retry_on.setter
    def retry_on(self, value: Any) -> None:
        self.__dict__["retry_on"] = exception_types(value)

    def retry_delay_for(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        wait = getattr(self, "wait", 0) or 0
        delay = wait * self.backoff ** (attempt - 1)
        if self.max_delay is not None:
            delay = min(delay, self.max_delay)
        if self.jitter:
            delay += _jitter_random.uniform(0, self.jitter)
        return max(delay, wait)


class AsyncRetryMixin(RetryMixin):
    """:class:`RetryMixin` for the ``AsyncNode`` family: attempts of ``exec_async``."""

    _exec = run_attempts_async
